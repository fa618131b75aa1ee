import Crypto
import Foundation
import KilnCompute

/// Weights in the registry: a safetensors file stored as its header and bounded chunks of each tensor's
/// bytes, so that an unchanged tensor (or an unchanged chunk of a large one) is the same git blob in
/// every version that has it. libgit2 reads a blob whole, so no blob exceeds `chunkBytes`; files are
/// streamed through a buffer of that size on write and on read, whatever the model's size.
///
/// `weights/manifest.json` lists, in file order, each tensor's byte range and chunk ids; `weights/header`
/// is the file's first 8 + N bytes (length and JSON header); `weights/chunks/OID` keeps every chunk
/// reachable (for push, pull and git's garbage collection). Reassembly is verified against the file's
/// SHA-256, recorded at write time.
public enum WeightStore {
    public static let chunkBytes = 4 << 20

    public struct Manifest: Codable, Sendable, Equatable {
        public struct Tensor: Codable, Sendable, Equatable {
            public var name: String
            public var dtype: String
            public var shape: [Int]
            /// Byte range in the data section.
            public var begin: Int
            public var end: Int
            public var sha256: String
            public var chunks: [String]
        }

        public var format = "kiln-weights"
        public var version = 1
        public var bytes: Int
        public var sha256: String
        public var header: String
        public var chunkBytes: Int
        public var tensors: [Tensor]

        /// What makes a manifest unusable (read from a registry kiln may not have written), nil when
        /// nothing does: sizes that are negative, out of order or overflow, ids that are not object ids.
        var problem: String? {
            guard format == "kiln-weights", version == 1 else { return "has format \(format) v\(version), not kiln-weights v1" }
            guard bytes >= 0, chunkBytes > 0, chunkBytes <= 64 << 20 else { return "has impossible sizes" }
            guard ObjectID(hex: header) != nil else { return "names an invalid header object" }
            var position = 0
            for t in tensors {
                guard t.begin == position, t.end >= t.begin, t.end <= bytes else {
                    return "lists tensor '\(t.name)' at bytes \(t.begin)..<\(t.end), out of order or out of range"
                }
                guard t.chunks.allSatisfy({ ObjectID(hex: $0) != nil }) else {
                    return "names an invalid chunk of tensor '\(t.name)'"
                }
                guard Shape.elementCount(t.shape) != nil else { return "gives tensor '\(t.name)' an impossible shape" }
                position = t.end
            }
            return nil
        }
    }

    public struct StoreError: Error, CustomStringConvertible {
        public var description: String
        init(_ d: String) { description = d }
    }

    /// Streams `path` into the repository; returns the manifest and the tree entries of `weights/`.
    static func write(_ path: String, into repo: GitRepository, chunkBytes: Int = chunkBytes) throws -> (
        Manifest, ObjectID
    ) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw StoreError("cannot open \(path)") }
        defer { try? handle.close() }
        var fileHash = SHA256()
        func read(_ n: Int) throws -> Data {
            let data = try handle.read(upToCount: n) ?? Data()
            guard data.count == n else { throw StoreError("\(path) is shorter than its safetensors header says") }
            fileHash.update(data: data)
            return data
        }
        let lengthBytes = try read(8)
        let length = lengthBytes.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        guard length > 0, length < 100 << 20 else { throw StoreError("\(path) has no valid safetensors header") }
        let headerJSON = try read(length)
        guard let header = try JSONSerialization.jsonObject(with: headerJSON) as? [String: Any] else {
            throw StoreError("\(path): the safetensors header is not a JSON object")
        }
        let headerBlob = try repo.writeBlob(lengthBytes + headerJSON)
        var tensors: [Manifest.Tensor] = []
        for (name, value) in header where name != "__metadata__" {
            guard let info = value as? [String: Any], let offsets = info["data_offsets"] as? [Int], offsets.count == 2,
                offsets[0] <= offsets[1]
            else { throw StoreError("\(path): tensor '\(name)' has no valid data_offsets") }
            tensors.append(
                Manifest.Tensor(
                    name: name, dtype: info["dtype"] as? String ?? "?", shape: info["shape"] as? [Int] ?? [],
                    begin: offsets[0], end: offsets[1], sha256: "", chunks: []))
        }
        tensors.sort { ($0.begin, $0.name) < ($1.begin, $1.name) }
        var position = 0
        var chunkIDs = Set<ObjectID>()
        for i in tensors.indices {
            guard tensors[i].begin == position else {
                throw StoreError("\(path): tensor data is not contiguous at byte \(position) (gap or overlap)")
            }
            var tensorHash = SHA256()
            var remaining = tensors[i].end - tensors[i].begin
            while remaining > 0 {
                let piece = try read(min(chunkBytes, remaining))
                tensorHash.update(data: piece)
                let id = try repo.writeBlob(piece)
                chunkIDs.insert(id)
                tensors[i].chunks.append(id.hex)
                remaining -= piece.count
            }
            tensors[i].sha256 = hex(tensorHash.finalize())
            position = tensors[i].end
        }
        if let extra = try handle.read(upToCount: 1), !extra.isEmpty {
            throw StoreError("\(path) has bytes after its last tensor")
        }
        let manifest = Manifest(
            bytes: 8 + length + position, sha256: hex(fileHash.finalize()), header: headerBlob.hex,
            chunkBytes: chunkBytes, tensors: tensors)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let manifestBlob = try repo.writeBlob(try encoder.encode(manifest))
        let chunks = try repo.writeTree(chunkIDs.map { GitTreeEntry(name: $0.hex, id: $0, kind: .blob) })
        let tree = try repo.writeTree([
            GitTreeEntry(name: "manifest.json", id: manifestBlob, kind: .blob),
            GitTreeEntry(name: "header", id: headerBlob, kind: .blob),
            GitTreeEntry(name: "chunks", id: chunks, kind: .tree),
        ])
        return (manifest, tree)
    }

    /// Streams the reassembled safetensors file to `emit`, verifying each chunk (libgit2 checks the object
    /// hash) and the whole file against the manifest; throws after the last piece if they differ, so a
    /// caller writing a file discards it.
    static func stream(_ manifest: Manifest, from repo: GitRepository, _ emit: (Data) throws -> Void) throws {
        var hash = SHA256()
        var total = 0
        func piece(_ hexID: String) throws {
            let data = try blob(hexID, repo)
            total += data.count
            guard total <= manifest.bytes else { throw StoreError(changed) }
            hash.update(data: data)
            try emit(data)
        }
        try piece(manifest.header)
        for tensor in manifest.tensors {
            for chunk in tensor.chunks { try piece(chunk) }
        }
        guard total == manifest.bytes, hex(hash.finalize()) == manifest.sha256 else { throw StoreError(changed) }
    }

    private static let changed =
        "the weights reassembled from the registry do not match the SHA-256 recorded at registration: the registry was changed"

    /// Writes the reassembled file to an open descriptor (see `stream`).
    static func read(_ manifest: Manifest, from repo: GitRepository, into fd: Int32) throws {
        try stream(manifest, from: repo) { data in
            try data.withUnsafeBytes { raw in try ConfinedDirectory.writeAll(fd, raw, GitRegistry.weightsFile) }
        }
    }

    /// One tensor's bytes (for diffs).
    static func tensorBytes(_ tensor: Manifest.Tensor, from repo: GitRepository) throws -> Data {
        var data = Data()
        data.reserveCapacity(tensor.end - tensor.begin)
        for chunk in tensor.chunks { data.append(try blob(chunk, repo)) }
        return data
    }

    private static func blob(_ hexID: String, _ repo: GitRepository) throws -> Data {
        guard let id = ObjectID(hex: hexID) else { throw StoreError("the weights manifest names an invalid object id") }
        return try repo.readBlob(id)
    }

    static func hex(_ digest: some Sequence<UInt8>) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
