public import KilnCompute
public import KilnData
public import KilnDiagnostics
public import KilnSpec

/// What a node's executor works from: everything it needs, as plain values, and nothing of the compiler's
/// in-memory result. It travels with the node (`kiln exec-node` reads it from a file), so a node can run in
/// another process, or on another machine that sees the same workspace and cache.
///
/// The payload is derived from the same checked spec values as the node's `config`, whose canonical text
/// is what the fingerprint hashes; the payload adds what does not change the outputs (where things are
/// written in the specs, retries, the timeout, paths resolved against the spec's directory).
public enum NodePayload: Sendable, Codable {
    case ingest(DatasetPayload)
    case check(DatasetPayload)
    case split(DatasetPayload)
    case fit(FitPayload)
    case gate(GatePayload)
    case register(RegisterPayload)
    case release(ReleasePayload)

    public var kind: GraphNode.Kind {
        switch self {
        case .ingest: return .ingest
        case .check: return .check
        case .split: return .split
        case .fit: return .fit
        case .gate: return .gate
        case .register: return .register
        case .release: return .release
        }
    }
}

/// Where the key that seals an encrypted dataset's derived copies comes from: the Policy's
/// `encryption.key` as written (a secret reference, resolved at the point of use, never stored).
public struct SealingKey: Sendable, Codable, Hashable {
    /// `${env:KILN_DATA_KEY}` or `${file:path}`; anything else is refused when a node needs the key.
    public var reference: String?
    /// The Policy spec's directory (a `${file:...}` reference is relative to it).
    public var directory: String
    public var span: SourceSpan?

    public init(reference: String?, directory: String, span: SourceSpan?) {
        self.reference = reference
        self.directory = directory
        self.span = span
    }
}

/// A Dataset's ingest, check and split nodes.
public struct DatasetPayload: Sendable, Codable {
    public var dataset: DatasetConfig
    /// Set when the dataset is encrypted and a Policy names a key; nil with `encrypt: true` fails the node.
    public var sealing: SealingKey?
    /// The source's `delimiter`, when it is not one byte (reported when the node runs).
    public var badDelimiter: BadDelimiter?

    public struct BadDelimiter: Sendable, Codable {
        public var text: String
        public var span: SourceSpan?
    }

    public init(dataset: DatasetConfig, sealing: SealingKey?, badDelimiter: BadDelimiter? = nil) {
        self.dataset = dataset
        self.sealing = sealing
        self.badDelimiter = badDelimiter
    }
}

/// How often a failed attempt is tried again, and the wait before the first retry (doubling after each).
public struct RetryPolicy: Sendable, Codable, Hashable {
    public var max: Int
    public var backoff: Double

    public static let never = RetryPolicy(max: 0, backoff: 0)

    public init(max: Int, backoff: Double) {
        self.max = max
        self.backoff = backoff
    }
}

/// A training cell's fit.
public struct FitPayload: Sendable, Codable {
    /// `threads` nil: the runner's default (all cores).
    public var training: TrainingConfig
    public var model: ModelConfig
    public var data: DatasetPayload
    /// The metrics as the spec names them, in order (the summary shows the first two).
    public var metrics: [String]
    public var retry: RetryPolicy
    /// Seconds; nil: none.
    public var timeout: Double?
    public var timeoutSpan: SourceSpan?

    public init(
        training: TrainingConfig, model: ModelConfig, data: DatasetPayload, metrics: [String], retry: RetryPolicy,
        timeout: Double?, timeoutSpan: SourceSpan?
    ) {
        self.training = training
        self.model = model
        self.data = data
        self.metrics = metrics
        self.retry = retry
        self.timeout = timeout
        self.timeoutSpan = timeoutSpan
    }
}

/// One quality gate of a Training.
public struct GateSpec: Sendable, Codable, Hashable {
    public var metric: String
    public var split: String
    public var min: Double?
    public var max: Double?
    /// An alias of the registered model to compare with, and the largest drop allowed.
    public var compareTo: String?
    public var maxDrop: Double
    public var span: SourceSpan?

    public init(
        metric: String, split: String, min: Double?, max: Double?, compareTo: String?, maxDrop: Double,
        span: SourceSpan?
    ) {
        self.metric = metric
        self.split = split
        self.min = min
        self.max = max
        self.compareTo = compareTo
        self.maxDrop = maxDrop
        self.span = span
    }
}

public struct GatePayload: Sendable, Codable {
    public var gates: [GateSpec]
    /// The model the Training registers (what `compare_to` aliases belong to); nil: it registers nothing.
    public var registers: String?

    public init(gates: [GateSpec], registers: String?) {
        self.gates = gates
        self.registers = registers
    }
}

public struct RegisterPayload: Sendable, Codable {
    public var model: String
    public var message: String
    public var alias: String?
    /// The spec files of the training, its model and its dataset, as compiled: workspace-relative path → text.
    public var specs: [String: String]

    public init(model: String, message: String, alias: String?, specs: [String: String]) {
        self.model = model
        self.message = message
        self.alias = alias
        self.specs = specs
    }
}

public struct ReleasePayload: Sendable, Codable {
    public var deployment: String
    public var model: ModelReference
    public var canary: ModelReference?
    public var environment: String
    /// The environment takes only versions signed by one of `trustedKeyFiles` (the node's files).
    public var signingRequired: Bool
    public var trustedKeyFiles: [String]
    public var modelSpan: SourceSpan?
    public var canarySpan: SourceSpan?

    public init(
        deployment: String, model: ModelReference, canary: ModelReference?, environment: String,
        signingRequired: Bool, trustedKeyFiles: [String], modelSpan: SourceSpan?, canarySpan: SourceSpan?
    ) {
        self.deployment = deployment
        self.model = model
        self.canary = canary
        self.environment = environment
        self.signingRequired = signingRequired
        self.trustedKeyFiles = trustedKeyFiles
        self.modelSpan = modelSpan
        self.canarySpan = canarySpan
    }
}
