import Foundation

/// Output formats for diagnostics; `github` is chosen automatically under GitHub Actions.
public enum DiagnosticFormat: String, Sendable, CaseIterable {
    case text
    case json
    case github
}

/// Turns diagnostics into text for people, JSON for tools, or GitHub workflow annotations.
public struct DiagnosticRenderer: Sendable {
    /// The text of each file by path, for the quoted source lines and carets.
    public var sources: [String: String]
    public var colour: Bool

    /// Version of the `--format json` document; bump on any incompatible change (docs/cli.md).
    public static let jsonVersion = 1

    public init(sources: [String: String], colour: Bool = false) {
        self.sources = sources
        self.colour = colour
    }

    public func render(_ diagnostics: [Diagnostic], format: DiagnosticFormat) -> String {
        switch format {
        case .text: return text(diagnostics)
        case .json: return json(diagnostics)
        case .github: return github(diagnostics)
        }
    }

    // MARK: Text

    public func text(_ diagnostics: [Diagnostic]) -> String {
        var out = ""
        // Messages quote data, file names and registry entries: control characters in them (a terminal
        // escape sequence from a hostile file) are shown escaped, never sent to the terminal.
        func safe(_ s: String) -> String { "\(Escaped(s, keeping: [9, 10]))" }
        for d in diagnostics {
            out += header(d.span, d.severity.rawValue, safe(d.message) + " [\(d.id)]", severity: d.severity)
            out += excerpt(d.span, redact: d.id.redactsSource)
            if let help = d.help { out += "  " + paint("help", .cyan) + ": \(safe(help))\n" }
            for note in d.notes {
                out += header(note.span, "note", safe(note.message), severity: .note)
                out += excerpt(note.span)
            }
        }
        let errors = diagnostics.count { $0.severity == .error }
        let warnings = diagnostics.count { $0.severity == .warning }
        if errors + warnings > 0 {
            out += "\(plural(errors, "error")), \(plural(warnings, "warning"))\n"
        }
        return out
    }

    private func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }

    private func header(_ span: SourceSpan?, _ label: String, _ message: String, severity: Severity) -> String {
        let place = span.map { "\(Escaped($0.file)):\($0.start.line):\($0.start.column): " } ?? "kiln: "
        let colourOf: Colour = severity == .error ? .red : severity == .warning ? .yellow : .cyan
        return paint(place, .bold) + paint(label, colourOf) + ": " + message + "\n"
    }

    /// The source line, and a caret line under the span (to the end of the line if it goes on).
    private func excerpt(_ span: SourceSpan?, redact: Bool = false) -> String {
        guard let span, let text = sources[span.file] else { return "" }
        guard let line = Self.line(span.start.line, of: text) else { return "" }
        let number = String(span.start.line)
        let gutter = String(repeating: " ", count: number.count)
        let scalars = Array(line.unicodeScalars)
        let startCol = min(max(span.start.column - 1, 0), scalars.count)
        var endCol = span.end.line == span.start.line ? span.end.column - 1 : scalars.count
        // Trailing spaces of a multi-line span are not worth underlining.
        while endCol > startCol + 1 && endCol <= scalars.count && scalars[endCol - 1] == " " { endCol -= 1 }
        endCol = min(max(endCol, startCol + 1), max(scalars.count, startCol + 1))
        // Keep tabs in the padding so the caret lines up under them.
        let pad = String(String.UnicodeScalarView(scalars[0..<startCol].map { $0 == "\t" ? "\t" : " " }))
        let carets = "^" + String(repeating: "~", count: endCol - startCol - 1)
        var shownScalars = scalars
        if redact {
            for i in startCol..<min(endCol, shownScalars.count) { shownScalars[i] = "*" }
        }
        // Secrets are masked on every quoted line, whatever the diagnostic (SecretMasking).
        let masked = SecretMasking.mask(String(String.UnicodeScalarView(shownScalars)).replacingOccurrences(of: "\r", with: ""))
        let shown = "\(Escaped(masked, keeping: [9]))"
        return " \(number) | \(shown)\n \(gutter) | \(pad)\(paint(carets, .green))\n"
    }

    /// Line `n` (1-based) of `text`, without its terminator.
    static func line(_ n: Int, of text: String) -> String? {
        // Bytewise: a diagnostic late in a long file would otherwise walk its characters one by one.
        var text = text
        text.makeContiguousUTF8()
        return text.utf8.withContiguousStorageIfAvailable { bytes -> String? in
            var current = 1, start = 0, i = 0
            while current < n {
                guard i < bytes.count else { return nil }
                if bytes[i] == 10 {
                    current += 1
                    start = i + 1
                }
                i += 1
            }
            var end = start
            while end < bytes.count && bytes[end] != 10 { end += 1 }
            if end > start && bytes[end - 1] == 13 { end -= 1 }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        } ?? nil
    }

    private enum Colour: String {
        case red = "31", yellow = "33", cyan = "36", green = "32", bold = "1"
    }

    private func paint(_ s: String, _ c: Colour) -> String {
        colour ? "\u{1B}[\(c.rawValue)m\(s)\u{1B}[0m" : s
    }

    // MARK: JSON

    private struct JSONDocument: Encodable {
        struct Position: Encodable {
            var file: String
            var line: Int
            var column: Int
            var endLine: Int
            var endColumn: Int
            init(_ s: SourceSpan) {
                file = s.file
                line = s.start.line
                column = s.start.column
                endLine = s.end.line
                endColumn = s.end.column
            }
        }
        struct Note: Encodable {
            var message: String
            var location: Position?
        }
        struct Item: Encodable {
            var id: String
            var severity: String
            var message: String
            var location: Position?
            var help: String?
            var notes: [Note]
        }
        struct Summary: Encodable {
            var errors: Int
            var warnings: Int
        }
        var version: Int
        var diagnostics: [Item]
        var summary: Summary
    }

    public func json(_ diagnostics: [Diagnostic]) -> String {
        let doc = JSONDocument(
            version: Self.jsonVersion,
            diagnostics: diagnostics.map { d in
                .init(
                    id: d.id.rawValue, severity: d.severity.rawValue, message: d.message,
                    location: d.span.map(JSONDocument.Position.init), help: d.help,
                    notes: d.notes.map { .init(message: $0.message, location: $0.span.map(JSONDocument.Position.init)) }
                )
            },
            summary: .init(
                errors: diagnostics.count { $0.severity == .error },
                warnings: diagnostics.count { $0.severity == .warning }))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        guard let data = try? encoder.encode(doc), let s = String(data: data, encoding: .utf8) else { return "{}\n" }
        return s + "\n"
    }

    // MARK: GitHub workflow commands

    public func github(_ diagnostics: [Diagnostic]) -> String {
        var out = ""
        for d in diagnostics {
            let command = d.severity == .error ? "error" : d.severity == .warning ? "warning" : "notice"
            var props: [String] = []
            if let s = d.span {
                props += [
                    "file=\(escapeProperty(s.file))", "line=\(s.start.line)", "col=\(s.start.column)",
                ]
                if s.end.line == s.start.line { props.append("endColumn=\(s.end.column)") }
            }
            props.append("title=\(escapeProperty(d.id.rawValue))")
            var message = d.message
            if let help = d.help { message += "\nhelp: \(help)" }
            for note in d.notes {
                message += "\nnote: " + (note.span.map { "\($0): " } ?? "") + note.message
            }
            out += "::\(command) \(props.joined(separator: ","))::\(escapeData(message))\n"
        }
        return out
    }

    private func escapeData(_ s: String) -> String {
        s.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
    }

    private func escapeProperty(_ s: String) -> String {
        escapeData(s).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }
}
