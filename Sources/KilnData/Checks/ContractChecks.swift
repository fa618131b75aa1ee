public import KilnDiagnostics

/// One check of a dataset's contract (`checks:` in the spec).
public struct CheckSpec: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case notNull = "not_null"
        case range
        case unique
        case rowCount = "row_count"
        case classBalance = "class_balance"
        case allowedValues = "allowed_values"
        case pattern
        /// A tags column's BIO consistency: every I-X continues a B-X or I-X.
        case bio
    }

    public enum Level: String, Sendable, Codable { case error, warn }

    public var kind: Kind
    /// The columns (`columns:` or `column:`); class_balance defaults to the label when empty.
    public var columns: [String]
    public var min: Double?
    public var max: Double?
    public var maxRatio: Double?
    /// allowed_values: nil means the column's schema `values`.
    public var values: [String]?
    public var pattern: String?
    public var severity: Level
    /// Where the check is written in the spec, for messages.
    public var span: SourceSpan?

    public init(
        _ kind: Kind, columns: [String] = [], min: Double? = nil, max: Double? = nil, maxRatio: Double? = nil,
        values: [String]? = nil, pattern: String? = nil, severity: Level = .error, span: SourceSpan? = nil
    ) {
        self.kind = kind
        self.columns = columns
        self.min = min
        self.max = max
        self.maxRatio = maxRatio
        self.values = values
        self.pattern = pattern
        self.severity = severity
        self.span = span
    }
}

/// The outcome of one check: how many rows failed, and the first few with their file and line.
public struct CheckResult: Sendable, Codable, Equatable {
    public struct Example: Sendable, Codable, Equatable {
        public var file: String
        public var line: Int
        /// The row's values in the checked columns (pii columns masked), in order.
        public var values: [String]
        /// What is wrong with it, when the values do not say (a duplicate's first line).
        public var note: String?
    }

    public var check: CheckSpec
    public var passed: Bool
    public var failedRows: Int
    public var totalRows: Int
    /// One line for people: "3 of 150 rows have an empty 'sepal_length'".
    public var summary: String
    public var examples: [Example]
}

/// The data contract's verdict on a table.
public struct ContractReport: Sendable, Codable, Equatable {
    public var results: [CheckResult]

    /// True when an error-severity check failed: the data must not be used.
    public var failed: Bool { results.contains { !$0.passed && $0.check.severity == .error } }

    /// Failed checks as diagnostics at the check's position in the spec, each example a note at its row.
    public var diagnostics: [Diagnostic] {
        results.filter { !$0.passed }.map { r in
            Diagnostic(
                .data(.failed(r.check.kind)), r.check.severity == .error ? .error : .warning, r.summary,
                at: r.check.span,
                notes: r.examples.map { e in
                    DiagnosticNote(
                        "\(r.check.columns.isEmpty ? "" : r.check.columns.joined(separator: ", ") + " = ")"
                            + e.values.joined(separator: ", ") + (e.note.map { " (\($0))" } ?? ""),
                        at: .data(e.file, line: e.line))
                },
                help: !r.examples.isEmpty && r.failedRows > r.examples.count
                    ? "showing the first \(r.examples.count) of \(r.failedRows) rows" : nil)
        }
    }
}

/// Runs a dataset's checks over its table.
public struct ContractChecker: Sendable {
    public var schema: DataSchema
    /// Masks pii columns in the examples; nil shows them as `<pii>`.
    public var masker: PIIMasker?
    /// Example rows kept per failed check.
    public var exampleLimit = 5

    public init(schema: DataSchema, masker: PIIMasker? = nil) {
        self.schema = schema
        self.masker = masker
    }

    public func run(_ checks: [CheckSpec], on table: Table) throws(DataError) -> ContractReport {
        var results: [CheckResult] = []
        for check in checks { results.append(try run(check, on: table)) }
        return ContractReport(results: results)
    }

    private func column(_ name: String, _ table: Table, _ check: CheckSpec) throws(DataError) -> Column {
        guard let c = table.column(name) else {
            throw DataError(
                .data(.checkColumn), "check '\(check.kind.rawValue)' names '\(name)', which was not read",
                at: check.span, help: "name a column of the schema that is not 'ignore: true'")
        }
        return c
    }

    /// A cell for an example: pii masked, null shown as empty.
    private func shown(_ c: Column, _ r: Int) -> String {
        if c.schema.type == .tokens || c.schema.type == .tags {
            var items = c.sequence(r).joined(separator: " ")
            if items.count > 80 { items = String(items.prefix(80)) + "…" }
            guard c.schema.pii else { return items }
            return masker?.mask(items) ?? "<pii>"
        }
        guard let text = c.text(r) else { return "(empty)" }
        guard c.schema.pii else { return text }
        return masker?.mask(text) ?? "<pii>"
    }

    public func run(_ check: CheckSpec, on table: Table) throws(DataError) -> CheckResult {
        let n = table.rowCount
        var columns: [Column] = []
        var names = check.columns
        if (check.kind == .classBalance || check.kind == .bio) && names.isEmpty, let label = schema.label { names = [label] }
        for name in names { columns.append(try column(name, table, check)) }
        var failing: [Int] = []
        var notes: [Int: String] = [:]
        var summary = ""
        let list = names.map { "'\($0)'" }.joined(separator: ", ")

        switch check.kind {
        case .notNull:
            for r in 0..<n where columns.contains(where: { $0.nulls.isNull(r) }) { failing.append(r) }
            summary = "\(failing.count) of \(n) rows have an empty \(list)"
        case .range:
            let c = columns[0]
            let lo = check.min ?? -.infinity, hi = check.max ?? .infinity
            for r in 0..<n {
                if let v = c.number(r), v < lo || v > hi { failing.append(r) }
            }
            let bounds =
                check.min != nil && check.max != nil
                ? "[\(lo.diagnosticText), \(hi.diagnosticText)]"
                : check.min != nil ? "≥ \(lo.diagnosticText)" : "≤ \(hi.diagnosticText)"
            summary = "\(failing.count) of \(n) rows have \(list) outside \(bounds)"
        case .unique:
            var first: [String: Int] = [:]
            for r in 0..<n {
                let key = columns.map { $0.text(r) ?? "\u{0}" }.joined(separator: "\u{1F}")
                if let f = first[key] {
                    failing.append(r)
                    notes[r] = "same as line \(table.origins.origin(of: f).line)"
                } else {
                    first[key] = r
                }
            }
            summary = "\(failing.count) of \(n) rows repeat the \(list) of an earlier row"
        case .rowCount:
            let low = check.min.map { Double(n) < $0 } ?? false
            let high = check.max.map { Double(n) > $0 } ?? false
            summary =
                low
                ? "the data has \(n) rows; the contract asks for at least \(check.min?.diagnosticText ?? "")"
                : "the data has \(n) rows; the contract allows at most \(check.max?.diagnosticText ?? "")"
            return CheckResult(
                check: check, passed: !(low || high), failedRows: low || high ? n : 0, totalRows: n,
                summary: low || high ? summary : "\(n) rows", examples: [])
        case .classBalance:
            guard let c = columns.first else {
                throw DataError(.data(.checkColumn), "'class_balance' needs a column or a label", at: check.span)
            }
            var counts: [String: Int] = [:]
            var order: [String] = c.schema.type == .category ? c.schema.values : []
            for v in order { counts[v] = 0 }
            for r in 0..<n {
                guard let t = c.text(r) else { continue }
                if counts[t] == nil { order.append(t) }
                counts[t, default: 0] += 1
            }
            let present = order.map { ($0, counts[$0] ?? 0) }
            guard let most = present.max(by: { $0.1 < $1.1 }), let least = present.min(by: { $0.1 < $1.1 }) else {
                return CheckResult(
                    check: check, passed: true, failedRows: 0, totalRows: n, summary: "no classes", examples: [])
            }
            let ratio = least.1 == 0 ? Double.infinity : Double(most.1) / Double(least.1)
            let bound = check.maxRatio ?? .infinity
            let passed = ratio <= bound
            summary =
                least.1 == 0
                ? "class '\(least.0)' of \(list) has no rows (the most common, '\(most.0)', has \(most.1))"
                : "the most common class of \(list), '\(most.0)' (\(most.1) rows), is \(ratio.diagnosticText)× the rarest, '\(least.0)' (\(least.1) rows); the contract allows \(bound.diagnosticText)×"
            return CheckResult(
                check: check, passed: passed, failedRows: passed ? 0 : least.1, totalRows: n,
                summary: passed ? "ratio \(ratio.diagnosticText)" : summary, examples: [])
        case .allowedValues:
            let c = columns[0]
            let allowed = Set(check.values ?? c.schema.values)
            for r in 0..<n {
                if let t = c.text(r), !allowed.contains(t) || (c.schema.type == .category && c.number(r) ?? 0 < 0) {
                    failing.append(r)
                }
            }
            summary = "\(failing.count) of \(n) rows have a value of \(list) outside the allowed values"
        case .pattern:
            let c = columns[0]
            let regex: Regex<AnyRegexOutput>
            do {
                regex = try Regex(check.pattern ?? "")
            } catch {
                throw DataError(
                    .data(.pattern), "the pattern '\(check.pattern ?? "")' is not a valid regular expression",
                    at: check.span)
            }
            for r in 0..<n {
                if let t = c.text(r), (try? regex.wholeMatch(in: t)) == nil { failing.append(r) }
            }
            summary = "\(failing.count) of \(n) rows have \(list) not matching '\(check.pattern ?? "")'"
        case .bio:
            guard let c = columns.first else {
                throw DataError(.data(.checkColumn), "'bio' needs a tags column or a label", at: check.span)
            }
            let scheme = Dictionary(c.schema.values.map { ($0, BIOTag($0)) }, uniquingKeysWith: { a, _ in a })
            for r in 0..<n {
                var previous: BIOTag?
                for (i, tag) in c.sequence(r).enumerated() {
                    let current = scheme[tag] ?? BIOTag(tag)
                    if let type = current.breaks(after: previous) {
                        failing.append(r)
                        let (file, start) = table.origins.origin(of: r)
                        // CoNLL: a token per line from the sentence's first; jsonl: the sentence's line.
                        let line = file.hasSuffix(".jsonl") ? start : start + i
                        notes[r] = "token \(i + 1), line \(line): \(tag) after \(i == 0 ? "the start" : c.sequence(r)[i - 1]) does not continue a \(type) entity"
                        break
                    }
                    previous = current
                }
            }
            summary = "\(failing.count) of \(n) sentences have an I- tag that does not continue its entity (BIO)"
        }
        let examples = failing.prefix(exampleLimit).map { r in
            let (file, line) = table.origins.origin(of: r)
            return CheckResult.Example(
                file: file, line: line, values: columns.map { shown($0, r) }, note: notes[r])
        }
        return CheckResult(
            check: check, passed: failing.isEmpty, failedRows: failing.count, totalRows: n,
            summary: failing.isEmpty ? "\(n) rows pass" : summary, examples: Array(examples))
    }
}
