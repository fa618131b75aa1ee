/// exp and erf without libm calls, in branch-free loops the compiler vectorises, for the elementwise
/// parts of a transformer (softmax, GELU) that libm's scalar functions made a fifth of an encoder's
/// time. Accuracy: exp within 2.5e-7 relative up to 88 (0 below -87.3; softmax and GELU pass values
/// ≤ 0), erf within 6e-7 absolute (Abramowitz and Stegun 7.1.26: 1.5e-7 in exact arithmetic).
enum VectorMath {
    @inline(__always) static func exp(_ x: Float) -> Float {
        let c = Swift.min(Swift.max(x, -87.3), 88)
        // Rounding and the power of two through float bits: 1.5·2^23 puts an integer in the low mantissa.
        let magic: Float = 12_582_912
        let n = (c * 1.442_695_04 + magic) - magic
        // c = n·ln2 + r, |r| ≤ ln2/2, ln2 split in two for exactness (Cody and Waite).
        let r = (c - n * 0.693_145_75) - n * 1.428_606_8e-6
        // e^r by its Taylor polynomial to degree 6 (error below 2e-8 on the interval).
        var p: Float = 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        let scale = Float(bitPattern: ((n + 127 + magic).bitPattern &- 0x4B40_0000) &<< 23)
        return x < -87.3 ? 0 : p * scale
    }

    @inline(__always) static func erf(_ x: Float) -> Float {
        let y = erfOfMagnitude(Float(bitPattern: x.bitPattern & 0x7FFF_FFFF)).erf
        return Float(bitPattern: y.bitPattern | (x.bitPattern & 0x8000_0000))
    }

    /// erf(a) for a ≥ 0, and the e^(−a²) it multiplies by (GELU′ needs that factor too).
    @inline(__always) static func erfOfMagnitude(_ a: Float) -> (erf: Float, gaussian: Float) {
        let t = 1 / (1 + 0.327_591_1 * a)
        var y: Float = 1.061_405_429
        y = y * t - 1.453_152_027
        y = y * t + 1.421_413_741
        y = y * t - 0.284_496_736
        y = y * t + 0.254_829_592
        let e = exp(-a * a)
        return (1 - y * t * e, e)
    }

    /// GELU with erf, in place over `count` floats.
    static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let invSqrt2 = Float(0.5.squareRoot())
        for i in 0..<count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + erf(v * invSqrt2))
        }
    }

    /// y = GELU(x) over `count` floats (x and y distinct).
    static func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        let invSqrt2 = Float(0.5.squareRoot())
        for i in 0..<count {
            let v = x[i]
            y[i] = 0.5 * v * (1 + erf(v * invSqrt2))
        }
    }

    /// dy ← dy · GELU′(u) over `count` floats: GELU′(u) = Φ(u) + u·φ(u) (erf form, as BERT's GELU). One
    /// exponential serves both: erf's approximation of |u|/√2 multiplies by e^(−u²/2), φ's factor.
    static func geluBackward(_ u: UnsafePointer<Float>, _ dy: UnsafeMutablePointer<Float>, count: Int) {
        let invSqrt2 = Float(0.5.squareRoot()), invSqrt2Pi: Float = 0.398_942_28
        for i in 0..<count {
            let v = u[i]
            let (erfAbs, e) = erfOfMagnitude(Float(bitPattern: v.bitPattern & 0x7FFF_FFFF) * invSqrt2)
            let erfV = Float(bitPattern: erfAbs.bitPattern | (v.bitPattern & 0x8000_0000))
            dy[i] *= 0.5 * (1 + erfV) + v * invSqrt2Pi * e
        }
    }

    /// Each row of `rows` × `cols` floats replaced by its softmax.
    static func softmaxRows(_ s: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let row = s + r * cols
            var top = -Float.infinity
            for j in 0..<cols { top = Swift.max(top, row[j]) }
            // The exponentials in one loop (it vectorises), their sum in eight running parts (a single
            // running sum does not: the compiler keeps the order of a float sum).
            for j in 0..<cols { row[j] = exp(row[j] - top) }
            var parts = SIMD8<Float>()
            var j = 0
            while j + 8 <= cols {
                parts += UnsafeRawPointer(row + j).loadUnaligned(as: SIMD8<Float>.self)
                j += 8
            }
            var sum = parts.sum()
            while j < cols {
                sum += row[j]
                j += 1
            }
            let inv = 1 / sum
            for j in 0..<cols { row[j] *= inv }
        }
    }
}
