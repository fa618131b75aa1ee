/// Failures of the compute core: a closed set, each with what to do about it.
public enum ComputeError: Error, Equatable, CustomStringConvertible {
    /// Operands whose shapes do not fit: `operation` and both shapes are named.
    case shapeMismatch(String)
    case libraryMissing(String, fix: String)
    /// An artifact or checkpoint file that is not what it claims (truncated, corrupt, wrong version).
    case invalidFile(path: String, reason: String)
    case io(path: String, reason: String)
    /// A value the caller passed that cannot work (zero batch, unknown activation…).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let m): return "shape mismatch: \(m)"
        case .libraryMissing(let m, let fix): return "\(m); \(fix)"
        case .invalidFile(let path, let reason): return "\(path): \(reason)"
        case .io(let path, let reason): return "\(path): \(reason)"
        case .invalidArgument(let m): return m
        }
    }
}
