/// What inference and training share about a padded batch of token ids.
enum BertBatch {
    /// Checks `batch` before anything changes (a refused batch leaves no half-set state); returns its
    /// token count. `use` names the caller in messages ("inference", "training").
    static func check(
        _ batch: [[Int32]], _ c: BertConfig, maxBatch: Int, maxLength: Int, use: String
    ) throws(ComputeError) -> Int {
        guard !batch.isEmpty, batch.count <= maxBatch else {
            throw .invalidArgument("a batch of \(batch.count) sequences; this \(use) takes 1 to \(maxBatch)")
        }
        var tokens = 0
        for ids in batch {
            guard !ids.isEmpty, ids.count <= maxLength else {
                throw .invalidArgument("a sequence of \(ids.count) tokens; this \(use) takes 1 to \(maxLength)")
            }
            if let bad = ids.first(where: { $0 < 0 || Int($0) >= c.vocabularySize }) {
                throw .invalidArgument("token id \(bad) is outside the vocabulary of \(c.vocabularySize)")
            }
            tokens += ids.count
        }
        return tokens
    }

    /// Records each sequence's length in `lengths` and `buffer` (what attention work reads); returns the
    /// longest, the padded length.
    static func record(_ batch: [[Int32]], lengths: inout [Int], buffer: UnsafeMutablePointer<Int>) -> Int {
        lengths.removeAll(keepingCapacity: true)
        var longest = 0
        for ids in batch {
            buffer[lengths.count] = ids.count
            lengths.append(ids.count)
            longest = max(longest, ids.count)
        }
        return longest
    }
}

extension BertBatch {
    /// Each sequence's mean state over its own tokens (sentence-transformers' pooling): row b of `out`
    /// from rows b × padded ..< b × padded + lengths[b] of `states` [rows, width].
    static func meanPool(
        _ states: UnsafePointer<Float>, lengths: [Int], padded: Int, width h: Int, into out: UnsafeMutablePointer<Float>
    ) {
        for (b, n) in lengths.enumerated() {
            let row = out + b * h
            for j in 0..<h { row[j] = 0 }
            for t in 0..<n {
                let state = states + (b * padded + t) * h
                for j in 0..<h { row[j] += state[j] }
            }
            let inv = 1 / Float(n)
            for j in 0..<h { row[j] *= inv }
        }
    }
}

extension VectorMath {
    /// LayerNorm of each row in place: (x − mean)/√(var + ε)·γ + β; with `normalized` and `inverse`, x̂ and
    /// 1/σ are kept for a backward pass.
    static func layerNorm(
        _ x: UnsafeMutablePointer<Float>, rows: Int, width h: Int, gamma g: UnsafePointer<Float>,
        beta: UnsafePointer<Float>, epsilon: Float, normalized: UnsafeMutablePointer<Float>? = nil,
        inverse: UnsafeMutablePointer<Float>? = nil
    ) {
        for r in 0..<rows {
            let row = x + r * h
            var mean: Float = 0
            for j in 0..<h { mean += row[j] }
            mean /= Float(h)
            var variance: Float = 0
            for j in 0..<h {
                let d = row[j] - mean
                variance += d * d
            }
            let inv = 1 / (variance / Float(h) + epsilon).squareRoot()
            if let normalized, let inverse {
                let xh = normalized + r * h
                inverse[r] = inv
                for j in 0..<h {
                    xh[j] = (row[j] - mean) * inv
                    row[j] = xh[j] * g[j] + beta[j]
                }
            } else {
                for j in 0..<h { row[j] = (row[j] - mean) * inv * g[j] + beta[j] }
            }
        }
    }
}
