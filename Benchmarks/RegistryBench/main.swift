// The registry's costs (issue 6): registering a 100 MB model, `log` over 1,000 versions, `diff` of two
// 50 MB versions, and the storage a fine-tuned v2 adds (only its last layer changed, ≤ 5% of the bytes)
// beside storing both versions as whole files in a plain git repository (git's own zlib objects, as
// `git add` would store them) and as whole-file LFS-style storage (computed: the second file, whole).
// Usage: kiln-bench-registry [ROUNDS]            (make bench-registry; release build)
import Foundation
import KilnCompute
import KilnRegistry
import KilnSpec

#if DEBUG
    FileHandle.standardError.write(Data("kiln-bench-registry: use a release build (-c release)\n".utf8))
    exit(1)
#endif

let rounds = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 3
let work = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-bench-registry-\(getpid())").path
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: work) }

/// An artifact directory whose weights are `layers` float32 tensors of the given element counts, random
/// values from `seed`; `changedLast` perturbs only the last tensor.
func artifact(_ name: String, layers: [Int], seed: UInt64, changedLast: Bool = false) throws -> String {
    var generator = RandomGenerator(seed: seed)
    var other = RandomGenerator(seed: seed + 1000)
    var tensors: [(String, Tensor)] = []
    for (i, count) in layers.enumerated() {
        let t = Tensor(shape: [count])
        let changed = changedLast && i == layers.count - 1
        for j in 0..<count { t.data[j] = (changed ? other.nextFloat() : generator.nextFloat()) - 0.5 }
        tensors.append(("layer\(i).weight", t))
    }
    let dir = "\(work)/\(name)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try SafeTensors.write(SafeTensors.encode(tensors), to: dir + "/model.safetensors")
    try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/card.json"))
    return dir
}

func registration(_ dir: String, _ model: String, key: String) -> Registration {
    Registration(
        model: model, artifact: dir, records: ["metrics.json": Data(#"{"final":{"test":{"accuracy":0.9}}}"#.utf8)],
        specs: ["specs/train.yaml": Data("kind: Training\n".utf8)], message: "bench", alias: nil, author: "bench",
        source: "training/bench", key: key)
}

func ref(_ text: String) -> ModelReference {
    guard let r = ModelReference(text) else { fatalError("not a reference: \(text)") }
    return r
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

func size(_ path: String) -> Int {
    (FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []).reduce(0) {
        $0 + ((try? FileManager.default.attributesOfItem(atPath: path + "/" + $1)[.size] as? Int) ?? 0)
    }
}

// 1. Register a 100 MB model (25 tensors of 1 M floats).
let big = try artifact("big", layers: Array(repeating: 1 << 20, count: 25), seed: 1)
var registerTimes: [Double] = []
for r in 0..<rounds {
    let registry = GitRegistry(path: "\(work)/r\(r)")
    registerTimes.append(try seconds { _ = try registry.register(registration(big, "big", key: "k")) })
}
var checkoutTimes: [Double] = []
for r in 0..<rounds {
    let registry = GitRegistry(path: "\(work)/r\(r)")
    let out = "\(work)/out\(r)"
    checkoutTimes.append(try seconds { try registry.checkout(ref("big@v1"), to: out) })
    try FileManager.default.removeItem(atPath: out)
}

// 2. log over 1,000 versions (small models).
let tiny = try artifact("tiny", layers: [64, 32], seed: 2)
let logRegistry = GitRegistry(path: "\(work)/log")
let fill = try seconds { for i in 0..<1000 { _ = try logRegistry.register(registration(tiny, "tiny", key: "k\(i)")) } }
var logTimes: [Double] = []
for _ in 0..<rounds {
    logTimes.append(
        try seconds {
            let count = try GitRegistry(path: "\(work)/log").log("tiny").count
            guard count == 1000 else { fatalError("log gave \(count) versions") }
        })
}

// The same through the command line, as a user runs it (process start, argument parsing, the table
// printed), when the kiln binary sits beside this one (`swift build -c release` builds both).
let kilnBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    .appendingPathComponent("kiln").path
func timeKiln(_ arguments: [String]) throws -> Double {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: kilnBinary)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(["KILN_REGISTRY": "\(work)/log"]) { $1 }
    process.standardOutput = FileHandle.nullDevice
    return try seconds {
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            fatalError("kiln \(arguments) exited \(process.terminationStatus)")
        }
    }
}
var cliLogTimes: [Double] = []
var cliOnelineTimes: [Double] = []
let haveKiln = FileManager.default.isExecutableFile(atPath: kilnBinary)
if haveKiln {
    for _ in 0..<rounds {
        cliLogTimes.append(try timeKiln(["log", "tiny"]))
        cliOnelineTimes.append(try timeKiln(["log", "tiny", "--oneline"]))
    }
}

// 3. diff of two 50 MB versions, and 4. storage growth of a fine-tuned v2.
// 50 MB: 19 tensors of 640 K floats and a last layer of 640 K floats (4.8% of the bytes).
let layers = Array(repeating: 640 << 10, count: 20)
let v1 = try artifact("v1", layers: layers, seed: 3)
let v2 = try artifact("v2", layers: layers, seed: 3, changedLast: true)
let diffRegistry = GitRegistry(path: "\(work)/diff")
_ = try diffRegistry.register(registration(v1, "ft", key: "1"))
let afterV1 = size("\(work)/diff/objects")
_ = try diffRegistry.register(registration(v2, "ft", key: "2"))
let growth = size("\(work)/diff/objects") - afterV1
var diffTimes: [Double] = []
for _ in 0..<rounds {
    diffTimes.append(try seconds { _ = try diffRegistry.diff(ref("ft@v1"), ref("ft@v2")) })
}
let modelBytes = (try FileManager.default.attributesOfItem(atPath: v2 + "/model.safetensors")[.size] as? Int) ?? 0
// Whole files in a plain git repository: both versions as blobs (zlib-compressed loose objects).
let plain = try GitRepository.open("\(work)/plain", create: true)
_ = try plain.writeBlob(try Data(contentsOf: URL(fileURLWithPath: v1 + "/model.safetensors")))
let plainAfterV1 = size("\(work)/plain/objects")
_ = try plain.writeBlob(try Data(contentsOf: URL(fileURLWithPath: v2 + "/model.safetensors")))
let plainGrowth = size("\(work)/plain/objects") - plainAfterV1

func pct(_ n: Int) -> String { String(format: "%.1f %%", Double(n) / Double(modelBytes) * 100) }
print(
    String(
        format: "register a 100 MB model: %.2f s (median of %d; %@)", median(registerTimes), rounds,
        registerTimes.map { String(format: "%.2f", $0) }.joined(separator: ", ")))
print(String(format: "checkout of it (reassemble + verify): %.2f s", median(checkoutTimes)))
print(
    String(
        format: "log over 1,000 versions: %.3f s (median of %d); filling them took %.1f s", median(logTimes), rounds,
        fill))
if haveKiln {
    print(
        String(
            format: "`kiln log tiny` over 1,000 versions (process): %.3f s; --oneline: %.3f s (medians of %d)",
            median(cliLogTimes), median(cliOnelineTimes), rounds))
} else {
    print("`kiln log` through the binary: skipped (no \(kilnBinary); build it with swift build -c release)")
}
print(String(format: "diff of two 50 MB versions: %.3f s (median of %d)", median(diffTimes), rounds))
print("storage added by v2 (last layer changed, \((layers.last ?? 0) * 4) of \(modelBytes) bytes):")
print("  kiln (chunked)            \(growth) bytes = \(pct(growth)) of the model")
print("  whole file in plain git   \(plainGrowth) bytes = \(pct(plainGrowth))")
print("  whole file, LFS-style     \(modelBytes) bytes = 100.0 % (computed: the second file, whole)")
