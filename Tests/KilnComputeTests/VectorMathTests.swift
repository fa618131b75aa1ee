import Foundation
import Testing

@testable import KilnCompute

/// The vector exp and erf against libm's, over the ranges softmax and GELU use.
@Suite struct VectorMathTests {
    @Test func expIsWithinTwoUlpAndErfWithinItsBound() {
        var worstExp: Float = 0, worstErf: Float = 0
        var x: Float = -87
        while x < 87.9 {
            for i in 0..<16 {
                let v = x + Float(i) * 0.0007
                let reference = Foundation.exp(Double(v))
                worstExp = max(worstExp, Float(abs(Double(VectorMath.exp(v)) - reference) / reference))
            }
            x += 0.0113
        }
        x = -9
        while x < 9 {
            for i in 0..<16 {
                let v = x + Float(i) * 0.0001
                worstErf = max(worstErf, Float(abs(Double(VectorMath.erf(v)) - Foundation.erf(Double(v)))))
            }
            x += 0.0017
        }
        #expect(worstExp < 2.5e-7, "exp relative error \(worstExp)")
        #expect(worstErf < 6e-7, "erf absolute error \(worstErf)")
        #expect(VectorMath.exp(-200) == 0 && VectorMath.exp(0) == 1)
    }

    @Test func softmaxRowsSumToOneWithTails() {
        let cols = 37
        let p = UnsafeMutablePointer<Float>.allocate(capacity: 2 * cols)
        defer { p.deallocate() }
        for i in 0..<(2 * cols) { p[i] = Float(i % 11) - 3 }
        VectorMath.softmaxRows(p, rows: 2, cols: cols)
        for r in 0..<2 {
            let sum = (0..<cols).reduce(Float(0)) { $0 + p[r * cols + $1] }
            #expect(abs(sum - 1) < 1e-6)
        }
        #expect(abs(p[1] / p[0] - Float(M_E)) < 1e-5)
    }
}
