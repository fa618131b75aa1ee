import Foundation
public import KilnDiagnostics

/// Decodes a syntax tree by a schema into a `SpecValue`, reporting every mismatch it finds: unknown
/// fields (with a did-you-mean), wrong types (naming the expected one), missing required fields (at the
/// enclosing mapping), bad enum values, and matrix keys that name no field.
public struct SchemaDecoder {
    public private(set) var diagnostics: [Diagnostic] = []
    /// Most cells one matrix may expand to.
    public var maxMatrixCells = 1024

    public init() {}

    private mutating func error(_ id: DiagnosticID, _ message: String, at span: SourceSpan, help: String? = nil) {
        diagnostics.append(Diagnostic(id, .error, message, at: span, help: help))
    }

    /// Decodes `node` as `type`; nil when it does not fit (the reason is a diagnostic).
    /// `name` is the field's name for messages; `enclosing` is the object a matrix sweeps.
    public mutating func decode(
        _ node: YAMLNode, as type: SchemaType, name: String, keySpan: SourceSpan? = nil,
        enclosing: ObjectSchema? = nil
    ) -> SpecValue? {
        var value = decodeValue(node, as: type, name: name, enclosing: enclosing)
        value?.keySpan = keySpan
        return value
    }

    private mutating func decodeValue(
        _ node: YAMLNode, as type: SchemaType, name: String, enclosing: ObjectSchema?
    ) -> SpecValue? {
        let span = node.span
        func mismatch(_ help: String? = nil) -> SpecValue? {
            error(
                .spec(.typeMismatch), "expected \(type.expectation) for '\(name)', found \(node.describedKind)",
                at: span, help: help)
            return nil
        }
        switch type {
        case .string(let format):
            guard let s = node.scalar, !node.isNull else { return mismatch() }
            if let format, !check(s, format: format, name: name, at: span) { return nil }
            return SpecValue(.string(s), span: span, text: s)

        case .scalarText:
            guard let s = node.scalar, !node.isNull else { return mismatch() }
            return SpecValue(.string(s), span: span, text: s)

        case .enumeration(let words):
            guard let s = node.scalar, !node.isNull else { return mismatch() }
            guard words.contains(s) else {
                error(
                    .spec(.invalidValue), "'\(s)' is not a valid value for '\(name)'", at: span,
                    help: DidYouMean.help(for: s, among: words))
                return nil
            }
            return SpecValue(.string(s), span: span, text: s)

        case .integer(let min, let max):
            guard let s = node.scalar, !node.isNull else { return mismatch() }
            guard node.style == .plain else {
                return ScalarParsing.integer(s) != nil
                    ? mismatch("drop the quotes to write the number \(s)") : mismatch()
            }
            guard let i = ScalarParsing.integer(s) else {
                return ScalarParsing.number(s) != nil ? mismatch("'\(name)' takes a whole number") : mismatch()
            }
            if let min, i < min { return outOfRange(s, name, "at least \(min)", span) }
            if let max, i > max { return outOfRange(s, name, "at most \(max)", span) }
            return SpecValue(.integer(i), span: span, text: s)

        case .number(let min, let max, let exclusive):
            guard let s = node.scalar, !node.isNull else { return mismatch() }
            // A fraction (0 to 1) written as a percentage: `70%`, or `70`.
            let isFraction = min == 0 && max == 1
            let percent = s.hasSuffix("%") ? ScalarParsing.number(String(s.dropLast())) : nil
            if isFraction, let p = percent, p >= 0, p <= 100 {
                return mismatch("a fraction: write \((p / 100).diagnosticText) for \(s)")
            }
            guard node.style == .plain else {
                return ScalarParsing.number(s) != nil
                    ? mismatch("drop the quotes to write the number \(s)") : mismatch()
            }
            guard let d = ScalarParsing.number(s) else { return mismatch() }
            if let min, exclusive ? d <= min : d < min {
                return outOfRange(
                    s, name, exclusive ? "greater than \(min.diagnosticText)" : "at least \(min.diagnosticText)", span)
            }
            if let max, d > max {
                let help = isFraction && d >= 2 && d <= 100 ? "a fraction: write \((d / 100).diagnosticText) for \(s)%" : nil
                return outOfRange(s, name, "at most \(max.diagnosticText)", span, help: help)
            }
            return SpecValue(.number(d), span: span, text: s)

        case .boolean:
            guard let s = node.scalar, !node.isNull else { return mismatch() }
            guard node.style == .plain, let b = ScalarParsing.boolean(s) else {
                if ScalarParsing.isYAML11Boolean(s) { return mismatch("kiln reads YAML 1.2: write true or false") }
                return mismatch(node.style == .plain ? nil : "drop the quotes")
            }
            return SpecValue(.bool(b), span: span, text: s)

        case .duration:
            guard let s = node.scalar, !node.isNull else { return mismatch() }
            guard let d = ScalarParsing.duration(s) else {
                return ScalarParsing.number(s) != nil
                    ? mismatch("add a unit: '\(s)s' for seconds, '\(s)m' for minutes") : mismatch()
            }
            // Bounded to what every consumer can hold (nanosecond counts in 64 bits, timers, sleeps).
            guard d <= ScalarParsing.maxDuration else {
                // Its own id: the JSON Schema's pattern cannot bound a duration's value.
                error(.spec(.durationTooLong), "'\(name)' must be at most 366d, found \(s)", at: span)
                return nil
            }
            return SpecValue(.duration(d), span: span, text: s)

        case .size:
            guard let s = node.scalar, !node.isNull, let b = ScalarParsing.size(s) else {
                return mismatch("units are B, KB, MB, GB (powers of 1000) and KiB, MiB, GiB (powers of 1024)")
            }
            return SpecValue(.size(b), span: span, text: s)

        case .percentage:
            guard let s = node.scalar, !node.isNull else { return mismatch() }
            let fraction: Double
            if let p = ScalarParsing.percentage(s) {
                fraction = p
            } else if node.style == .plain, let n = ScalarParsing.number(s) {
                fraction = n / 100
            } else {
                return mismatch()
            }
            guard fraction >= 0 && fraction <= 1 else { return outOfRange(s, name, "between 0% and 100%", span) }
            return SpecValue(.percentage(fraction), span: span, text: s)

        case .list(let element, let minItems):
            guard let items = node.items else {
                return mismatch(node.scalar != nil ? "write a list: [\(node.scalar ?? "")]" : nil)
            }
            guard items.count >= minItems else {
                error(
                    .spec(.emptyList), "'\(name)' needs at least \(minItems) item\(minItems == 1 ? "" : "s")", at: span)
                return nil
            }
            var values: [SpecValue] = []
            for item in items {
                if let v = decodeValue(item, as: element, name: name, enclosing: enclosing) { values.append(v) }
            }
            return SpecValue(.list(values), span: span)

        case .map(let element, let keyFormat):
            guard let entries = node.entries else { return mismatch() }
            var fields: [SpecField] = []
            for entry in entries {
                if let keyFormat, !check(entry.name, format: keyFormat, name: "a key of '\(name)'", at: entry.key.span)
                {
                    continue
                }
                guard let v = decode(entry.value, as: element, name: entry.name, keySpan: entry.key.span) else {
                    continue
                }
                fields.append(SpecField(name: entry.name, value: v))
            }
            return SpecValue(.object(fields), span: span)

        case .object(let schema):
            guard let entries = node.entries else { return mismatch() }
            return decodeObject(entries, schema: schema, name: name, span: span)

        case .tagged(let tag, let variants, _):
            guard let entries = node.entries else { return mismatch() }
            guard let tagEntry = entries.first(where: { $0.name == tag }) else {
                error(
                    .spec(.missingField), "missing required field '\(tag)' in '\(name)'", at: span,
                    help: "'\(tag)' is one of " + variants.map { "'\($0.value)'" }.joined(separator: ", "))
                return nil
            }
            let words = variants.map(\.value)
            guard let word = tagEntry.value.scalar, let variant = variants.first(where: { $0.value == word }) else {
                error(
                    .spec(.invalidValue), "\(tagEntry.value.describedKind) is not a valid value for '\(tag)'",
                    at: tagEntry.value.span,
                    help: DidYouMean.help(for: tagEntry.value.scalar ?? "", among: words))
                return nil
            }
            let rest = entries.filter { $0.name != tag }
            guard var object = decodeObject(rest, schema: variant.schema, name: "\(tag): \(word)", span: span) else {
                return nil
            }
            let tagValue = SpecValue(.string(word), span: tagEntry.value.span, keySpan: tagEntry.key.span, text: word)
            if case .object(let fields) = object.kind {
                object.kind = .object([SpecField(name: tag, value: tagValue)] + fields)
            }
            return object

        case .oneOf(let alternatives):
            for alternative in alternatives where fits(node, alternative) {
                return decodeValue(node, as: alternative, name: name, enclosing: enclosing)
            }
            return mismatch()

        case .matrix:
            guard let entries = node.entries, let enclosing else { return mismatch() }
            return decodeMatrix(entries, of: enclosing, span: span)
        }
    }

    /// Whether a node's kind is the kind an alternative takes (a word, a list, a mapping).
    private func fits(_ node: YAMLNode, _ type: SchemaType) -> Bool {
        switch (node.kind, type) {
        case (.sequence, .list): return true
        case (.mapping, .object), (.mapping, .map), (.mapping, .tagged), (.mapping, .matrix): return true
        case (.scalar(let s, _), .enumeration(let words)): return words.contains(s)
        case (.scalar, .list), (.scalar, .object), (.scalar, .map), (.scalar, .tagged), (.scalar, .matrix): return false
        case (.scalar, .oneOf(let alts)): return alts.contains { fits(node, $0) }
        case (.scalar, _): return true
        default: return false
        }
    }

    private mutating func decodeObject(
        _ entries: [YAMLEntry], schema: ObjectSchema, name: String, span: SourceSpan
    ) -> SpecValue? {
        // A misspelt required field is reported once, as unknown with its suggestion, not also as missing.
        var suggested: Set<String> = []
        for entry in entries where schema.field(entry.name) == nil {
            let names = schema.fields.map(\.name)
            if let s = DidYouMean.suggestion(for: entry.name, among: names) { suggested.insert(s) }
            error(
                .spec(.unknownField), "unknown field '\(entry.name)' in '\(name)'", at: entry.key.span,
                help: DidYouMean.help(for: entry.name, among: names))
        }
        // In schema order, not the order written: the resolved value (and every fingerprint) is canonical.
        var fields: [SpecField] = []
        fields.reserveCapacity(schema.fields.count)
        for field in schema.fields {
            if let entry = entries.first(where: { $0.name == field.name }) {
                if entry.value.isNull && !field.required { continue }
                guard
                    let v = decode(
                        entry.value, as: field.type, name: field.name, keySpan: entry.key.span, enclosing: schema)
                else { continue }
                fields.append(SpecField(name: field.name, value: v))
            } else if field.required {
                guard !suggested.contains(field.name) else { continue }
                error(
                    .spec(.missingField), "missing required field '\(field.name)' in '\(name)'", at: span,
                    help: "add '\(field.name):' (\(field.type.expectation))")
            } else if let text = field.defaultText {
                let node =
                    text == "{}"
                    ? YAMLNode(.mapping([]), span: span) : YAMLNode(.scalar(text, .plain), span: span)
                if var v = decode(node, as: field.type, name: field.name, enclosing: schema) {
                    v.isDefault = true
                    fields.append(SpecField(name: field.name, value: v))
                }
            }
        }
        return SpecValue(.object(fields), span: span)
    }

    /// A matrix: each key a dotted path to a scalar field of the enclosing object, each value a
    /// non-empty list of values of that field's type.
    private mutating func decodeMatrix(_ entries: [YAMLEntry], of schema: ObjectSchema, span: SourceSpan) -> SpecValue?
    {
        var fields: [SpecField] = []
        var cells = 1
        for entry in entries {
            let path = entry.name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard let fieldType = Self.leafType(path, in: schema) else {
                error(
                    .spec(.unknownMatrixKey), "matrix key '\(entry.name)' names no field of the Training spec",
                    at: entry.key.span,
                    help: DidYouMean.help(for: entry.name, among: Self.leafPaths(schema), listing: false)
                        ?? "a key is a dotted path to a field, like 'optimizer.learning_rate' or 'batch_size'")
                continue
            }
            guard let items = entry.value.items, !items.isEmpty else {
                error(
                    .spec(.typeMismatch), "expected a non-empty list of values for matrix key '\(entry.name)'",
                    at: entry.value.span, help: "write the values to sweep as a list: [\(entry.value.scalar ?? "…")]")
                continue
            }
            var values: [SpecValue] = []
            for item in items {
                if let v = decodeValue(item, as: fieldType, name: entry.name, enclosing: nil) { values.append(v) }
            }
            cells = cells.multipliedReportingOverflow(by: items.count).overflow ? Int.max : cells * items.count
            fields.append(
                SpecField(
                    name: entry.name, value: SpecValue(.list(values), span: entry.value.span, keySpan: entry.key.span)))
        }
        if cells > maxMatrixCells {
            error(
                .spec(.matrixTooLarge),
                "the matrix expands to \(cells == Int.max ? "too many" : String(cells)) cells, over the limit of \(maxMatrixCells)",
                at: span, help: "sweep fewer values, or split the sweep into several Trainings")
            return nil
        }
        return SpecValue(.object(fields), span: span)
    }

    /// Fields a matrix may sweep: scalar leaves of nested objects (not lists, not the matrix).
    static func leafType(_ path: [String], in schema: ObjectSchema) -> SchemaType? {
        guard let head = path.first, let field = schema.field(head), head != "matrix" else { return nil }
        let rest = Array(path.dropFirst())
        switch field.type {
        case .object(let inner): return rest.isEmpty ? nil : leafType(rest, in: inner)
        case .list, .map, .tagged, .matrix: return nil
        case .oneOf(let alts):
            guard rest.isEmpty, !alts.contains(where: { if case .list = $0 { true } else { false } }) else {
                return nil
            }
            return field.type
        default: return rest.isEmpty ? field.type : nil
        }
    }

    static func leafPaths(_ schema: ObjectSchema, prefix: String = "") -> [String] {
        schema.fields.flatMap { field -> [String] in
            let path = prefix + field.name
            if case .object(let inner) = field.type { return leafPaths(inner, prefix: path + ".") }
            return leafType([field.name], in: schema) != nil ? [path] : []
        }
    }

    private mutating func outOfRange(
        _ s: String, _ name: String, _ bound: String, _ span: SourceSpan, help: String? = nil
    ) -> SpecValue? {
        error(.spec(.outOfRange), "'\(name)' must be \(bound), found \(s)", at: span, help: help)
        return nil
    }

    private mutating func check(_ s: String, format: StringFormat, name: String, at span: SourceSpan) -> Bool {
        switch format {
        case .name:
            guard Self.isName(s) else {
                error(
                    .spec(.invalidName), "'\(s)' is not a valid name for '\(name)'", at: span,
                    help: "names start with a lower-case letter and use only a-z, 0-9 and '-' (at most 63 characters)"
                        + (Self.isName(s.lowercased().replacingOccurrences(of: "_", with: "-"))
                            ? ": '\(s.lowercased().replacingOccurrences(of: "_", with: "-"))'" : ""))
                return false
            }
        case .alias:
            guard ModelNames.isAlias(s) else {
                if Self.isName(s) {
                    error(
                        .spec(.reservedAlias), "'\(s)' cannot be an alias or environment: it names a version in a reference",
                        at: span, help: "'latest' and 'vN' mean versions (NAME@latest, NAME@v3); choose another name")
                } else {
                    error(
                        .spec(.invalidName), "'\(s)' is not a valid name for '\(name)'", at: span,
                        help: "names start with a lower-case letter and use only a-z, 0-9 and '-' (at most 63 characters)")
                }
                return false
            }
        case .modelReference:
            guard ModelReference(s) != nil else {
                error(
                    .spec(.invalidReference), "'\(s)' is not a model version reference", at: span,
                    help: "write NAME@vN (a version), NAME@ALIAS (like @production) or NAME@latest")
                return false
            }
        case .secretReference:
            let isReference =
                (s.hasPrefix("${env:") || s.hasPrefix("${file:")) && s.hasSuffix("}") && !s.dropLast().contains("}")
                && s.count > (s.hasPrefix("${env:") ? 7 : 8)
            guard isReference else {
                // Never echo what may be the secret itself.
                error(
                    .spec(.inlineSecret), "'\(name)' must be a secret reference, not an inline value", at: span,
                    help: "write ${env:VARIABLE} or ${file:path/to/secret}; secrets are never written in specs")
                return false
            }
        case .sha256, .sha256OrSecret:
            if format == .sha256OrSecret && (s.hasPrefix("${env:") || s.hasPrefix("${file:")) && s.hasSuffix("}")
                && !s.dropLast().contains("}")
            {
                return true
            }
            guard s.utf8.count == 64, s.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
                error(
                    .spec(.invalidDigest), "'\(name)' must be a SHA-256 digest: 64 lower-case hex characters", at: span,
                    help: "'kiln token new PRINCIPAL' prints a token and the digest line to paste")
                return false
            }
        case .regex:
            // Swift's Regex, the engine the data layer matches with: a pattern kiln check accepts is one the
            // reader can use.
            guard (try? Regex(s)) != nil else {
                error(.spec(.invalidRegex), "'\(s)' is not a valid regular expression", at: span)
                return false
            }
        }
        return true
    }

    static func isName(_ s: String) -> Bool { ModelNames.isName(s) }
}
