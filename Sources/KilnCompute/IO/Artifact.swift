import Foundation

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
            case .classification: "logits over the classes of 'labels'; softmax gives their probabilities"
            case .binary: "one logit; sigmoid gives the probability of labels[1]"
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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let json = try? encoder.encode(card) else { throw .invalidArgument("the card cannot be encoded") }
        try AtomicFile.write([UInt8](json) + [10], to: directory + "/" + cardFile)
    }

    /// Loads an artifact for inference; every mismatch or corruption is an error naming the file.
    public static func load(_ directory: String, blas: BLAS) throws(ComputeError) -> (Network, ModelCard) {
        let cardPath = directory + "/" + cardFile
        guard let data = FileManager.default.contents(atPath: cardPath) else {
            throw .io(path: cardPath, reason: "no model card (is this a kiln artifact directory?)")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let card: ModelCard
        do {
            card = try decoder.decode(ModelCard.self, from: data)
        } catch {
            throw .invalidFile(path: cardPath, reason: "not a valid model card: \(error)")
        }
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
        let network = try Network(card.model, blas: blas)
        let weightsPath = directory + "/" + weightsFile
        let (entries, _) = try SafeTensors.read(weightsPath)
        try network.load(entries, path: weightsPath)
        return (network, card)
    }
}
