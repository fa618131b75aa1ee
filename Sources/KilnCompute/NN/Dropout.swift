/// Inverted dropout: in training, each value is kept with probability 1−p and scaled by 1/(1−p);
/// at inference it is the identity. The mask comes from a seeded generator, so a run is reproducible.
public final class Dropout: Layer {
    public let rate: Float
    public let inputWidth: Int
    public var outputWidth: Int { inputWidth }
    public var parameters: [Parameter] { [] }
    public var generator: RandomGenerator
    private var output: Tensor?
    private var mask: Tensor?
    private var inputGradient: Tensor?
    private var active = false

    public init(rate: Float, width: Int, seed: UInt64) {
        self.rate = rate
        inputWidth = width
        generator = RandomGenerator(seed: seed)
    }

    public func prepare(maxBatch: Int) {
        output = buffer(output, maxBatch: maxBatch, width: inputWidth)
        mask = buffer(mask, maxBatch: maxBatch, width: inputWidth)
        inputGradient = buffer(inputGradient, maxBatch: maxBatch, width: inputWidth)
    }

    public func forward(_ x: Tensor, training: Bool) throws(ComputeError) -> Tensor {
        try checkInput(x, "dropout forward")
        active = training && rate > 0
        guard active else { return x }
        let y = try reuse(&output, rows: x.rows, width: inputWidth)
        let m = try reuse(&mask, rows: x.rows, width: inputWidth)
        let keep = 1 - rate, scale = 1 / keep
        let n = x.count, xp = x.data, yp = y.data, mp = m.data
        for i in 0..<n {
            let k: Float = generator.nextFloat() < keep ? scale : 0
            mp[i] = k
            yp[i] = xp[i] * k
        }
        return y
    }

    public func backward(_ dy: Tensor) throws(ComputeError) -> Tensor {
        guard active else { return dy }
        guard let m = mask else { throw .invalidArgument("dropout backward before forward") }
        let dx = try reuse(&inputGradient, rows: dy.rows, width: inputWidth)
        let n = dy.count, g = dy.data, mp = m.data, d = dx.data
        for i in 0..<n { d[i] = g[i] * mp[i] }
        return dx
    }
}
