import Foundation

/// A BERT encoder's shape, from a Hugging Face config.json. Only what kiln computes is accepted: absolute
/// positions, the exact (erf) GELU, the BERT architecture; anything else is refused by name.
public struct BertConfig: Sendable, Equatable, Codable {
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var layers: Int
    public var heads: Int
    public var intermediateSize: Int
    public var maxPositions: Int
    public var typeVocabularySize: Int
    public var layerNormEpsilon: Float
    /// Dropout after the embeddings and each residual branch, and on attention probabilities (training).
    public var hiddenDropout: Float
    public var attentionDropout: Float
    /// Standard deviation of the normal that new weights (heads) start from.
    public var initializerRange: Float

    public init(
        vocabularySize: Int, hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int, maxPositions: Int,
        typeVocabularySize: Int = 2, layerNormEpsilon: Float = 1e-12, hiddenDropout: Float = 0.1,
        attentionDropout: Float = 0.1, initializerRange: Float = 0.02
    ) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.heads = heads
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEpsilon = layerNormEpsilon
        self.hiddenDropout = hiddenDropout
        self.attentionDropout = attentionDropout
        self.initializerRange = initializerRange
    }

    /// Width of one attention head.
    public var headSize: Int { hiddenSize / heads }

    /// Why these sizes cannot be built, nil when they can.
    public var problem: String? {
        let sizes = [vocabularySize, hiddenSize, layers, heads, intermediateSize, maxPositions, typeVocabularySize]
        guard sizes.allSatisfy({ $0 > 0 && $0 <= 1 << 20 }), layers <= 256 else {
            return "impossible sizes (vocab \(vocabularySize), hidden \(hiddenSize), layers \(layers), heads \(heads), intermediate \(intermediateSize), positions \(maxPositions), types \(typeVocabularySize))"
        }
        guard hiddenSize % heads == 0 else { return "hidden_size \(hiddenSize) is not a multiple of num_attention_heads \(heads)" }
        guard layerNormEpsilon > 0, layerNormEpsilon < 1 else { return "layer_norm_eps \(layerNormEpsilon) is not in (0, 1)" }
        for (name, p) in [("hidden_dropout_prob", hiddenDropout), ("attention_probs_dropout_prob", attentionDropout)]
        where !(p >= 0 && p < 1) {
            return "\(name) \(p) is not in [0, 1)"
        }
        guard initializerRange > 0, initializerRange < 1 else { return "initializer_range \(initializerRange) is not in (0, 1)" }
        return nil
    }

    /// From config.json; `path` names it in errors.
    public static func read(_ path: String) throws(ComputeError) -> BertConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .io(path: path, reason: "cannot read the model's config")
        }
        guard let o = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .invalidFile(path: path, reason: "not a JSON object")
        }
        func refuse(_ what: String) -> ComputeError {
            .invalidFile(path: path, reason: "\(what); kiln builds BERT encoders (model_type bert, absolute positions, gelu)")
        }
        let type = o["model_type"] as? String ?? ""
        guard type == "bert" else { throw refuse("model_type is '\(type)'") }
        let activation = o["hidden_act"] as? String ?? "gelu"
        guard activation == "gelu" else { throw refuse("hidden_act is '\(activation)'") }
        let positions = o["position_embedding_type"] as? String ?? "absolute"
        guard positions == "absolute" else { throw refuse("position_embedding_type is '\(positions)'") }
        if let a = o["architectures"] as? [String], let bad = a.first(where: { !$0.hasPrefix("Bert") }) {
            throw refuse("its architecture is '\(bad)'")
        }
        func int(_ key: String) throws(ComputeError) -> Int {
            guard let v = (o[key] as? NSNumber)?.intValue else { throw refuse("'\(key)' is missing or not a number") }
            return v
        }
        let config = BertConfig(
            vocabularySize: try int("vocab_size"), hiddenSize: try int("hidden_size"),
            layers: try int("num_hidden_layers"), heads: try int("num_attention_heads"),
            intermediateSize: try int("intermediate_size"), maxPositions: try int("max_position_embeddings"),
            typeVocabularySize: (o["type_vocab_size"] as? NSNumber)?.intValue ?? 2,
            layerNormEpsilon: (o["layer_norm_eps"] as? NSNumber)?.floatValue ?? 1e-12,
            hiddenDropout: (o["hidden_dropout_prob"] as? NSNumber)?.floatValue ?? 0.1,
            attentionDropout: (o["attention_probs_dropout_prob"] as? NSNumber)?.floatValue ?? 0.1,
            initializerRange: (o["initializer_range"] as? NSNumber)?.floatValue ?? 0.02)
        if let problem = config.problem { throw .invalidFile(path: path, reason: problem) }
        return config
    }
}
