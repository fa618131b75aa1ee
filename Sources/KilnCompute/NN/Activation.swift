import Foundation

/// Elementwise nonlinearities, forward and backward.
public final class Activation: Layer {
    public enum Kind: String, Sendable, CaseIterable {
        case relu, gelu, tanh, sigmoid
    }

    public let kind: Kind
    public let inputWidth: Int
    public var outputWidth: Int { inputWidth }
    public var parameters: [Parameter] { [] }
    private var output: Tensor?
    private var inputGradient: Tensor?
    private var input: Tensor?

    public init(_ kind: Kind, width: Int) {
        self.kind = kind
        inputWidth = width
    }

    public func prepare(maxBatch: Int) {
        output = buffer(output, maxBatch: maxBatch, width: inputWidth)
        inputGradient = buffer(inputGradient, maxBatch: maxBatch, width: inputWidth)
    }

    public func forward(_ x: Tensor, training: Bool) throws(ComputeError) -> Tensor {
        try checkInput(x, "\(kind.rawValue) forward")
        let y = try reuse(&output, rows: x.rows, width: inputWidth)
        let n = x.count, xp = x.data, yp = y.data
        switch kind {
        case .relu: for i in 0..<n { yp[i] = max(xp[i], 0) }
        case .tanh: for i in 0..<n { yp[i] = Foundation.tanh(xp[i]) }
        case .sigmoid: for i in 0..<n { yp[i] = Self.sigmoid(xp[i]) }
        case .gelu: for i in 0..<n { yp[i] = 0.5 * xp[i] * (1 + erf(xp[i] * Float(0.5.squareRoot()))) }
        }
        input = x
        return y
    }

    public func backward(_ dy: Tensor) throws(ComputeError) -> Tensor {
        guard let x = input, let y = output else { throw .invalidArgument("\(kind.rawValue) backward before forward") }
        guard dy.count == y.count else {
            throw .shapeMismatch("\(kind.rawValue) backward: gradient is \(dy.shape), output was \(y.shape)")
        }
        let dx = try reuse(&inputGradient, rows: x.rows, width: inputWidth)
        let n = dy.count, g = dy.data, yp = y.data, xp = x.data, d = dx.data
        switch kind {
        case .relu:
            // Both loads unconditional: a select, which vectorises (a conditional load would not).
            for i in 0..<n {
                let gi = g[i]
                d[i] = yp[i] > 0 ? gi : 0
            }
        case .tanh: for i in 0..<n { d[i] = g[i] * (1 - yp[i] * yp[i]) }
        case .sigmoid: for i in 0..<n { d[i] = g[i] * yp[i] * (1 - yp[i]) }
        case .gelu:
            // d/dx [x·Φ(x)] = Φ(x) + x·φ(x)
            let invSqrt2 = Float(0.5.squareRoot()), invSqrt2Pi = Float(1 / (2 * Double.pi).squareRoot())
            for i in 0..<n {
                let v = xp[i]
                d[i] = g[i] * (0.5 * (1 + erf(v * invSqrt2)) + v * invSqrt2Pi * exp(-0.5 * v * v))
            }
        }
        return dx
    }

    @inline(__always)
    static func sigmoid(_ v: Float) -> Float {
        v >= 0 ? 1 / (1 + exp(-v)) : exp(v) / (1 + exp(v))
    }
}
