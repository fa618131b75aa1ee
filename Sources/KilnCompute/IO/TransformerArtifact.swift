import Foundation

/// The part of card.json that describes a fine-tuned transformer. The artifact directory holds, beside
/// card.json, `model.safetensors` with every tensor under its Hugging Face name (for LoRA the base
/// encoder's tensors unchanged, the adapters as `….lora_A.weight`/`….lora_B.weight` as peft names them,
/// and the head as `classifier.weight`/`classifier.bias`), and `transformer/` with the checkpoint's
/// config.json, vocab.txt and tokenizer_config.json.
public struct TransformerCard: Sendable, Codable, Equatable {
    public struct Base: Sendable, Codable, Equatable {
        /// The pretrained model as the Model spec named it.
        public var name: String
        /// SHA-256 of the base weights file the training started from.
        public var sha256: String
        public var bytes: Int

        public init(name: String, sha256: String, bytes: Int) {
            self.name = name
            self.sha256 = sha256
            self.bytes = bytes
        }
    }

    public struct Adapters: Sendable, Codable, Equatable {
        public var rank: Int
        public var alpha: Float
        public var targets: [String]

        public init(rank: Int, alpha: Float, targets: [String]) {
            self.rank = rank
            self.alpha = alpha
            self.targets = targets
        }
    }

    /// `sequence` (a label per text) or `token` (a tag per token: the head is applied to every position).
    public var task: String
    public var pooling: String
    public var maxLength: Int
    /// `full` or `lora`.
    public var method: String
    public var adapters: Adapters?
    public var frozenLayers: Int
    public var base: Base
    public var layers: Int
    public var hiddenSize: Int
    public var heads: Int
    public var vocabularySize: Int

    public init(
        task: String = "sequence", pooling: String, maxLength: Int, method: String, adapters: Adapters?, frozenLayers: Int, base: Base,
        config: BertConfig
    ) {
        self.task = task
        self.pooling = pooling
        self.maxLength = maxLength
        self.method = method
        self.adapters = adapters
        self.frozenLayers = frozenLayers
        self.base = base
        layers = config.layers
        hiddenSize = config.hiddenSize
        heads = config.heads
        vocabularySize = config.vocabularySize
    }

    var problem: String? {
        guard task == "sequence" || task == "token" else { return "transformer task '\(task)' is not one this kiln knows" }
        guard task == "token" || BertFineTuning.Pooling(rawValue: pooling) != nil else { return "unknown pooling '\(pooling)'" }
        guard maxLength >= 2, maxLength <= 4096 else { return "a max_length of \(maxLength)" }
        switch (method, adapters) {
        case ("full", nil): break
        case ("lora", let a?):
            guard a.rank >= 1, a.rank <= 1024, a.alpha > 0, a.alpha.isFinite, !a.targets.isEmpty,
                a.targets.allSatisfy({ BertFineTuning.LoRA.Target(rawValue: $0) != nil })
            else { return "LoRA adapters of rank \(a.rank), alpha \(a.alpha), targets \(a.targets)" }
        default: return "fine-tuning method '\(method)' with\(adapters == nil ? "out" : "") adapters"
        }
        return nil
    }
}

/// A fine-tuned transformer loaded from its artifact, ready to predict: the encoder (LoRA adapters folded
/// into its weights), the head and the tokenizer's files.
public final class FineTunedBert: @unchecked Sendable {
    public static let folder = "transformer"
    public static let tokenizerFiles = ["config.json", "vocab.txt", "tokenizer_config.json"]

    public let card: ModelCard
    public let transformer: TransformerCard
    public let encoder: BertEncoder
    public let head: BertEncoder.Linear
    /// How a sequence is pooled (a text classifier); nil for a token classifier, whose head reads every position.
    public let pooling: BertFineTuning.Pooling?
    public var tagsTokens: Bool { transformer.task == "token" }

    /// Writes the artifact of a finished training: card.json, model.safetensors and the tokenizer files
    /// copied from the pretrained folder.
    public static func save(
        _ training: BertTraining, card: ModelCard, pretrainedFolder: String, to directory: String
    ) throws(ComputeError) {
        guard card.transformer != nil, card.problem == nil else {
            throw .invalidArgument("not a transformer card: \(card.problem ?? "no transformer section")")
        }
        let files = directory + "/" + folder
        do { try FileManager.default.createDirectory(atPath: files, withIntermediateDirectories: true) } catch {
            throw .io(path: files, reason: "cannot create the directory: \(error)")
        }
        for name in tokenizerFiles {
            let source = pretrainedFolder + "/" + name
            guard FileManager.default.fileExists(atPath: source) else {
                if name == "tokenizer_config.json" { continue }
                throw .io(path: source, reason: "the pretrained folder has no \(name)")
            }
            // Only the checkpoint's own small files travel with the version: regular files, of a bounded size,
            // the JSON ones objects.
            let attributes = try? FileManager.default.attributesOfItem(
                atPath: URL(fileURLWithPath: source).resolvingSymlinksInPath().path)
            guard attributes?[.type] as? FileAttributeType == .typeRegular,
                let size = attributes?[.size] as? Int, size <= 16 << 20,
                let data = FileManager.default.contents(atPath: source)
            else { throw .io(path: source, reason: "not a regular file of at most 16 MiB") }
            if name.hasSuffix(".json"), (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] == nil {
                throw .invalidFile(path: source, reason: "not a JSON object")
            }
            try AtomicFile.write([UInt8](data), to: files + "/" + name)
        }
        try SafeTensors.write(
            SafeTensors.encode(training.namedTensors, metadata: ["format": "kiln-transformer", "card": Artifact.cardFile]),
            to: directory + "/" + Artifact.weightsFile)
        try Artifact.writeCard(card, to: directory)
    }

    /// Loads and checks an artifact directory: the card against the config, every tensor's shape, the
    /// adapters' shapes; the adapters are merged (W ← W + (alpha/r)·B·A) so inference is the encoder's.
    public init(directory: String, blas: BLAS) throws(ComputeError) {
        let card = try Artifact.readCard(directory)
        guard let t = card.transformer else { throw .invalidFile(path: directory, reason: "not a transformer artifact") }
        let config = try BertConfig.read(directory + "/" + Self.folder + "/config.json")
        guard config.layers == t.layers, config.hiddenSize == t.hiddenSize, config.heads == t.heads,
            config.vocabularySize == t.vocabularySize, t.maxLength <= config.maxPositions
        else {
            throw .invalidFile(path: directory, reason: "card.json and transformer/config.json describe different encoders")
        }
        let weights = directory + "/" + Artifact.weightsFile
        let (entries, _) = try SafeTensors.read(weights)
        var base: [SafeTensors.Entry] = [], adapters: [String: SafeTensors.Entry] = [:]
        var classifier: [String: SafeTensors.Entry] = [:]
        for e in entries {
            if e.name.hasSuffix(".lora_A.weight") || e.name.hasSuffix(".lora_B.weight") {
                adapters[e.name] = e
            } else if e.name.hasPrefix("classifier.") {
                classifier[e.name] = e
            } else {
                base.append(e)
            }
        }
        let encoder = try BertEncoder(config: config, tensors: base, path: weights)
        let labels = card.labels.count
        guard let w = classifier["classifier.weight"], w.shape == [labels, config.hiddenSize],
            let b = classifier["classifier.bias"], b.shape == [labels], classifier.count == 2
        else {
            throw .invalidFile(
                path: weights, reason: "the head must be classifier.weight [\(labels), \(config.hiddenSize)] and classifier.bias [\(labels)]")
        }
        head = try BertEncoder.Linear(weight: try Tensor(shape: w.shape, values: w.values), bias: try Tensor(shape: b.shape, values: b.values))
        let pooling = t.task == "token" ? nil : BertFineTuning.Pooling(rawValue: t.pooling)
        if t.task != "token", pooling == nil {
            throw .invalidFile(path: directory, reason: "unknown pooling '\(t.pooling)'")
        }
        if pooling == .pooler, encoder.pooler == nil {
            throw .invalidFile(path: weights, reason: "the card pools by the pooler, and the weights have none")
        }
        // Fold each adapter pair into its projection.
        var used = 0
        if let a = t.adapters {
            let scale = a.alpha / Float(a.rank)
            for (i, layer) in encoder.layers.enumerated() {
                let projections: [(BertFineTuning.LoRA.Target, String, BertEncoder.Linear)] = [
                    (.query, "attention.self.query", layer.query), (.key, "attention.self.key", layer.key),
                    (.value, "attention.self.value", layer.value),
                    (.attentionOutput, "attention.output.dense", layer.attentionOutput),
                    (.intermediate, "intermediate.dense", layer.intermediate), (.output, "output.dense", layer.output),
                ]
                for (target, name, linear) in projections where a.targets.contains(target.rawValue) {
                    let p = "encoder.layer.\(i).\(name)"
                    guard let down = adapters[p + ".lora_A.weight"], let up = adapters[p + ".lora_B.weight"] else {
                        if i < t.frozenLayers { continue }
                        throw .invalidFile(path: weights, reason: "adapter '\(p).lora_A/lora_B' is missing")
                    }
                    let (out, input) = (linear.weight.shape[0], linear.weight.shape[1])
                    guard down.shape == [a.rank, input], up.shape == [out, a.rank] else {
                        throw .invalidFile(
                            path: weights,
                            reason: "adapter '\(p)' has shapes \(down.shape) and \(up.shape), expected [\(a.rank), \(input)] and [\(out), \(a.rank)]")
                    }
                    down.values.withUnsafeBufferPointer { da in
                        up.values.withUnsafeBufferPointer { ub in
                            guard let da = da.baseAddress, let ub = ub.baseAddress else { return }
                            blas.sgemm(
                                .none, .none, m: out, n: input, k: a.rank, alpha: scale, a: ub, lda: a.rank, b: da,
                                ldb: input, beta: 1, c: linear.weight.data, ldc: input)
                        }
                    }
                    used += 2
                }
            }
        }
        guard used == adapters.count else {
            throw .invalidFile(path: weights, reason: "\(adapters.count - used) adapter tensors belong to no target of the card")
        }
        self.card = card
        transformer = t
        self.encoder = encoder
        self.pooling = pooling
    }

    /// The tokenizer's files in the artifact.
    public static func vocabularyFile(_ directory: String) -> String { directory + "/" + folder + "/vocab.txt" }
    public static func tokenizerConfigFile(_ directory: String) -> String? {
        let path = directory + "/" + folder + "/tokenizer_config.json"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
}

/// One worker's predictor over a shared `FineTunedBert`, with buffers sized once: batches of token ids
/// (padded per batch to their longest) to a text classifier's class probabilities, or to a token
/// classifier's tag probabilities at every position.
public final class TransformerPredictor: @unchecked Sendable {
    public let model: FineTunedBert
    public let maxBatch: Int
    let inference: BertInference
    let logits: Tensor

    public init(_ model: FineTunedBert, maxBatch: Int, blas: BLAS) throws(ComputeError) {
        self.model = model
        self.maxBatch = max(1, maxBatch)
        let length = model.transformer.maxLength
        inference = try BertInference(model.encoder, maxBatch: self.maxBatch, maxLength: length, blas: blas)
        logits = Tensor(shape: [self.maxBatch * (model.tagsTokens ? length : 1), model.card.labels.count])
    }

    /// Classes (or tags).
    public var labels: Int { model.card.labels.count }
    /// Values per sequence in the output: `labels`, or for a token classifier max_length positions × tags.
    public var width: Int { model.tagsTokens ? model.transformer.maxLength * labels : labels }

    /// Softmax probabilities, `batch.count × width` into `output` (any number of rows: cut into batches).
    /// A token classifier's sequence i, position t is at `(i · maxLength + t) · tags`; positions past a
    /// sequence's end are zero.
    public func probabilities(_ batch: [[Int32]], into output: UnsafeMutableBufferPointer<Float>) throws(ComputeError) {
        let k = labels, length = model.transformer.maxLength
        guard output.count >= batch.count * width else { throw .shapeMismatch("\(batch.count) × \(width) probabilities") }
        var start = 0
        while start < batch.count {
            let end = min(start + maxBatch, batch.count)
            let part = Array(batch[start..<end])
            try inference.encode(part)
            switch model.pooling {
            case .pooler?: try inference.poolCLS()
            case .cls?: try inference.firstToken()
            case .mean?: try inference.meanPool()
            case nil: break
            }
            try inference.logits(model.head, tokens: model.tagsTokens, into: logits)
            if model.tagsTokens {
                let padded = inference.paddedLength
                for i in ((start * width)..<(end * width)) { output[i] = 0 }
                for (b, sequence) in part.enumerated() {
                    for t in 0..<sequence.count {
                        softmax(logits.data + (b * padded + t) * k, count: k, into: output, at: ((start + b) * length + t) * k)
                    }
                }
            } else {
                for r in 0..<part.count { softmax(logits.data + r * k, count: k, into: output, at: (start + r) * k) }
            }
            start = end
        }
    }
}

/// The softmax of `count` logits into `output[at..<at + count]` (the largest subtracted first).
func softmax(_ row: UnsafeMutablePointer<Float>, count k: Int, into output: UnsafeMutableBufferPointer<Float>, at offset: Int) {
    var top = row[0]
    for j in 1..<k where row[j] > top { top = row[j] }
    var sum: Float = 0
    for j in 0..<k {
        let e = exp(row[j] - top)
        output[offset + j] = e
        sum += e
    }
    for j in 0..<k { output[offset + j] /= sum }
}
