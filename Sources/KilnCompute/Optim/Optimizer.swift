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

    public init(_ config: OptimizerConfig, parameters: [Parameter]) {
        self.config = config
        self.parameters = parameters
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
        let c = config, wd = c.weightDecay
        switch c.kind {
        case .sgd:
            for p in parameters {
                let w = p.value.data, g = p.gradient.data
                for i in 0..<p.value.count { w[i] -= lr * (g[i] + wd * w[i]) }
            }
        case .momentum:
            let mu = c.momentum
            for (p, buffer) in zip(parameters, first) {
                let w = p.value.data, g = p.gradient.data, b = buffer.data
                for i in 0..<p.value.count {
                    let d = g[i] + wd * w[i]
                    b[i] = step == 1 ? d : mu * b[i] + d
                    w[i] -= lr * (c.nesterov ? d + mu * b[i] : b[i])
                }
            }
        case .adam, .adamw:
            let b1 = c.beta1, b2 = c.beta2, eps = c.epsilon
            let correction1 = 1 - Float(pow(Double(b1), Double(step)))
            let correction2 = 1 - Float(pow(Double(b2), Double(step)))
            let stepSize = lr / correction1, invSqrtCorrection2 = 1 / correction2.squareRoot()
            let decoupled = c.kind == .adamw
            for ((p, m), v) in zip(zip(parameters, first), second) {
                let w = p.value.data, g = p.gradient.data, mp = m.data, vp = v.data
                for i in 0..<p.value.count {
                    if decoupled { w[i] -= lr * wd * w[i] }
                    let d = decoupled ? g[i] : g[i] + wd * w[i]
                    mp[i] = b1 * mp[i] + (1 - b1) * d
                    vp[i] = b2 * vp[i] + (1 - b2) * d * d
                    w[i] -= stepSize * mp[i] / ((vp[i]).squareRoot() * invSqrtCorrection2 + eps)
                }
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
