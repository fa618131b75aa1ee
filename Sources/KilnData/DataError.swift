public import KilnDiagnostics

/// Why data could not be used: one or more positioned diagnostics (file, line, column of the cell),
/// rendered like the compiler's. Readers stop after `DataLimits.maxErrors` of them.
public struct DataError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]

    public init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    public init(_ id: DiagnosticID, _ message: String, at span: SourceSpan?, help: String? = nil) {
        diagnostics = [Diagnostic(id, message, at: span, help: help)]
    }

    public var description: String { DiagnosticRenderer(sources: [:]).text(diagnostics) }
}

/// Bounds that keep bad input from costing unbounded time or memory.
public enum DataLimits {
    /// Diagnostics reported before a reader stops.
    public static let maxErrors = 20
    /// The longest record (csv/tsv) or line (jsonl); past it, an unbalanced quote is the likely cause.
    public static let maxRecordBytes = 64 << 20
    /// The most columns a file may have.
    public static let maxColumns = 100_000
}

extension SourceSpan {
    /// A cell or line of a data file (1-based line and column).
    static func data(_ file: String, line: Int, column: Int = 1) -> SourceSpan {
        let at = SourceLocation(line: line, column: column)
        return SourceSpan(file: file, start: at, end: at)
    }
}

extension Diagnostic {
    /// An error-severity diagnostic (the data layer's usual kind).
    init(_ id: DiagnosticID, _ message: String, at span: SourceSpan?, help: String? = nil) {
        self.init(id, .error, message, at: span, help: help)
    }
}
