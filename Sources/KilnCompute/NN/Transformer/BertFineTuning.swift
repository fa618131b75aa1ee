import Foundation

/// How a BERT encoder is fine-tuned: the task's head, AdamW (weight decay exempting biases and LayerNorm
/// weights, as Hugging Face's examples do), linear warm-up then linear decay, clipping, accumulation,
/// freezing and LoRA adapters.
public struct BertFineTuning: Sendable, Equatable, Codable {
    public enum Pooling: String, Sendable, Codable, CaseIterable {
        /// The checkpoint's pooler (dense + tanh) over [CLS]: BertForSequenceClassification.
        case pooler
        /// The [CLS] state itself.
        case cls
        /// The mean over each sequence's own tokens (sentence-transformers).
        case mean
    }

    public enum Task: Sendable, Equatable, Codable {
        /// One label per sequence, from its pooled state.
        case sequence(labels: Int, pooling: Pooling)
        /// One label per token; label −100 is not scored (Hugging Face's convention for sub-tokens
        /// after a word's first and for special tokens).
        case token(labels: Int)

        public var labels: Int {
            switch self {
            case .sequence(let n, _), .token(let n): n
            }
        }

        /// A label per token (not per sequence).
        public var isToken: Bool {
            if case .token = self { true } else { false }
        }
    }

    /// Low-rank adapters (Hu et al. 2021, as peft builds them): y = x·Wᵀ + b + (alpha/rank)·dropout(x)·Aᵀ·Bᵀ
    /// with A [rank, in] drawn like peft's (uniform ±1/√in) and B [out, rank] zero, so training starts
    /// from the pretrained function. With adapters the base weights are frozen; the head trains.
    public struct LoRA: Sendable, Equatable, Codable {
        public enum Target: String, Sendable, Codable, CaseIterable {
            case query, key, value
            case attentionOutput = "attention_output"
            case intermediate, output
        }

        public var rank: Int
        public var alpha: Float
        public var dropout: Float
        public var targets: [Target]

        public init(rank: Int = 8, alpha: Float = 16, dropout: Float = 0.1, targets: [Target] = [.query, .value]) {
            self.rank = rank
            self.alpha = alpha
            self.dropout = dropout
            self.targets = targets
        }
    }

    public var task: Task
    /// AdamW by default; `weightDecay` applies to every weight but biases and LayerNorm weights.
    public var optimizer: OptimizerConfig
    /// Optimiser steps of linear warm-up from 0, then linear decay to 0 at `totalSteps` (Hugging Face's
    /// `get_linear_schedule_with_warmup`).
    public var warmupSteps: Int
    public var totalSteps: Int
    /// After the warm-up: a linear decay to 0 at `totalSteps` (true), or the base rate (false).
    public var decays: Bool
    /// Global gradient-norm clip (nil: none).
    public var gradientClip: Float?
    /// Micro-batches whose gradients add up before one optimiser step.
    public var accumulation: Int
    public var freezeEmbeddings: Bool
    /// The first this many encoder layers are frozen.
    public var frozenLayers: Int
    public var lora: LoRA?
    /// Dropout rates; nil: the checkpoint config's.
    public var hiddenDropout: Float?
    public var attentionDropout: Float?
    public var seed: UInt64

    public init(
        task: Task, optimizer: OptimizerConfig = OptimizerConfig(.adamw, learningRate: 5e-5, weightDecay: 0.01),
        warmupSteps: Int = 0, totalSteps: Int, decays: Bool = true, gradientClip: Float? = 1, accumulation: Int = 1,
        freezeEmbeddings: Bool = false, frozenLayers: Int = 0, lora: LoRA? = nil, hiddenDropout: Float? = nil,
        attentionDropout: Float? = nil, seed: UInt64 = 0
    ) {
        self.task = task
        self.optimizer = optimizer
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.decays = decays
        self.gradientClip = gradientClip
        self.accumulation = accumulation
        self.freezeEmbeddings = freezeEmbeddings
        self.frozenLayers = frozenLayers
        self.lora = lora
        self.hiddenDropout = hiddenDropout
        self.attentionDropout = attentionDropout
        self.seed = seed
    }

    /// The learning rate of optimiser step `step` (0-based): base·step/warm-up, then base·(total − step) /
    /// (total − warm-up), never below 0. As in Hugging Face, the first step of a warm-up has rate 0.
    public func learningRate(step: Int) -> Float {
        let base = optimizer.learningRate
        if step < warmupSteps { return base * Float(step) / Float(warmupSteps) }
        if !decays { return base }
        let remaining = Float(max(totalSteps - step, 0)), span = Float(max(totalSteps - warmupSteps, 1))
        return base * remaining / span
    }

    /// Why this cannot train `config`, nil when it can.
    func problem(for config: BertConfig) -> String? {
        guard task.labels >= 1, task.labels <= 1 << 16 else { return "a head of \(task.labels) labels" }
        if case .sequence(let n, _) = task, n < 2 { return "a sequence head needs at least 2 labels, not \(n)" }
        guard totalSteps >= 1, warmupSteps >= 0, warmupSteps <= totalSteps else {
            return "warm-up of \(warmupSteps) steps in a run of \(totalSteps): warm-up must be 0 to the total"
        }
        guard accumulation >= 1, accumulation <= 1 << 16 else { return "accumulation of \(accumulation) micro-batches" }
        guard frozenLayers >= 0, frozenLayers <= config.layers else {
            return "\(frozenLayers) frozen layers of an encoder of \(config.layers)"
        }
        if let clip = gradientClip, !(clip > 0) { return "a gradient clip of \(clip): it must be positive" }
        for (name, p) in [("hidden dropout", hiddenDropout), ("attention dropout", attentionDropout)] {
            if let p, !(p >= 0 && p < 1) { return "\(name) \(p) is not in [0, 1)" }
        }
        let o = optimizer
        guard o.learningRate >= 0, o.learningRate.isFinite, o.weightDecay >= 0, o.weightDecay.isFinite else {
            return "learning rate \(o.learningRate) and weight decay \(o.weightDecay) must be finite and not negative"
        }
        guard o.kind == .adamw || o.kind == .adam else { return "fine-tuning uses adamw or adam, not \(o.kind.rawValue)" }
        guard o.beta1 >= 0, o.beta1 < 1, o.beta2 >= 0, o.beta2 < 1, o.epsilon > 0, o.epsilon.isFinite else {
            return "betas \(o.beta1), \(o.beta2) must be in [0, 1) and epsilon \(o.epsilon) positive"
        }
        if let lora {
            guard lora.rank >= 1, lora.rank <= min(config.hiddenSize, 1024) else {
                return "LoRA rank \(lora.rank): it must be 1 to \(min(config.hiddenSize, 1024))"
            }
            guard lora.alpha > 0, lora.alpha.isFinite, lora.dropout >= 0, lora.dropout < 1 else {
                return "LoRA alpha \(lora.alpha) must be positive and its dropout \(lora.dropout) in [0, 1)"
            }
            guard !lora.targets.isEmpty, Set(lora.targets).count == lora.targets.count else {
                return "LoRA targets \(lora.targets.map(\.rawValue)): name each projection once, at least one"
            }
        }
        return nil
    }
}

/// Dropout masks from a counter-based hash of (site key, element index) instead of a generator's stream:
/// the backward pass recomputes the forward's mask instead of storing it, any thread can compute any
/// element (the mask does not depend on how work is split), and a resumed run draws the same masks.
struct DropoutNoise: Sendable {
    let key: UInt32, key2: UInt32
    let threshold: UInt32
    let scale: Float
    let active: Bool

    static let off = DropoutNoise(key: 0, rate: 0)

    init(key: UInt64, rate: Float) {
        self.key = UInt32(truncatingIfNeeded: key)
        key2 = UInt32(truncatingIfNeeded: key >> 32)
        active = rate > 0
        threshold = UInt32(min((Double(rate) * 65_536).rounded(), 65_535))
        scale = rate > 0 ? 1 / (1 - rate) : 1
    }

    /// The key of one dropout site in one micro-step of a seeded run (SplitMix64 of the three).
    static func key(seed: UInt64, step: Int, site: Int) -> UInt64 {
        var z = seed &+ UInt64(truncatingIfNeeded: step) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(site) &* 0xD1B5_4A32_D192_ED03
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The element's factor: 0 (dropped) or 1/(1 − rate). One hash serves two elements, 8 apart within
    /// blocks of 16 (the low 16 bits the first, the high the second; the rate is kept to 1/65,536), so a
    /// block's factors are two 8-lane vectors of one 8-lane hash, with no shuffles.
    @inline(__always) func factor(_ index: Int) -> Float {
        let h = hash(UInt32(truncatingIfNeeded: (index >> 4) << 3 | (index & 7)))
        return ((index >> 3) & 1 == 0 ? h & 0xFFFF : h >> 16) >= threshold ? scale : 0
    }

    /// Two rounds of lowbias32 (Wellons; full avalanche), each with its own half of the key: one round
    /// over index ^ key would make every site's mask a permutation of one sequence. Indices stay below
    /// 2^35 (training refuses larger attention buffers).
    @inline(__always) func hash(_ pair: UInt32) -> UInt32 { Self.mix(Self.mix(pair ^ key) ^ key2) }

    @inline(__always) static func mix(_ x: UInt32) -> UInt32 {
        var h = x
        h ^= h >> 16
        h &*= 0x7FEB_352D
        h ^= h >> 15
        h &*= 0x846C_A68B
        h ^= h >> 16
        return h
    }

    @inline(__always) static func mix(_ x: SIMD8<UInt32>) -> SIMD8<UInt32> {
        var h = x
        h ^= h &>> 16
        h &*= 0x7FEB_352D
        h ^= h &>> 15
        h &*= 0x846C_A68B
        h ^= h &>> 16
        return h
    }

    /// For i in 0..<count: `element(i, factor(base + i))` at the unaligned ends, and `block(i, f, g)` for
    /// each aligned block of 16 (f the factors of i..<i+8, g of i+8..<i+16).
    @inline(__always) func forEach(
        count: Int, base: Int, element: (Int, Float) -> Void, block: (Int, SIMD8<Float>, SIMD8<Float>) -> Void
    ) {
        var i = 0
        while i < count && (base + i) & 15 != 0 {
            element(i, factor(base + i))
            i += 1
        }
        let lanes = SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7), zero = SIMD8<Float>(), kept = SIMD8<Float>(repeating: scale)
        let t = SIMD8<UInt32>(repeating: threshold)
        while i + 16 <= count {
            let first = UInt32(truncatingIfNeeded: ((base + i) >> 4) << 3)
            let h = Self.mix(Self.mix((SIMD8(repeating: first) &+ lanes) ^ key) ^ key2)
            block(i, zero.replacing(with: kept, where: (h & 0xFFFF) .>= t), zero.replacing(with: kept, where: h &>> 16 .>= t))
            i += 16
        }
        while i < count {
            element(i, factor(base + i))
            i += 1
        }
    }

    /// x[i] ← x[i] · factor(base + i).
    func apply(_ x: UnsafeMutablePointer<Float>, count: Int, base: Int = 0) {
        guard active else { return }
        let r = UnsafeMutableRawPointer(x)
        forEach(count: count, base: base) { i, f in x[i] *= f } block: { i, f, g in
            r.storeBytes(of: r.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) * f, toByteOffset: 4 * i, as: SIMD8<Float>.self)
            r.storeBytes(of: r.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self) * g, toByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
        }
    }

    /// y[i] ← x[i] · factor(base + i).
    func apply(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, base: Int = 0) {
        if !active {
            y.update(from: x, count: count)
            return
        }
        let xr = UnsafeRawPointer(x), yr = UnsafeMutableRawPointer(y)
        forEach(count: count, base: base) { i, f in y[i] = x[i] * f } block: { i, f, g in
            yr.storeBytes(of: xr.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) * f, toByteOffset: 4 * i, as: SIMD8<Float>.self)
            yr.storeBytes(of: xr.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self) * g, toByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
        }
    }

    /// y[i] ← y[i] · factor(base + i) + x[i] (a residual branch's dropout and sum).
    func applyAdding(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, base: Int) {
        if !active {
            for i in 0..<count { y[i] += x[i] }
            return
        }
        let xr = UnsafeRawPointer(x), yr = UnsafeMutableRawPointer(y)
        @inline(__always) func step(_ o: Int, _ m: SIMD8<Float>) {
            let v = yr.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) * m
            yr.storeBytes(of: v + xr.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self), toByteOffset: o, as: SIMD8<Float>.self)
        }
        forEach(count: count, base: base) { i, f in y[i] = y[i] * f + x[i] } block: { i, f, g in
            step(4 * i, f)
            step(4 * i + 32, g)
        }
    }

    /// y[i] ← y[i] + x[i] · factor(base + i).
    func addApplied(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int, base: Int) {
        guard active else {
            for i in 0..<count { y[i] += x[i] }
            return
        }
        let xr = UnsafeRawPointer(x), yr = UnsafeMutableRawPointer(y)
        @inline(__always) func step(_ o: Int, _ m: SIMD8<Float>) {
            let v = m * xr.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
            yr.storeBytes(of: yr.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) + v, toByteOffset: o, as: SIMD8<Float>.self)
        }
        forEach(count: count, base: base) { i, f in y[i] += x[i] * f } block: { i, f, g in
            step(4 * i, f)
            step(4 * i + 32, g)
        }
    }
}
