/// Collects diagnostics from every stage; counts decide the exit code, never a global flag.
public struct DiagnosticEngine: Sendable {
    public private(set) var diagnostics: [Diagnostic] = []

    public init() {}

    public mutating func emit(_ diagnostic: Diagnostic) {
        diagnostics.append(diagnostic)
    }

    public mutating func emit(contentsOf other: [Diagnostic]) {
        diagnostics.append(contentsOf: other)
    }

    public mutating func error(
        _ id: DiagnosticID, _ message: String, at span: SourceSpan?, notes: [DiagnosticNote] = [], help: String? = nil
    ) {
        emit(Diagnostic(id, .error, message, at: span, notes: notes, help: help))
    }

    public mutating func warning(
        _ id: DiagnosticID, _ message: String, at span: SourceSpan?, notes: [DiagnosticNote] = [], help: String? = nil
    ) {
        emit(Diagnostic(id, .warning, message, at: span, notes: notes, help: help))
    }

    public var errorCount: Int { diagnostics.count { $0.severity == .error } }
    public var warningCount: Int { diagnostics.count { $0.severity == .warning } }
    public var hasErrors: Bool { errorCount > 0 }

    /// Sorted by file and position, exact duplicates removed (an alias expanded twice reports once).
    public var sorted: [Diagnostic] {
        var seen = Set<Diagnostic>()
        return diagnostics.sorted().filter { seen.insert($0).inserted }
    }
}
