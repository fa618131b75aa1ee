import Foundation

/// Losses over a batch, fused with their gradient with respect to the logits (mean over the batch).
///
/// Targets: class indices as floats, shape [batch, 1], for `crossEntropy`; 0/1 of shape [batch, 1] for
/// `binaryCrossEntropy`; values of the output's shape for `mse` and `huber`.
public final class Loss {
    public enum Kind: String, Sendable, CaseIterable {
        case crossEntropy = "cross_entropy"
        case binaryCrossEntropy = "binary_cross_entropy"
        case mse
        case huber
    }

    public let kind: Kind
    public let labelSmoothing: Float
    public let huberDelta: Float
    /// Classification: a weight per class index (binary: [negative, positive]); the loss is then the
    /// weighted mean Σ wᵢ·lossᵢ / Σ wᵢ, as PyTorch's `CrossEntropyLoss(weight=…)` computes it. nil: 1 each.
    public let classWeights: [Float]?
    private var gradientBuffer: Tensor?

    public init(_ kind: Kind, labelSmoothing: Float = 0, huberDelta: Float = 1, classWeights: [Float]? = nil) {
        self.kind = kind
        self.labelSmoothing = labelSmoothing
        self.huberDelta = huberDelta
        self.classWeights = classWeights
    }

    /// A row's weight by its class index (1 without class weights).
    @inline(__always)
    private func weight(_ label: Int) -> Float {
        guard let w = classWeights, label >= 0, label < w.count else { return 1 }
        return w[label]
    }

    /// The mean loss; with `gradient`, also ∂loss/∂logits into the returned tensor.
    @discardableResult
    public func evaluate(_ logits: Tensor, _ targets: Tensor, gradient: Bool = true) throws(ComputeError) -> (
        loss: Double, gradient: Tensor?
    ) {
        let rows = logits.rows, k = logits.cols
        switch kind {
        case .crossEntropy, .binaryCrossEntropy:
            guard targets.rows == rows, targets.cols == 1 else {
                throw .shapeMismatch("\(kind.rawValue): targets are \(targets.shape), expected [\(rows), 1]")
            }
            if kind == .binaryCrossEntropy && k != 1 {
                throw .shapeMismatch("binary_cross_entropy: logits have \(k) columns, expected 1")
            }
        case .mse, .huber:
            guard targets.rows == rows, targets.cols == k else {
                throw .shapeMismatch("\(kind.rawValue): targets are \(targets.shape), outputs are [\(rows), \(k)]")
            }
        }
        let g: Tensor? = gradient ? try reuse(&gradientBuffer, rows: rows, width: k) : nil
        let gp = g?.data
        var total = 0.0
        var invRows = 1 / Float(max(rows, 1))
        var weightSum = Double(rows)
        if classWeights != nil, kind == .crossEntropy || kind == .binaryCrossEntropy {
            var sum: Float = 0
            for r in 0..<rows { sum += weight(Int(targets.data[r])) }
            weightSum = Double(sum)
            invRows = 1 / max(sum, .leastNormalMagnitude)
        }
        switch kind {
        case .crossEntropy:
            let eps = labelSmoothing, off = eps / Float(k), on = 1 - eps + off
            for r in 0..<rows {
                let z = logits.data + r &* k
                let label = Int(targets.data[r])
                guard label >= 0 && label < k else {
                    throw .invalidArgument("cross_entropy: class index \(label) is outside 0..<\(k)")
                }
                var m = -Float.infinity
                for j in 0..<k { m = max(m, z[j]) }
                var s: Float = 0
                for j in 0..<k { s += exp(z[j] - m) }
                let logSum = m + log(s)
                // −Σ q_j log p_j with q the smoothed one-hot.
                var rowLoss: Float = 0
                for j in 0..<k {
                    let q = j == label ? on : off
                    if q > 0 { rowLoss -= q * (z[j] - logSum) }
                }
                let w = weight(label)
                total += Double(w * rowLoss)
                if let gp {
                    let gr = gp + r &* k, scale = w * invRows
                    for j in 0..<k { gr[j] = (exp(z[j] - logSum) - (j == label ? on : off)) * scale }
                }
            }
        case .binaryCrossEntropy:
            for r in 0..<rows {
                let z = logits.data[r], t = targets.data[r], w = weight(Int(t))
                // max(z, 0) − z·t + log(1 + e^−|z|): stable for any z.
                total += Double(w * (max(z, 0) - z * t + log1p(exp(-abs(z)))))
                gp?[r] = (Activation.sigmoid(z) - t) * w * invRows
            }
        case .mse:
            let inv = 1 / Float(max(rows * k, 1))
            for i in 0..<(rows * k) {
                let d = logits.data[i] - targets.data[i]
                total += Double(d * d)
                gp?[i] = 2 * d * inv
            }
            total /= Double(k)
        case .huber:
            let inv = 1 / Float(max(rows * k, 1)), delta = huberDelta
            for i in 0..<(rows * k) {
                let d = logits.data[i] - targets.data[i], a = abs(d)
                total += Double(a <= delta ? 0.5 * d * d : delta * (a - 0.5 * delta))
                gp?[i] = (a <= delta ? d : delta * (d > 0 ? 1 : -1)) * inv
            }
            total /= Double(k)
        }
        return (total / max(weightSum, Double.leastNormalMagnitude), g)
    }
}

/// Row-wise softmax into `out` (inference: probabilities from logits).
public func softmax(_ logits: Tensor, into out: Tensor) throws(ComputeError) {
    guard out.rows == logits.rows, out.cols == logits.cols else {
        throw .shapeMismatch("softmax: output is \(out.shape), logits are \(logits.shape)")
    }
    let k = logits.cols
    for r in 0..<logits.rows {
        let z = logits.data + r &* k, p = out.data + r &* k
        var m = -Float.infinity
        for j in 0..<k { m = max(m, z[j]) }
        var s: Float = 0
        for j in 0..<k {
            p[j] = exp(z[j] - m)
            s += p[j]
        }
        let inv = 1 / s
        for j in 0..<k { p[j] *= inv }
    }
}

extension Loss.Kind: Codable {}
