import Foundation

/// The safetensors format (what Hugging Face's `safetensors` reads): an 8-byte little-endian header
/// length, a JSON header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}`,
/// then the tensors' little-endian bytes. Kiln writes F32 only and reads F32 only; every offset and
/// size in a file it reads is checked before use, so a truncated or corrupt file is an error, never an
/// out-of-bounds read.
public enum SafeTensors {
    /// Largest header accepted (the format's own readers use 100 MB).
    static let maxHeaderBytes = 100_000_000

    public struct Entry: Sendable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]

        public init(name: String, shape: [Int], values: [Float]) {
            self.name = name
            self.shape = shape
            self.values = values
        }
    }

    /// The file's bytes: tensors in the given order, metadata as string pairs.
    public static func encode(_ tensors: [(String, Tensor)], metadata: [String: String] = [:]) -> [UInt8] {
        var parts: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(quote($0)):\(quote(metadata[$0] ?? ""))" }
            parts.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for (name, t) in tensors {
            let shape = t.shape.map(String.init).joined(separator: ",")
            parts.append(
                "\(quote(name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + 4 * t.count)]}"
            )
            offset += 4 * t.count
        }
        var json = "{" + parts.joined(separator: ",") + "}"
        // Pad the header with spaces to a multiple of 8, as the reference writer does (aligned data).
        while json.utf8.count % 8 != 0 { json += " " }
        var out: [UInt8] = []
        out.reserveCapacity(8 + json.utf8.count + offset)
        withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json.utf8)
        for (_, t) in tensors {
            for i in 0..<t.count {
                withUnsafeBytes(of: t.data[i].bitPattern.littleEndian) { out.append(contentsOf: $0) }
            }
        }
        return out
    }

    /// Parses a file's bytes; `path` names the file in errors.
    public static func decode(_ bytes: [UInt8], path: String) throws(ComputeError) -> (
        tensors: [Entry], metadata: [String: String]
    ) {
        let (tensors, _, metadata) = try decode(bytes, path: path, otherTypes: false)
        return (tensors, metadata)
    }

    /// Bytes per element of the dtypes a header may name (the format's list).
    static let elementBytes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4,
        "U16": 2, "U8": 1, "BOOL": 1,
    ]

    /// Parses a file's bytes; with `otherTypes`, tensors of another dtype than F32 are checked like the
    /// rest and named in `others` (a pretrained model's integer buffers, such as BERT's `position_ids`),
    /// without their values.
    public static func decode(_ bytes: [UInt8], path: String, otherTypes: Bool) throws(ComputeError) -> (
        tensors: [Entry], others: [(name: String, dtype: String, shape: [Int])], metadata: [String: String]
    ) {
        var others: [(name: String, dtype: String, shape: [Int])] = []
        func bad(_ reason: String) -> ComputeError {
            .invalidFile(path: path, reason: "not a valid safetensors file: \(reason)")
        }
        guard bytes.count >= 8 else { throw bad("shorter than its 8-byte header length") }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard length <= UInt64(maxHeaderBytes), 8 + Int(length) <= bytes.count else {
            throw bad("header length \(length) runs past the end of the file (\(bytes.count) bytes)")
        }
        let headerBytes = bytes[8..<(8 + Int(length))]
        guard let object = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any] else {
            throw bad("the header is not a JSON object")
        }
        let dataStart = 8 + Int(length)
        let dataCount = bytes.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [(begin: Int, Entry)] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else { throw bad("'__metadata__' is not a map of strings") }
                metadata = m
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw bad("tensor '\(name)' lacks dtype, shape or data_offsets") }
            guard dtype == "F32" || (otherTypes && elementBytes[dtype] != nil) else {
                throw bad("tensor '\(name)' is \(dtype); kiln reads F32")
            }
            let width = elementBytes[dtype] ?? 4
            guard shape.allSatisfy({ $0 >= 0 && $0 < 1 << 31 }) else {
                throw bad("tensor '\(name)' has a bad shape \(shape)")
            }
            let (elements, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            let (bytesNeeded, tooMany) = elements.multipliedReportingOverflow(by: width)
            guard !overflow, !tooMany, offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] <= dataCount,
                offsets[1] - offsets[0] == bytesNeeded
            else {
                throw bad(
                    "tensor '\(name)': offsets \(offsets) do not fit its shape \(shape) in \(dataCount) data bytes")
            }
            guard dtype == "F32" else {
                others.append((name, dtype, shape))
                continue
            }
            var values = [Float](repeating: 0, count: elements)
            let base = dataStart + offsets[0]
            for i in 0..<elements {
                let j = base + 4 * i
                let bits =
                    UInt32(bytes[j]) | UInt32(bytes[j + 1]) << 8 | UInt32(bytes[j + 2]) << 16 | UInt32(bytes[j + 3])
                    << 24
                values[i] = Float(bitPattern: bits)
            }
            entries.append((offsets[0], Entry(name: name, shape: shape, values: values)))
        }
        return (entries.sorted { $0.begin < $1.begin }.map(\.1), others.sorted { $0.name < $1.name }, metadata)
    }

    /// The tensors a file holds (name, dtype, shape), from its header alone: what a check needs of a
    /// large checkpoint without reading its data. Offsets are checked against the file's size.
    public static func header(_ path: String) throws(ComputeError) -> [(name: String, dtype: String, shape: [Int])] {
        func bad(_ reason: String) -> ComputeError { .invalidFile(path: path, reason: "not a valid safetensors file: \(reason)") }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw .io(path: path, reason: "cannot read the file") }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toFileOffset: 0)
        guard let prefix = try? handle.read(upToCount: 8), prefix.count == 8 else {
            throw bad("shorter than its 8-byte header length")
        }
        var length: UInt64 = 0
        for (i, b) in prefix.enumerated() { length |= UInt64(b) << (8 * UInt64(i)) }
        guard length <= UInt64(maxHeaderBytes), 8 + length <= size else {
            throw bad("header length \(length) runs past the end of the file (\(size) bytes)")
        }
        guard let header = try? handle.read(upToCount: Int(length)), header.count == Int(length),
            let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any]
        else { throw bad("the header is not a JSON object") }
        let dataCount = Int(size - 8 - length)
        var out: [(name: String, dtype: String, shape: [Int])] = []
        for (name, value) in object where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
                let width = elementBytes[dtype], shape.allSatisfy({ $0 >= 0 && $0 < 1 << 31 })
            else { throw bad("tensor '\(name)' lacks a known dtype, a shape or data_offsets") }
            var elements = 1, overflow = false
            for d in shape {
                let (p, o) = elements.multipliedReportingOverflow(by: d)
                (elements, overflow) = (p, overflow || o)
            }
            let (bytes, tooMany) = elements.multipliedReportingOverflow(by: width)
            guard !overflow, !tooMany, offsets[0] >= 0, offsets[1] >= offsets[0], offsets[1] <= dataCount,
                offsets[1] - offsets[0] == bytes
            else { throw bad("tensor '\(name)': offsets \(offsets) do not fit its shape \(shape)") }
            out.append((name, dtype, shape))
        }
        return out.sorted { $0.name < $1.name }
    }

    public static func read(_ path: String) throws(ComputeError) -> (tensors: [Entry], metadata: [String: String]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .io(path: path, reason: "cannot read the file")
        }
        return try decode([UInt8](data), path: path)
    }

    /// Writes atomically: a temporary file in the same directory, then a rename, so a crash never leaves
    /// a half-written file under the final name.
    public static func write(_ bytes: [UInt8], to path: String) throws(ComputeError) {
        try AtomicFile.write(bytes, to: path)
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Atomic replacement of a file: write a temporary sibling, flush it, rename it over the target.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws(ComputeError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary =
            (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
            throw .io(path: temporary, reason: "cannot create the file: \(String(cString: strerror(errno)))")
        }
        guard let handle = FileHandle(forWritingAtPath: temporary) else {
            throw .io(path: temporary, reason: "cannot open the file for writing")
        }
        do {
            try handle.write(contentsOf: Data(bytes))
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            unlink(temporary)
            throw .io(path: path, reason: "write failed: \(error)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .io(path: path, reason: "rename failed: \(reason)")
        }
    }
}
