import Foundation

/// Infers a Dataset spec from a data file: each column's type, nullability, observed range and, when a
/// text column takes few values, its categories. `kiln data infer` prints the result as YAML to paste.
public struct SchemaInference: Sendable {
    /// A text column with at most this many distinct values becomes a category (past 20 values, when
    /// each is seen about five times on average: fewer repeats make an identifier).
    public var maxCategories = 200
    /// Cells read as missing besides the empty one: the common spellings (as pandas reads them), and the
    /// user's. Those a file holds become the source's `null_values`.
    public var nullTokens: Set<String> = SchemaInference.commonNullTokens

    public static let commonNullTokens: Set<String> = [
        "NA", "N/A", "n/a", "#N/A", "<NA>", "NaN", "nan", "NULL", "null", "None", "?",
    ]

    public init() {}

    /// What one column holds.
    public struct ColumnStats: Sendable, Equatable {
        public var name: String
        public var rows = 0
        public var nulls = 0
        public var allInt = true
        public var allFloat = true
        public var allBool = true
        public var min = Double.infinity
        public var max = -Double.infinity
        /// Distinct texts in order of appearance, up to the category limit + 1.
        public var distinct: [String] = []
        var seen: Set<String> = []
        /// Distinct texts counted up to `distinctCap` (for saying why a column is not a category).
        public var distinctCount = 0
        static let distinctCap = 100_000
        /// Cells that were a null token, by token.
        public var nullTokens: [String: Int] = [:]
        /// Whole numbers written with a decimal point (`129.0`) among the integers.
        public var decimalIntegers = 0
        public var maxLength = 0
        public var multiline = false

        init(name: String) { self.name = name }

        /// One cell; `isString`: a JSON string, which is text even when it reads like a number.
        mutating func add(text: String?, isString: Bool = false, limit: Int, nullTokens tokens: Set<String> = []) {
            rows += 1
            guard let text, !text.isEmpty else {
                nulls += 1
                return
            }
            if !isString, tokens.contains(text) {
                nulls += 1
                nullTokens[text, default: 0] += 1
                return
            }
            if isString { (allInt, allFloat, allBool) = (false, false, false) }
            let bytes = Array(text.utf8)
            bytes.withUnsafeBufferPointer { b in
                guard let base = b.baseAddress else { return }
                if allInt {
                    if case .failure = NumberParsing.int(base, count: b.count) {
                        allInt = false
                    } else if b.contains(0x2E) {
                        decimalIntegers += 1
                    }
                }
                if allFloat {
                    if case .success(let v) = NumberParsing.double(base, count: b.count) {
                        min = Swift.min(min, v)
                        max = Swift.max(max, v)
                    } else {
                        allFloat = false
                    }
                }
                // 0 and 1 alone are integers; booleans are words.
                if allBool, NumberParsing.bool(base, count: b.count) == nil || b.count == 1 { allBool = false }
            }
            maxLength = Swift.max(maxLength, text.count)
            if text.contains("\n") { multiline = true }
            if distinctCount < Self.distinctCap, seen.insert(text).inserted {
                distinctCount += 1
                if distinct.count <= limit { distinct.append(text) }
            }
        }

        /// Why the column is not a feature as inferred, nil when it is one.
        func ignoredBecause(maxCategories: Int, label: String?) -> String? {
            let present = rows - nulls
            if present == 0 { return "every cell is empty" }
            if allBool || allInt || allFloat || name == label { return nil }
            if multiline || maxLength > 100 { return "free text (up to \(maxLength) characters): a transformer's input, not a table feature" }
            let count = distinctCount >= Self.distinctCap ? "more than \(Self.distinctCap)" : "\(distinctCount)"
            if distinctCount > maxCategories {
                return "\(count) distinct values in \(present) rows, more than --max-categories \(maxCategories): an identifier or free text"
            }
            return "\(count) distinct values in \(present) rows: too few repeats for a category (an identifier?)"
        }

        /// The column's inferred schema.
        func schema(maxCategories: Int) -> ColumnSchema {
            let present = rows - nulls
            var c = ColumnSchema(name, .string, nullable: nulls > 0)
            if present == 0 {
                c.type = .string
                c.ignore = true
            } else if allBool {
                c.type = .bool
            } else if allInt {
                c.type = .int
            } else if allFloat {
                c.type = .float
            } else if distinctCount <= maxCategories && !multiline && distinctCount < present
                && (distinctCount <= 20 || distinctCount * 5 <= present)
            {
                c.type = .category
                c.values = distinct.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            } else {
                c.type = multiline || maxLength > 100 ? .text : .string
            }
            return c
        }
    }

    /// The inferred columns and their statistics.
    public struct Result: Sendable {
        public var columns: [ColumnStats]
        public var schema: DataSchema
        public var rows: Int
        public var format: SourceFormat
        public var maxCategories: Int

        /// The null tokens the file holds, most frequent first, with their counts.
        public var nullTokens: [(token: String, cells: Int)] {
            var total: [String: Int] = [:]
            for c in columns { for (t, n) in c.nullTokens { total[t, default: 0] += n } }
            return total.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { ($0.key, $0.value) }
        }

        /// What a person should know about the inference: tokens read as missing, columns left out and why,
        /// whole numbers written with a decimal point.
        public var notes: [String] {
            var out: [String] = []
            let tokens = nullTokens
            if !tokens.isEmpty {
                let list = tokens.map { "'\($0.token)' (\($0.cells) cells)" }.joined(separator: ", ")
                let columns = self.columns.filter { !$0.nullTokens.isEmpty }.map(\.name)
                out.append(
                    "read as missing: \(list), in \(columns.joined(separator: ", ")); the spec says so in 'source.null_values'")
            }
            for (c, stats) in zip(schema.columns, columns) where c.ignore {
                if let why = stats.ignoredBecause(maxCategories: maxCategories, label: schema.label) {
                    out.append("column '\(c.name)' is ignored: \(why)")
                }
            }
            for (c, stats) in zip(schema.columns, columns) where c.type == .int && stats.decimalIntegers > 0 {
                out.append("column '\(c.name)': whole numbers written with a decimal point (\(stats.decimalIntegers) cells like '129.0') are read as integers")
            }
            return out
        }
    }

    public func infer(_ source: SourceConfig, label: String? = nil) throws(DataError) -> Result {
        let files = try TableReader.files(source)
        var stats: [ColumnStats] = []
        var index: [String: Int] = [:]
        var rows = 0
        let format = source.format ?? SourceFormat(extensionOf: files[0]) ?? .csv
        let tokens = nullTokens.union(source.nullValues ?? [])
        for file in files {
            switch format {
            case .conll:
                throw DataError(
                    .data(.header), "'\(file)' is a CoNLL file: its schema is a tokens and a tags column", at: nil,
                    help: "write it: columns: {tokens: {type: tokens}, tags: {type: tags, values: [O, B-PER, I-PER, …]}}, format: conll")
            case .csv, .tsv:
                let delimiter = source.delimiter ?? (format == .tsv ? 0x09 : 0x2C)
                var header: [String]?
                try DelimitedReader(path: file, delimiter: delimiter).read { (block) throws(DataError) in
                    for r in 0..<block.count {
                        if header == nil {
                            if source.header {
                                var names: [String] = []
                                for i in 0..<block.fieldCount(r) {
                                    names.append(block.string(r, i) ?? "column_\(i + 1)")
                                }
                                header = names
                                if stats.isEmpty {
                                    for (i, n) in names.enumerated() where index[n] == nil {
                                        index[n] = i
                                        stats.append(ColumnStats(name: n))
                                    }
                                    guard stats.count == names.count else {
                                        throw DataError(
                                            .data(.header), "the header names a column twice",
                                            at: .data(file, line: block.lines[r]))
                                    }
                                }
                                continue
                            }
                            header = (0..<block.fieldCount(r)).map { "column_\($0 + 1)" }
                            if stats.isEmpty { stats = (header ?? []).map { ColumnStats(name: $0) } }
                        }
                        guard block.fieldCount(r) == (header?.count ?? 0) else {
                            throw DataError(
                                .data(.ragged),
                                "this record has \(block.fieldCount(r)) fields; the first has \(header?.count ?? 0)",
                                at: .data(file, line: block.lines[r]))
                        }
                        for (i, name) in (header ?? []).enumerated() {
                            guard let k = index[name] ?? (source.header ? nil : i) else { continue }
                            stats[k].add(
                                text: block.string(r, i), limit: maxCategories,
                                // The reader matches null tokens unquoted only; so does inference.
                                nullTokens: block.field(r, i).quoted ? [] : tokens)
                        }
                        rows += 1
                    }
                }
            case .jsonl:
                try JSONLinesReader(path: file).read { (members, _, _) throws(DataError) in
                    var present = Set<String>()
                    for m in members {
                        if index[m.key] == nil {
                            index[m.key] = stats.count
                            var s = ColumnStats(name: m.key)
                            // Rows before this key first appeared had it missing.
                            for _ in 0..<rows { s.add(text: nil, limit: maxCategories) }
                            stats.append(s)
                        }
                        present.insert(m.key)
                        let text: String? =
                            switch m.value {
                            case .null: nil
                            case .bool(let b): b ? "true" : "false"
                            case .number(let t): String(decoding: t, as: UTF8.self)
                            case .string(let s): s
                            }
                        var isString = false
                        if case .string = m.value { isString = true }
                        if let k = index[m.key] { stats[k].add(text: text, isString: isString, limit: maxCategories) }
                    }
                    for s in stats.indices where !present.contains(stats[s].name) {
                        stats[s].add(text: nil, limit: maxCategories)
                    }
                    rows += 1
                }
            }
        }
        guard rows > 0 else {
            throw DataError(.data(.empty), "'\(source.path)' has no rows to infer from", at: nil)
        }
        var columns = stats.map { $0.schema(maxCategories: maxCategories) }
        var chosen = label
        if let label, !columns.contains(where: { $0.name == label }) {
            throw DataError(
                .data(.inferLabel), "the label '\(label)' is not a column of the file", at: nil,
                help: "the columns are: \(columns.map(\.name).joined(separator: ", "))")
        }
        if chosen == nil, let last = columns.last, last.type == .category || last.type == .bool {
            chosen = last.name
        }
        // Text columns cannot be features.
        for i in columns.indices where columns[i].type == .string || columns[i].type == .text {
            if columns[i].name != chosen { columns[i].ignore = true }
        }
        return Result(
            columns: stats, schema: DataSchema(columns: columns, label: chosen), rows: rows, format: format,
            maxCategories: maxCategories)
    }
}

extension SchemaInference.Result {
    /// A Dataset spec in kiln's YAML, ready to paste: the inferred schema, transforms that make every
    /// feature usable (standardize the numbers, one-hot the categories), and a split.
    public func yaml(name: String, path: String, source: SourceConfig) -> String {
        func q(_ s: String) -> String {
            let plain = s.range(of: #"^[A-Za-z_][A-Za-z0-9_.\-]*$"#, options: .regularExpression) != nil
            let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"]
            if plain && !reserved.contains(s.lowercased()) { return s }
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\t": out += "\\t"
                case "\r": out += "\\r"
                default:
                    if u.value < 0x20 {
                        out += String(format: "\\x%02X", u.value)
                    } else {
                        out.unicodeScalars.append(u)
                    }
                }
            }
            return out + "\""
        }
        func number(_ v: Double) -> String {
            v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(v)
        }
        let label = schema.label
        var lines: [String] = []
        lines.append(
            "# Inferred by `kiln data infer` from \(rows) row\(rows == 1 ? "" : "s"); review the types and the label.")
        lines.append("apiVersion: kiln/v1")
        lines.append("kind: Dataset")
        lines.append("metadata: {name: \(name)}")
        lines.append("spec:")
        lines.append("  source:")
        lines.append("    path: \(q(path))   # relative to this spec file's directory")
        lines.append("    format: \(format.rawValue)")
        if format != .jsonl {
            let tokens = nullTokens
            if !tokens.isEmpty {
                lines.append(
                    "    null_values: [\(tokens.map { q($0.token) }.joined(separator: ", "))]   # \(tokens.map { "\($0.cells) \($0.token)" }.joined(separator: ", "))")
            }
            if !source.header { lines.append("    header: false") }
            if let d = source.delimiter, d != (format == .tsv ? 0x09 : 0x2C) {
                lines.append("    delimiter: \(q(String(UnicodeScalar(d))))")
            }
        }
        lines.append("  schema:")
        lines.append("    columns:")
        for (c, stats) in zip(schema.columns, columns) {
            var fields = ["type: \(c.type.rawValue)"]
            if c.nullable { fields.append("nullable: true") }
            if !c.values.isEmpty { fields.append("values: [\(c.values.map(q).joined(separator: ", "))]") }
            if c.ignore { fields.append("ignore: true") }
            var line = "      \(q(c.name)): {\(fields.joined(separator: ", "))}"
            if c.type.isNumeric && stats.min <= stats.max {
                line += "   # \(number(stats.min)) to \(number(stats.max))"
            }
            if c.nullable { line += "\(line.contains("#") ? ";" : "   #") \(stats.nulls) missing" }
            if c.ignore, let why = stats.ignoredBecause(maxCategories: maxCategories, label: label) {
                line += "\(line.contains("#") ? ";" : "   #") \(why)"
            }
            lines.append(line)
        }
        if let label {
            lines.append("    label: \(q(label))")
        } else {
            lines.append("    # label: COLUMN   # the target; without one the dataset is for inference only")
        }
        let features = schema.featureNames.compactMap { schema.column($0) }
        let categories = features.filter { $0.type == .category }.map(\.name)
        let nullableNumbers = features.filter { $0.nullable && $0.type.isNumeric }
        let nullableCategories = features.filter { $0.nullable && ($0.type == .category || $0.type == .bool) }.map(
            \.name)
        var transforms: [String] = []
        if !nullableNumbers.isEmpty { transforms.append("{op: impute, strategy: median}") }
        if !nullableCategories.isEmpty {
            transforms.append(
                "{op: impute, columns: [\(nullableCategories.map(q).joined(separator: ", "))], strategy: most_frequent}"
            )
        }
        if features.contains(where: { $0.type.isNumeric }) { transforms.append("{op: standardize}") }
        if !categories.isEmpty {
            transforms.append("{op: one_hot, columns: [\(categories.map(q).joined(separator: ", "))]}")
        }
        if !transforms.isEmpty {
            lines.append("  transforms:")
            for t in transforms { lines.append("    - \(t)") }
        }
        let stratify = label.flatMap { schema.column($0) }.map { $0.type == .category || $0.type == .bool } ?? false
        lines.append("  split: {strategy: \(stratify ? "stratified" : "random"), train: 0.7, validation: 0.1, test: 0.2, seed: 0}")
        return lines.joined(separator: "\n") + "\n"
    }
}
