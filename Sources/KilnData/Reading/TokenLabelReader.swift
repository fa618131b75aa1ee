import Foundation
public import KilnDiagnostics

/// Sentences of tokens with one tag each: what token classification (named entities) trains on.
public struct TokenSentences: Sendable, Equatable {
    public var tokens: [[String]] = []
    /// Tag ids into the declared tag list, one per token.
    public var tags: [[Int]] = []
    /// The line each sentence starts on (1-based), for messages.
    public var lines: [Int] = []

    public init() {}
    public var count: Int { tokens.count }
}

/// Reads token-labelled files. CoNLL style: one `token<TAB>tag` per line (or whitespace between them when
/// a line has no tab), the token in the first column and the tag in the last (columns between are
/// ignored), a blank or whitespace-only line between sentences. Every tag must be one of `tags`; with
/// `bio`, each I-X must continue a B-X or I-X (an error or, at `.warning`, a diagnostic that lets the
/// data through). Invalid UTF-8, a line with one column, an empty token, an unknown tag: errors with
/// file and line, at most `DataLimits.maxErrors` of them.
public enum TokenLabelReader {
    /// Files larger than this are refused (token files are small; a huge one is likely the wrong file).
    public static let maxBytes = 1 << 30

    /// The file's bytes, refused past `maxBytes`.
    static func readWhole(_ path: String) throws(DataError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DataError(.data(.missingFile), "cannot read '\(path)'", at: nil, help: "check the dataset's source path")
        }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()).map { Int($0) } ?? 0
        guard size <= maxBytes else {
            throw DataError(.data(.recordTooLong), "'\(path)' is \(size >> 20) MiB; token files are read whole, up to 1 GiB", at: nil)
        }
        try? handle.seek(toOffset: 0)
        return [UInt8]((try? handle.readToEnd()) ?? Data())
    }

    public static func readCoNLL(
        path: String, tags: [String], bio: Severity? = .error
    ) throws(DataError) -> (sentences: TokenSentences, warnings: [Diagnostic]) {
        let at = { (line: Int, column: Int) in SourceSpan.data(path, line: line, column: column) }
        let bytes = try readWhole(path)
        let index = Dictionary(tags.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let scheme = tags.map(BIOTag.init)
        var out = TokenSentences()
        var findings = Findings()
        var tokens: [String] = [], ids: [Int] = [], start = 0
        func fail(_ id: DataDiagnostic, _ message: String, _ line: Int, _ column: Int = 1, help: String? = nil) throws(DataError) {
            try findings.report(id, .error, message, at: at(line, column), help: help)
        }
        func endSentence() {
            guard !tokens.isEmpty else { return }
            out.tokens.append(tokens)
            out.tags.append(ids)
            out.lines.append(start)
            tokens.removeAll()
            ids.removeAll()
        }
        var line = 0, offset = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { offset = 3 }
        while offset < bytes.count {
            line += 1
            var end = bytes[offset...].firstIndex(of: 0x0A) ?? bytes.count
            let next = end + 1
            if end > offset && bytes[end - 1] == 0x0D { end -= 1 }
            defer { offset = next }
            guard let text = String(validating: bytes[offset..<end], as: UTF8.self) else {
                try fail(.encoding, "line \(line) is not valid UTF-8", line, help: "convert the file to UTF-8")
                continue
            }
            let fields = text.contains("\t")
                ? text.split(separator: "\t", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                : text.split(whereSeparator: { $0 == " " }).map(String.init)
            if fields.allSatisfy({ $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }) {
                endSentence()
                continue
            }
            guard fields.count >= 2, let tag = fields.last else {
                try fail(.ragged, "line \(line) has one column; expected a token and its tag", line, help: "write token<TAB>tag")
                continue
            }
            let token = fields[0]
            guard !token.isEmpty else {
                try fail(.null, "line \(line) has an empty token", line)
                continue
            }
            guard let id = index[tag] else {
                let column = text.count - tag.count + 1
                try fail(
                    .category, "tag '\(tag)' on line \(line) is not one of the declared tags", line, column,
                    help: "declare it in the schema's tags, or fix the file (tags: \(tags.prefix(12).joined(separator: ", ")))")
                continue
            }
            if tokens.isEmpty { start = line }
            if let bio, let type = scheme[id].breaks(after: ids.last.map { scheme[$0] }) {
                let after = ids.last.map { "after \(tags[$0])" } ?? "at the start of a sentence"
                try findings.report(
                    .bio, bio, "\(tag) on line \(line) \(after) does not continue a \(type) entity",
                    at: at(line, text.count - tag.count + 1), help: "an entity starts with B-\(type)")
            }
            tokens.append(token)
            ids.append(id)
        }
        endSentence()
        if !findings.errors.isEmpty { throw DataError(findings.errors) }
        if out.count == 0 {
            throw DataError(.data(.empty), "'\(path)' has no sentences", at: at(max(line, 1), 1), help: "write token<TAB>tag lines")
        }
        return (out, findings.warnings)
    }
}

extension TokenLabelReader {
    /// Reads jsonl with one sentence per line: `{"tokens": ["Ada", …], "tags": ["B-PER", …]}` (other keys
    /// ignored), the same checks as CoNLL plus a tokens/tags length mismatch, at the line.
    public static func readJSONLines(
        path: String, tags: [String], bio: Severity? = .error, keys: (tokens: String, tags: String) = ("tokens", "tags")
    ) throws(DataError) -> (sentences: TokenSentences, warnings: [Diagnostic]) {
        let at = { (line: Int) in SourceSpan.data(path, line: line) }
        let bytes = try readWhole(path)
        let index = Dictionary(tags.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let scheme = tags.map(BIOTag.init)
        var out = TokenSentences()
        var findings = Findings()
        func fail(_ id: DataDiagnostic, _ message: String, _ line: Int, help: String? = nil) throws(DataError) {
            try findings.report(id, .error, message, at: at(line), help: help)
        }
        var line = 0, offset = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { offset = 3 }
        while offset < bytes.count {
            line += 1
            let end = bytes[offset...].firstIndex(of: 0x0A) ?? bytes.count
            let slice = bytes[offset..<end]
            offset = end + 1
            if slice.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            guard String(validating: slice, as: UTF8.self) != nil else {
                try fail(.encoding, "line \(line) is not valid UTF-8", line, help: "convert the file to UTF-8")
                continue
            }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(slice))) as? [String: Any] else {
                try fail(.json, "line \(line) is not a JSON object", line, help: #"write {"tokens": [...], "tags": [...]}"#)
                continue
            }
            guard let tokens = object[keys.tokens] as? [String], let named = object[keys.tags] as? [String] else {
                try fail(.json, "line \(line) needs \"\(keys.tokens)\" and \"\(keys.tags)\", arrays of strings", line)
                continue
            }
            guard tokens.count == named.count, !tokens.isEmpty else {
                try fail(
                    .ragged, "line \(line) has \(tokens.count) tokens and \(named.count) tags; each token takes one tag", line)
                continue
            }
            if tokens.contains(where: \.isEmpty) {
                try fail(.null, "line \(line) has an empty token", line)
                continue
            }
            var ids: [Int] = []
            for tag in named {
                guard let id = index[tag] else {
                    try fail(
                        .category, "tag '\(tag)' on line \(line) is not one of the declared tags", line,
                        help: "declare it in the schema's tags, or fix the file (tags: \(tags.prefix(12).joined(separator: ", ")))")
                    break
                }
                ids.append(id)
            }
            guard ids.count == named.count else { continue }
            if let bio, let i = ids.indices.first(where: { scheme[ids[$0]].breaks(after: $0 > 0 ? scheme[ids[$0 - 1]] : nil) != nil }) {
                let after = i == 0 ? "at the start" : "after \(tags[ids[i - 1]])"
                try findings.report(
                    .bio, bio, "line \(line): \(tags[ids[i]]) (token \(i + 1)) \(after) does not continue its entity",
                    at: at(line), help: "an entity starts with B-")
            }
            out.tokens.append(tokens)
            out.tags.append(ids)
            out.lines.append(line)
        }
        if !findings.errors.isEmpty { throw DataError(findings.errors) }
        if out.count == 0 { throw DataError(.data(.empty), "'\(path)' has no sentences", at: at(max(line, 1))) }
        return (out, findings.warnings)
    }
}

/// A tag's place in the IOB2 scheme.
enum BIOTag: Equatable {
    case outside, begin(String), inside(String), other

    init(_ tag: String) {
        if tag == "O" {
            self = .outside
        } else if tag.hasPrefix("B-"), tag.count > 2 {
            self = .begin(String(tag.dropFirst(2)))
        } else if tag.hasPrefix("I-"), tag.count > 2 {
            self = .inside(String(tag.dropFirst(2)))
        } else {
            self = .other
        }
    }

    /// The entity type of an I-X that does not continue a B-X or I-X (after `previous`, nil at a
    /// sentence's start); nil when this tag breaks nothing.
    func breaks(after previous: BIOTag?) -> String? {
        guard case .inside(let type) = self else { return nil }
        switch previous {
        case .begin(let t) where t == type, .inside(let t) where t == type: return nil
        default: return type
        }
    }
}

/// A reader's errors (it stops after `DataLimits.maxErrors`) and warnings.
struct Findings {
    var errors: [Diagnostic] = [], warnings: [Diagnostic] = []

    mutating func report(
        _ id: DataDiagnostic, _ severity: Severity, _ message: String, at span: SourceSpan, help: String? = nil
    ) throws(DataError) {
        guard severity == .error else {
            warnings.append(Diagnostic(.data(id), severity, message, at: span, help: help))
            return
        }
        errors.append(Diagnostic(.data(id), .error, message, at: span, help: help))
        if errors.count >= DataLimits.maxErrors {
            errors.append(Diagnostic(.data(.tooManyErrors), .error, "stopped after \(errors.count) errors", at: nil))
            throw DataError(errors)
        }
    }
}

extension TokenSentences {
    /// The sentences as a table of two columns, the tokens and the tags (each cell a sequence joined by
    /// `Column.separator`), a row per sentence; `origins` gives each sentence's file and first line.
    public func table(tokens: ColumnSchema, tags: ColumnSchema, file: String, digest: ContentHash.FileDigest?)
        throws(DataError) -> Table
    {
        var tokenCells: [String] = [], tagCells: [String] = []
        tokenCells.reserveCapacity(count)
        tagCells.reserveCapacity(count)
        let separator = String(Column.separator)
        for (i, sentence) in self.tokens.enumerated() {
            if let bad = sentence.firstIndex(where: { $0.contains(Column.separator) }) {
                throw DataError(
                    .data(.encoding), "token \(bad + 1) of the sentence on line \(lines[i]) holds the control character U+001F",
                    at: .data(file, line: lines[i]))
            }
            tokenCells.append(sentence.joined(separator: separator))
            tagCells.append(self.tags[i].map { tags.values[$0] }.joined(separator: separator))
        }
        var origins = RowOrigins()
        origins.files = [.init(path: file, firstRow: 0, digest: digest)]
        origins.lines = lines
        var mask = NullMask()
        mask.extend(by: count)
        return Table(
            columns: [
                Column(schema: tokens, values: .string(tokenCells), nulls: mask),
                Column(schema: tags, values: .string(tagCells), nulls: mask),
            ], rowCount: count, origins: origins)
    }
}
