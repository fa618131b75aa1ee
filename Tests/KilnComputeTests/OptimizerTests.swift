import Foundation
import Testing

@testable import KilnCompute

/// One parameter w = [1, −2] with gradient g = [0.5, 0.25], stepped by hand.
func parameter() -> Parameter {
    let p = Parameter(name: "w", shape: [2])
    p.value.data[0] = 1
    p.value.data[1] = -2
    return p
}

func setGradient(_ p: Parameter, _ g: [Float]) {
    for (i, v) in g.enumerated() { p.gradient.data[i] = v }
}

func expectClose(
    _ a: [Float], _ b: [Float], _ tolerance: Float = 1e-6, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(a.count == b.count, sourceLocation: sourceLocation)
    for (x, y) in zip(a, b) {
        #expect(abs(x - y) <= tolerance * max(1, abs(y)), "\(a) vs \(b)", sourceLocation: sourceLocation)
    }
}

@Suite struct Optimizers {
    @Test func sgdWithWeightDecay() {
        let p = parameter()
        let o = Optimizer(OptimizerConfig(.sgd, learningRate: 0.1, weightDecay: 0.01), parameters: [p])
        setGradient(p, [0.5, 0.25])
        o.update(learningRate: 0.1)
        // w − lr·(g + wd·w): 1 − 0.1·(0.5 + 0.01) = 0.949; −2 − 0.1·(0.25 − 0.02) = −2.023
        expectClose(p.value.array, [0.949, -2.023])
    }

    @Test func momentumAndNesterov() {
        for nesterov in [false, true] {
            let p = parameter()
            let o = Optimizer(
                OptimizerConfig(.momentum, learningRate: 0.1, momentum: 0.9, nesterov: nesterov), parameters: [p])
            setGradient(p, [0.5, 0.25])
            o.update(learningRate: 0.1)  // b = g; step 1
            setGradient(p, [0.5, 0.25])
            o.update(learningRate: 0.1)  // b = 0.9·g + g = 1.9·g
            // plain: w −= 0.1·g, then 0.1·1.9·g → total 0.29·g; Nesterov: (g + 0.9·g)=1.9g, then (g + 0.9·1.9g)=2.71g → 0.461·g
            let f: Float = nesterov ? 0.461 : 0.29
            expectClose(p.value.array, [1 - f * 0.5, -2 - f * 0.25], 1e-5)
        }
    }

    @Test func adamFirstStepMovesByTheLearningRate() {
        let p = parameter()
        let o = Optimizer(OptimizerConfig(.adam, learningRate: 0.01), parameters: [p])
        setGradient(p, [0.5, -0.25])
        o.update(learningRate: 0.01)
        // Bias-corrected m̂ = g, v̂ = g²: the step is lr·g/(|g| + ε) ≈ lr·sign(g).
        expectClose(p.value.array, [0.99, -1.99], 1e-5)
    }

    @Test func adamSecondStepByHand() {
        let p = parameter()
        let o = Optimizer(OptimizerConfig(.adam, learningRate: 0.1), parameters: [p])
        setGradient(p, [0.5, 0.5])
        o.update(learningRate: 0.1)
        setGradient(p, [-1, 0.5])
        o.update(learningRate: 0.1)
        // element 0: m = 0.9·0.05 + 0.1·(−1) = −0.055; v = 0.999·0.00025 + 0.001·1 = 0.00124975
        // m̂ = −0.055/0.19 = −0.289474; v̂ = 0.00124975/0.001999 = 0.625188; step = 0.1·m̂/√v̂ = −0.036610
        expectClose([p.value.data[0]], [1 - 0.1 + 0.036610], 1e-4)
    }

    @Test func adamwDecaysWeightsDecoupled() {
        let p = parameter()
        let o = Optimizer(OptimizerConfig(.adamw, learningRate: 0.1, weightDecay: 0.1), parameters: [p])
        setGradient(p, [0, 0])
        o.update(learningRate: 0.1)
        // Zero gradient: only the decay, w·(1 − lr·wd).
        expectClose(p.value.array, [0.99, -1.98])
        // Adam (L2) with zero gradient: the decay enters the moments, the step is ≈ lr·sign(w).
        let q = parameter()
        let a = Optimizer(OptimizerConfig(.adam, learningRate: 0.1, weightDecay: 0.1), parameters: [q])
        setGradient(q, [0, 0])
        a.update(learningRate: 0.1)
        expectClose(q.value.array, [0.9, -1.9], 1e-5)
    }

    /// 21 elements: two vector blocks of 8 and a scalar tail of 5, against a double-precision Adam/AdamW.
    @Test(arguments: [OptimizerConfig.Kind.adam, .adamw])
    func adamVectorLanesAndTailMatchAReference(kind: OptimizerConfig.Kind) {
        let n = 21, lr = 0.05, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8
        let p = Parameter(name: "w", shape: [n])
        var w = (0..<n).map { Double($0) / 7 - 1.5 }, m = [Double](repeating: 0, count: n), v = m
        for i in 0..<n { p.value.data[i] = Float(w[i]) }
        let o = Optimizer(OptimizerConfig(kind, learningRate: Float(lr), weightDecay: Float(wd)), parameters: [p])
        for t in 1...3 {
            let g = (0..<n).map { sin(Double($0 * t)) }
            setGradient(p, g.map(Float.init))
            o.update(learningRate: Float(lr))
            for i in 0..<n {
                if kind == .adamw { w[i] -= lr * wd * w[i] }
                let d = kind == .adam ? g[i] + wd * w[i] : g[i]
                m[i] = b1 * m[i] + (1 - b1) * d
                v[i] = b2 * v[i] + (1 - b2) * d * d
                let mHat = m[i] / (1 - pow(b1, Double(t))), vHat = v[i] / (1 - pow(b2, Double(t)))
                w[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
        }
        expectClose(p.value.array, w.map(Float.init), 2e-5)
    }

    /// A parameter large enough for the two-thread update gives the same bits as one thread.
    @Test func theTwoThreadUpdateIsBitIdentical() {
        func run(threads: Int) -> [UInt32] {
            let n = Optimizer.parallelThreshold * 2 + 13
            let p = Parameter(name: "w", shape: [n])
            for i in 0..<n { p.value.data[i] = Float(i % 97) / 50 - 1 }
            let o = Optimizer(OptimizerConfig(.adamw, learningRate: 0.01, weightDecay: 0.1), parameters: [p])
            o.pool = threads > 1 ? ComputePool(threads: threads, blas: blas) : nil
            for t in 1...3 {
                for i in 0..<n { p.gradient.data[i] = Float((i * t) % 89) / 40 - 1 }
                o.update(learningRate: 0.01)
            }
            return p.value.array.map(\.bitPattern)
        }
        #expect(run(threads: 2) == run(threads: 1))
    }

    @Test func globalNormClipping() {
        let p = parameter()
        let o = Optimizer(OptimizerConfig(.sgd), parameters: [p])
        setGradient(p, [3, 4])
        #expect(o.clipGradients(maxNorm: 1) == 5)
        expectClose(p.gradient.array, [0.6, 0.8], 1e-5)
        #expect(o.clipGradients(maxNorm: 10) < 1.0001)
        expectClose(p.gradient.array, [0.6, 0.8], 1e-5)
    }
}

@Suite struct Schedules {
    @Test func warmupIsLinearFromZero() {
        let s = LearningRateSchedule(.constant, base: 1, warmupEpochs: 2)
        #expect([0, 1, 2, 3, 4].map { s.rate(step: $0, stepsPerEpoch: 2, epochs: 10) } == [0.25, 0.5, 0.75, 1, 1])
    }

    @Test func stepDecay() {
        let s = LearningRateSchedule(.step, base: 1, stepEpochs: 2, gamma: 0.5)
        expectClose((0..<6).map { s.rate(step: $0, stepsPerEpoch: 1, epochs: 6) }, [1, 1, 0.5, 0.5, 0.25, 0.25])
    }

    @Test func cosineEndsAtTheMinimum() {
        let s = LearningRateSchedule(.cosine, base: 1, minLearningRate: 0.1)
        let rates = (0..<11).map { s.rate(step: $0, stepsPerEpoch: 1, epochs: 11) }
        expectClose([rates[0], rates[5], rates[10]], [1, 0.55, 0.1], 1e-5)
    }
}
