import Testing

@testable import KilnCompute

/// The naive reference kernel kept beside the BLAS one.
func referenceMatmul(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) -> [Double] {
    let (m, k) = transposeA ? (a.cols, a.rows) : (a.rows, a.cols)
    let n = transposeB ? b.rows : b.cols
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k {
                let av = transposeA ? a[p, i] : a[i, p]
                let bv = transposeB ? b[j, p] : b[p, j]
                s += Double(av) * Double(bv)
            }
            c[i * n + j] = s
        }
    }
    return c
}

@Suite struct Kernels {
    /// Products cut into row or column blocks among pool threads: every transpose, both split directions,
    /// against the double-precision reference, and the same bits on a second run.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func pooledProductsMatchTheReference(_ ta: Bool, _ tb: Bool) throws {
        let pool = ComputePool(threads: 2, blas: blas)
        for (m, n, k) in [(130, 47, 33), (40, 150, 21)] {  // taller than wide: rows; wider: columns
            let a = randomTensor(ta ? [k, m] : [m, k], seed: 5), b = randomTensor(tb ? [n, k] : [k, n], seed: 6)
            let c = Tensor(shape: [m, n])
            let job = GEMMJob(
                transA: ta ? .transpose : .none, transB: tb ? .transpose : .none, m: m, n: n, k: k, alpha: 1, beta: 0,
                a: a.data, lda: a.cols, b: b.data, ldb: b.cols, c: c.data, ldc: n)
            #expect(pool.run(.gemm(job), chunks: 5))
            let reference = referenceMatmul(a, b, transposeA: ta, transposeB: tb)
            for i in 0..<c.count { #expect(abs(Double(c.data[i]) - reference[i]) < 1e-4 * Double(k)) }
            let first = c.array.map(\.bitPattern)
            c.fill(0)
            #expect(pool.run(.gemm(job), chunks: 5))
            #expect(c.array.map(\.bitPattern) == first)
        }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func matmulMatchesTheReferenceOnRandomShapes(_ ta: Bool, _ tb: Bool) throws {
        var g = RandomGenerator(seed: 7)
        for trial in 0..<8 {
            // Trial 0 is one row: the matrix-vector path.
            let m = trial == 0 ? 1 : 1 + g.nextInt(below: 40), n = 1 + g.nextInt(below: 40)
            let k = 1 + g.nextInt(below: 40)
            let a = randomTensor(ta ? [k, m] : [m, k], seed: UInt64(100 + trial))
            let b = randomTensor(tb ? [n, k] : [k, n], seed: UInt64(200 + trial))
            let c = Tensor(shape: [m, n])
            try Ops.matmul(a, b, into: c, transposeA: ta, transposeB: tb, blas: blas)
            let reference = referenceMatmul(a, b, transposeA: ta, transposeB: tb)
            var worst = (diff: 0.0, index: -1)
            for i in 0..<c.count where abs(Double(c.data[i]) - reference[i]) > worst.diff {
                worst = (abs(Double(c.data[i]) - reference[i]), i)
            }
            #expect(worst.diff < 1e-4 * Double(k), "max |diff| \(worst.diff) at \(worst.index) for \(m)×\(k)·\(k)×\(n)")
        }
    }

    @Test func mismatchedShapesAreAClearError() throws {
        let a = Tensor(shape: [2, 3]), b = Tensor(shape: [4, 5]), c = Tensor(shape: [2, 5])
        #expect(throws: ComputeError.shapeMismatch("matmul: a is 2×3 but b is 4×5")) {
            try Ops.matmul(a, b, into: c, blas: blas)
        }
    }

    @Test func theCoreTypeFollowsTheCPUsFlagsAndNeverExceedsThem() {
        let avx512: Set = ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma", "avx"]
        #expect(CPUFeatures(flags: avx512).openBLASCoreType == "SkylakeX")
        #expect(CPUFeatures(flags: ["avx512f", "avx2", "fma", "avx"]).openBLASCoreType == "Haswell")
        #expect(CPUFeatures(flags: ["avx2", "avx"]).openBLASCoreType == "Sandybridge")
        #expect(CPUFeatures(flags: ["sse2"]).openBLASCoreType == nil)
    }

    @Test func theLoadedKernelIsTheOneTheCPUCalledFor() throws {
        let expected = CPUFeatures.current().openBLASCoreType
        if let expected, blas.coreChoice.hasPrefix("kiln") {
            #expect(blas.coreName.lowercased() == expected.lowercased(), "\(blas.coreChoice) → \(blas.coreName)")
        }
    }

    @Test func generatorsAreReproducible() {
        var a = RandomGenerator(seed: 42), b = RandomGenerator(seed: 42)
        for _ in 0..<100 { #expect(a.next() == b.next()) }
        var x = Array(0..<10), y = Array(0..<10)
        a.shuffle(&x)
        b.shuffle(&y)
        #expect(x == y && x != Array(0..<10))
        // A fixed value: the sequence must not change across machines or versions.
        #expect(RandomGenerator(seed: 0).state[0] == 0xE220_A839_7B1D_CDAF)
    }
}
