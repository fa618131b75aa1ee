import Foundation
import KilnData

#if canImport(Glibc)
    import Glibc
#endif

/// The data layer's benchmarks (a program, never a timed test; scripts/bench-data runs it beside pandas,
/// pyarrow and sha256sum):
///   kiln-bench-data generate FILE MB      a numeric csv: 20 float columns, MB megabytes (seeded)
///   kiln-bench-data csv FILE              parse into typed columns: seconds, MB/s, peak memory
///   kiln-bench-data hash FILE             SHA-256 of the file: seconds, MB/s
/// Each measurement prints one JSON line.

func peakResidentMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024  // KiB on Linux
}

func fileSize(_ path: String) -> Int {
    ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
}

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

let columns = (0..<20).map { "f\($0)" }

func generate(_ path: String, megabytes: Int) throws {
    guard
        let out = FileHandle(forWritingAtPath: path)
            ?? {
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                return FileHandle(forWritingAtPath: path)
            }()
    else { throw CocoaError(.fileWriteUnknown) }
    try out.truncate(atOffset: 0)
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    var chunk = columns.joined(separator: ",") + "\n"
    var written = 0
    let target = megabytes * 1_000_000
    while written < target {
        for _ in 0..<2000 {
            for c in 0..<20 {
                // Values like a real feature file: mixed magnitudes, 3-6 significant digits, some negative.
                let r = next()
                let mantissa = Int(r % 1_000_000)
                let scale = Int((r >> 20) % 5)
                let negative = (r >> 40) & 3 == 0
                var text = String(mantissa)
                if scale > 0 {
                    while text.count <= scale { text = "0" + text }
                    text.insert(".", at: text.index(text.endIndex, offsetBy: -scale))
                }
                chunk += (negative ? "-" : "") + text
                chunk += c == 19 ? "\n" : ","
            }
        }
        let data = Data(chunk.utf8)
        out.write(data)
        written += data.count
        chunk = ""
    }
    try out.close()
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: kiln-bench-data generate FILE MB | csv FILE | hash FILE\n".utf8))
    exit(2)
}
let path = arguments[2]
switch arguments[1] {
case "generate":
    try generate(path, megabytes: Int(arguments.count > 3 ? arguments[3] : "1000") ?? 1000)
case "csv":
    let schema = DataSchema(columns: columns.map { ColumnSchema($0, .float) })
    let start = now()
    let table = try TableReader(source: SourceConfig(path: path), schema: schema).read()
    let seconds = now() - start
    let mb = Double(fileSize(path)) / 1e6
    print(
        #"{"tool": "kiln", "task": "csv", "rows": \#(table.rowCount), "seconds": \#(seconds), "mb_per_s": \#(mb / seconds), "peak_mib": \#(peakResidentMiB())}"#
    )
case "hash":
    let start = now()
    let digest = try ContentHash.file(path)
    let seconds = now() - start
    let mb = Double(digest.bytes) / 1e6
    print(
        #"{"tool": "kiln", "task": "hash", "sha256": "\#(digest.sha256)", "seconds": \#(seconds), "mb_per_s": \#(mb / seconds)}"#
    )
default:
    FileHandle.standardError.write(Data("unknown task \(arguments[1])\n".utf8))
    exit(2)
}
