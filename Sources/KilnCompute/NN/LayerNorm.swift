/// Layer normalisation over each row: (x − mean) / sqrt(var + ε) · γ + β.
public final class LayerNorm: Layer {
    public let inputWidth: Int
    public var outputWidth: Int { inputWidth }
    public let gamma: Parameter
    public let beta: Parameter
    public let epsilon: Float
    public var parameters: [Parameter] { [gamma, beta] }
    private var output: Tensor?
    private var normalized: Tensor?
    private var inverseStd: Tensor?
    private var inputGradient: Tensor?

    public init(width: Int, epsilon: Float = 1e-5, name: String = "layernorm") {
        inputWidth = width
        self.epsilon = epsilon
        gamma = Parameter(name: "\(name).gamma", shape: [width])
        beta = Parameter(name: "\(name).beta", shape: [width])
        gamma.value.fill(1)
    }

    public func prepare(maxBatch: Int) {
        output = buffer(output, maxBatch: maxBatch, width: inputWidth)
        normalized = buffer(normalized, maxBatch: maxBatch, width: inputWidth)
        inverseStd = buffer(inverseStd, maxBatch: maxBatch, width: 1)
        inputGradient = buffer(inputGradient, maxBatch: maxBatch, width: inputWidth)
    }

    public func forward(_ x: Tensor, training: Bool) throws(ComputeError) -> Tensor {
        try checkInput(x, "layernorm forward")
        let y = try reuse(&output, rows: x.rows, width: inputWidth)
        let xh = try reuse(&normalized, rows: x.rows, width: inputWidth)
        let rs = try reuse(&inverseStd, rows: x.rows, width: 1)
        let n = inputWidth, g = gamma.value.data, b = beta.value.data
        for r in 0..<x.rows {
            let row = x.data + r &* n, out = y.data + r &* n, h = xh.data + r &* n
            var mean: Float = 0
            for j in 0..<n { mean += row[j] }
            mean /= Float(n)
            var variance: Float = 0
            for j in 0..<n {
                let d = row[j] - mean
                variance += d * d
            }
            let inv = 1 / (variance / Float(n) + epsilon).squareRoot()
            rs.data[r] = inv
            for j in 0..<n {
                h[j] = (row[j] - mean) * inv
                out[j] = h[j] * g[j] + b[j]
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) throws(ComputeError) -> Tensor {
        guard let xh = normalized, let rs = inverseStd else {
            throw .invalidArgument("layernorm backward before forward")
        }
        let dx = try reuse(&inputGradient, rows: dy.rows, width: inputWidth)
        let n = inputWidth, g = gamma.value.data, dg = gamma.gradient.data, db = beta.gradient.data
        gamma.gradient.fill(0)
        beta.gradient.fill(0)
        for r in 0..<dy.rows {
            let gy = dy.data + r &* n, h = xh.data + r &* n, d = dx.data + r &* n
            var sum: Float = 0, dot: Float = 0
            for j in 0..<n {
                let dh = gy[j] * g[j]
                sum += dh
                dot += dh * h[j]
                dg[j] += gy[j] * h[j]
                db[j] += gy[j]
            }
            let inv = rs.data[r] / Float(n)
            for j in 0..<n { d[j] = inv * (Float(n) * gy[j] * g[j] - sum - h[j] * dot) }
        }
        return dx
    }
}
