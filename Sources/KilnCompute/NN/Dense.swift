/// y = x · W + b, with W stored in×out (row-major), so both passes are plain sgemm calls.
public final class Dense: Layer {
    public let inputWidth: Int
    public let outputWidth: Int
    public let weight: Parameter
    public let bias: Parameter
    /// The first layer needs no input gradient: skipping it saves a GEMM per step.
    public var computesInputGradient = true
    private let blas: BLAS
    private var output: Tensor?
    private var inputGradient: Tensor?
    private var input: Tensor?

    public init(_ inputWidth: Int, _ outputWidth: Int, name: String = "dense", blas: BLAS) {
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
        weight = Parameter(name: "\(name).weight", shape: [inputWidth, outputWidth])
        bias = Parameter(name: "\(name).bias", shape: [outputWidth])
        self.blas = blas
    }

    public var parameters: [Parameter] { [weight, bias] }

    public func prepare(maxBatch: Int) {
        output = buffer(output, maxBatch: maxBatch, width: outputWidth)
        inputGradient = buffer(inputGradient, maxBatch: maxBatch, width: inputWidth)
    }

    public func forward(_ x: Tensor, training: Bool) throws(ComputeError) -> Tensor {
        try checkInput(x, "dense forward")
        let y = try reuse(&output, rows: x.rows, width: outputWidth)
        try Ops.matmul(x, weight.value, into: y, blas: blas)
        Ops.addRow(bias.value, to: y)
        input = x
        return y
    }

    public func backward(_ dy: Tensor) throws(ComputeError) -> Tensor {
        guard let x = input else { throw .invalidArgument("dense backward before forward") }
        guard dy.rows == x.rows, dy.cols == outputWidth else {
            throw .shapeMismatch("dense backward: gradient is \(dy.shape), output was [\(x.rows), \(outputWidth)]")
        }
        try Ops.matmul(x, dy, into: weight.gradient, transposeA: true, blas: blas)
        Ops.sumRows(dy, into: bias.gradient)
        let dx = try reuse(&inputGradient, rows: x.rows, width: inputWidth)
        if computesInputGradient { try Ops.matmul(dy, weight.value, into: dx, transposeB: true, blas: blas) }
        return dx
    }
}
