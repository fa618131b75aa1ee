import Crypto
import Foundation
import KilnSpec

/// Fingerprints: SHA-256 over a canonical, versioned encoding. A node's fingerprint changes when and
/// only when its configuration, a file it reads, an upstream fingerprint or the kiln version changes.
enum Fingerprint {
    static func node(kind: GraphNode.Kind, config: JSON, files: [(path: String, sha256: String)], inputs: [String])
        -> String
    {
        var text = "kiln-node-v1\nkiln \(KilnVersion.string)\nkind \(kind.rawValue)\nconfig \(config.serialized())\n"
        for file in files { text += "file \(file.sha256)\n" }
        for input in inputs { text += "input \(input)\n" }
        return hex(SHA256.hash(data: Data(text.utf8)))
    }

    /// SHA-256 of a file's bytes, read in chunks (data files can be large).
    static func file(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hex(hasher.finalize())
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
