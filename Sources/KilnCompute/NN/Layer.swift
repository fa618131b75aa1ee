/// A trainable tensor and its gradient.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public let value: Tensor
    public let gradient: Tensor

    public init(name: String, shape: [Int]) {
        self.name = name
        value = Tensor(shape: shape)
        gradient = Tensor(shape: shape)
    }

    /// A parameter over an existing tensor (a loaded model's weight), updated in place; without
    /// `trainable` its gradient is empty (a frozen weight costs no gradient memory).
    public init(name: String, value: Tensor, trainable: Bool = true) {
        self.name = name
        self.value = value
        gradient = Tensor(shape: trainable ? value.shape : [0])
    }
}

/// A layer with forward and backward passes over batches (rows).
///
/// Buffers are allocated by `prepare(maxBatch:)` and reused; `forward` keeps what `backward` needs
/// (a reference to its input, its output), so the two are called in matching order.
public protocol Layer: AnyObject {
    var inputWidth: Int { get }
    var outputWidth: Int { get }
    var parameters: [Parameter] { get }
    func prepare(maxBatch: Int)
    func forward(_ x: Tensor, training: Bool) throws(ComputeError) -> Tensor
    /// The gradient with respect to the input; parameter gradients are overwritten.
    func backward(_ dy: Tensor) throws(ComputeError) -> Tensor
}

extension Layer {
    @inline(__always)
    func checkInput(_ x: Tensor, _ name: String) throws(ComputeError) {
        guard x.cols == inputWidth else {
            throw .shapeMismatch("\(name): input has \(x.cols) columns, the layer takes \(inputWidth)")
        }
    }

    /// A buffer for up to `maxBatch` rows.
    func buffer(_ existing: Tensor?, maxBatch: Int, width: Int) -> Tensor {
        if let existing, existing.capacity >= maxBatch * width, existing.cols == width { return existing }
        return Tensor(shape: [maxBatch, width])
    }
}

/// The buffer in `slot`, grown only if `rows` do not fit, with its leading dimension set to `rows`.
@inline(__always)
func reuse(_ slot: inout Tensor?, rows: Int, width: Int) throws(ComputeError) -> Tensor {
    if let t = slot, t.capacity >= rows * width, t.cols == width {
        try t.setRows(rows)
        return t
    }
    let t = Tensor(shape: [rows, width])
    slot = t
    return t
}
