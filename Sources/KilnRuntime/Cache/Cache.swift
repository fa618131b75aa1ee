import Crypto
public import Foundation
import KilnData

/// What a cache entry records about the node run that produced it (`manifest.json`).
public struct CacheManifest: Sendable, Codable {
    public struct Output: Sendable, Codable, Equatable {
        public var sha256: String
        public var bytes: Int
    }

    public var format = "kiln-cache-entry"
    public var version = 1
    public var node: String
    public var kind: String
    public var key: String
    public var kiln: String
    /// The node's resolved configuration (canonical JSON text), for `kiln plan` to say what changed.
    public var config: String
    public var files: [String: String]
    /// Upstream node → its key.
    public var inputs: [String: String]
    /// Output file (relative to `outputs/`) → its hash and size.
    public var outputs: [String: Output]
    /// One line for the progress view and the run record ("150 rows", "accuracy 0.967").
    public var summary: String
    public var metrics: [String: Double]
    public var created: String
    public var seconds: Double

    public init(
        node: String, kind: String, key: String, kiln: String, config: String, files: [String: String],
        inputs: [String: String], outputs: [String: Output], summary: String, metrics: [String: Double],
        created: String, seconds: Double
    ) {
        self.node = node
        self.kind = kind
        self.key = key
        self.kiln = kiln
        self.config = config
        self.files = files
        self.inputs = inputs
        self.outputs = outputs
        self.summary = summary
        self.metrics = metrics
        self.created = created
        self.seconds = seconds
    }
}

/// The content-addressed cache: `.kiln/cache/ab/abcdef…/` holds `manifest.json` and the node's outputs.
///
/// An entry is built in `.kiln/cache/tmp/` and renamed into place whole, manifest included, so a crash
/// or `kill -9` at any moment leaves either no entry or a complete one, never half of one that a later
/// run trusts. Outputs are hashed into the manifest and verified when read, so a damaged entry (a disk
/// error, an edit) is detected, removed and rebuilt.
public struct Cache: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public func entry(_ key: String) -> String { "\(directory)/\(key.prefix(2))/\(key)" }
    /// Outputs live beside `manifest.json` in the entry (one directory per node: inodes are what a big
    /// graph's first run spends its time creating).
    public func outputs(_ key: String) -> String { entry(key) }
    var temporary: String { directory + "/tmp" }

    /// Whether a complete entry exists (its manifest is only ever renamed in with the entry).
    public func contains(_ key: String) -> Bool {
        access(entry(key) + "/manifest.json", F_OK) == 0
    }

    /// Which of `keys` have an entry, for many at once: each shard directory is listed once instead of a
    /// lookup per key (entries are only ever renamed in whole, so a listed entry is complete).
    public func present(_ keys: [String]) -> Set<String> {
        guard keys.count > 256 else { return Set(keys.filter(contains)) }
        var found = Set<String>()
        for shard in Set(keys.map { String($0.prefix(2)) }) {
            guard let dir = opendir("\(directory)/\(shard)") else { continue }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name.count > 2 { found.insert(name) }
            }
        }
        return found.intersection(keys)
    }

    public func manifest(_ key: String) -> CacheManifest? {
        guard let data = FileManager.default.contents(atPath: entry(key) + "/manifest.json") else { return nil }
        return try? JSONDecoder().decode(CacheManifest.self, from: data)
    }

    /// A directory to build an entry in; `commit` moves it into place.
    public func begin(_ key: String) throws -> String {
        let path = "\(temporary)/\(key).\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        if mkdir(path, 0o755) != 0 {
            try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true)
            guard mkdir(path, 0o755) == 0 else {
                throw CacheError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
        return path
    }

    /// Hashes the outputs built in `pending`, writes the manifest, and renames the entry into place.
    @discardableResult
    public func commit(_ pending: String, manifest: CacheManifest) throws -> CacheManifest {
        var manifest = manifest
        manifest.outputs = try Self.hashTree(pending)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileWriter.write(try encoder.encode(manifest), to: pending + "/manifest.json")
        let final = entry(manifest.key)
        let parent = (final as NSString).deletingLastPathComponent
        if mkdir(parent, 0o755) != 0 && errno != EEXIST {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        }
        if rename(pending, final) != 0 {
            // Another process committed the same key first: the same inputs made the same outputs.
            try? FileManager.default.removeItem(atPath: pending)
            guard contains(manifest.key) else {
                throw CacheError("cannot move the entry into \(final): \(String(cString: strerror(errno)))")
            }
        }
        return manifest
    }

    /// Removes an abandoned build directory (a run that was killed).
    public func discard(_ pending: String) { try? FileManager.default.removeItem(atPath: pending) }

    /// Removes leftovers of killed runs; call only while holding the workspace lock.
    public func cleanTemporary() { try? FileManager.default.removeItem(atPath: temporary) }

    /// Removes a damaged entry, so that the next run rebuilds it.
    public func remove(_ key: String) { try? FileManager.default.removeItem(atPath: entry(key)) }

    /// An output's bytes, verified against the manifest's hash.
    public func read(_ key: String, _ name: String) throws -> Data {
        guard let manifest = manifest(key), let expected = manifest.outputs[name] else {
            throw CacheError(
                "the cache entry \(key.prefix(12)) of \(self.manifest(key)?.node ?? "a node") has no '\(name)'")
        }
        let path = outputs(key) + "/" + name
        guard let data = FileManager.default.contents(atPath: path),
            ContentHash.bytes(data) == expected.sha256
        else {
            remove(key)
            throw CacheError(
                "the cache entry of \(manifest.node) was damaged ('\(name)' does not match its hash); "
                    + "it was removed: run again to rebuild it")
        }
        return data
    }

    /// Verifies every output of an entry (used before handing a directory of outputs to a reader).
    public func verify(_ key: String) throws {
        guard let manifest = manifest(key) else { throw CacheError("no cache entry \(key.prefix(12))") }
        let actual = try Self.hashTree(outputs(key))
        guard actual == manifest.outputs else {
            remove(key)
            throw CacheError(
                "the cache entry of \(manifest.node) was damaged (its outputs do not match their hashes); "
                    + "it was removed: run again to rebuild it")
        }
    }

    /// Every file below `root` but the manifest, relative path → hash and size.
    static func hashTree(_ root: String) throws -> [String: CacheManifest.Output] {
        var out: [String: CacheManifest.Output] = [:]
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return out }
        while let relative = enumerator.nextObject() as? String {
            if relative == "manifest.json" { continue }
            let path = root + "/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue
            else { continue }
            let digest = try ContentHash.file(path)
            out[relative] = .init(sha256: digest.sha256, bytes: digest.bytes)
        }
        return out
    }
}

public struct CacheError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Plain writes for files inside a cache entry under construction: no temporary file and no fsync per
/// file, since the entry becomes visible only by the rename of its directory, and every output is
/// verified against its hash when read.
enum FileWriter {
    static func write(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CacheError("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                guard let base = raw.baseAddress else { return }
                let n = Foundation.write(fd, base + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw CacheError("cannot write \(path): \(String(cString: strerror(errno)))") }
                offset += n
            }
        }
    }
}
