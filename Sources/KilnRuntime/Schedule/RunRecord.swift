public import Foundation
import KilnSpec

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

    /// The records' JSON form (`.kiln/runs/ID.json`, `kiln runs --json`).
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    /// Writes the record atomically; returns its path.
    @discardableResult
    public func write(to directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = "\(directory)/\(id).json"
        try Self.encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
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
