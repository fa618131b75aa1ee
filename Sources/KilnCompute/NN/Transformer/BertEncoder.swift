import Foundation

/// A BERT encoder's weights in Hugging Face's BertModel layout: embeddings (word, position, token type,
/// LayerNorm), then per layer self-attention (query, key, value, output dense and LayerNorm) and the
/// feed-forward block (intermediate dense with GELU, output dense, LayerNorm). Linear weights are stored
/// as Hugging Face stores them, [out, in], and multiplied with a transpose flag.
public final class BertEncoder: @unchecked Sendable {
    /// A dense layer: weight [out, in] (Hugging Face's layout), bias [out]. Also a classification head.
    public struct Linear: Sendable {
        public let weight: Tensor
        public let bias: Tensor

        public init(weight: Tensor, bias: Tensor) throws(ComputeError) {
            guard weight.shape.count == 2, bias.shape == [weight.shape[0]] else {
                throw .shapeMismatch("a dense layer of weight \(weight.shape) and bias \(bias.shape)")
            }
            self.weight = weight
            self.bias = bias
        }
    }

    public struct Norm: Sendable {
        public let gamma: Tensor
        public let beta: Tensor
    }

    public struct Layer: Sendable {
        public let query: Linear, key: Linear, value: Linear, attentionOutput: Linear
        public let attentionNorm: Norm
        public let intermediate: Linear, output: Linear
        public let outputNorm: Norm
    }

    public let config: BertConfig
    public let wordEmbeddings: Tensor
    public let positionEmbeddings: Tensor
    public let tokenTypeEmbeddings: Tensor
    public let embeddingNorm: Norm
    public let layers: [Layer]
    /// The pooler (dense + tanh over [CLS]) when the checkpoint has one.
    public let pooler: Linear?

    /// The tensors of a layout, by Hugging Face name (without a `bert.` prefix), with their shapes.
    public static func expectedShapes(_ c: BertConfig) -> [(name: String, shape: [Int])] {
        let h = c.hiddenSize
        var out: [(String, [Int])] = [
            ("embeddings.word_embeddings.weight", [c.vocabularySize, h]),
            ("embeddings.position_embeddings.weight", [c.maxPositions, h]),
            ("embeddings.token_type_embeddings.weight", [c.typeVocabularySize, h]),
            ("embeddings.LayerNorm.weight", [h]), ("embeddings.LayerNorm.bias", [h]),
        ]
        for i in 0..<c.layers {
            let p = "encoder.layer.\(i)."
            for name in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
                out += [(p + name + ".weight", [h, h]), (p + name + ".bias", [h])]
            }
            out += [
                (p + "attention.output.LayerNorm.weight", [h]), (p + "attention.output.LayerNorm.bias", [h]),
                (p + "intermediate.dense.weight", [c.intermediateSize, h]), (p + "intermediate.dense.bias", [c.intermediateSize]),
                (p + "output.dense.weight", [h, c.intermediateSize]), (p + "output.dense.bias", [h]),
                (p + "output.LayerNorm.weight", [h]), (p + "output.LayerNorm.bias", [h]),
            ]
        }
        return out
    }

    /// Loads `folder`'s config.json and model.safetensors: every tensor of the layout must be there with
    /// its shape (the error names the tensor, the expected and the found shape); tensors kiln does not
    /// know are refused by name, except BERT's integer `position_ids` buffer and heads of a task model
    /// (`cls.*`, `classifier.*`), which an encoder does not use.
    public static func load(folder: String) throws(ComputeError) -> BertEncoder {
        let config = try BertConfig.read(folder + "/config.json")
        let path = folder + "/model.safetensors"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .io(path: path, reason: "cannot read the model's weights")
        }
        let (tensors, others, _) = try SafeTensors.decode([UInt8](data), path: path, otherTypes: true)
        for other in others where !other.name.hasSuffix("position_ids") {
            throw .invalidFile(path: path, reason: "tensor '\(other.name)' is \(other.dtype); kiln reads F32 weights")
        }
        return try BertEncoder(config: config, tensors: tensors, path: path)
    }

    public init(config: BertConfig, tensors: [SafeTensors.Entry], path: String) throws(ComputeError) {
        if let problem = config.problem { throw .invalidArgument(problem) }
        self.config = config
        var byName: [String: SafeTensors.Entry] = [:]
        for t in tensors {
            let name = t.name.hasPrefix("bert.") ? String(t.name.dropFirst(5)) : t.name
            byName[name] = t
        }
        var used = Set<String>()
        func take(_ name: String, _ shape: [Int]) throws(ComputeError) -> Tensor {
            guard let entry = byName[name] else {
                throw .invalidFile(path: path, reason: "tensor '\(name)' is missing (expected shape \(shape))")
            }
            guard entry.shape == shape else {
                throw .invalidFile(path: path, reason: "tensor '\(name)' has shape \(entry.shape), expected \(shape)")
            }
            used.insert(name)
            return try Tensor(shape: shape, values: entry.values)
        }
        let h = config.hiddenSize
        wordEmbeddings = try take("embeddings.word_embeddings.weight", [config.vocabularySize, h])
        positionEmbeddings = try take("embeddings.position_embeddings.weight", [config.maxPositions, h])
        tokenTypeEmbeddings = try take("embeddings.token_type_embeddings.weight", [config.typeVocabularySize, h])
        embeddingNorm = Norm(gamma: try take("embeddings.LayerNorm.weight", [h]), beta: try take("embeddings.LayerNorm.bias", [h]))
        func linear(_ name: String, _ out: Int, _ input: Int) throws(ComputeError) -> Linear {
            try Linear(weight: try take(name + ".weight", [out, input]), bias: try take(name + ".bias", [out]))
        }
        func norm(_ name: String) throws(ComputeError) -> Norm {
            Norm(gamma: try take(name + ".weight", [h]), beta: try take(name + ".bias", [h]))
        }
        var layers: [Layer] = []
        for i in 0..<config.layers {
            let p = "encoder.layer.\(i)."
            layers.append(
                Layer(
                    query: try linear(p + "attention.self.query", h, h), key: try linear(p + "attention.self.key", h, h),
                    value: try linear(p + "attention.self.value", h, h),
                    attentionOutput: try linear(p + "attention.output.dense", h, h),
                    attentionNorm: try norm(p + "attention.output.LayerNorm"),
                    intermediate: try linear(p + "intermediate.dense", config.intermediateSize, h),
                    output: try linear(p + "output.dense", h, config.intermediateSize),
                    outputNorm: try norm(p + "output.LayerNorm")))
        }
        self.layers = layers
        pooler = byName["pooler.dense.weight"] == nil ? nil : try linear("pooler.dense", h, h)
        let ignored = byName.keys.filter { $0.hasPrefix("cls.") || $0.hasPrefix("classifier.") }
        if let unexpected = byName.keys.filter({ !used.contains($0) && !ignored.contains($0) }).sorted().first {
            throw .invalidFile(path: path, reason: "tensor '\(unexpected)' is not part of a BERT encoder")
        }
    }

    /// Every weight with its Hugging Face name, in layout order (what a checkpoint or export writes).
    public var namedTensors: [(String, Tensor)] {
        var out: [(String, Tensor)] = [
            ("embeddings.word_embeddings.weight", wordEmbeddings), ("embeddings.position_embeddings.weight", positionEmbeddings),
            ("embeddings.token_type_embeddings.weight", tokenTypeEmbeddings),
            ("embeddings.LayerNorm.weight", embeddingNorm.gamma), ("embeddings.LayerNorm.bias", embeddingNorm.beta),
        ]
        for (i, l) in layers.enumerated() {
            let p = "encoder.layer.\(i)."
            for (name, lin) in [
                ("attention.self.query", l.query), ("attention.self.key", l.key), ("attention.self.value", l.value),
                ("attention.output.dense", l.attentionOutput),
            ] {
                out += [(p + name + ".weight", lin.weight), (p + name + ".bias", lin.bias)]
            }
            out += [
                (p + "attention.output.LayerNorm.weight", l.attentionNorm.gamma),
                (p + "attention.output.LayerNorm.bias", l.attentionNorm.beta),
                (p + "intermediate.dense.weight", l.intermediate.weight), (p + "intermediate.dense.bias", l.intermediate.bias),
                (p + "output.dense.weight", l.output.weight), (p + "output.dense.bias", l.output.bias),
                (p + "output.LayerNorm.weight", l.outputNorm.gamma), (p + "output.LayerNorm.bias", l.outputNorm.beta),
            ]
        }
        if let pooler { out += [("pooler.dense.weight", pooler.weight), ("pooler.dense.bias", pooler.bias)] }
        return out
    }
}
