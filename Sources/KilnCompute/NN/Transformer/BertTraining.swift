import Foundation

/// Fine-tunes a `BertEncoder` with a classification head, in place: forward with the activations
/// backward needs, backward through every layer (attention by (sequence, head) pairs on the compute
/// threads, products through BLAS with transposes by flag), AdamW. Buffers are sized once for `maxBatch`
/// sequences of `maxLength` tokens, so after the first step a step allocates nothing. Batches are padded
/// to their longest sequence and each sequence attends to its own tokens only; padding rows carry no
/// gradient. Same seed and thread count, same bits; dropout masks are a hash of (seed, micro-step, site,
/// element), so a run resumed from a checkpoint continues bit for bit.
public final class BertTraining: @unchecked Sendable {
    public let encoder: BertEncoder
    public let config: BertFineTuning
    public let maxBatch: Int
    public let maxLength: Int
    /// The classification head [labels, hidden] (new, initialised from N(0, initializer_range)).
    public let head: BertEncoder.Linear
    public let optimizer: Optimizer
    /// Every parameter that trains, in checkpoint order.
    public let trainable: [Parameter]
    /// Micro-batches trained so far (the dropout masks' counter).
    public private(set) var microStep = 0
    /// The last batch's lengths and padded length.
    public private(set) var lengths: [Int] = []
    public private(set) var paddedLength = 0

    let blas: BLAS
    let hiddenRate: Float, attentionRate: Float
    let embeddingsTrain: Bool
    /// The lowest layer whose parameters (weights or adapters) train; `layers.count` when none does.
    let lowestTrained: Int
    let word: Parameter, position: Parameter, tokenType: Parameter, embeddingGamma: Parameter, embeddingBeta: Parameter
    let layers: [TrainingLayer]
    let pooler: TrainingLinear?
    let classifier: TrainingLinear

    // Activations kept for backward.
    let ids: UnsafeMutablePointer<Int32>
    let lengthBuffer: UnsafeMutablePointer<Int>
    /// states[0]: the embeddings after LayerNorm and dropout; states[l + 1]: layer l's output.
    let states: [Tensor]
    let embeddingNormalized: Tensor, embeddingInverse: Tensor
    let headInput: Tensor, poolerInput: Tensor, poolerOutput: Tensor
    public let logits: Tensor
    // Backward scratch, shared by the layers.
    let dHidden: Tensor, dSum: Tensor, dBranch: Tensor, dAttended: Tensor, dInner: Tensor
    let dQ: Tensor, dK: Tensor, dV: Tensor, dContext: Tensor, dLogits: Tensor, dHead: Tensor, dPooled: Tensor
    let loraScratch: Tensor, loraMid: Tensor
    let attentionScratch: UnsafeMutablePointer<Float>
    let chunks: Int
    let attentionForward: AttentionTrainingWork
    let attentionBackward: AttentionBackwardWork
    let kernels = TrainingKernels()
    let partials: UnsafeMutablePointer<Double>
    /// Word-embedding rows with gradient since the last update (zeroed at the next window's start).
    var dirtyRows: [Int32] = []
    var rowIsDirty: [Bool]

    public init(
        encoder: BertEncoder, config: BertFineTuning, maxBatch: Int, maxLength: Int, blas: BLAS
    ) throws(ComputeError) {
        let c = encoder.config
        if let problem = config.problem(for: c) { throw .invalidArgument(problem) }
        guard maxBatch > 0, maxBatch <= 1 << 12, maxLength >= 2, maxLength <= c.maxPositions, maxLength <= 1 << 12
        else {
            throw .invalidArgument(
                "a batch of \(maxBatch) × \(maxLength) tokens: training takes 1 to 4,096 sequences of 2 to \(min(c.maxPositions, 4096)) tokens"
            )
        }
        // What the buffers take, refused before any is allocated when this machine cannot hold them.
        let perLayer = Double(maxBatch * maxLength) * Double(7 * c.hiddenSize + 2 * c.intermediateSize + 2)
            + Double(maxBatch * c.heads) * Double(maxLength * maxLength)
        let bytes = 4 * (Double(c.layers) * perLayer + 12 * Double(maxBatch * maxLength) * Double(c.hiddenSize))
        guard Double(maxBatch * c.heads) * Double(maxLength * maxLength) < 8_589_934_592,
            bytes < Double(ProcessInfo.processInfo.physicalMemory)
        else {
            throw .invalidArgument(
                "a batch of \(maxBatch) × \(maxLength) tokens needs \(Int(bytes / 1_048_576)) MiB of activations, more than this machine has: use a smaller batch (with accumulation) or shorter sequences")
        }
        if case .sequence(_, .pooler) = config.task, encoder.pooler == nil {
            throw .invalidArgument("this checkpoint has no pooler: pool by cls or mean")
        }
        self.encoder = encoder
        self.config = config
        self.maxBatch = maxBatch
        self.maxLength = maxLength
        self.blas = blas
        hiddenRate = config.hiddenDropout ?? c.hiddenDropout
        attentionRate = config.attentionDropout ?? c.attentionDropout
        let h = c.hiddenSize, inner = c.intermediateSize, rows = maxBatch * maxLength
        let adapted = config.lora != nil
        embeddingsTrain = !adapted && !config.freezeEmbeddings

        var generator = RandomGenerator(seed: config.seed ^ 0x6B69_6C6E_6865_6164)
        let labels = config.task.labels
        let headWeight = Tensor(shape: [labels, h])
        for i in 0..<headWeight.count { headWeight.data[i] = generator.nextNormal() * c.initializerRange }
        head = try BertEncoder.Linear(weight: headWeight, bias: Tensor(shape: [labels]))

        var trainable: [Parameter] = []
        func parameter(_ name: String, _ t: Tensor, _ trains: Bool) -> Parameter {
            let p = Parameter(name: name, value: t, trainable: trains)
            if trains { trainable.append(p) }
            return p
        }
        word = parameter("embeddings.word_embeddings.weight", encoder.wordEmbeddings, embeddingsTrain)
        position = parameter("embeddings.position_embeddings.weight", encoder.positionEmbeddings, embeddingsTrain)
        tokenType = parameter("embeddings.token_type_embeddings.weight", encoder.tokenTypeEmbeddings, embeddingsTrain)
        embeddingGamma = parameter("embeddings.LayerNorm.weight", encoder.embeddingNorm.gamma, embeddingsTrain)
        embeddingBeta = parameter("embeddings.LayerNorm.bias", encoder.embeddingNorm.beta, embeddingsTrain)
        var built: [TrainingLayer] = []
        for (i, l) in encoder.layers.enumerated() {
            let trains = !adapted && i >= config.frozenLayers
            let p = "encoder.layer.\(i)."
            func linear(_ name: String, _ base: BertEncoder.Linear, _ target: BertFineTuning.LoRA.Target)
                -> TrainingLinear
            {
                let lin = TrainingLinear(
                    weight: parameter(p + name + ".weight", base.weight, trains),
                    bias: parameter(p + name + ".bias", base.bias, trains))
                if let lora = config.lora, lora.targets.contains(target), i >= config.frozenLayers {
                    let a = Tensor(shape: [lora.rank, lin.input])
                    let bound = 1 / Float(lin.input).squareRoot()
                    for j in 0..<a.count { a.data[j] = (generator.nextFloat() * 2 - 1) * bound }
                    lin.adapter = LoRAAdapter(
                        a: parameter(p + name + ".lora_A.weight", a, true),
                        b: parameter(p + name + ".lora_B.weight", Tensor(shape: [lin.out, lora.rank]), true),
                        scale: lora.alpha / Float(lora.rank), rate: lora.dropout, maxRows: rows)
                }
                return lin
            }
            built.append(
                TrainingLayer(
                    query: linear("attention.self.query", l.query, .query),
                    key: linear("attention.self.key", l.key, .key),
                    value: linear("attention.self.value", l.value, .value),
                    attentionOutput: linear("attention.output.dense", l.attentionOutput, .attentionOutput),
                    gamma1: parameter(p + "attention.output.LayerNorm.weight", l.attentionNorm.gamma, trains),
                    beta1: parameter(p + "attention.output.LayerNorm.bias", l.attentionNorm.beta, trains),
                    intermediate: linear("intermediate.dense", l.intermediate, .intermediate),
                    output: linear("output.dense", l.output, .output),
                    gamma2: parameter(p + "output.LayerNorm.weight", l.outputNorm.gamma, trains),
                    beta2: parameter(p + "output.LayerNorm.bias", l.outputNorm.beta, trains),
                    trains: trains, rows: rows, hidden: h, inner: inner,
                    probabilities: maxBatch * c.heads * maxLength * maxLength))
        }
        layers = built
        lowestTrained = built.firstIndex { $0.trains || $0.adapted } ?? built.count
        if case .sequence(_, .pooler) = config.task, let p = encoder.pooler {
            pooler = TrainingLinear(
                weight: parameter("pooler.dense.weight", p.weight, !adapted),
                bias: parameter("pooler.dense.bias", p.bias, !adapted))
        } else {
            pooler = nil
        }
        classifier = TrainingLinear(
            weight: parameter("classifier.weight", head.weight, true), bias: parameter("classifier.bias", head.bias, true))
        self.trainable = trainable
        // Hugging Face's grouping: no decay for biases and LayerNorm weights.
        optimizer = Optimizer(
            config.optimizer, parameters: trainable,
            decays: trainable.map { !$0.name.hasSuffix(".bias") && !$0.name.hasSuffix("LayerNorm.weight") })
        optimizer.pool = blas.pool

        ids = .allocate(capacity: rows)
        ids.initialize(repeating: 0, count: rows)
        lengthBuffer = .allocate(capacity: maxBatch)
        lengthBuffer.initialize(repeating: 0, count: maxBatch)
        states = (0...c.layers).map { _ in Tensor(shape: [rows, h]) }
        embeddingNormalized = Tensor(shape: [rows, h])
        embeddingInverse = Tensor(shape: [rows, 1])
        let headRows: Int
        if case .token = config.task { headRows = rows } else { headRows = maxBatch }
        headInput = Tensor(shape: [headRows, h])
        poolerInput = Tensor(shape: [maxBatch, h])
        poolerOutput = Tensor(shape: [maxBatch, h])
        logits = Tensor(shape: [headRows, labels])
        dLogits = Tensor(shape: [headRows, labels])
        dHead = Tensor(shape: [headRows, h])
        dPooled = Tensor(shape: [maxBatch, h])
        dHidden = Tensor(shape: [rows, h])
        dSum = Tensor(shape: [rows, h])
        dBranch = Tensor(shape: [rows, h])
        dAttended = Tensor(shape: [rows, h])
        dInner = Tensor(shape: [rows, inner])
        dQ = Tensor(shape: [rows, h])
        dK = Tensor(shape: [rows, h])
        dV = Tensor(shape: [rows, h])
        dContext = Tensor(shape: [rows, h])
        let rank = config.lora?.rank ?? 1
        loraScratch = Tensor(shape: [adapted ? rows : 1, max(h, inner)])
        loraMid = Tensor(shape: [adapted ? rows : 1, rank])
        chunks = max(1, min(blas.threads * 2, maxBatch * c.heads))
        attentionScratch = .allocate(capacity: 2 * chunks * maxLength * maxLength)
        partials = .allocate(capacity: chunks)
        partials.initialize(repeating: 0, count: chunks)
        attentionForward = AttentionTrainingWork()
        attentionBackward = AttentionBackwardWork()
        rowIsDirty = Array(repeating: false, count: c.vocabularySize)
        dirtyRows.reserveCapacity(min(c.vocabularySize, rows * config.accumulation))
        lengths.reserveCapacity(maxBatch)
    }

    deinit {
        ids.deallocate()
        lengthBuffer.deallocate()
        attentionScratch.deallocate()
        partials.deallocate()
    }

    // MARK: Steps

    /// One micro-batch: forward, loss, backward; every `accumulation`-th call ends with clipping and the
    /// optimiser step. `labels`: one per sequence, or for a token task one per token of each sequence in
    /// order (−100: not scored). Returns the micro-batch's mean loss.
    @discardableResult
    public func step(_ batch: [[Int32]], labels: [Int32]) throws(ComputeError) -> Double {
        if merged { throw .invalidArgument("the adapters are merged into the weights: training has ended") }
        try check(batch, labels: labels)
        try forward(batch, training: true)
        let loss = try lossAndGradient(labels, scale: 1 / Float(config.accumulation))
        let first = microStep % config.accumulation == 0
        try backward(accumulate: !first)
        microStep += 1
        if microStep % config.accumulation == 0 { update() }
        return loss
    }

    /// The logits of `batch` with dropout off, in `logits` (rows: sequences, or b × paddedLength + t).
    public func predict(_ batch: [[Int32]]) throws(ComputeError) -> Tensor {
        try check(batch, labels: nil)
        try forward(batch, training: false)
        return logits
    }

    /// The mean loss of `batch` with dropout off (nothing trains).
    public func evaluate(_ batch: [[Int32]], labels: [Int32]) throws(ComputeError) -> Double {
        try check(batch, labels: labels)
        try forward(batch, training: false)
        return try lossAndGradient(labels, scale: 0)
    }

    /// Clipping and one AdamW step at the schedule's rate; called by `step` at each window's end.
    func update() {
        if let clip = config.gradientClip { clipGradients(maxNorm: clip) }
        optimizer.update(learningRate: config.learningRate(step: optimizer.step))
    }

    /// Scales the gradients so that their global L2 norm is at most `maxNorm` (PyTorch's
    /// clip_grad_norm_: factor maxNorm / (norm + 1e-6)); returns the norm before.
    @discardableResult
    func clipGradients(maxNorm: Float) -> Float {
        var total = 0.0
        for p in trainable {
            kernels.op = .squares(x: p.gradient.data, count: p.gradient.count, partials: partials)
            let parts = p.gradient.count >= 1 << 16 ? chunks : 1
            blas.run(kernels, chunks: parts)
            for c in 0..<parts { total += partials[c] }
        }
        let norm = Float(total.squareRoot())
        if norm > maxNorm {
            for p in trainable {
                kernels.op = .scale(x: p.gradient.data, count: p.gradient.count, by: maxNorm / (norm + 1e-6))
                blas.run(kernels, chunks: p.gradient.count >= 1 << 16 ? chunks : 1)
            }
        }
        return norm
    }

    private func check(_ batch: [[Int32]], labels: [Int32]?) throws(ComputeError) {
        let tokens = try BertBatch.check(batch, encoder.config, maxBatch: maxBatch, maxLength: maxLength, use: "training")
        guard let labels else { return }
        let k = Int32(config.task.labels)
        switch config.task {
        case .sequence:
            guard labels.count == batch.count else {
                throw .invalidArgument("\(labels.count) labels for \(batch.count) sequences")
            }
            if let bad = labels.first(where: { $0 < 0 || $0 >= k }) {
                throw .invalidArgument("label \(bad) is outside 0..<\(k)")
            }
        case .token:
            guard labels.count == tokens else {
                throw .invalidArgument("\(labels.count) token labels for \(tokens) tokens")
            }
            if let bad = labels.first(where: { ($0 < 0 && $0 != -100) || $0 >= k }) {
                throw .invalidArgument("token label \(bad) is outside 0..<\(k) (−100: not scored)")
            }
        }
    }

    // MARK: Checkpoints and merging

    static let checkpointFormat = "kiln-bert-checkpoint"
    static let checkpointVersion = "1"

    /// What makes a checkpoint belong to this run: the encoder's shape and the fine-tuning settings.
    private var identity: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let model = (try? encoder.encode(self.encoder.config)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let tuning = (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return model + "|" + tuning + "|" + String(baseFingerprint, radix: 16)
    }

    /// A hash of the frozen weights' bits (they are not in the checkpoint, so it must resume on the same
    /// base), taken before training and before any merge.
    private lazy var baseFingerprint: UInt64 = {
        let trained = Set(trainable.map(\.name))
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for (name, t) in encoder.namedTensors where !trained.contains(name) {
            for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
            let words = UnsafeRawPointer(t.data).assumingMemoryBound(to: UInt32.self)
            // Eight lanes of FNV-1a-like mixing, folded at the end.
            var lanes = SIMD8<UInt64>(repeating: h)
            var i = 0
            while i + 8 <= t.count {
                var v = SIMD8<UInt64>()
                for j in 0..<8 { v[j] = UInt64(words[i + j]) }
                lanes = (lanes ^ v) &* 0x100_0000_01B3
                i += 8
            }
            for j in 0..<8 { h = (h ^ lanes[j]) &* 0x100_0000_01B3 }
            while i < t.count {
                h = (h ^ UInt64(words[i])) &* 0x100_0000_01B3
                i += 1
            }
        }
        return h
    }()

    /// Writes the trained parameters, the optimiser's moments and the counters (atomically). Frozen
    /// weights are the base checkpoint's and are not repeated. Call between optimiser steps.
    public func save(to path: String) throws(ComputeError) {
        if merged { throw .invalidArgument("the adapters are merged into the weights: save the encoder instead") }
        guard microStep % config.accumulation == 0 else {
            throw .invalidArgument("a checkpoint inside an accumulation window would lose its partial gradients")
        }
        let metadata = [
            "format": Self.checkpointFormat, "version": Self.checkpointVersion, "identity": identity,
            "optimizer_step": String(optimizer.step), "micro_step": String(microStep),
        ]
        let tensors = trainable.map { ($0.name, $0.value) } + optimizer.stateTensors
        try SafeTensors.write(SafeTensors.encode(tensors, metadata: metadata), to: path)
    }

    /// Continues from `path` (written by `save` for the same encoder shape and settings): every tensor is
    /// checked before any is copied, so a refused checkpoint changes nothing.
    public func restore(from path: String) throws(ComputeError) {
        if merged { throw .invalidArgument("the adapters are merged into the weights: training has ended") }
        let (entries, metadata) = try SafeTensors.read(path)
        guard metadata["format"] == Self.checkpointFormat else {
            throw .invalidFile(path: path, reason: "not a kiln fine-tuning checkpoint")
        }
        guard metadata["version"] == Self.checkpointVersion else {
            throw .invalidFile(
                path: path,
                reason: "checkpoint version \(metadata["version"] ?? "?"); this kiln reads \(Self.checkpointVersion): delete it to start over")
        }
        guard metadata["identity"] == identity else {
            throw .invalidFile(
                path: path,
                reason: "the checkpoint was written for another encoder shape or fine-tuning settings; delete it to start over")
        }
        guard let step = metadata["optimizer_step"].flatMap(Int.init), let micro = metadata["micro_step"].flatMap(Int.init),
            step >= 0, step <= 1 << 40, micro == step * config.accumulation
        else { throw .invalidFile(path: path, reason: "the checkpoint's counters are missing or corrupt") }
        var byName: [String: SafeTensors.Entry] = [:]
        for e in entries { byName[e.name] = e }
        let targets = trainable.map { ($0.name, $0.value) } + optimizer.stateTensors
        for (name, tensor) in targets {
            guard let e = byName[name], e.shape == tensor.shape else {
                throw .invalidFile(
                    path: path,
                    reason: "tensor '\(name)' is missing or has shape \(byName[name]?.shape ?? []), expected \(tensor.shape)")
            }
            let moment = name.hasPrefix("optimizer.second.")
            if e.values.contains(where: { !$0.isFinite || (moment && $0 < 0) }) {
                throw .invalidFile(path: path, reason: "tensor '\(name)' holds \(moment ? "negative or " : "")non-finite values")
            }
        }
        for (name, tensor) in targets {
            byName[name]?.values.withUnsafeBufferPointer {
                if let b = $0.baseAddress { tensor.data.update(from: b, count: tensor.count) }
            }
        }
        optimizer.step = step
        microStep = micro
    }

    /// What a fine-tuned model's artifact holds, by Hugging Face (and peft) names: the encoder's tensors
    /// (for LoRA the base's, unchanged), the adapters unmerged, and the head.
    public var namedTensors: [(String, Tensor)] {
        encoder.namedTensors + trainable.filter { $0.name.contains(".lora_") }.map { ($0.name, $0.value) }
            + [("classifier.weight", head.weight), ("classifier.bias", head.bias)]
    }

    /// Whether `mergeAdapters` ran: training, saving and restoring are over.
    public private(set) var merged = false

    /// Folds every adapter into its base weight (W ← W + (alpha/r)·B·A), so the encoder alone computes
    /// the adapted model (for inference and export). Final: afterwards this object only predicts.
    public func mergeAdapters() {
        merged = true
        for layer in layers {
            for l in [layer.query, layer.key, layer.value, layer.attentionOutput, layer.intermediate, layer.output] {
                guard let a = l.adapter, !a.merged else { continue }
                blas.sgemm(
                    .none, .none, m: l.out, n: l.input, k: a.rank, alpha: a.scale, a: a.b.value.data, lda: a.rank,
                    b: a.a.value.data, ldb: l.input, beta: 1, c: l.weight.value.data, ldc: l.input)
                a.merged = true
            }
        }
    }

    // MARK: Forward

    func noise(site: Int, rate: Float, training: Bool) -> DropoutNoise {
        guard training, rate > 0 else { return .off }
        return DropoutNoise(key: DropoutNoise.key(seed: config.seed, step: microStep, site: site), rate: rate)
    }

    func forward(_ batch: [[Int32]], training: Bool) throws(ComputeError) {
        let c = encoder.config
        let longest = BertBatch.record(batch, lengths: &lengths, buffer: lengthBuffer)
        paddedLength = longest
        let h = c.hiddenSize, inner = c.intermediateSize, rows = batch.count * longest, T = longest
        for (b, seq) in batch.enumerated() {
            for t in 0..<T { ids[b * T + t] = t < seq.count ? seq[t] : 0 }
        }
        for s in states { try s.setRows(rows) }

        // Embeddings: word + position + token type 0, LayerNorm, dropout.
        let e = states[0]
        let wp = word.value.data, pp = position.value.data, tp = tokenType.value.data
        for r in 0..<rows {
            let out = e.data + r * h, w = wp + Int(ids[r]) * h, p = pp + (r % T) * h
            for j in 0..<h { out[j] = w[j] + p[j] + tp[j] }
        }
        layerNorm(
            e.data, rows: rows, gamma: embeddingGamma.value.data, beta: embeddingBeta.value.data,
            normalized: embeddingNormalized.data, inverse: embeddingInverse.data)
        noise(site: 0, rate: hiddenRate, training: training).apply(e.data, count: rows * h)

        let scale = 1 / Float(c.headSize).squareRoot()
        for (l, layer) in layers.enumerated() {
            let x = states[l].data, y = states[l + 1].data
            try layer.setRows(rows)
            let site = 1 + 16 * l
            linear(x, rows: rows, layer.query, into: layer.q.data, site: site + 3, training: training)
            linear(x, rows: rows, layer.key, into: layer.k.data, site: site + 4, training: training)
            linear(x, rows: rows, layer.value, into: layer.v.data, site: site + 5, training: training)
            attentionForward.layer = layer
            attentionForward.batch = AttentionBatch(
                lengths: lengthBuffer, sequences: batch.count, heads: c.heads, headSize: c.headSize, hidden: h,
                longest: T, scale: scale, scratch: attentionScratch, stride: maxLength * maxLength,
                noise: noise(site: site, rate: attentionRate, training: training))
            blas.run(attentionForward, chunks: chunks)
            // The attention block: a ← LayerNorm(x + dropout(context · Woᵀ + bo)).
            let a = layer.attended.data
            linear(layer.context.data, rows: rows, layer.attentionOutput, into: a, site: site + 6, training: training)
            residualNorm(
                a, x, noise(site: site + 1, rate: hiddenRate, training: training), rows: rows, layer.gamma1, layer.beta1,
                normalized: layer.normalized1.data, inverse: layer.inverse1.data)
            // The feed-forward block: y ← LayerNorm(a + dropout(GELU(a · Wiᵀ + bi) · Woᵀ + bo)).
            linear(a, rows: rows, layer.intermediate, into: layer.inner.data, site: site + 7, training: training)
            kernels.op = .gelu(x: layer.inner.data, y: layer.activated.data, count: rows * inner)
            blas.run(kernels, chunks: chunks)
            linear(layer.activated.data, rows: rows, layer.output, into: y, site: site + 8, training: training)
            residualNorm(
                y, a, noise(site: site + 2, rate: hiddenRate, training: training), rows: rows, layer.gamma2, layer.beta2,
                normalized: layer.normalized2.data, inverse: layer.inverse2.data)
        }

        // The head.
        let last = states[c.layers]
        let headNoise = noise(site: Self.headSite, rate: hiddenRate, training: training)
        switch config.task {
        case .token:
            try headInput.setRows(rows)
            headNoise.apply(last.data, into: headInput.data, count: rows * h)
        case .sequence(_, let pooling):
            let B = batch.count
            try headInput.setRows(B)
            try poolerInput.setRows(B)
            switch pooling {
            case .pooler, .cls:
                for b in 0..<B { (poolerInput.data + b * h).update(from: last.data + b * T * h, count: h) }
            case .mean:
                BertBatch.meanPool(last.data, lengths: lengths, padded: T, width: h, into: poolerInput.data)
            }
            if pooling == .pooler, let pooler {
                try poolerOutput.setRows(B)
                linear(poolerInput.data, rows: B, pooler, into: poolerOutput.data, site: 0, training: false)
                for i in 0..<(B * h) { poolerOutput.data[i] = Foundation.tanh(poolerOutput.data[i]) }
                headNoise.apply(poolerOutput.data, into: headInput.data, count: B * h)
            } else {
                headNoise.apply(poolerInput.data, into: headInput.data, count: B * h)
            }
        }
        try logits.setRows(headInput.rows)
        linear(headInput.data, rows: headInput.rows, classifier, into: logits.data, site: 0, training: false)
    }

    static let headSite = 0x7FFF_FFFF

    /// Cross-entropy over the scored rows (mean), and its gradient × `scale` in `dLogits`.
    func lossAndGradient(_ labels: [Int32], scale: Float) throws(ComputeError) -> Double {
        let k = config.task.labels, rows = logits.rows, T = paddedLength
        try dLogits.setRows(rows)
        // Which label each logits row has (−100: none).
        var counted = 0
        var total = 0.0
        func label(_ r: Int, _ cursor: inout Int) -> Int32 {
            switch config.task {
            case .sequence: return labels[r]
            case .token:
                let b = r / T, t = r % T
                guard t < lengths[b] else { return -100 }
                defer { cursor += 1 }
                return labels[cursor]
            }
        }
        var cursor = 0
        for r in 0..<rows where label(r, &cursor) != -100 { counted += 1 }
        let inv = counted > 0 ? scale / Float(counted) : 0
        cursor = 0
        for r in 0..<rows {
            let z = logits.data + r * k, g = dLogits.data + r * k
            let y = label(r, &cursor)
            guard y != -100 else {
                for j in 0..<k { g[j] = 0 }
                continue
            }
            var m = -Float.infinity
            for j in 0..<k { m = max(m, z[j]) }
            var s: Float = 0
            for j in 0..<k { s += Foundation.exp(z[j] - m) }
            let logSum = m + Foundation.log(s)
            total += Double(logSum - z[Int(y)])
            for j in 0..<k { g[j] = (Foundation.exp(z[j] - logSum) - (j == Int(y) ? 1 : 0)) * inv }
        }
        return counted > 0 ? total / Double(counted) : 0
    }

    // MARK: Backward

    /// Gradients of the last forward's loss (in `dLogits`); with `accumulate` they add to the previous
    /// micro-batches', else they replace them.
    func backward(accumulate: Bool) throws(ComputeError) {
        let c = encoder.config
        let h = c.hiddenSize, inner = c.intermediateSize, B = lengths.count, T = paddedLength, rows = B * T
        let headRows = headInput.rows
        let beta: Float = accumulate ? 1 : 0
        try dHead.setRows(headRows)
        linearBackward(
            classifier, input: headInput.data, dy: dLogits.data, rows: headRows, dx: dHead.data, beta: beta)
        let headNoise = noise(site: Self.headSite, rate: hiddenRate, training: true)
        headNoise.apply(dHead.data, count: headRows * h)
        try dHidden.setRows(rows)
        let dh = dHidden.data
        switch config.task {
        case .token:
            dh.update(from: dHead.data, count: rows * h)
        case .sequence(_, let pooling):
            for i in 0..<(rows * h) { dh[i] = 0 }
            var dPool = dHead.data
            if pooling == .pooler, let pooler {
                for i in 0..<(B * h) {
                    let z = poolerOutput.data[i]
                    dHead.data[i] *= 1 - z * z
                }
                linearBackward(pooler, input: poolerInput.data, dy: dHead.data, rows: B, dx: dPooled.data, beta: beta)
                dPool = dPooled.data
            }
            for b in 0..<B {
                let g = dPool + b * h
                if pooling == .mean {
                    let n = lengths[b], inv = 1 / Float(n)
                    for t in 0..<n {
                        let row = dh + (b * T + t) * h
                        for j in 0..<h { row[j] = g[j] * inv }
                    }
                } else {
                    (dh + b * T * h).update(from: g, count: h)
                }
            }
        }

        let bottom = embeddingsTrain ? 0 : lowestTrained
        let scale = 1 / Float(c.headSize).squareRoot()
        var l = layers.count - 1
        while l >= bottom {
            let layer = layers[l], site = 1 + 16 * l, x = states[l].data
            let needsInput = l > bottom || embeddingsTrain
            try setRows(rows)
            // Feed-forward block.
            layerNormBackward(
                dh, rows: rows, normalized: layer.normalized2.data, inverse: layer.inverse2.data,
                gamma: layer.gamma2, beta: layer.beta2, into: dSum.data, accumulate: accumulate,
                branch: dBranch.data, noise: noise(site: site + 2, rate: hiddenRate, training: true))
            linearBackward(
                layer.output, input: layer.activated.data, dy: dBranch.data, rows: rows, dx: dInner.data, beta: beta,
                site: site + 8)
            kernels.op = .geluBackward(u: layer.inner.data, dy: dInner.data, count: rows * inner)
            blas.run(kernels, chunks: chunks)
            dAttended.data.update(from: dSum.data, count: rows * h)
            linearBackward(
                layer.intermediate, input: layer.attended.data, dy: dInner.data, rows: rows, dx: dAttended.data,
                beta: beta, dxBeta: 1, site: site + 7)
            // Attention block.
            layerNormBackward(
                dAttended.data, rows: rows, normalized: layer.normalized1.data, inverse: layer.inverse1.data,
                gamma: layer.gamma1, beta: layer.beta1, into: dSum.data, accumulate: accumulate,
                branch: dBranch.data, noise: noise(site: site + 1, rate: hiddenRate, training: true))
            linearBackward(
                layer.attentionOutput, input: layer.context.data, dy: dBranch.data, rows: rows, dx: dContext.data,
                beta: beta, site: site + 6)
            attentionBackward.layer = layer
            attentionBackward.batch = AttentionBatch(
                lengths: lengthBuffer, sequences: B, heads: c.heads, headSize: c.headSize, hidden: h, longest: T,
                scale: scale, scratch: attentionScratch, stride: maxLength * maxLength,
                noise: noise(site: site, rate: attentionRate, training: true))
            attentionBackward.dContext = UnsafePointer(dContext.data)
            (attentionBackward.dQ, attentionBackward.dK, attentionBackward.dV) = (dQ.data, dK.data, dV.data)
            blas.run(attentionBackward, chunks: chunks)
            // The layer's input gradient: the residual's plus the three projections'.
            if needsInput { dh.update(from: dSum.data, count: rows * h) }
            let dx: UnsafeMutablePointer<Float>? = needsInput ? dh : nil
            linearBackward(layer.query, input: x, dy: dQ.data, rows: rows, dx: dx, beta: beta, dxBeta: 1, site: site + 3)
            linearBackward(layer.key, input: x, dy: dK.data, rows: rows, dx: dx, beta: beta, dxBeta: 1, site: site + 4)
            linearBackward(layer.value, input: x, dy: dV.data, rows: rows, dx: dx, beta: beta, dxBeta: 1, site: site + 5)
            l -= 1
        }
        guard embeddingsTrain else { return }

        // Embeddings: dropout, LayerNorm, then scatter-adds into the rows used.
        noise(site: 0, rate: hiddenRate, training: true).apply(dh, count: rows * h)
        layerNormBackward(
            dh, rows: rows, normalized: embeddingNormalized.data, inverse: embeddingInverse.data,
            gamma: embeddingGamma, beta: embeddingBeta, into: dSum.data, accumulate: accumulate)
        let dw = word.gradient.data, dp = position.gradient.data, dt = tokenType.gradient.data
        if !accumulate {
            for r in dirtyRows {
                rowIsDirty[Int(r)] = false
                let row = dw + Int(r) * h
                for j in 0..<h { row[j] = 0 }
            }
            dirtyRows.removeAll(keepingCapacity: true)
            position.gradient.fill(0)
            tokenType.gradient.fill(0)
        }
        for b in 0..<B {
            for t in 0..<lengths[b] {
                let r = b * T + t, id = Int(ids[r]), g = dSum.data + r * h
                if !rowIsDirty[id] {
                    rowIsDirty[id] = true
                    dirtyRows.append(Int32(id))
                }
                let w = dw + id * h, p = dp + t * h
                for j in 0..<h {
                    w[j] += g[j]
                    p[j] += g[j]
                    dt[j] += g[j]
                }
            }
        }
    }

    private func setRows(_ rows: Int) throws(ComputeError) {
        try dSum.setRows(rows)
        try dBranch.setRows(rows)
        try dAttended.setRows(rows)
        try dInner.setRows(rows)
        try dQ.setRows(rows)
        try dK.setRows(rows)
        try dV.setRows(rows)
        try dContext.setRows(rows)
    }

    // MARK: Kernels

    /// y[rows, out] = x · Wᵀ + b, plus the adapter's (alpha/r)·dropout(x)·Aᵀ·Bᵀ.
    private func linear(
        _ x: UnsafeMutablePointer<Float>, rows: Int, _ l: TrainingLinear, into y: UnsafeMutablePointer<Float>,
        site: Int, training: Bool
    ) {
        let out = l.out, input = l.input, bias = l.bias.value.data
        for r in 0..<rows { (y + r * out).update(from: bias, count: out) }
        blas.sgemm(
            .none, .transpose, m: rows, n: out, k: input, a: x, lda: input, b: l.weight.value.data, ldb: input, beta: 1,
            c: y, ldc: out)
        guard let adapter = l.adapter, !adapter.merged else { return }
        let r = adapter.rank
        var source = UnsafePointer(x)
        if let dropped = adapter.dropped {
            noise(site: site, rate: adapter.rate, training: training).apply(x, into: dropped.data, count: rows * input)
            source = UnsafePointer(dropped.data)
        }
        // Products with rank-wide outputs stay on one thread: cut into row blocks they fall under OpenBLAS's
        // small-matrix threshold, whose kernel allocates a buffer per call.
        blas.sgemmOneThread(
            .none, .transpose, m: rows, n: r, k: input, a: source, lda: input, b: adapter.a.value.data, ldb: input,
            c: adapter.mid.data, ldc: r)
        blas.sgemm(
            .none, .transpose, m: rows, n: out, k: r, alpha: adapter.scale, a: adapter.mid.data, lda: r,
            b: adapter.b.value.data, ldb: r, beta: 1, c: y, ldc: out)
    }

    /// Gradients of y = x·Wᵀ + b (+ adapter) given dy: dW and db (when the layer trains; `beta` 1 adds to
    /// them), the adapter's dA and dB, and dx = dy·W (+ the adapter's) into `dx` (`dxBeta` 1 adds).
    private func linearBackward(
        _ l: TrainingLinear, input x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>, rows: Int,
        dx: UnsafeMutablePointer<Float>?, beta: Float, dxBeta: Float = 0, site: Int = 0
    ) {
        let out = l.out, input = l.input
        if l.weight.gradient.count > 0 {
            blas.sgemm(
                .transpose, .none, m: out, n: input, k: rows, a: dy, lda: out, b: x, ldb: input, beta: beta,
                c: l.weight.gradient.data, ldc: input)
            kernels.op = .columnSums(
                a: dy, b: nil, rows: rows, cols: out, out: l.bias.gradient.data, out2: nil, accumulate: beta != 0)
            blas.run(kernels, chunks: chunks)
        }
        if let adapter = l.adapter, !adapter.merged {
            let r = adapter.rank, s = adapter.scale
            let source = adapter.dropped.map { UnsafePointer($0.data) } ?? UnsafePointer(x)
            blas.sgemm(
                .transpose, .none, m: out, n: r, k: rows, alpha: s, a: dy, lda: out, b: adapter.mid.data, ldb: r,
                beta: beta, c: adapter.b.gradient.data, ldc: r)
            blas.sgemmOneThread(
                .none, .none, m: rows, n: r, k: out, alpha: s, a: dy, lda: out, b: adapter.b.value.data, ldb: r,
                c: loraMid.data, ldc: r)
            blas.sgemm(
                .transpose, .none, m: r, n: input, k: rows, a: loraMid.data, lda: r, b: source, ldb: input, beta: beta,
                c: adapter.a.gradient.data, ldc: input)
            if let dx {
                blas.sgemm(
                    .none, .none, m: rows, n: input, k: out, a: dy, lda: out, b: l.weight.value.data, ldb: input,
                    beta: dxBeta, c: dx, ldc: input)
                let drop = noise(site: site, rate: adapter.rate, training: true)
                if drop.active {
                    blas.sgemm(
                        .none, .none, m: rows, n: input, k: r, a: loraMid.data, lda: r, b: adapter.a.value.data,
                        ldb: input, c: loraScratch.data, ldc: input)
                    drop.addApplied(loraScratch.data, into: dx, count: rows * input, base: 0)
                } else {
                    blas.sgemm(
                        .none, .none, m: rows, n: input, k: r, a: loraMid.data, lda: r, b: adapter.a.value.data,
                        ldb: input, beta: 1, c: dx, ldc: input)
                }
            }
            return
        }
        if let dx {
            blas.sgemm(
                .none, .none, m: rows, n: input, k: out, a: dy, lda: out, b: l.weight.value.data, ldb: input,
                beta: dxBeta, c: dx, ldc: input)
        }
    }

    /// In place over `rows` rows, keeping x̂ and 1/σ for backward.
    private func layerNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        normalized: UnsafeMutablePointer<Float>, inverse: UnsafeMutablePointer<Float>
    ) {
        let c = encoder.config
        VectorMath.layerNorm(
            x, rows: rows, width: c.hiddenSize, gamma: gamma, beta: beta, epsilon: c.layerNormEpsilon,
            normalized: normalized, inverse: inverse)
    }

    /// dx = (1/σ)·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) with dx̂ = dy·γ; dγ, dβ when they train; with `branch`,
    /// also dropout′(dx) into it (the residual branch's gradient).
    private func layerNormBackward(
        _ dy: UnsafePointer<Float>, rows: Int, normalized: UnsafePointer<Float>, inverse: UnsafePointer<Float>,
        gamma: Parameter, beta: Parameter, into dx: UnsafeMutablePointer<Float>, accumulate: Bool,
        branch: UnsafeMutablePointer<Float>? = nil, noise: DropoutNoise = .off
    ) {
        let h = encoder.config.hiddenSize
        if gamma.gradient.count > 0 {
            kernels.op = .columnSums(
                a: dy, b: normalized, rows: rows, cols: h, out: gamma.gradient.data, out2: beta.gradient.data,
                accumulate: accumulate)
            blas.run(kernels, chunks: chunks)
        }
        kernels.op = .normBackward(
            dy: dy, rows: rows, width: h, normalized: normalized, inverse: inverse, gamma: gamma.value.data, dx: dx,
            branch: branch, noise: noise)
        blas.run(kernels, chunks: chunks)
    }

    /// y ← LayerNorm(dropout(y) + x) in place, keeping x̂ and 1/σ.
    private func residualNorm(
        _ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ noise: DropoutNoise, rows: Int, _ gamma: Parameter,
        _ beta: Parameter, normalized: UnsafeMutablePointer<Float>, inverse: UnsafeMutablePointer<Float>
    ) {
        let c = encoder.config
        kernels.op = .residualNorm(
            y: y, x: x, noise: noise, rows: rows, width: c.hiddenSize, gamma: gamma.value.data, beta: beta.value.data,
            epsilon: c.layerNormEpsilon, normalized: normalized, inverse: inverse)
        blas.run(kernels, chunks: chunks)
    }
}

// MARK: - Parts

/// A dense layer in training: its weight and bias as parameters (frozen ones have empty gradients), and
/// its adapter.
final class TrainingLinear: @unchecked Sendable {
    let weight: Parameter, bias: Parameter
    var adapter: LoRAAdapter?
    var out: Int { weight.value.shape[0] }
    var input: Int { weight.value.shape[1] }

    init(weight: Parameter, bias: Parameter) {
        self.weight = weight
        self.bias = bias
    }
}

final class LoRAAdapter: @unchecked Sendable {
    let a: Parameter, b: Parameter
    let scale: Float, rate: Float
    /// dropout(x)·Aᵀ [rows, rank], kept for backward; and dropout(x) itself when the rate is not 0.
    let mid: Tensor
    let dropped: Tensor?
    var merged = false
    var rank: Int { a.value.shape[0] }

    init(a: Parameter, b: Parameter, scale: Float, rate: Float, maxRows: Int) {
        self.a = a
        self.b = b
        self.scale = scale
        self.rate = rate
        mid = Tensor(shape: [maxRows, a.value.shape[0]])
        dropped = rate > 0 ? Tensor(shape: [maxRows, a.value.shape[1]]) : nil
    }
}

/// One encoder layer's parameters and the activations its backward pass reads.
final class TrainingLayer: @unchecked Sendable {
    let query: TrainingLinear, key: TrainingLinear, value: TrainingLinear, attentionOutput: TrainingLinear
    let gamma1: Parameter, beta1: Parameter
    let intermediate: TrainingLinear, output: TrainingLinear
    let gamma2: Parameter, beta2: Parameter
    let trains: Bool
    var adapted: Bool { [query, key, value, attentionOutput, intermediate, output].contains { $0.adapter != nil } }
    let q: Tensor, k: Tensor, v: Tensor, context: Tensor
    /// Attention probabilities before dropout: pair p's [longest, length] block at p × longest².
    let probabilities: UnsafeMutablePointer<Float>
    let normalized1: Tensor, inverse1: Tensor, attended: Tensor
    let inner: Tensor, activated: Tensor
    let normalized2: Tensor, inverse2: Tensor

    init(
        query: TrainingLinear, key: TrainingLinear, value: TrainingLinear, attentionOutput: TrainingLinear,
        gamma1: Parameter, beta1: Parameter, intermediate: TrainingLinear, output: TrainingLinear, gamma2: Parameter,
        beta2: Parameter, trains: Bool, rows: Int, hidden h: Int, inner: Int, probabilities: Int
    ) {
        self.query = query
        self.key = key
        self.value = value
        self.attentionOutput = attentionOutput
        self.gamma1 = gamma1
        self.beta1 = beta1
        self.intermediate = intermediate
        self.output = output
        self.gamma2 = gamma2
        self.beta2 = beta2
        self.trains = trains
        q = Tensor(shape: [rows, h])
        k = Tensor(shape: [rows, h])
        v = Tensor(shape: [rows, h])
        context = Tensor(shape: [rows, h])
        self.probabilities = .allocate(capacity: probabilities)
        self.probabilities.initialize(repeating: 0, count: probabilities)
        normalized1 = Tensor(shape: [rows, h])
        inverse1 = Tensor(shape: [rows, 1])
        attended = Tensor(shape: [rows, h])
        self.inner = Tensor(shape: [rows, inner])
        activated = Tensor(shape: [rows, inner])
        normalized2 = Tensor(shape: [rows, h])
        inverse2 = Tensor(shape: [rows, 1])
    }

    deinit { probabilities.deallocate() }

    /// One by one: an array of them would be an allocation per step.
    func setRows(_ rows: Int) throws(ComputeError) {
        try q.setRows(rows)
        try k.setRows(rows)
        try v.setRows(rows)
        try context.setRows(rows)
        try normalized1.setRows(rows)
        try inverse1.setRows(rows)
        try attended.setRows(rows)
        try inner.setRows(rows)
        try activated.setRows(rows)
        try normalized2.setRows(rows)
        try inverse2.setRows(rows)
    }
}

/// The shape of one attention pass over a padded batch, shared by the forward and backward work.
struct AttentionBatch {
    var lengths: UnsafePointer<Int>
    var sequences: Int, heads: Int, headSize: Int, hidden: Int, longest: Int
    var scale: Float
    /// Per chunk, blocks of `stride` floats (longest² at most).
    var scratch: UnsafeMutablePointer<Float>, stride: Int
    var noise: DropoutNoise

    /// The (sequence, head) pairs of `chunk`, and each pair's sequence, head, length and offset into
    /// the [rows, hidden] projections.
    @inline(__always)
    func forEachPair(chunk: Int, of chunks: Int, _ body: (_ pair: Int, _ length: Int, _ offset: Int) -> Void) {
        let pairs = sequences * heads
        for p in (pairs * chunk / chunks)..<(pairs * (chunk + 1) / chunks) {
            let b = p / heads, head = p % heads
            body(p, lengths[b], b * longest * hidden + head * headSize)
        }
    }
}

/// Attention of a padded batch in training, per (sequence, head) pair: P = softmax(Q·Kᵀ·scale) kept in the
/// layer's probabilities, context = dropout(P)·V. Each pair writes its own block and context columns.
final class AttentionTrainingWork: ChunkedWork, @unchecked Sendable {
    var layer: TrainingLayer?
    var batch: AttentionBatch?

    func run(chunk: Int, of chunks: Int, blas: BLAS) {
        guard let layer, let a = batch else { return }
        let q = layer.q.data, k = layer.k.data, v = layer.v.data, context = layer.context.data
        let T = a.longest, hidden = a.hidden, d = a.headSize
        let dropped = a.scratch + chunk * a.stride
        a.forEachPair(chunk: chunk, of: chunks) { p, n, offset in
            let P = layer.probabilities + p * T * T
            blas.sgemmOneThread(
                .none, .transpose, m: T, n: n, k: d, alpha: a.scale, a: q + offset, lda: hidden, b: k + offset,
                ldb: hidden, c: P, ldc: n)
            VectorMath.softmaxRows(P, rows: T, cols: n)
            var weights = UnsafePointer(P)
            if a.noise.active {
                a.noise.apply(P, into: dropped, count: T * n, base: p * T * T)
                weights = UnsafePointer(dropped)
            }
            blas.sgemmOneThread(
                .none, .none, m: T, n: d, k: n, a: weights, lda: n, b: v + offset, ldb: hidden, c: context + offset,
                ldc: hidden)
        }
    }
}

/// The backward of `AttentionTrainingWork` per pair: dP′ = dC·Vᵀ, dV = dropout(P)ᵀ·dC, dP = dropout′(dP′),
/// dS = P ⊙ (dP − rowsum(dP ⊙ P)), dQ = scale·dS·K, dK = scale·dSᵀ·Q; padding rows of dK and dV are 0.
final class AttentionBackwardWork: ChunkedWork, @unchecked Sendable {
    var layer: TrainingLayer?
    var batch: AttentionBatch?
    var dContext: UnsafePointer<Float>? = nil
    var dQ: UnsafeMutablePointer<Float>? = nil, dK: UnsafeMutablePointer<Float>? = nil
    var dV: UnsafeMutablePointer<Float>? = nil

    func run(chunk: Int, of chunks: Int, blas: BLAS) {
        guard let layer, let a = batch, let dContext, let dQ, let dK, let dV else { return }
        let q = layer.q.data, k = layer.k.data, v = layer.v.data
        let T = a.longest, hidden = a.hidden, d = a.headSize
        // Two blocks per chunk: dropout(P), then dP.
        let dropped = a.scratch + 2 * chunk * a.stride, dP = dropped + a.stride
        a.forEachPair(chunk: chunk, of: chunks) { p, n, offset in
            let P = UnsafePointer(layer.probabilities + p * T * T)
            var weights = P
            if a.noise.active {
                a.noise.apply(P, into: dropped, count: T * n, base: p * T * T)
                weights = UnsafePointer(dropped)
            }
            blas.sgemmOneThread(
                .none, .transpose, m: T, n: n, k: d, a: dContext + offset, lda: hidden, b: v + offset, ldb: hidden,
                c: dP, ldc: n)
            blas.sgemmOneThread(
                .transpose, .none, m: n, n: d, k: T, a: weights, lda: n, b: dContext + offset, ldb: hidden,
                c: dV + offset, ldc: hidden)
            a.noise.apply(dP, count: T * n, base: p * T * T)
            for i in 0..<T {
                let pr = P + i * n, g = dP + i * n
                var dot: Float = 0
                for j in 0..<n { dot += pr[j] * g[j] }
                for j in 0..<n { g[j] = pr[j] * (g[j] - dot) }
            }
            blas.sgemmOneThread(
                .none, .none, m: T, n: d, k: n, alpha: a.scale, a: dP, lda: n, b: k + offset, ldb: hidden,
                c: dQ + offset, ldc: hidden)
            blas.sgemmOneThread(
                .transpose, .none, m: n, n: d, k: T, alpha: a.scale, a: dP, lda: n, b: q + offset, ldb: hidden,
                c: dK + offset, ldc: hidden)
            // Padding keys are never attended: no gradient.
            for t in n..<T {
                let rk = dK + offset + t * hidden, rv = dV + offset + t * hidden
                for j in 0..<d {
                    rk[j] = 0
                    rv[j] = 0
                }
            }
        }
    }
}

/// The elementwise and row-wise parts of a training step, shared across the compute threads. Each chunk
/// owns whole rows (or, for column sums, whole columns), so no sum changes order with the split; the one
/// reduction (the gradients' squared norm) adds fixed chunks' partial sums in chunk order, so it depends
/// on the thread count only.
final class TrainingKernels: ChunkedWork, @unchecked Sendable {
    enum Op {
        case none
        /// y ← GELU(x).
        case gelu(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, count: Int)
        /// dy ← dy · GELU′(u).
        case geluBackward(u: UnsafePointer<Float>, dy: UnsafeMutablePointer<Float>, count: Int)
        /// y ← dropout(y) + x, then LayerNorm of each row in place, keeping x̂ and 1/σ.
        case residualNorm(
            y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, noise: DropoutNoise, rows: Int, width: Int,
            gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, epsilon: Float,
            normalized: UnsafeMutablePointer<Float>, inverse: UnsafeMutablePointer<Float>)
        /// LayerNorm's input gradient per row; then `branch` ← dropout′(dx) when given.
        case normBackward(
            dy: UnsafePointer<Float>, rows: Int, width: Int, normalized: UnsafePointer<Float>,
            inverse: UnsafePointer<Float>, gamma: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
            branch: UnsafeMutablePointer<Float>?, noise: DropoutNoise)
        /// out[j] (+)= Σ_r a[r, j] (· b[r, j]); `out2` (+)= Σ_r a[r, j] beside it when given.
        case columnSums(
            a: UnsafePointer<Float>, b: UnsafePointer<Float>?, rows: Int, cols: Int, out: UnsafeMutablePointer<Float>,
            out2: UnsafeMutablePointer<Float>?, accumulate: Bool)
        /// partials[chunk] ← Σ x² over the chunk's range (eight running sums, then added in order).
        case squares(x: UnsafePointer<Float>, count: Int, partials: UnsafeMutablePointer<Double>)
        /// x ← x · s.
        case scale(x: UnsafeMutablePointer<Float>, count: Int, by: Float)
    }

    var op = Op.none

    func run(chunk: Int, of chunks: Int, blas: BLAS) {
        switch op {
        case .none: break
        case .gelu(let x, let y, let count):
            let lo = count * chunk / chunks & ~15, hi = chunk == chunks - 1 ? count : count * (chunk + 1) / chunks & ~15
            if hi > lo { VectorMath.gelu(x + lo, into: y + lo, count: hi - lo) }
        case .geluBackward(let u, let dy, let count):
            let lo = count * chunk / chunks & ~15, hi = chunk == chunks - 1 ? count : count * (chunk + 1) / chunks & ~15
            if hi > lo { VectorMath.geluBackward(u + lo, dy + lo, count: hi - lo) }
        case .residualNorm(let y, let x, let noise, let rows, let h, let gamma, let beta, let eps, let xh, let inv):
            let lo = rows * chunk / chunks, hi = rows * (chunk + 1) / chunks
            guard hi > lo else { return }
            let count = (hi - lo) * h, y0 = y + lo * h, x0 = x + lo * h
            noise.applyAdding(x0, into: y0, count: count, base: lo * h)
            VectorMath.layerNorm(
                y0, rows: hi - lo, width: h, gamma: gamma, beta: beta, epsilon: eps, normalized: xh + lo * h,
                inverse: inv + lo)
        case .normBackward(let dy, let rows, let h, let xhat, let inverse, let g, let dx, let branch, let noise):
            let lo = rows * chunk / chunks, hi = rows * (chunk + 1) / chunks
            let invH = 1 / Float(h)
            for r in lo..<hi {
                let gy = dy + r * h, xh = xhat + r * h, d = dx + r * h
                var sum: Float = 0, dot: Float = 0
                for j in 0..<h {
                    let dh = gy[j] * g[j]
                    sum += dh
                    dot += dh * xh[j]
                }
                let s = inverse[r]
                sum *= invH
                dot *= invH
                for j in 0..<h { d[j] = s * (gy[j] * g[j] - sum - xh[j] * dot) }
                if let branch {
                    noise.apply(UnsafePointer(d), into: branch + r * h, count: h, base: r * h)
                }
            }
        case .columnSums(let a, let b, let rows, let cols, let out, let out2, let accumulate):
            // Columns in blocks of 16 per chunk; each column summed over all rows by one chunk.
            let lo = cols * chunk / chunks & ~15, hi = chunk == chunks - 1 ? cols : cols * (chunk + 1) / chunks & ~15
            guard hi > lo else { return }
            if !accumulate {
                for j in lo..<hi { out[j] = 0 }
                if let out2 { for j in lo..<hi { out2[j] = 0 } }
            }
            for r in 0..<rows {
                let ar = a + r * cols
                if let b {
                    let br = b + r * cols
                    for j in lo..<hi { out[j] += ar[j] * br[j] }
                    if let out2 { for j in lo..<hi { out2[j] += ar[j] } }
                } else {
                    for j in lo..<hi { out[j] += ar[j] }
                }
            }
        case .squares(let x, let count, let partials):
            let lo = count * chunk / chunks & ~7, hi = chunk == chunks - 1 ? count : count * (chunk + 1) / chunks & ~7
            var parts = SIMD8<Float>()
            var i = lo
            while i + 8 <= hi {
                let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
                parts += v * v
                i += 8
            }
            var total = Double(parts.sum())
            while i < hi {
                total += Double(x[i] * x[i])
                i += 1
            }
            partials[chunk] = total
        case .scale(let x, let count, let s):
            let lo = count * chunk / chunks, hi = count * (chunk + 1) / chunks
            for i in lo..<hi { x[i] *= s }
        }
    }
}
