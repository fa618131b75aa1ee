public import Foundation

/// A JSON value, for the parts of a model card other stages own (the data layer's fitted transforms).
public indirect enum JSONValue: Sendable, Codable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .number(let n): try c.encode(n)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

/// card.json: everything needed to use a model from its artifact alone.
public struct ModelCard: Sendable, Codable, Equatable {
    public static let currentFormat = "kiln-model"
    public static let currentVersion = 1

    /// Largest layer kiln builds from a card (a crafted card must not allocate without bound).
    public static let maxLayerParameters = 1 << 28

    /// What makes a card unusable, nil when nothing does: sizes that disagree with each other or the task,
    /// layers too large to build, labels that are not printable names. A card can come from a registry
    /// kiln did not write.
    public var problem: String? {
        if let t = threshold, !(t > 0 && t < 1) || model.task != .binary {
            return "a decision threshold of \(t) on a \(model.task.rawValue) model"
        }
        if model.architecture == .gradientBoosting || booster != nil {
            guard model.architecture == .gradientBoosting, let b = booster, transformer == nil else {
                return "a booster's card needs both architecture 'gradient_boosting' and its 'booster' section"
            }
            guard model.inputs > 0, model.inputs <= 1 << 24, model.hidden.isEmpty else {
                return "a booster of \(model.inputs) inputs"
            }
            guard model.task == .classification ? model.outputs >= 2 && model.outputs <= 1 << 16 : model.outputs == 1 else {
                return "a \(model.task.rawValue) booster of \(model.outputs) outputs"
            }
            if let problem = b.problem(inputs: model.inputs) { return problem }
        } else if model.architecture == .transformer || transformer != nil {
            guard model.architecture == .transformer, let t = transformer else {
                return "a transformer card needs both architecture 'transformer' and its 'transformer' section"
            }
            if let problem = t.problem { return problem }
            guard model.task == .classification, model.inputs == 1, inputColumns.count == 1, model.outputs >= 2,
                labels.count == model.outputs
            else { return "a text classifier reads one text column into as many outputs as labels (\(labels.count))" }
            return namesProblem
        }
        if model.architecture != .gradientBoosting {
            let widths = [model.inputs] + model.hidden + [model.outputs]
            guard widths.allSatisfy({ $0 > 0 && $0 <= 1 << 24 }), model.hidden.count <= 64 else {
                return "impossible layer widths \(widths)"
            }
            for (a, b) in zip(widths, widths.dropFirst())
            where Shape.elementCount([a, b]).map({ $0 > Self.maxLayerParameters }) ?? true {
                return "a layer of \(a) × \(b) weights is larger than kiln builds"
            }
        }
        guard inputColumns.count == model.inputs else {
            return "it names \(inputColumns.count) input columns for a model of \(model.inputs) inputs"
        }
        switch model.task {
        case .classification:
            guard model.outputs >= 2, labels.count == model.outputs else {
                return "a classifier of \(model.outputs) outputs needs as many labels, not \(labels.count)"
            }
        case .binary:
            guard model.outputs == 1, labels.count == 2 else {
                return "a binary model has 1 output and 2 labels, not \(model.outputs) and \(labels.count)"
            }
        case .regression:
            guard labels.count == 1 else {
                return "a regression of \(model.outputs) outputs needs its target's name, not \(labels.count) labels"
            }
        }
        return namesProblem
    }

    private var namesProblem: String? {
        for label in labels + inputColumns {
            guard !label.isEmpty, label.unicodeScalars.allSatisfy({ !Self.isUnsafe($0) }) else {
                return "a label or column name is empty or holds control characters"
            }
        }
        guard Set(labels).count == labels.count else { return "its labels are not distinct" }
        return nil
    }

    static func isUnsafe(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        return v < 32 || (v >= 127 && v < 160) || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
            || v == 0x2028 || v == 0x2029 || v == 0xFFFD
    }

    public var format = currentFormat
    public var version = currentVersion
    public var model: ModelConfig
    /// The model's input columns, in order, after preprocessing (`colour=red` for a one-hot column).
    public var inputColumns: [String]
    /// The raw columns and the fitted transforms that turn them into `inputColumns` (owned by the data layer).
    public var preprocessing: JSONValue
    /// Class names in index order (classification, binary), or the target's name (regression).
    public var labels: [String]
    /// What the outputs mean: "logits over classes; softmax gives probabilities", ...
    public var outputs: String
    public var metrics: [String: Double]
    /// A transformer's encoder, head, adaptation and tokenizer (nil for feed-forward models).
    public var transformer: TransformerCard?
    /// Gradient-boosted trees: rounds, parameters, feature importance (nil for networks).
    public var booster: BoosterCard?
    /// binary: the probability of labels[1] at or above which the predicted label is labels[1] (nil: 0.5).
    public var threshold: Double?

    public init(
        model: ModelConfig, inputColumns: [String], preprocessing: JSONValue = .null, labels: [String],
        metrics: [String: Double] = [:]
    ) {
        self.model = model
        self.inputColumns = inputColumns
        self.preprocessing = preprocessing
        self.labels = labels
        self.metrics = metrics
        outputs =
            switch model.task {
            case _ where model.architecture == .gradientBoosting:
                "booster.json's predictions: \(model.task == .classification ? "the probabilities of the classes of 'labels' (multi:softprob)" : model.task == .binary ? "the probability of labels[1] (binary:logistic)" : "the predicted value")"
            case .classification: "logits over the classes of 'labels'; softmax gives their probabilities"
            case .binary: "one logit; sigmoid gives the probability of labels[1] (the positive class)"
            case .regression: "the predicted value\(model.outputs > 1 ? "s" : "") of \(labels.joined(separator: ", "))"
            }
    }
}

/// A model's artifact directory: `model.safetensors` (weights, readable by Hugging Face's safetensors)
/// and `card.json`. Both are written atomically; loading checks both against each other.
public enum Artifact {
    public static let weightsFile = "model.safetensors"
    public static let cardFile = "card.json"

    public static func save(_ network: Network, card: ModelCard, to directory: String) throws(ComputeError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .io(path: directory, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        guard card.model == network.config else { throw .invalidArgument("the card describes another model") }
        let bytes = SafeTensors.encode(network.namedTensors, metadata: ["format": "kiln-model", "card": cardFile])
        try SafeTensors.write(bytes, to: directory + "/" + weightsFile)
        try writeCard(card, to: directory)
    }

    /// Writes card.json (snake_case keys, sorted, atomically).
    public static func writeCard(_ card: ModelCard, to directory: String) throws(ComputeError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let json = try? encoder.encode(card) else { throw .invalidArgument("the card cannot be encoded") }
        try AtomicFile.write([UInt8](json) + [10], to: directory + "/" + cardFile)
    }

    /// A card.json's card (`path` names it in the error).
    public static func decodeCard(_ data: Data, path: String) throws(ComputeError) -> ModelCard {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(ModelCard.self, from: data)
        } catch {
            throw .invalidFile(path: path, reason: "not a valid model card: \(error)")
        }
    }

    /// Loads an artifact for inference; every mismatch or corruption is an error naming the file.
    public static func load(_ directory: String, blas: BLAS) throws(ComputeError) -> (Network, ModelCard) {
        let card = try readCard(directory)
        if card.model.architecture == .transformer {
            throw .invalidFile(path: directory + "/" + cardFile, reason: "a transformer's card: FineTunedBert loads it")
        }
        if card.model.architecture == .gradientBoosting {
            throw .invalidFile(path: directory + "/" + cardFile, reason: "a booster's card: KilnBoost's BoosterModel loads it")
        }
        let network = try Network(card.model, blas: blas)
        let weightsPath = directory + "/" + weightsFile
        let (entries, _) = try SafeTensors.read(weightsPath)
        // Every tensor of the artifact belongs to the card's architecture: a card that describes fewer layers
        // than the weights hold would otherwise run a different model without a word.
        let names = Set(network.parameters.map(\.name))
        if let extra = entries.first(where: { !names.contains($0.name) }) {
            throw .invalidFile(
                path: weightsPath,
                reason: "tensor '\(extra.name)' is not part of the card's architecture: the card does not describe these weights")
        }
        try network.load(entries, path: weightsPath)
        return (network, card)
    }

    /// Reads and checks an artifact's card.json (format, version, consistency).
    public static func readCard(_ directory: String) throws(ComputeError) -> ModelCard {
        let cardPath = directory + "/" + cardFile
        guard let data = FileManager.default.contents(atPath: cardPath) else {
            throw .io(path: cardPath, reason: "no model card (is this a kiln artifact directory?)")
        }
        let card = try decodeCard(data, path: cardPath)
        guard card.format == ModelCard.currentFormat else {
            throw .invalidFile(path: cardPath, reason: "not a kiln model card")
        }
        guard card.version <= ModelCard.currentVersion else {
            throw .invalidFile(
                path: cardPath,
                reason:
                    "card version \(card.version) is newer than this kiln reads (\(ModelCard.currentVersion)); upgrade kiln"
            )
        }
        if let problem = card.problem {
            throw .invalidFile(path: cardPath, reason: "the model card is damaged or crafted: \(problem)")
        }
        return card
    }
}
