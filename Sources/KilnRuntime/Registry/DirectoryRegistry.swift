import Foundation
public import KilnSpec

/// The registry seam's store until the git registry lands: plain directories below `.kiln/models`.
///
///     NAME/versions/vN/   model.safetensors, card.json, params.json, metrics.json, lineage.json,
///                         specs/…, version.json (number, author, time, message, source)
///     NAME/aliases/ALIAS  the version number; ALIAS.history: one line per move (time, author, version, reason)
///
/// A version is built in a temporary directory and renamed to `vN`; rename fails when `vN` exists, so
/// two processes registering at once get different numbers.
public struct DirectoryRegistry: ModelRegistry {
    public let root: String

    public init(root: String) { self.root = root }

    private func versions(_ model: String) -> String { "\(root)/\(model)/versions" }
    private func aliases(_ model: String) -> String { "\(root)/\(model)/aliases" }

    public func register(_ r: Registration) throws -> RegisteredVersion {
        let fm = FileManager.default
        let staging = "\(root)/\(r.model)/.staging-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try fm.createDirectory(atPath: staging + "/specs", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: staging) }
        for file in try fm.contentsOfDirectory(atPath: r.artifact) {
            try fm.copyItem(atPath: r.artifact + "/" + file, toPath: staging + "/" + file)
        }
        for (name, data) in r.records { try data.write(to: URL(fileURLWithPath: staging + "/" + name)) }
        for (path, data) in r.specs {
            let target = staging + "/specs/" + path
            try fm.createDirectory(
                atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: target))
        }
        try fm.createDirectory(atPath: versions(r.model), withIntermediateDirectories: true)
        var number = latest(r.model) + 1
        while true {
            let info: [String: Any] = [
                "model": r.model, "version": number, "author": r.author, "message": r.message,
                "created": ISO8601DateFormatter().string(from: Date()), "source": r.source,
            ]
            try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys])
                .write(to: URL(fileURLWithPath: staging + "/version.json"))
            if rename(staging, "\(versions(r.model))/v\(number)") == 0 { break }
            guard errno == EEXIST || errno == ENOTEMPTY else {
                throw RegistryError("cannot store \(r.model) v\(number): \(String(cString: strerror(errno)))")
            }
            number += 1
        }
        if let alias = r.alias {
            try setAlias(alias, model: r.model, version: number, author: r.author, reason: "registered by \(r.source)")
        }
        return try version(r.model, number)
    }

    public func resolve(_ reference: ModelReference) throws -> RegisteredVersion? {
        switch reference.target {
        case .version(let n):
            return access("\(versions(reference.model))/v\(n)", F_OK) == 0 ? try version(reference.model, n) : nil
        case .latest:
            let n = latest(reference.model)
            return n > 0 ? try version(reference.model, n) : nil
        case .alias(let alias):
            guard let text = try? String(contentsOfFile: "\(aliases(reference.model))/\(alias)", encoding: .utf8),
                let n = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            else { return nil }
            return try version(reference.model, n)
        }
    }

    public func setAlias(_ alias: String, model: String, version: Int, author: String, reason: String) throws {
        let dir = aliases(model)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("\(version)\n".utf8).write(to: URL(fileURLWithPath: "\(dir)/\(alias)"), options: .atomic)
        let line = "\(ISO8601DateFormatter().string(from: Date()))\t\(author)\tv\(version)\t\(reason)\n"
        let history = "\(dir)/\(alias).history"
        let fd = open(history, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RegistryError("cannot write \(history)") }
        defer { close(fd) }
        _ = line.withCString { write(fd, $0, strlen($0)) }
    }

    private func latest(_ model: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: versions(model))) ?? []
        return names.compactMap { $0.hasPrefix("v") ? Int($0.dropFirst()) : nil }.max() ?? 0
    }

    private func version(_ model: String, _ n: Int) throws -> RegisteredVersion {
        let location = "\(versions(model))/v\(n)"
        var metrics: [String: [String: Double]] = [:]
        if let data = FileManager.default.contents(atPath: location + "/metrics.json"),
            let record = try? JSONDecoder().decode(TrainingMetrics.self, from: data)
        {
            metrics = record.final
        }
        return RegisteredVersion(model: model, version: n, location: location, metrics: metrics)
    }
}
