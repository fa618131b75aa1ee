import Foundation
public import KilnDiagnostics
public import KilnSpec

/// What a node's run produced besides its output files.
public struct NodeOutput: Sendable, Codable {
    public var summary: String
    public var metrics: [String: Double] = [:]
    /// Warnings to show after the run (a warn-severity contract check that failed).
    public var warnings: [Diagnostic] = []
    /// A register node's new version (`iris-mlp@v3`), with the alias it moved.
    public var registered: Registered?
    /// A release node's environment and the versions it now serves.
    public var released: Released?
    /// Where the node ran, when an executor ran it outside the runner's process (`kiln exec-node, pid 4242`).
    public var ranIn: String?

    public struct Registered: Sendable, Codable, Equatable {
        public var version: ModelReference
        public var alias: String?
        /// Where the registry is, as the run's summary shows it.
        public var location: String
    }

    public struct Released: Sendable, Codable, Equatable {
        public var environment: String
        public var model: ModelReference
        public var canary: ModelReference?
    }

    public init(
        summary: String, metrics: [String: Double] = [:], warnings: [Diagnostic] = [], registered: Registered? = nil,
        released: Released? = nil
    ) {
        self.summary = summary
        self.metrics = metrics
        self.warnings = warnings
        self.registered = registered
        self.released = released
    }
}

/// Why a node failed: positioned diagnostics, what kind of failure it was, and whether another attempt
/// could succeed.
public struct NodeFailure: Error, Sendable, Codable {
    public enum Cause: String, Sendable, Codable {
        /// The node stopped because the run was cancelled (Ctrl-C, SIGTERM); it is not a failure of the node.
        case cancelled
        /// What the specs or the data say is wrong (a failed contract or gate, a bad cell): the user's to fix.
        case invalid
        /// The machine or kiln: a file that cannot be written, a damaged cache entry, a registry that cannot
        /// be reached, a process that died. The diagnostics carry the underlying error.
        case infrastructure
        /// The node ran past its timeout.
        case timeout

        /// How a failure of this cause is introduced: `training/t:fit failed (an infrastructure fault)`.
        public var phrase: String {
            switch self {
            case .cancelled: return "was cancelled"
            case .invalid: return "failed"
            case .infrastructure: return "failed (an infrastructure fault, not the specs or the data)"
            case .timeout: return "timed out"
            }
        }
    }

    public var diagnostics: [Diagnostic]
    public var cause: Cause
    public var retriable: Bool

    public init(_ diagnostics: [Diagnostic], cause: Cause = .invalid, retriable: Bool = false) {
        self.diagnostics = diagnostics
        self.cause = cause
        self.retriable = retriable
    }

    public init(
        _ id: DiagnosticID, _ message: String, at span: SourceSpan? = nil, help: String? = nil, cause: Cause = .invalid,
        retriable: Bool = false
    ) {
        self.init([Diagnostic(id, .error, message, at: span, help: help)], cause: cause, retriable: retriable)
    }

    /// An infrastructure fault, with the underlying error in the message.
    public static func infrastructure(
        _ id: DiagnosticID, _ what: String, _ error: any Error, retriable: Bool = false
    ) -> NodeFailure {
        NodeFailure(id, "\(what): \(error)", cause: .infrastructure, retriable: retriable)
    }

    public static func cancelled(_ message: String) -> NodeFailure {
        NodeFailure(.run(.cancelled), message, cause: .cancelled)
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
    /// Per split, confusion[true][predicted] over `labels` (classifiers that record it).
    public var confusion: [String: [[Int]]]? = nil
    public var labels: [String]? = nil
    /// Token classification: per split, per entity type, its precision, recall, f1 and support.
    public var entities: [String: [String: [String: Double]]]? = nil
}

/// A set flag that running nodes poll (Ctrl-C, SIGTERM).
public final class CancellationFlag: Sendable {
    private let flag = Mutex(false)
    public init() {}
    public func cancel() { flag.withLock { $0 = true } }
    public var isCancelled: Bool { flag.withLock { $0 } }
}

import Synchronization
