import Foundation
import Testing

@testable import KilnCompute

let blas: BLAS = {
    guard let b = try? BLAS.get() else { fatalError("OpenBLAS is not installed: run scripts/setup") }
    return b
}()

func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1, awayFromZero: Bool = false) -> Tensor {
    var g = RandomGenerator(seed: seed)
    let t = Tensor(shape: shape)
    for i in 0..<t.count {
        var v = g.nextNormal() * scale
        // Kinks (relu at 0) make finite differences meaningless: keep inputs off them.
        if awayFromZero && abs(v) < 0.1 { v += v < 0 ? -0.1 : 0.1 }
        t.data[i] = v
    }
    return t
}

/// Checks a layer's backward pass against central finite differences of L = Σ y ⊙ R, for the input
/// and every parameter; the scalar is accumulated in double precision.
func gradientCheck(
    _ layer: any Layer, batch: Int, seed: UInt64, eps: Float = 1e-2, tolerance: Float = 2e-2,
    awayFromZero: Bool = false,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let x = randomTensor([batch, layer.inputWidth], seed: seed, awayFromZero: awayFromZero)
    let r = randomTensor([batch, layer.outputWidth], seed: seed + 1)
    func objective() throws -> Double {
        let y = try layer.forward(x, training: false)
        var s = 0.0
        for i in 0..<y.count { s += Double(y.data[i]) * Double(r.data[i]) }
        return s
    }
    _ = try layer.forward(x, training: false)
    let dx = try layer.backward(r).array
    let analytic = layer.parameters.map { $0.gradient.array }

    func numeric(_ p: UnsafeMutablePointer<Float>, _ i: Int) throws -> Float {
        let saved = p[i]
        p[i] = saved + eps
        let plus = try objective()
        p[i] = saved - eps
        let minus = try objective()
        p[i] = saved
        return Float((plus - minus) / Double(2 * eps))
    }
    var worst: (diff: Float, what: String) = (0, "")
    func compare(_ a: Float, _ n: Float, _ what: @autoclosure () -> String) {
        let diff = abs(a - n) / max(1, abs(a), abs(n))
        if diff > worst.diff { worst = (diff, what()) }
    }
    for i in 0..<x.count { compare(dx[i], try numeric(x.data, i), "input[\(i)]") }
    for (p, a) in zip(layer.parameters, analytic) {
        for i in 0..<p.value.count { compare(a[i], try numeric(p.value.data, i), "\(p.name)[\(i)]") }
    }
    #expect(
        worst.diff <= tolerance, "max relative |analytic − numeric| = \(worst.diff) at \(worst.what)",
        sourceLocation: sourceLocation)
}

@Suite struct GradientChecks {
    @Test func dense() throws {
        let layer = Dense(5, 3, blas: blas)
        try layer.weight.value.copy(from: randomTensor([5, 3], seed: 3))
        try layer.bias.value.copy(from: randomTensor([3], seed: 4))
        try gradientCheck(layer, batch: 4, seed: 10)
    }

    @Test(arguments: Activation.Kind.allCases)
    func activation(_ kind: Activation.Kind) throws {
        try gradientCheck(Activation(kind, width: 6), batch: 3, seed: 20, eps: 1e-3, awayFromZero: kind == .relu)
    }

    @Test func layerNorm() throws {
        let layer = LayerNorm(width: 6)
        try layer.gamma.value.copy(from: randomTensor([6], seed: 5))
        try layer.beta.value.copy(from: randomTensor([6], seed: 6))
        try gradientCheck(layer, batch: 3, seed: 30, eps: 1e-2, tolerance: 3e-2)
    }

    @Test func dropoutBackwardUsesItsMask() throws {
        let layer = Dropout(rate: 0.5, width: 100, seed: 1)
        let x = randomTensor([2, 100], seed: 2)
        let y = try layer.forward(x, training: true)
        let ones = Tensor(shape: [2, 100])
        ones.fill(1)
        let dx = try layer.backward(ones)
        var dropped = 0
        for i in 0..<200 {
            #expect(y.data[i] == x.data[i] * dx.data[i])
            #expect(dx.data[i] == 0 || dx.data[i] == 2)
            if dx.data[i] == 0 { dropped += 1 }
        }
        #expect(dropped > 60 && dropped < 140)
        #expect(try layer.forward(x, training: false) === x, "inference is the identity")
    }

    func lossGradientCheck(
        _ loss: Loss, logits: Tensor, targets: Tensor, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let analytic = try #require(try loss.evaluate(logits, targets).gradient).array
        let eps: Float = 1e-2
        for i in 0..<logits.count {
            let saved = logits.data[i]
            logits.data[i] = saved + eps
            let plus = try loss.evaluate(logits, targets, gradient: false).loss
            logits.data[i] = saved - eps
            let minus = try loss.evaluate(logits, targets, gradient: false).loss
            logits.data[i] = saved
            let numeric = Float((plus - minus) / Double(2 * eps))
            #expect(
                abs(numeric - analytic[i]) <= 1e-3 + 1e-2 * abs(numeric), "element \(i)", sourceLocation: sourceLocation
            )
        }
    }

    @Test(arguments: [Float(0), 0.1])
    func softmaxCrossEntropy(_ smoothing: Float) throws {
        try lossGradientCheck(
            Loss(.crossEntropy, labelSmoothing: smoothing), logits: randomTensor([4, 3], seed: 40),
            targets: Tensor(shape: [4, 1], values: [0, 2, 1, 2]))
    }

    @Test func binaryCrossEntropyWithLogits() throws {
        try lossGradientCheck(
            Loss(.binaryCrossEntropy), logits: randomTensor([5, 1], seed: 41, scale: 3),
            targets: Tensor(shape: [5, 1], values: [0, 1, 1, 0, 1]))
    }

    /// Class weights (issue 21): the weighted mean Σ w·loss / Σ w and its gradient.
    @Test func classWeightedLosses() throws {
        try lossGradientCheck(
            Loss(.crossEntropy, classWeights: [1, 4, 0.5]), logits: randomTensor([4, 3], seed: 46),
            targets: Tensor(shape: [4, 1], values: [0, 2, 1, 2]))
        try lossGradientCheck(
            Loss(.binaryCrossEntropy, classWeights: [1, 3]), logits: randomTensor([5, 1], seed: 47, scale: 3),
            targets: Tensor(shape: [5, 1], values: [0, 1, 1, 0, 1]))
        // Weights of 1 are no weights; the weighted mean matches PyTorch's definition.
        let logits = randomTensor([4, 3], seed: 48), targets = try Tensor(shape: [4, 1], values: [0, 2, 1, 2])
        let plain = try Loss(.crossEntropy).evaluate(logits, targets, gradient: false).loss
        #expect(abs(try Loss(.crossEntropy, classWeights: [1, 1, 1]).evaluate(logits, targets, gradient: false).loss - plain) < 1e-6)
        let w: [Float] = [2, 1, 3]
        var sum = 0.0, weights = 0.0
        for r in 0..<4 {
            let one = try Tensor(shape: [1, 3], values: Array(logits.buffer[(r * 3)..<(r * 3 + 3)]))
            let l = try Loss(.crossEntropy).evaluate(one, Tensor(shape: [1, 1], values: [targets.data[r]]), gradient: false).loss
            sum += Double(w[Int(targets.data[r])]) * l
            weights += Double(w[Int(targets.data[r])])
        }
        #expect(abs(try Loss(.crossEntropy, classWeights: w).evaluate(logits, targets, gradient: false).loss - sum / weights) < 1e-5)
    }

    @Test func meanSquaredError() throws {
        try lossGradientCheck(
            Loss(.mse), logits: randomTensor([4, 2], seed: 42), targets: randomTensor([4, 2], seed: 43))
    }

    @Test func huber() throws {
        try lossGradientCheck(
            Loss(.huber), logits: randomTensor([4, 2], seed: 44, scale: 2), targets: randomTensor([4, 2], seed: 45))
    }
}

@Suite struct LossValues {
    @Test func crossEntropyIsStableForHugeLogits() throws {
        let logits = try Tensor(shape: [1, 3], values: [1000, 0, -1000])
        let (loss, _) = try Loss(.crossEntropy).evaluate(logits, Tensor(shape: [1, 1], values: [0]))
        #expect(loss.isFinite && abs(loss) < 1e-6)
        let (wrong, _) = try Loss(.crossEntropy).evaluate(logits, Tensor(shape: [1, 1], values: [1]))
        #expect(abs(wrong - 1000) < 1e-3)
    }

    @Test func crossEntropyMatchesHandComputation() throws {
        // logits [1, 2, 3], class 2: −log(e³ / (e + e² + e³)) = 0.40760596
        let (loss, _) = try Loss(.crossEntropy).evaluate(
            Tensor(shape: [1, 3], values: [1, 2, 3]), Tensor(shape: [1, 1], values: [2]))
        #expect(abs(loss - 0.40760596) < 1e-5)
    }

    @Test func binaryCrossEntropyIsStableForHugeLogits() throws {
        let (loss, _) = try Loss(.binaryCrossEntropy).evaluate(
            Tensor(shape: [2, 1], values: [80, -80]), Tensor(shape: [2, 1], values: [1, 0]))
        #expect(loss.isFinite && loss < 1e-6)
    }

    @Test func aClassIndexOutOfRangeIsAnErrorNotACrash() throws {
        #expect(throws: ComputeError.self) {
            try Loss(.crossEntropy).evaluate(
                Tensor(shape: [1, 3], values: [1, 2, 3]), Tensor(shape: [1, 1], values: [7]))
        }
    }
}
