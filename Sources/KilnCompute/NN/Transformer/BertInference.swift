import Foundation

/// Batched inference of a `BertEncoder` into buffers sized once (`maxBatch` sequences of `maxLength`
/// tokens): a call allocates nothing. Sequences are padded to the batch's longest, and attention covers
/// each sequence's own tokens only (cost follows the longest length, not the maximum). Deterministic.
public final class BertInference: @unchecked Sendable {
    public let encoder: BertEncoder
    public let maxBatch: Int
    public let maxLength: Int
    let blas: BLAS
    /// Hidden states [rows, hidden] (rows = batch × longest length); the result of `encode`.
    public let hidden: Tensor
    let q: Tensor, k: Tensor, v: Tensor, context: Tensor, projected: Tensor, inner: Tensor
    /// Scores buffers, one per attention chunk (`chunks`: twice the compute threads at creation).
    let scores: UnsafeMutablePointer<Float>
    let chunks: Int
    let lengthBuffer: UnsafeMutablePointer<Int>
    /// Pooled embeddings [batch, hidden].
    public let pooled: Tensor
    /// The lengths of the last batch, and its padded length.
    public private(set) var lengths: [Int] = []
    public private(set) var paddedLength = 0

    public init(_ encoder: BertEncoder, maxBatch: Int, maxLength: Int, blas: BLAS) throws(ComputeError) {
        let c = encoder.config
        guard maxBatch > 0, maxBatch <= 1 << 16, maxLength >= 2, maxLength <= c.maxPositions, maxLength <= 1 << 14
        else {
            throw .invalidArgument(
                "a batch of \(maxBatch) × \(maxLength) tokens: inference takes 1 to 65,536 sequences of 2 to \(min(c.maxPositions, 1 << 14)) tokens")
        }
        self.encoder = encoder
        self.maxBatch = maxBatch
        self.maxLength = maxLength
        self.blas = blas
        let rows = maxBatch * maxLength
        hidden = Tensor(shape: [rows, c.hiddenSize])
        q = Tensor(shape: [rows, c.hiddenSize])
        k = Tensor(shape: [rows, c.hiddenSize])
        v = Tensor(shape: [rows, c.hiddenSize])
        context = Tensor(shape: [rows, c.hiddenSize])
        projected = Tensor(shape: [rows, c.hiddenSize])
        inner = Tensor(shape: [rows, c.intermediateSize])
        // More chunks than (sequence, head) pairs would only hold more scores buffers.
        chunks = max(1, min(blas.threads * 2, maxBatch * c.heads))
        scores = .allocate(capacity: chunks * maxLength * maxLength)
        lengthBuffer = .allocate(capacity: maxBatch)
        pooled = Tensor(shape: [maxBatch, c.hiddenSize])
        lengths.reserveCapacity(maxBatch)
    }

    deinit {
        scores.deallocate()
        lengthBuffer.deallocate()
    }

    /// The last hidden state of each sequence (ids with [CLS] and [SEP], at most `maxLength`), in
    /// `hidden`: sequence b's token t is row b × paddedLength + t.
    public func encode(_ batch: [[Int32]]) throws(ComputeError) {
        let c = encoder.config
        _ = try BertBatch.check(batch, c, maxBatch: maxBatch, maxLength: maxLength, use: "inference")
        let longest = BertBatch.record(batch, lengths: &lengths, buffer: lengthBuffer)
        paddedLength = longest
        let h = c.hiddenSize, rows = batch.count * longest
        // One by one: an array of them would be an allocation per call.
        try hidden.setRows(rows)
        try q.setRows(rows)
        try k.setRows(rows)
        try v.setRows(rows)
        try context.setRows(rows)
        try projected.setRows(rows)
        try inner.setRows(rows)

        // Embeddings: word + position + token type 0, then LayerNorm. Padding rows get the [PAD] id's.
        let word = encoder.wordEmbeddings.data, position = encoder.positionEmbeddings.data
        let type0 = encoder.tokenTypeEmbeddings.data
        for (b, ids) in batch.enumerated() {
            for t in 0..<longest {
                let id = t < ids.count ? Int(ids[t]) : 0
                let out = hidden.data + (b * longest + t) * h
                let w = word + id * h, p = position + t * h
                for j in 0..<h { out[j] = w[j] + p[j] + type0[j] }
            }
        }
        layerNorm(hidden.data, rows: rows, encoder.embeddingNorm)

        let heads = c.heads, d = c.headSize
        let scale = 1 / Float(d).squareRoot()
        for layer in encoder.layers {
            linear(hidden.data, rows: rows, input: h, layer.query, into: q.data)
            linear(hidden.data, rows: rows, input: h, layer.key, into: k.data)
            linear(hidden.data, rows: rows, input: h, layer.value, into: v.data)
            let job = AttentionJob(
                q: q.data, k: k.data, v: v.data, context: context.data, lengths: lengthBuffer, sequences: batch.count,
                heads: heads, headSize: d, hidden: h, longest: longest, scale: scale, scratch: scores,
                scratchStride: maxLength * maxLength)
            // Sequences and heads across the compute threads; alone, the same chunks in order.
            if !blas.share(.attention(job), chunks: chunks) {
                for c in 0..<chunks { job.run(chunk: c, of: chunks, blas: blas) }
            }
            linear(context.data, rows: rows, input: h, layer.attentionOutput, into: projected.data)
            add(projected.data, into: hidden.data, count: rows * h)
            layerNorm(hidden.data, rows: rows, layer.attentionNorm)
            linear(hidden.data, rows: rows, input: h, layer.intermediate, into: inner.data)
            if !blas.share(.gelu(inner.data, count: rows * c.intermediateSize), chunks: chunks) {
                VectorMath.gelu(inner.data, count: rows * c.intermediateSize)
            }
            linear(inner.data, rows: rows, input: c.intermediateSize, layer.output, into: projected.data)
            add(projected.data, into: hidden.data, count: rows * h)
            layerNorm(hidden.data, rows: rows, layer.outputNorm)
        }
    }

    /// The mean of each sequence's hidden states over its own tokens (sentence-transformers' pooling), in
    /// `pooled` [batch, hidden], after `encode`.
    public func meanPool() throws(ComputeError) {
        guard !lengths.isEmpty else { throw .invalidArgument("nothing encoded yet") }
        let h = encoder.config.hiddenSize
        try pooled.setRows(lengths.count)
        BertBatch.meanPool(hidden.data, lengths: lengths, padded: paddedLength, width: h, into: pooled.data)
    }

    /// Each sequence's [CLS] state itself, in `pooled`, after `encode`.
    public func firstToken() throws(ComputeError) {
        guard !lengths.isEmpty else { throw .invalidArgument("nothing encoded yet") }
        let h = encoder.config.hiddenSize
        try pooled.setRows(lengths.count)
        for r in 0..<lengths.count { (pooled.data + r * h).update(from: hidden.data + r * paddedLength * h, count: h) }
    }

    /// Each sequence's [CLS] state through the checkpoint's pooler (dense, tanh), in `pooled`, after
    /// `encode`: what BertForSequenceClassification classifies.
    public func poolCLS() throws(ComputeError) {
        guard let pooler = encoder.pooler else { throw .invalidArgument("this checkpoint has no pooler") }
        guard !lengths.isEmpty else { throw .invalidArgument("nothing encoded yet") }
        let h = encoder.config.hiddenSize
        try pooled.setRows(lengths.count)
        // The [CLS] rows are paddedLength apart: one product with that row stride.
        for r in 0..<lengths.count { (pooled.data + r * h).update(from: pooler.bias.data, count: h) }
        blas.sgemm(
            .none, .transpose, m: lengths.count, n: h, k: h, a: hidden.data, lda: paddedLength * h,
            b: pooler.weight.data, ldb: h, beta: 1, c: pooled.data, ldc: h)
        for i in 0..<(lengths.count * h) { pooled.data[i] = Foundation.tanh(pooled.data[i]) }
    }

    /// Logits of a classification head [labels, hidden]: per sequence from `pooled` (`tokens` false), or
    /// per token from `hidden` (true; row b × paddedLength + t), into `output`, which must hold them.
    public func logits(_ head: BertEncoder.Linear, tokens: Bool, into output: Tensor) throws(ComputeError) {
        let h = encoder.config.hiddenSize, labels = head.weight.shape[0]
        guard head.weight.shape[1] == h else {
            throw .shapeMismatch("a head of \(head.weight.shape) on a hidden size of \(h)")
        }
        guard !lengths.isEmpty else { throw .invalidArgument("nothing encoded yet") }
        let input = tokens ? hidden : pooled
        let rows = tokens ? lengths.count * paddedLength : lengths.count
        guard output.shape.count == 2, output.shape[1] == labels, rows * labels <= output.capacity else {
            throw .shapeMismatch("\(rows) × \(labels) logits do not fit a tensor of shape \(output.shape)")
        }
        try output.setRows(rows)
        linear(input.data, rows: rows, input: h, head, into: output.data)
    }

    /// y[rows, out] = x[rows, input] · Wᵀ + b (W stored [out, input]).
    private func linear(
        _ x: UnsafeMutablePointer<Float>, rows: Int, input: Int, _ l: BertEncoder.Linear, into y: UnsafeMutablePointer<Float>
    ) {
        let out = l.weight.shape[0]
        let bias = l.bias.data
        for r in 0..<rows { (y + r * out).update(from: bias, count: out) }
        blas.sgemm(
            .none, .transpose, m: rows, n: out, k: input, a: x, lda: input, b: l.weight.data, ldb: input, beta: 1,
            c: y, ldc: out)
    }

    private func add(_ x: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    private func layerNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, _ norm: BertEncoder.Norm) {
        let c = encoder.config
        VectorMath.layerNorm(
            x, rows: rows, width: c.hiddenSize, gamma: norm.gamma.data, beta: norm.beta.data, epsilon: c.layerNormEpsilon)
    }

}
