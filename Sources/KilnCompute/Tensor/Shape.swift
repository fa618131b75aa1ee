/// Sizes from outside (a request's shape, a manifest's, a file header's): their product computed with
/// overflow checked, so a hostile shape is a clear error, never a trap.
public enum Shape {
    /// The number of elements of `shape`; nil when a dimension is negative or the product overflows `Int`.
    public static func elementCount(_ shape: some Sequence<Int>) -> Int? {
        var product = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            product = next
        }
        return product
    }
}
