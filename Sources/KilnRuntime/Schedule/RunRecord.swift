public import Foundation
public import KilnSpec

/// `.kiln/runs/<id>.json`: who ran what, when, with which kiln, and how each node went.
public struct RunRecord: Sendable, Codable {
    public var format = "kiln-run"
    public var version = 1
    public var id: String
    public var user: String
    public var host: String
    public var kiln: String
    public var started: String
    public var seconds: Double
    public var command: [String]
    public var targets: [String]
    public var jobs: Int
    public var outcome: RunOutcome
    public var exitCode: Int32
    public var nodes: [NodeRecord]

    public init(_ result: RunResult, command: [String], targets: [String], jobs: Int, exitCode: Int32) {
        id = result.id
        user = Identity.current
        host = Identity.host
        kiln = KilnVersion.string
        started = EventRecord.timestamp(result.started)
        seconds = result.seconds
        self.command = command
        self.targets = targets
        self.jobs = jobs
        outcome = result.outcome
        self.exitCode = exitCode
        nodes = result.nodes
    }

    /// The record's JSON form (`.kiln/runs/ID.json`, `kiln runs --json`): snake_case keys, sorted, and
    /// non-finite numbers as the strings `inf`, `-inf`, `nan` (what `all(in:)` decodes). Written directly:
    /// a run of 17,000 nodes took a sixth of a no-op run through JSONEncoder.
    public var json: JSON {
        var fields: [(String, JSON)] = [
            ("command", .array(command.map(JSON.string))), ("exit_code", .int(Int(exitCode))),
            ("format", .string(format)), ("host", .string(host)), ("id", .string(id)), ("jobs", .int(jobs)),
            ("kiln", .string(kiln)), ("nodes", .array(nodes.map(\.json))), ("outcome", .string(outcome.rawValue)),
            ("seconds", .number(seconds)), ("started", .string(started)), ("targets", .array(targets.map(JSON.string))),
            ("user", .string(user)), ("version", .int(version)),
        ]
        fields.sort { $0.0 < $1.0 }
        return .object(fields)
    }

    /// Writes the record atomically; returns its path.
    @discardableResult
    public func write(to directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = "\(directory)/\(id).json"
        try Data(json.serialized(pretty: true).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return path
    }

    /// Every readable record in `directory`, newest first (ids start with the UTC time); unreadable
    /// files are named in `skipped`.
    public static func all(in directory: String) -> (records: [RunRecord], skipped: [String]) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".json") }.sorted(by: >)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var records: [RunRecord] = []
        var skipped: [String] = []
        for name in names {
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)"),
                let record = try? decoder.decode(RunRecord.self, from: data)
            else {
                skipped.append(name)
                continue
            }
            records.append(record)
        }
        return (records, skipped)
    }
}

extension NodeRecord {
    /// The node's part of the record's JSON form (optional fields omitted when absent).
    public var json: JSON {
        var fields: [(String, JSON)] = [
            ("attempts", .int(attempts)), ("id", .string(id)), ("key", .string(key)), ("kind", .string(kind)),
            ("metrics", .object(metrics.sorted { $0.key < $1.key }.map { ($0.key, .number($0.value)) })),
            ("seconds", .number(seconds)), ("status", .string(status)), ("summary", .string(summary)),
        ]
        if let error { fields.append(("error", .string(error))) }
        if let ranIn { fields.append(("ran_in", .string(ranIn))) }
        fields.sort { $0.0 < $1.0 }
        return .object(fields)
    }
}
