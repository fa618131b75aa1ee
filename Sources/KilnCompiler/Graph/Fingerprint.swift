import Crypto
import Foundation
import KilnData
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

    /// SHA-256 of a file's bytes: the data layer's streamed hash, so that a graph's file hashes are the
    /// ones lineage records.
    static func file(_ path: String) -> String? { try? ContentHash.file(path).sha256 }

    static func hex(_ digest: some Sequence<UInt8>) -> String { ContentHash.hex(digest) }
}
