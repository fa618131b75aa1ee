/// A float32 tensor: contiguous, row-major, owning its memory.
///
/// Training reuses tensors: a buffer is allocated once for the largest batch and its leading dimension
/// is shrunk for a smaller one (`setRows`), so the step allocates nothing after the first batch.
public final class Tensor: @unchecked Sendable {
    public private(set) var shape: [Int]
    /// Elements allocated; `count` never exceeds it.
    public let capacity: Int
    public let data: UnsafeMutablePointer<Float>

    /// A zero-filled tensor.
    public init(shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        capacity = shape.reduce(1, *)
        data = .allocate(capacity: max(capacity, 1))
        data.initialize(repeating: 0, count: max(capacity, 1))
    }

    /// A tensor holding `values` (row-major); their number must match the shape.
    public convenience init(shape: [Int], values: [Float]) throws(ComputeError) {
        guard shape.reduce(1, *) == values.count else {
            throw .shapeMismatch("\(values.count) values cannot fill a tensor of shape \(shape)")
        }
        self.init(shape: shape)
        values.withUnsafeBufferPointer { if let base = $0.baseAddress { data.update(from: base, count: values.count) } }
    }

    deinit { data.deallocate() }

    public var count: Int { shape.reduce(1, *) }
    /// The leading dimension (the batch).
    public var rows: Int { shape.first ?? 1 }
    /// Elements per row.
    public var cols: Int { shape.count <= 1 ? 1 : shape.dropFirst().reduce(1, *) }

    /// Uses the first `rows` rows only (a smaller batch), within the capacity.
    public func setRows(_ rows: Int) throws(ComputeError) {
        guard rows >= 0, rows * cols <= capacity else {
            throw .shapeMismatch("\(rows) rows of \(cols) exceed the tensor's capacity of \(capacity) elements")
        }
        shape[0] = rows
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    /// A copy of the elements.
    public var array: [Float] { Array(buffer) }

    public subscript(row: Int, col: Int) -> Float {
        get { data[row * cols + col] }
        set { data[row * cols + col] = newValue }
    }

    public func fill(_ value: Float) { buffer.update(repeating: value) }

    /// Copies `other`'s elements (same element count) into this tensor.
    public func copy(from other: Tensor) throws(ComputeError) {
        guard other.count <= capacity else {
            throw .shapeMismatch("cannot copy \(other.shape) into a tensor of capacity \(capacity)")
        }
        shape = other.shape
        data.update(from: other.data, count: other.count)
    }

}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = array.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(\(shape): [\(shown)\(count > 8 ? ", …" : "")])"
    }
}
