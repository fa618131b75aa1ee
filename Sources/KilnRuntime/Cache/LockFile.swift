import Foundation

/// `kiln.lock`: each node's key (fingerprint) and the hashes of its outputs, as of the last run that
/// built or restored it. Deterministic and merge-friendly: nodes sorted by id, one fact per line, no
/// times. Committed, it tells a CI job which nodes are up to date (`kiln status --locked`).
///
///     # kiln.lock: written by `kiln run`; commit it. …
///     kiln-lock 1
///
///     [dataset/iris:ingest]
///     key 3f2a…
///     output sources.json 9c1e…
///     output table.bin 77d0…
public struct LockFile: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var outputs: [String: String]

        public init(key: String, outputs: [String: String]) {
            self.key = key
            self.outputs = outputs
        }
    }

    public static let version = 1
    public var entries: [String: Entry] = [:]

    public init(entries: [String: Entry] = [:]) { self.entries = entries }

    public var text: String {
        var out = """
            # kiln.lock: written by `kiln run`; commit it. Each node's key (a hash of its resolved
            # configuration, input hashes and the kiln version) and its outputs' SHA-256, sorted.

            kiln-lock \(Self.version)

            """
        for id in entries.keys.sorted() {
            guard let entry = entries[id] else { continue }
            out += "\n[\(id)]\nkey \(entry.key)\n"
            for name in entry.outputs.keys.sorted() { out += "output \(name) \(entry.outputs[name] ?? "")\n" }
        }
        return out
    }

    public struct ParseError: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "kiln.lock:\(line): \(message)" }
    }

    public init(text: String) throws(ParseError) {
        // The section being read, added to `entries` when the next one starts.
        var current: String?
        var entry = Entry(key: "", outputs: [:])
        func flush() {
            if let id = current { entries[id] = entry }
        }
        var sawVersion = false
        var number = 0
        // Bytes, not characters, and a string only for what is kept: a lock of thousands of nodes is read
        // on every plan and run.
        func starts(_ bytes: ArraySlice<UInt8>, _ prefix: StaticString) -> Bool {
            let p = UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount)
            return bytes.count >= p.count && zip(bytes, p).allSatisfy { $0 == $1 }
        }
        let all = Array(text.utf8)
        for raw in all.split(separator: 10, omittingEmptySubsequences: false) {
            number += 1
            var bytes = raw
            while let f = bytes.first, f == 32 || f == 9 { bytes = bytes.dropFirst() }
            while let l = bytes.last, l == 32 || l == 9 || l == 13 { bytes = bytes.dropLast() }
            guard let first = bytes.first, first != UInt8(ascii: "#") else { continue }
            if starts(bytes, "<<<<<<<") || starts(bytes, ">>>>>>>") || (bytes.count == 7 && starts(bytes, "=======")) {
                throw ParseError(
                    line: number, message: "an unresolved merge conflict; resolve it, or delete kiln.lock and run again"
                )
            }
            if first == UInt8(ascii: "[") && bytes.last == UInt8(ascii: "]") {
                flush()
                current = String(decoding: bytes.dropFirst().dropLast(), as: UTF8.self)
                entry = Entry(key: "", outputs: [:])
            } else if starts(bytes, "key "), current != nil {
                entry.key = String(decoding: bytes.dropFirst(4), as: UTF8.self)
            } else if starts(bytes, "output "), current != nil {
                let parts = bytes.split(separator: 32)
                guard parts.count == 3 else { throw ParseError(line: number, message: "expected 'output NAME SHA256'") }
                entry.outputs[String(decoding: parts[1], as: UTF8.self)] = String(decoding: parts[2], as: UTF8.self)
            } else if starts(bytes, "kiln-lock ") {
                let version = String(decoding: bytes.dropFirst(10), as: UTF8.self)
                guard Int(version) == Self.version else {
                    throw ParseError(line: number, message: "lock format \(version); this kiln writes \(Self.version)")
                }
                sawVersion = true
            } else {
                throw ParseError(line: number, message: "unexpected line '\(String(decoding: bytes, as: UTF8.self))'")
            }
        }
        flush()
        if !entries.isEmpty && !sawVersion { throw ParseError(line: 1, message: "no 'kiln-lock' version line") }
    }

    /// The lock at `path`; an absent file is an empty lock.
    public static func load(_ path: String) throws(ParseError) -> LockFile {
        guard let data = FileManager.default.contents(atPath: path) else { return LockFile() }
        return try LockFile(text: String(decoding: data, as: UTF8.self))
    }

    /// The file's identity and last change (inode, size, modification time), nil when it is absent: a lock
    /// read earlier is current while its stamp is the same.
    public static func stamp(_ path: String) -> String? {
        var s = stat()
        guard stat(path, &s) == 0 else { return nil }
        return "\(s.st_ino):\(s.st_size):\(s.st_mtim.tv_sec).\(s.st_mtim.tv_nsec):\(s.st_ctim.tv_sec).\(s.st_ctim.tv_nsec)"
    }

    /// Writes atomically, and only when the text changed (so an all-cached run touches nothing).
    public func write(_ path: String) throws {
        let new = Data(text.utf8)
        if FileManager.default.contents(atPath: path) == new { return }
        try new.write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
