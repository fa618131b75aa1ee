/// How bad a diagnostic is.
public enum Severity: String, Sendable, Codable, Comparable {
    case error
    case warning
    case note

    private var rank: Int {
        switch self {
        case .error: 0
        case .warning: 1
        case .note: 2
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// A secondary message attached to a diagnostic, pointing at another place (the first definition
/// of a duplicate, the rule that forbids something).
public struct DiagnosticNote: Hashable, Sendable, Codable {
    public var message: String
    public var span: SourceSpan?

    public init(_ message: String, at span: SourceSpan?) {
        self.message = message
        self.span = span
    }
}

/// A user's mistake in a spec or data file: collected, positioned, sorted, reported all at once.
///
/// `id` is stable (`spec.duplicate-key`): tools and docs key on it. Messages are lower-case, with
/// no final period, and quote names (`unknown field 'lr'`).
public struct Diagnostic: Hashable, Sendable, Codable {
    public var id: DiagnosticID
    public var severity: Severity
    public var message: String
    public var span: SourceSpan?
    public var notes: [DiagnosticNote]
    public var help: String?

    public init(
        _ id: DiagnosticID, _ severity: Severity = .error, _ message: String, at span: SourceSpan?,
        notes: [DiagnosticNote] = [], help: String? = nil
    ) {
        self.id = id
        self.severity = severity
        self.message = message
        self.span = span
        self.notes = notes
        self.help = help
    }
}

extension Diagnostic: Comparable {
    /// File, then position, then severity, then id: the order a reader fixes things in.
    public static func < (a: Diagnostic, b: Diagnostic) -> Bool {
        let fa = a.span?.file ?? "", fb = b.span?.file ?? ""
        if fa != fb { return fa < fb }
        let la = a.span?.start ?? SourceLocation(line: 0, column: 0)
        let lb = b.span?.start ?? SourceLocation(line: 0, column: 0)
        if la != lb { return la < lb }
        if a.severity != b.severity { return a.severity < b.severity }
        if a.id != b.id { return a.id < b.id }
        return a.message < b.message
    }
}
