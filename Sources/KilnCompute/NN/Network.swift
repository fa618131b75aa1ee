import Foundation

/// What a model is, in the spec language's words (Model spec after shape inference).
public struct ModelConfig: Sendable, Codable, Equatable {
    public enum Task: String, Sendable, Codable { case classification, binary, regression }
    /// `transformer`: a fine-tuned BERT encoder (`ModelCard.transformer` has the rest; `FineTunedBert` loads it).
    /// `gradientBoosting`: XGBoost's trees (`ModelCard.booster` has the rest; KilnBoost loads it).
    public enum Architecture: String, Sendable, Codable {
        case linear, mlp, transformer
        case gradientBoosting = "gradient_boosting"
    }
    public enum Initialisation: String, Sendable, Codable { case he, xavier, zeros }

    public var task: Task
    public var architecture: Architecture
    public var inputs: Int
    public var outputs: Int
    public var hidden: [Int]
    public var activation: Activation.Kind
    public var dropout: Float
    public var layerNorm: Bool
    public var initialisation: Initialisation
    public var seed: UInt64

    public init(
        task: Task, architecture: Architecture, inputs: Int, outputs: Int, hidden: [Int] = [],
        activation: Activation.Kind = .relu, dropout: Float = 0, layerNorm: Bool = false,
        initialisation: Initialisation = .he, seed: UInt64 = 0
    ) {
        self.task = task
        self.architecture = architecture
        self.inputs = inputs
        self.outputs = outputs
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.layerNorm = layerNorm
        self.initialisation = initialisation
        self.seed = seed
    }
}

extension Activation.Kind: Codable {}

/// A feed-forward network: `linear` is one dense layer; `mlp` is dense → [layernorm] → activation →
/// [dropout] per hidden width, then a dense output layer. Weights come from the seed alone.
public final class Network {
    public let config: ModelConfig
    public let layers: [any Layer]
    public let parameters: [Parameter]
    private let blas: BLAS

    public init(_ config: ModelConfig, blas: BLAS) throws(ComputeError) {
        guard config.inputs > 0, config.outputs > 0, config.hidden.allSatisfy({ $0 > 0 }) else {
            throw .invalidArgument(
                "a network needs positive widths: \(config.inputs) → \(config.hidden) → \(config.outputs)")
        }
        if config.architecture == .transformer {
            throw .invalidArgument("a transformer is not a feed-forward network: FineTunedBert loads it")
        }
        if config.architecture == .gradientBoosting {
            throw .invalidArgument("gradient-boosted trees are not a network: KilnBoost's BoosterModel loads them")
        }
        if config.architecture == .mlp && config.hidden.isEmpty {
            throw .invalidArgument("an mlp needs at least one hidden layer")
        }
        if config.architecture == .mlp && config.initialisation == .zeros {
            throw .invalidArgument("zeros initialisation cannot train an mlp (every unit stays the same)")
        }
        self.config = config
        self.blas = blas
        var layers: [any Layer] = []
        var width = config.inputs
        let hidden = config.architecture == .mlp ? config.hidden : []
        for (i, h) in hidden.enumerated() {
            let dense = Dense(width, h, name: "layers.\(i).dense", blas: blas)
            if i == 0 { dense.computesInputGradient = false }
            layers.append(dense)
            if config.layerNorm { layers.append(LayerNorm(width: h, name: "layers.\(i).norm")) }
            layers.append(Activation(config.activation, width: h))
            if config.dropout > 0 {
                layers.append(Dropout(rate: config.dropout, width: h, seed: config.seed &+ 0x5EED &+ UInt64(i)))
            }
            width = h
        }
        let head = Dense(width, config.outputs, name: "head", blas: blas)
        if hidden.isEmpty { head.computesInputGradient = false }
        layers.append(head)
        self.layers = layers
        parameters = layers.flatMap(\.parameters)
        initialise()
    }

    /// He (fan-in, for relu/gelu) or Xavier (fan-in + fan-out, for tanh/sigmoid) normal weights, zero biases.
    private func initialise() {
        var generator = RandomGenerator(seed: config.seed)
        for layer in layers {
            guard let dense = layer as? Dense else { continue }
            let fanIn = Float(dense.inputWidth), fanOut = Float(dense.outputWidth)
            let std: Float =
                switch config.initialisation {
                case .he: (2 / fanIn).squareRoot()
                case .xavier: (2 / (fanIn + fanOut)).squareRoot()
                case .zeros: 0
                }
            let w = dense.weight.value
            for i in 0..<w.count { w.data[i] = std == 0 ? 0 : generator.nextNormal() * std }
            dense.bias.value.fill(0)
        }
    }

    public func prepare(maxBatch: Int) {
        for layer in layers { layer.prepare(maxBatch: maxBatch) }
    }

    /// The logits of a batch.
    public func forward(_ x: Tensor, training: Bool) throws(ComputeError) -> Tensor {
        var h = x
        for layer in layers { h = try layer.forward(h, training: training) }
        return h
    }

    /// Back-propagates ∂loss/∂logits; parameter gradients are overwritten.
    public func backward(_ gradient: Tensor) throws(ComputeError) {
        var g = gradient
        for layer in layers.reversed() { g = try layer.backward(g) }
    }

    /// Dropout generators' states, in layer order (checkpoints restore them).
    var dropoutStates: [[UInt64]] {
        get { layers.compactMap { ($0 as? Dropout)?.generator.state } }
        set {
            var states = newValue.makeIterator()
            for case let d as Dropout in layers {
                if let s = states.next(), let g = try? RandomGenerator(state: s) { d.generator = g }
            }
        }
    }

    /// The weights as named tensors (the artifact's contents).
    public var namedTensors: [(String, Tensor)] { parameters.map { ($0.name, $0.value) } }

    /// Replaces the weights with those of a safetensors file's entries (names and shapes must match).
    public func load(_ entries: [SafeTensors.Entry], path: String) throws(ComputeError) {
        for p in parameters {
            guard let e = entries.first(where: { $0.name == p.name }) else {
                throw .invalidFile(path: path, reason: "no tensor '\(p.name)' for this architecture")
            }
            guard e.shape == p.value.shape else {
                throw .invalidFile(
                    path: path, reason: "tensor '\(p.name)' is \(e.shape); the model needs \(p.value.shape)")
            }
            e.values.withUnsafeBufferPointer {
                if let b = $0.baseAddress { p.value.data.update(from: b, count: e.values.count) }
            }
        }
    }
}
