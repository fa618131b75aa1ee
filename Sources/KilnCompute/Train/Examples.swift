/// Rows of a split: features [n, inputs] and targets ([n, 1] class indices or 0/1, or [n, outputs] values).
public struct Examples: @unchecked Sendable {
    public let features: Tensor
    public let targets: Tensor

    public init(features: Tensor, targets: Tensor) throws(ComputeError) {
        guard features.rows == targets.rows else {
            throw .shapeMismatch("examples: \(features.rows) feature rows but \(targets.rows) target rows")
        }
        self.features = features
        self.targets = targets
    }

    public var count: Int { features.rows }
}

/// Predictions of a network over examples, in the forms metrics take.
public struct Predictions: Sendable {
    public var loss: Double
    /// Argmax class (classification), thresholded class (binary); empty for regression.
    public var classes: [Int]
    /// Positive-class probability (binary); empty otherwise.
    public var scores: [Float]
    /// Outputs (regression), row-major; empty otherwise.
    public var values: [Float]

    public init(loss: Double, classes: [Int], scores: [Float], values: [Float]) {
        self.loss = loss
        self.classes = classes
        self.scores = scores
        self.values = values
    }
}
