/// Batch inference over a trained network: probabilities for classifiers, values for regressors.
///
/// Buffers are sized for `maxBatch` rows when the predictor is made and reused, so a call allocates
/// nothing (a larger batch grows them once). Deterministic: the same rows give the same bits. A
/// predictor is not thread-safe; a server uses one per worker or serialises calls (dynamic batching).
public final class Predictor {
    public let network: Network
    private var output: Tensor?
    private var input: Tensor?

    public init(network: Network, maxBatch: Int = 64) {
        self.network = network
        network.prepare(maxBatch: maxBatch)
        output = Tensor(shape: [maxBatch, Self.outputWidth(network.config)])
        input = Tensor(shape: [maxBatch, network.config.inputs])
    }

    /// Columns of the result: one per class (classification), one probability (binary), the outputs
    /// (regression).
    public var outputWidth: Int { Self.outputWidth(network.config) }

    /// The result's columns for a model of `config`.
    public static func outputWidth(_ config: ModelConfig) -> Int {
        config.task == .binary ? 1 : config.outputs
    }

    /// Predicts a batch [rows, inputs]: softmax probabilities per class (classification), the positive
    /// class's probability (binary) or the regression outputs. The result is the predictor's buffer,
    /// valid until the next call.
    public func predict(_ x: Tensor) throws(ComputeError) -> Tensor {
        guard x.cols == network.config.inputs else {
            throw .shapeMismatch("predict: rows have \(x.cols) features, the model takes \(network.config.inputs)")
        }
        let logits = try network.forward(x, training: false)
        let out = try reuse(&output, rows: x.rows, width: outputWidth)
        switch network.config.task {
        case .classification:
            try softmax(logits, into: out)
        case .binary:
            let z = logits.data, p = out.data
            for r in 0..<x.rows { p[r] = Activation.sigmoid(z[r]) }
        case .regression:
            out.data.update(from: logits.data, count: logits.count)
        }
        return out
    }

    /// Predicts `rows` rows stored row-major in `features` (rows × inputs values) into `result`
    /// (rows × outputWidth values): the entry point for callers that own their memory, such as a server
    /// decoding a request straight into a buffer.
    public func predict(
        _ features: UnsafeBufferPointer<Float>, rows: Int, into result: UnsafeMutableBufferPointer<Float>
    ) throws(ComputeError) {
        let inputs = network.config.inputs
        guard rows >= 0, features.count == rows * inputs else {
            throw .shapeMismatch("predict: \(features.count) values are not \(rows) rows of \(inputs) features")
        }
        guard result.count == rows * outputWidth else {
            throw .shapeMismatch("predict: room for \(result.count) values, \(rows) rows need \(rows * outputWidth)")
        }
        guard rows > 0, let source = features.baseAddress, let target = result.baseAddress else { return }
        let x = try reuse(&input, rows: rows, width: inputs)
        x.data.update(from: source, count: rows * inputs)
        let out = try predict(x)
        target.update(from: out.data, count: rows * outputWidth)
    }

    /// The most probable class of each row of a classifier's result (binary: probability ≥ 0.5), written
    /// into `classes` (its storage is kept and reused across calls).
    public func classes(of probabilities: Tensor, into classes: inout [Int]) {
        classes.removeAll(keepingCapacity: true)
        let k = probabilities.cols, p = probabilities.data
        for r in 0..<probabilities.rows {
            let row = p + r &* k
            if network.config.task == .binary {
                classes.append(row[0] >= 0.5 ? 1 : 0)
            } else {
                classes.append(argmax(row, count: k))
            }
        }
    }
}

/// The index of the largest of `count` values (the first on ties).
@inline(__always)
func argmax(_ row: UnsafeMutablePointer<Float>, count: Int) -> Int {
    var best = 0
    for j in 1..<max(count, 1) where row[j] > row[best] { best = j }
    return best
}
