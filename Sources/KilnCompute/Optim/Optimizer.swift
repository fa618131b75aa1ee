import Foundation

/// Optimiser settings, in the spec language's words (Training.optimizer).
public struct OptimizerConfig: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case sgd, momentum, adam, adamw
    }

    public var kind: Kind
    public var learningRate: Float
    public var weightDecay: Float
    public var momentum: Float
    public var nesterov: Bool
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float

    public init(
        _ kind: Kind, learningRate: Float = 0.001, weightDecay: Float = 0, momentum: Float = 0.9,
        nesterov: Bool = false,
        beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    ) {
        self.kind = kind
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }
}

/// Updates parameters from their gradients; the same update rules as PyTorch's SGD (with momentum,
/// dampening 0, optional Nesterov), Adam (L2 decay added to the gradient) and AdamW (decoupled decay).
/// Its state (moments, step count) is saved in checkpoints.
public final class Optimizer {
    public let config: OptimizerConfig
    public let parameters: [Parameter]
    /// Steps taken (Adam's bias correction uses it).
    public internal(set) var step = 0
    /// Momentum buffer (momentum) or first moment (Adam), per parameter.
    let first: [Tensor]
    /// Second moment (Adam), per parameter.
    let second: [Tensor]
    /// Whether weight decay applies, per parameter (Hugging Face's fine-tuning exempts biases and
    /// LayerNorm weights).
    public let decays: [Bool]

    /// The threads that share the update of large parameters (the Trainer passes its BLAS's pool);
    /// nil: the calling thread alone.
    var pool: ComputePool?
    /// Below this many elements a parameter is updated on the calling thread: waking another costs more.
    static let parallelThreshold = 1 << 16

    /// `decays` (one per parameter; default all) says which parameters weight decay applies to. Frozen
    /// parameters (an empty gradient) are left out.
    public init(_ config: OptimizerConfig, parameters: [Parameter], decays: [Bool]? = nil) {
        precondition(decays == nil || decays?.count == parameters.count, "one decay flag per parameter")
        self.config = config
        let kept = parameters.indices.filter { parameters[$0].gradient.count == parameters[$0].value.count }
        self.parameters = kept.map { parameters[$0] }
        self.decays = kept.map { decays?[$0] ?? true }
        let parameters = self.parameters
        let needsFirst = config.kind != .sgd, needsSecond = config.kind == .adam || config.kind == .adamw
        first = parameters.map { needsFirst ? Tensor(shape: $0.value.shape) : Tensor(shape: [0]) }
        second = parameters.map { needsSecond ? Tensor(shape: $0.value.shape) : Tensor(shape: [0]) }
    }

    /// Scales all gradients so that their global L2 norm is at most `maxNorm`; returns the norm before.
    @discardableResult
    public func clipGradients(maxNorm: Float) -> Float {
        var total = 0.0
        for p in parameters { total += Ops.sumOfSquares(p.gradient) }
        let norm = Float(total.squareRoot())
        if norm > maxNorm && norm > 0 {
            let s = maxNorm / (norm + 1e-6)
            for p in parameters { Ops.scale(p.gradient, by: s) }
        }
        return norm
    }

    /// One update with learning rate `lr` (the schedule's value for this step).
    public func update(learningRate lr: Float) {
        step += 1
        let c = config
        switch c.kind {
        case .sgd:
            for (p, decays) in zip(parameters, decays) {
                let w = p.value.data, g = p.gradient.data, wd = decays ? c.weightDecay : 0
                for i in 0..<p.value.count { w[i] -= lr * (g[i] + wd * w[i]) }
            }
        case .momentum:
            let mu = c.momentum
            for ((p, buffer), decays) in zip(zip(parameters, first), decays) {
                let w = p.value.data, g = p.gradient.data, b = buffer.data, wd = decays ? c.weightDecay : 0
                for i in 0..<p.value.count {
                    let d = g[i] + wd * w[i]
                    b[i] = step == 1 ? d : mu * b[i] + d
                    w[i] -= lr * (c.nesterov ? d + mu * b[i] : b[i])
                }
            }
        case .adam, .adamw:
            let b1 = c.beta1, b2 = c.beta2
            let correction1 = 1 - Float(pow(Double(b1), Double(step)))
            let correction2 = 1 - Float(pow(Double(b2), Double(step)))
            let wd = c.weightDecay
            let decaying = AdamStep(
                beta1: b1, beta2: b2, epsilon: c.epsilon, stepSize: lr / correction1,
                invSqrtCorrection2: 1 / correction2.squareRoot(), decay: c.kind == .adamw ? lr * wd : 0,
                l2: c.kind == .adam ? wd : 0)
            let exempt = AdamStep(
                beta1: b1, beta2: b2, epsilon: c.epsilon, stepSize: lr / correction1,
                invSqrtCorrection2: 1 / correction2.squareRoot(), decay: 0, l2: 0)
            for (i, p) in parameters.enumerated() {
                let m = first[i], v = second[i], adam = decays[i] ? decaying : exempt
                let count = p.value.count
                let arrays = AdamArrays(w: p.value.data, g: p.gradient.data, m: m.data, v: v.data)
                if count >= Self.parallelThreshold, let pool, pool.run(.adam(adam, arrays, count: count), chunks: 16) {
                    continue
                }
                adam.apply(arrays.w, arrays.g, arrays.m, arrays.v, count: count)
            }
        }
    }

    /// The state tensors, in a stable order (for checkpoints).
    var stateTensors: [(String, Tensor)] {
        parameters.indices.flatMap { i -> [(String, Tensor)] in
            var out: [(String, Tensor)] = []
            if first[i].count > 0 { out.append(("optimizer.first.\(parameters[i].name)", first[i])) }
            if second[i].count > 0 { out.append(("optimizer.second.\(parameters[i].name)", second[i])) }
            return out
        }
    }
}

/// One parameter's arrays, handed to the threads of a parallel update (each touches its own range).
struct AdamArrays: @unchecked Sendable {
    let w: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>
    let m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
}

/// One Adam/AdamW update over raw arrays, eight lanes at a time (explicit SIMD: the four arrays are
/// distinct, which the optimiser cannot prove on its own), then the tail with the same formula.
struct AdamStep: Sendable {
    let beta1: Float, beta2: Float, epsilon: Float, stepSize: Float, invSqrtCorrection2: Float
    /// lr·wd for AdamW's decoupled decay (0 for Adam).
    let decay: Float
    /// wd added to the gradient for Adam's L2 decay (0 for AdamW).
    let l2: Float

    @inline(__always)
    func apply(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafeMutablePointer<Float>, _ m: UnsafeMutablePointer<Float>,
        _ v: UnsafeMutablePointer<Float>, count: Int
    ) {
        typealias V = SIMD8<Float>
        let b1 = V(repeating: beta1), c1 = V(repeating: 1 - beta1), b2 = V(repeating: beta2)
        let c2 = V(repeating: 1 - beta2), eps = V(repeating: epsilon), size = V(repeating: stepSize)
        let inv = V(repeating: invSqrtCorrection2), keep = V(repeating: 1 - decay), l2v = V(repeating: l2)
        let wr = UnsafeMutableRawPointer(w), gr = UnsafeRawPointer(g)
        let mr = UnsafeMutableRawPointer(m), vr = UnsafeMutableRawPointer(v)
        let lanes = V.scalarCount
        var i = 0
        while i &+ lanes <= count {
            let o = i &* 4
            var wv = wr.loadUnaligned(fromByteOffset: o, as: V.self) * keep
            let d = gr.loadUnaligned(fromByteOffset: o, as: V.self) + l2v * wv
            let mv = b1 * mr.loadUnaligned(fromByteOffset: o, as: V.self) + c1 * d
            let vv = b2 * vr.loadUnaligned(fromByteOffset: o, as: V.self) + c2 * d * d
            wv -= size * mv / (vv.squareRoot() * inv + eps)
            mr.storeBytes(of: mv, toByteOffset: o, as: V.self)
            vr.storeBytes(of: vv, toByteOffset: o, as: V.self)
            wr.storeBytes(of: wv, toByteOffset: o, as: V.self)
            i &+= lanes
        }
        while i < count {
            var wi = w[i] * (1 - decay)
            let d = g[i] + l2 * wi
            m[i] = beta1 * m[i] + (1 - beta1) * d
            v[i] = beta2 * v[i] + (1 - beta2) * d * d
            wi -= stepSize * m[i] / (v[i].squareRoot() * invSqrtCorrection2 + epsilon)
            w[i] = wi
            i += 1
        }
    }
}
