import KilnDiagnostics

/// What a Model predicts.
public enum ModelTask: String, Sendable, CaseIterable {
    case classification, binary, regression
    case tokenClassification = "token_classification"
}

/// A Model's architecture with its configuration: a case per architecture, so that every switch over it
/// is exhaustive and adding one makes the compiler point at each place to touch (docs/architecture.md,
/// "Adding an architecture").
public enum ArchitectureSpec: Sendable {
    /// One dense layer.
    case linear
    /// Dense layers with an activation between them.
    case mlp(MLP)

    /// A pretrained BERT-style encoder and a task head.
    case transformer(Transformer)

    /// Gradient-boosted trees (XGBoost).
    case gradientBoosting(GradientBoosting)

    public struct GradientBoosting: Sendable {
        public var trees: Int
        public var maxDepth: Int
        public var learningRate: Double
        public var subsample: Double
        public var columnSample: Double
        public var minChildWeight: Double
        public var l1: Double
        public var l2: Double
        public var minSplitLoss: Double
        public var maxBins: Int
    }

    public struct Transformer: Sendable {
        public enum Pooling: String, Sendable, CaseIterable { case pooler, cls, mean }
        /// As written: a folder (relative to the spec's directory) or a name in kiln's model cache.
        public var pretrained: String
        public var pooling: Pooling
        public var maxLength: Int
        /// nil: the checkpoint's.
        public var hiddenDropout: Double?
        public var attentionDropout: Double?
    }

    public struct MLP: Sendable {
        public enum Activation: String, Sendable, CaseIterable { case relu, gelu, tanh, sigmoid }
        public var hidden: [Int]
        public var activation: Activation
        public var dropout: Double
        public var layerNorm: Bool
    }

    /// The `type` as the spec writes it.
    public var name: String {
        switch self {
        case .linear: return "linear"
        case .mlp: return "mlp"
        case .transformer: return "transformer"
        case .gradientBoosting: return "gradient_boosting"
        }
    }

    init(_ v: SpecValue?) {
        let f = FieldReader(v, SpecSchema.architecture)
        switch f.optionalText("type") {
        case "mlp":
            self = .mlp(
                MLP(
                    hidden: v?["hidden"]?.list?.compactMap(\.int) ?? [], activation: f.choice("activation"),
                    dropout: f.number("dropout"), layerNorm: f.text("normalization") == "layernorm"))
        case "transformer":
            self = .transformer(
                Transformer(
                    pretrained: f.optionalText("pretrained") ?? "", pooling: f.choice("pooling"),
                    maxLength: f.integer("max_length"), hiddenDropout: f.optionalNumber("hidden_dropout"),
                    attentionDropout: f.optionalNumber("attention_dropout")))
        case "gradient_boosting":
            self = .gradientBoosting(
                GradientBoosting(
                    trees: f.integer("trees"), maxDepth: f.integer("max_depth"), learningRate: f.number("learning_rate"),
                    subsample: f.number("subsample"), columnSample: f.number("column_sample"),
                    minChildWeight: f.number("min_child_weight"), l1: f.number("l1"), l2: f.number("l2"),
                    minSplitLoss: f.number("min_split_loss"), maxBins: f.integer("max_bins")))
        default:
            self = .linear
        }
    }
}

/// How a transformer's weights train (the schema's defaults applied).
public struct FineTuningSpec: Sendable {
    public enum Method: Sendable {
        case full
        case lora(rank: Int, alpha: Double, dropout: Double, targets: [String])
    }

    public var method: Method
    public var freezeEmbeddings: Bool
    public var freezeLayers: Int

    init(_ v: SpecValue?) {
        let f = FieldReader(v, SpecSchema.fineTuning)
        method =
            f.text("method") == "lora"
            ? .lora(
                rank: f.integer("rank"), alpha: f.number("alpha"), dropout: f.number("dropout"),
                targets: f.words("targets"))
            : .full
        freezeEmbeddings = f.flag("freeze_embeddings")
        freezeLayers = f.integer("freeze_layers")
    }
}

public struct ModelSpec: SpecView {
    public enum Part: String, SpecPart {
        case task, architecture, inputs, outputs, initScheme = "init.scheme", initSeed = "init.seed"
        case hidden = "architecture.hidden", activation = "architecture.activation"
        case dropout = "architecture.dropout", normalization = "architecture.normalization"
        case pretrained = "architecture.pretrained", pooling = "architecture.pooling"
        case maxLength = "architecture.max_length", hiddenDropout = "architecture.hidden_dropout"
        case attentionDropout = "architecture.attention_dropout"
        case fineTuning = "fine_tuning", loraRank = "fine_tuning.rank", loraAlpha = "fine_tuning.alpha"
        case loraDropout = "fine_tuning.dropout", loraTargets = "fine_tuning.targets"
        case freezeEmbeddings = "fine_tuning.freeze_embeddings", freezeLayers = "fine_tuning.freeze_layers"
        case trees = "architecture.trees", maxDepth = "architecture.max_depth"
        case learningRate = "architecture.learning_rate", subsample = "architecture.subsample"
        case columnSample = "architecture.column_sample", minChildWeight = "architecture.min_child_weight"
        case l1 = "architecture.l1", l2 = "architecture.l2", minSplitLoss = "architecture.min_split_loss"
        case maxBins = "architecture.max_bins"
        case positiveClass = "positive_class", threshold
    }

    /// A width: inferred (`auto`) or declared.
    public enum Width: Sendable, Equatable {
        case auto
        case declared(Int)
    }

    public enum Initialisation: String, Sendable { case he, xavier, zeros }

    public var name: String
    public var task: ModelTask
    public var architecture: ArchitectureSpec
    public var inputs: Width
    public var outputs: Width
    public var initialisation: Initialisation
    public var seed: Int
    public var fineTuning: FineTuningSpec
    /// binary: the label value predicted as positive; nil: the second of its values.
    public var positiveClass: String?
    public var threshold: Double
    public var raw: SpecValue

    /// The hidden widths (an mlp's; none for other architectures).
    public var hidden: [Int] {
        if case .mlp(let m) = architecture { return m.hidden }
        return []
    }

    /// Built from the schema-checked spec, defaults filled in (the decoder applies the schema's).
    public init(_ resource: Resource) {
        let v = resource.spec
        let f = FieldReader(v, SpecSchema.model)
        let initialisation = FieldReader(v["init"], SpecSchema.initialisation)
        name = resource.name
        task = f.choice("task")
        architecture = ArchitectureSpec(v["architecture"])
        inputs = v["inputs"]?.int.map(Width.declared) ?? .auto
        outputs = v["outputs"]?.int.map(Width.declared) ?? .auto
        self.initialisation = initialisation.choice("scheme")
        seed = initialisation.integer("seed")
        fineTuning = FineTuningSpec(v["fine_tuning"])
        positiveClass = f.optionalText("positive_class")
        threshold = f.number("threshold")
        raw = v
    }
}
