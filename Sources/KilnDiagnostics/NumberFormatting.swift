import Foundation

extension Double {
    /// A number as a diagnostic shows it: integers without a decimal point, others to six significant
    /// digits (so 0.7 + 0.2 + 0.2 reads 1.1, not 1.0999999999999999).
    public var diagnosticText: String {
        if self == rounded() && abs(self) < 1e15 { return String(Int(self)) }
        return String(format: "%.6g", self)
    }
}
