/// Kernels over tensors. Matrix products go to OpenBLAS; the rest are loops over raw pointers that the
/// optimiser vectorises (no exclusivity checks, no bounds checks in the inner loop).
public enum Ops {
    /// out = alpha · op(a) · op(b) + beta · out, for 2-D tensors; transposes are BLAS flags.
    public static func matmul(
        _ a: Tensor, _ b: Tensor, into out: Tensor, transposeA: Bool = false, transposeB: Bool = false,
        alpha: Float = 1, beta: Float = 0, blas: BLAS
    ) throws(ComputeError) {
        let (m, k) = transposeA ? (a.cols, a.rows) : (a.rows, a.cols)
        let (k2, n) = transposeB ? (b.cols, b.rows) : (b.rows, b.cols)
        guard k == k2 else {
            throw .shapeMismatch(
                "matmul: \(transposeA ? "aᵀ" : "a") is \(m)×\(k) but \(transposeB ? "bᵀ" : "b") is \(k2)×\(n)")
        }
        guard out.rows == m, out.cols == n else {
            throw .shapeMismatch("matmul: the result is \(m)×\(n) but the output tensor is \(out.shape)")
        }
        if m == 1 && !transposeA {
            // One row (single-row inference): a matrix-vector product, which streams B once instead of
            // packing it for a GEMM. x·B = Bᵀ·x; x·Bᵀ = B·x.
            blas.sgemv(
                transposeB ? .none : .transpose, m: b.rows, n: b.cols, alpha: alpha, a: b.data, lda: b.cols, x: a.data,
                beta: beta, y: out.data)
            return
        }
        blas.sgemm(
            transposeA ? .transpose : .none, transposeB ? .transpose : .none, m: m, n: n, k: k, alpha: alpha,
            a: a.data, lda: a.cols, b: b.data, ldb: b.cols, beta: beta, c: out.data, ldc: out.cols)
    }

    /// Adds a row vector to every row of `x`.
    @inline(__always)
    public static func addRow(_ bias: Tensor, to x: Tensor) {
        let n = x.cols, b = bias.data, p = x.data
        for r in 0..<x.rows {
            let row = p + r &* n
            for j in 0..<n { row[j] += b[j] }
        }
    }

    /// out[j] = beta·out[j] + Σ_r x[r, j] (column sums; the bias gradient).
    @inline(__always)
    public static func sumRows(_ x: Tensor, into out: Tensor, beta: Float = 0) {
        let n = x.cols, o = out.data, p = x.data
        if beta == 0 { out.fill(0) } else if beta != 1 { for j in 0..<n { o[j] *= beta } }
        for r in 0..<x.rows {
            let row = p + r &* n
            for j in 0..<n { o[j] += row[j] }
        }
    }

    /// Σ x².
    public static func sumOfSquares(_ x: Tensor) -> Double {
        var s: Float = 0
        let p = x.data
        for i in 0..<x.count { s += p[i] * p[i] }
        return Double(s)
    }

    /// x *= s.
    public static func scale(_ x: Tensor, by s: Float) {
        let p = x.data
        for i in 0..<x.count { p[i] *= s }
    }
}
