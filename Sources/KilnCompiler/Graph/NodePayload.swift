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
    /// A transformer's training: its data tokenized, then fine-tuned.
    case tokenize(TokenizePayload)
    case fineTune(FineTunePayload)
    case gate(GatePayload)
    case register(RegisterPayload)
    case release(ReleasePayload)

    public var kind: GraphNode.Kind {
        switch self {
        case .ingest: return .ingest
        case .check: return .check
        case .split: return .split
        case .fit, .fineTune: return .fit
        case .tokenize: return .tokenize
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
    /// The gates' (metric, split) pairs: the summary shows them too, so a gate's value is in the line above it.
    public var gated: [GatedValue]? = nil
    /// binary: the label value predicted as positive (nil: the second of its values), and the decision
    /// threshold on its probability.
    public var positiveClass: String? = nil
    public var threshold: Double? = nil
    /// Loss weights per class name, or `balanced` (fitted on the train split when the node runs).
    public var classWeights: ClassWeights? = nil

    public enum ClassWeights: Sendable, Codable, Hashable {
        case balanced
        case by([String: Double])
    }

    public struct GatedValue: Sendable, Codable, Hashable {
        public var metric: String
        public var split: String

        public init(metric: String, split: String) {
            self.metric = metric
            self.split = split
        }
    }
    public var retry: RetryPolicy
    /// Seconds; nil: none.
    public var timeout: Double?
    public var timeoutSpan: SourceSpan?
    /// Set for a gradient_boosting model: XGBoost trains it instead of a network (`training` then gives
    /// only the threads; the rest of it does not apply).
    public var booster: BoosterConfig?

    public init(
        training: TrainingConfig, model: ModelConfig, data: DatasetPayload, metrics: [String], retry: RetryPolicy,
        timeout: Double?, timeoutSpan: SourceSpan?, booster: BoosterConfig? = nil
    ) {
        self.booster = booster
        self.training = training
        self.model = model
        self.data = data
        self.metrics = metrics
        self.retry = retry
        self.timeout = timeout
        self.timeoutSpan = timeoutSpan
    }
}

extension NodePayload {
    /// What the runner schedules a training by: its compute threads (nil: the runner's default), its retries
    /// and its timeout; nil for nodes that are not trainings.
    public var training: (threads: Int?, retry: RetryPolicy, timeout: Double?)? {
        switch self {
        case .fit(let f): return (f.training.threads, f.retry, f.timeout)
        case .fineTune(let f): return (f.threads, f.retry, f.timeout)
        case .ingest, .check, .split, .tokenize, .gate, .register, .release: return nil
        }
    }

    /// The dataset a node reads the table of, nil for nodes that read none.
    public var readsTable: DatasetPayload? {
        switch self {
        case .check(let d), .split(let d): return d
        case .fit(let f): return f.data
        case .tokenize(let t): return t.data
        case .ingest, .fineTune, .gate, .register, .release: return nil
        }
    }
}

/// A transformer training's tokenization: the text column of every split through the pretrained model's
/// WordPiece tokenizer, truncated to `maxLength`, with the labels as class indices. Its key is the split's
/// (the text's hash), the tokenizer files' hashes and this config; cells of a sweep that change only the
/// optimisation share it.
public struct TokenizePayload: Sendable, Codable {
    public var data: DatasetPayload
    public var textColumn: String
    /// Absolute paths: vocab.txt, and tokenizer_config.json when the checkpoint has one.
    public var vocabularyFile: String
    public var tokenizerConfigFile: String?
    public var maxLength: Int
    /// Token classification: `textColumn` is a tokens column, and the label a tags column whose tag goes on
    /// each word's first piece (the other pieces and [CLS]/[SEP] are not scored, −100).
    public var tagsTokens: Bool

    public init(
        data: DatasetPayload, textColumn: String, vocabularyFile: String, tokenizerConfigFile: String?, maxLength: Int,
        tagsTokens: Bool = false
    ) {
        self.tagsTokens = tagsTokens
        self.data = data
        self.textColumn = textColumn
        self.vocabularyFile = vocabularyFile
        self.tokenizerConfigFile = tokenizerConfigFile
        self.maxLength = maxLength
    }
}

/// A transformer's fine-tuning from its tokenized data: the compute core's `BertFineTuning` settings but
/// for the step counts, which the train split's size decides (`stepsPerEpoch`).
public struct FineTunePayload: Sendable, Codable {
    public enum Warmup: Sendable, Codable, Hashable {
        case epochs(Int)
        case ratio(Double)
    }

    /// The dataset (its name, and how its derived copies are sealed: the tokenized text is one).
    public var data: DatasetPayload
    public var pretrained: PretrainedModel
    /// The weights' SHA-256 as the graph was built (a different file at run time fails the node).
    public var weightsSHA256: String
    /// `totalSteps` and `warmupSteps` are placeholders until the train split's size is known.
    public var settings: BertFineTuning
    public var maxLength: Int
    public var epochs: Int
    /// Sequences per optimiser step (`settings.accumulation` micro-batches of `batchSize / accumulation`).
    public var batchSize: Int
    public var warmup: Warmup
    public var classes: [String]
    public var textColumn: String
    public var metrics: [String]
    public var earlyStopping: TrainingConfig.EarlyStopping?
    public var checkpointEvery: Int
    public var threads: Int?
    public var retry: RetryPolicy
    public var timeout: Double?
    public var timeoutSpan: SourceSpan?

    public init(
        data: DatasetPayload, pretrained: PretrainedModel, weightsSHA256: String, settings: BertFineTuning,
        maxLength: Int, epochs: Int, batchSize: Int, warmup: Warmup, classes: [String], textColumn: String,
        metrics: [String], earlyStopping: TrainingConfig.EarlyStopping?, checkpointEvery: Int, threads: Int?, retry: RetryPolicy,
        timeout: Double?, timeoutSpan: SourceSpan?
    ) {
        self.data = data
        self.pretrained = pretrained
        self.weightsSHA256 = weightsSHA256
        self.settings = settings
        self.maxLength = maxLength
        self.epochs = epochs
        self.batchSize = batchSize
        self.warmup = warmup
        self.classes = classes
        self.textColumn = textColumn
        self.metrics = metrics
        self.earlyStopping = earlyStopping
        self.checkpointEvery = checkpointEvery
        self.threads = threads
        self.retry = retry
        self.timeout = timeout
        self.timeoutSpan = timeoutSpan
    }

    /// Optimiser steps per epoch over `trainRows` sequences: a last, partial batch counts when it has a row
    /// for each of the step's micro-batches (fewer rows are left out of that epoch).
    public func stepsPerEpoch(trainRows: Int) -> Int {
        let remainder = trainRows % batchSize
        return max(1, trainRows / batchSize + (remainder >= settings.accumulation ? 1 : 0))
    }

    /// The settings with the step counts of a train split of `trainRows` sequences.
    public func settings(trainRows: Int) -> BertFineTuning {
        var s = settings
        let perEpoch = stepsPerEpoch(trainRows: trainRows)
        s.totalSteps = perEpoch * epochs
        switch warmup {
        case .epochs(let n): s.warmupSteps = min(s.totalSteps, n * perEpoch)
        case .ratio(let r): s.warmupSteps = min(s.totalSteps, Int((r * Double(s.totalSteps)).rounded(.up)))
        }
        return s
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
    /// A sweep's choice: the alias moves only when this cell is the best of `cells` (its fit among them).
    public struct Selection: Sendable, Codable, Hashable {
        public var metric: String
        public var split: String
        public var higherIsBetter: Bool
        /// Every cell's fit, in the order written (the first of equal values wins).
        public var cells: [NodeID]
        /// Each cell's gates: a cell whose `min`/`max` gates fail is not chosen (its own registration
        /// will not run), so the alias goes to the best cell that will be registered.
        public var gates: [[GateSpec]]

        public init(metric: String, split: String, higherIsBetter: Bool, cells: [NodeID], gates: [[GateSpec]] = []) {
            self.metric = metric
            self.split = split
            self.higherIsBetter = higherIsBetter
            self.cells = cells
            self.gates = gates
        }
    }

    public var model: String
    public var message: String
    public var alias: String?
    /// The spec files of the training, its model and its dataset, as compiled: workspace-relative path → text.
    public var specs: [String: String]
    public var selection: Selection?

    public init(model: String, message: String, alias: String?, specs: [String: String], selection: Selection? = nil) {
        self.model = model
        self.message = message
        self.alias = alias
        self.specs = specs
        self.selection = selection
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
