import Foundation

/// What happens during a run, as the progress views and `--json` see it. The JSON form (one object per
/// line, `"v": 1`) is documented in docs/cli.md; fields are added, never renamed or removed, within a
/// version.
public enum RunEvent: Sendable {
    case runStarted(run: String, nodes: Int, toRun: Int, cached: Int, jobs: Int)
    case nodeCached(node: String, key: String, summary: String)
    case nodeStarted(node: String, attempt: Int)
    case epoch(node: String, progress: EpochProgress)
    case nodeFinished(node: String, seconds: Double, summary: String, metrics: [String: Double])
    case nodeFailed(node: String, seconds: Double, error: String, attempt: Int, willRetry: Bool)
    case nodeSkipped(node: String, reason: String)
    case runFinished(run: String, outcome: RunOutcome, seconds: Double, counts: [String: Int])
}

public struct EpochProgress: Sendable, Codable {
    public var epoch: Int
    public var epochs: Int
    public var trainLoss: Double
    /// Loss and metrics on the validation split.
    public var validation: [String: Double]
    public var samplesPerSecond: Double
    public var learningRate: Double
    /// Estimated seconds left at this pace.
    public var eta: Double
    public var resumedFrom: Int?
    /// Inside an epoch (a long one: a transformer's), the optimiser steps done of the epoch's; nil when
    /// the epoch is over (and `validation` holds its values).
    public var step: Int? = nil
    public var steps: Int? = nil
    /// What `epoch` counts: nil for epochs, `round` for a booster's boosting rounds.
    public var unit: String? = nil

    /// How far the training is, 0 to 1.
    public var fraction: Double {
        let within = step.flatMap { s in steps.map { Double(s) / Double(max($0, 1)) } }
        return (Double(within == nil ? epoch : epoch - 1) + (within ?? 0)) / Double(max(epochs, 1))
    }
}

public enum RunOutcome: String, Sendable, Codable {
    case succeeded, failed, cancelled
}

/// The JSON line of an event.
struct EventRecord: Encodable {
    var v = 1
    var event: String
    var time: String
    var run: String?
    var node: String?
    var key: String?
    var attempt: Int?
    var willRetry: Bool?
    var seconds: Double?
    var summary: String?
    var error: String?
    var reason: String?
    var metrics: [String: Double]?
    var nodes: Int?
    var toRun: Int?
    var cached: Int?
    var jobs: Int?
    var outcome: String?
    var counts: [String: Int]?
    var epoch: Int?
    var epochs: Int?
    var trainLoss: Double?
    var validation: [String: Double]?
    var samplesPerSecond: Double?
    var learningRate: Double?
    var eta: Double?
    var resumedFrom: Int?
    var step: Int?
    var steps: Int?

    init(_ event: RunEvent, time: Date) {
        self.time = EventRecord.timestamp(time)
        switch event {
        case .runStarted(let run, let nodes, let toRun, let cached, let jobs):
            self.event = "run_started"
            (self.run, self.nodes, self.toRun, self.cached, self.jobs) = (run, nodes, toRun, cached, jobs)
        case .nodeCached(let node, let key, let summary):
            self.event = "node_cached"
            (self.node, self.key, self.summary) = (node, key, summary)
        case .nodeStarted(let node, let attempt):
            self.event = "node_started"
            (self.node, self.attempt) = (node, attempt)
        case .epoch(let node, let p):
            self.event = "epoch"
            self.node = node
            (epoch, epochs, trainLoss, validation) = (p.epoch, p.epochs, p.trainLoss, p.validation)
            (samplesPerSecond, learningRate, eta, resumedFrom) = (
                p.samplesPerSecond, p.learningRate, p.eta, p.resumedFrom
            )
            (step, steps) = (p.step, p.steps)
        case .nodeFinished(let node, let seconds, let summary, let metrics):
            self.event = "node_finished"
            (self.node, self.seconds, self.summary, self.metrics) = (node, seconds, summary, metrics)
        case .nodeFailed(let node, let seconds, let error, let attempt, let willRetry):
            self.event = "node_failed"
            (self.node, self.seconds, self.error, self.attempt, self.willRetry) = (
                node, seconds, error, attempt, willRetry
            )
        case .nodeSkipped(let node, let reason):
            self.event = "node_skipped"
            (self.node, self.reason) = (node, reason)
        case .runFinished(let run, let outcome, let seconds, let counts):
            self.event = "run_finished"
            (self.run, self.outcome, self.seconds, self.counts) = (run, outcome.rawValue, seconds, counts)
        }
    }

    /// UTC, ISO 8601 with milliseconds: `2026-11-29T11:53:45.123Z` (by hand: a formatter per event costs
    /// more than a cached node).
    static func timestamp(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        var whole = time_t(seconds.rounded(.down))
        let millis = Int((seconds - Double(whole)) * 1000)
        var t = tm()
        gmtime_r(&whole, &t)
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(Int(t.tm_year) + 1900, 4))-\(pad(Int(t.tm_mon) + 1, 2))-\(pad(Int(t.tm_mday), 2))T"
            + "\(pad(Int(t.tm_hour), 2)):\(pad(Int(t.tm_min), 2)):\(pad(Int(t.tm_sec), 2)).\(pad(millis, 3))Z"
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
