import Foundation
public import KilnDiagnostics

/// What a node's run produced besides its output files.
public struct NodeOutput: Sendable {
    public var summary: String
    public var metrics: [String: Double] = [:]
    /// Warnings to show after the run (a warn-severity contract check that failed).
    public var warnings: [Diagnostic] = []
}

/// Why a node failed: positioned diagnostics, and whether another attempt could succeed.
public struct NodeFailure: Error, Sendable {
    public var diagnostics: [Diagnostic]
    public var retriable: Bool

    public init(_ diagnostics: [Diagnostic], retriable: Bool = false) {
        self.diagnostics = diagnostics
        self.retriable = retriable
    }

    public init(
        _ id: String, _ message: String, at span: SourceSpan? = nil, help: String? = nil, retriable: Bool = false
    ) {
        self.init([Diagnostic(id, .error, message, at: span, help: help)], retriable: retriable)
    }

    /// The first line, for progress views and events.
    public var headline: String { diagnostics.first?.message ?? "failed" }
}

/// Final metrics by split, and the training's history (`metrics.json` of a fit node). Only results:
/// nothing of timing or of how the run went (resumed or not), so that the same training gives the same
/// bytes, and kiln.lock the same hash.
public struct TrainingMetrics: Sendable, Codable {
    public struct Epoch: Sendable, Codable {
        public var epoch: Int
        public var trainLoss: Double
        public var validation: [String: Double]
        public var learningRate: Double
    }

    /// `train`/`validation`/`test` → `loss`/metric → value.
    public var final: [String: [String: Double]]
    public var history: [Epoch]
    public var epochsRun: Int
    public var stoppedEarly: Bool
}

/// A set flag that running nodes poll (Ctrl-C, SIGTERM).
public final class CancellationFlag: Sendable {
    private let flag = Mutex(false)
    public init() {}
    public func cancel() { flag.withLock { $0 = true } }
    public var isCancelled: Bool { flag.withLock { $0 } }
}

import Synchronization
