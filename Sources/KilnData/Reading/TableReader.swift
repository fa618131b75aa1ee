#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
public import KilnDiagnostics

/// Reads a dataset's files into a typed `Table`, by its schema: every cell parsed by its column's type and
/// checked against its constraints. A cell that does not fit is an error naming the file, line, column
/// and text; the reader collects up to `DataLimits.maxErrors` of them, then stops.
public struct TableReader: Sendable {
    public var source: SourceConfig
    public var schema: DataSchema
    /// Columns to keep; nil: all but ignored ones. Other columns are checked against the header, not parsed.
    public var keep: Set<String>?
    /// For inference data: a category outside the schema's values is kept as unknown (code -1) instead of
    /// being an error (one-hot makes it an all-zero block).
    public var allowUnknownCategories = false
    /// Hash each file while reading it (one pass; the hash covers exactly the bytes parsed), into
    /// `RowOrigins.File.digest`.
    public var hashSources = false
    /// Where each category column's `values:` is written in its spec, for the errors of unknown values.
    public var valuesSpans: [String: SourceSpan] = [:]

    public init(source: SourceConfig, schema: DataSchema, keep: Set<String>? = nil) {
        self.source = source
        self.schema = schema
        self.keep = keep
    }

    /// The files a source names: the path itself, or the glob's matches in byte order.
    public static func files(_ source: SourceConfig) throws(DataError) -> [String] {
        let path = source.path
        guard path.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) else {
            return [path]
        }
        var g = glob_t()
        defer { globfree(&g) }
        let status = glob(path, 0, nil, &g)
        var files: [String] = []
        if status == 0 {
            for i in 0..<Int(g.gl_pathc) {
                if let p = g.gl_pathv[i] { files.append(String(cString: p)) }
            }
        }
        files = files.filter { f in
            var info = stat()
            return stat(f, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
        }
        guard !files.isEmpty else {
            throw DataError(
                .data(.globEmpty), "the glob '\(path)' matches no file", at: nil,
                help: "check the pattern; '*' and '?' match within one directory level")
        }
        return files.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The names in a csv/tsv file's first record (quotes undone, byte order mark skipped), read by the same
    /// tokenizer as the data; nil when the file cannot be read or has no record. `kiln check` compares
    /// them with the schema.
    public static func header(of path: String, delimiter: UInt8) -> [String]? {
        var names: [String]?
        do throws(DataError) {
            try DelimitedReader(path: path, delimiter: delimiter, blockSize: 1).read { (block) throws(DataError) in
                names = (0..<block.fieldCount(0)).map { block.string(0, $0) ?? block.shown(0, $0) }
                throw DataError([])  // enough: stop reading
            }
        } catch {
            // The stop above, or a file that cannot be read: either way, what was found.
        }
        return names
    }

    private var keptNames: Set<String> {
        keep ?? Set(schema.columns.filter { !$0.ignore || $0.name == schema.label }.map(\.name))
    }

    public func read() throws(DataError) -> Table {
        var state = try ReadState(
            schema.columns.filter { keptNames.contains($0.name) }, allowUnknownCategories,
            nullValues: source.nullValues ?? [])
        state.valuesSpans = valuesSpans
        let files = try readFiles(&state)
        try state.throwErrors()
        if state.rowCount == 0 {
            throw DataError(
                .data(.empty),
                "\(files.count == 1 ? "'\(files[0])' has" : "the files of '\(source.path)' have") no rows",
                at: files.count == 1 ? .fileStart(files[0]) : nil, help: "a dataset needs at least one row of data")
        }
        return Table(
            columns: state.builders.map { $0.finish() }, rowCount: state.rowCount, origins: state.origins)
    }

    /// Reads the files in batches of about `batchRows` rows (a block of a csv file, or `batchRows` records of
    /// a jsonl file), handing each to `body` as a table of its own: memory stays bounded by the batch, not
    /// the file (`kiln predict`). The first batch with a bad cell stops the reading with its errors, after
    /// the batches before it were handed over. Returns the number of rows read.
    @discardableResult
    public func stream(batchRows: Int, _ body: (Table) throws -> Void) throws -> Int {
        try withoutActuallyEscaping(body) { body in
            var state = try ReadState(
                schema.columns.filter { keptNames.contains($0.name) }, allowUnknownCategories,
                nullValues: source.nullValues ?? [])
            state.valuesSpans = valuesSpans
            state.batchRows = max(1, batchRows)
            state.emit = body
            do {
                _ = try readFiles(&state)
                try state.throwErrors()
                try state.flush()
            } catch {
                if let failure = state.bodyError { throw failure }
                throw error
            }
            return state.rowCount
        }
    }

    /// Reads every file into `state`; returns the files.
    private func readFiles(_ state: inout ReadState) throws(DataError) -> [String] {
        let files = try Self.files(source)
        let kept = state.builders.map(\.schema)
        var firstHeader: [String]?
        for file in files {
            let format = source.format ?? SourceFormat(extensionOf: file) ?? .csv
            state.origins.files.append(.init(path: file, firstRow: state.rowCount))
            // A reader stops with the problems it found so far in `state` (and throws an empty error when it
            // reached the limit), or with the one problem that ends the file (a missing file, a bad header).
            do throws(DataError) {
                switch format {
                case .csv, .tsv:
                    try readDelimited(
                        file, delimiter: source.delimiter ?? (format == .tsv ? 0x09 : 0x2C), kept: kept,
                        firstHeader: &firstHeader, state: &state)
                case .jsonl:
                    try readJSONLines(file, kept: kept, state: &state)
                case .conll:
                    throw DataError(
                        .data(.header), "'\(file)' is a CoNLL file: its schema needs a tokens and a tags column", at: nil,
                        help: "columns: {tokens: {type: tokens}, tags: {type: tags, values: [O, B-PER, I-PER]}}")
                }
            } catch {
                if state.bodyError != nil { throw error }
                state.errors += error.diagnostics
                if state.full { break }
            }
        }
        return files
    }

    struct ReadState {
        var builders: [ColumnBuilder]
        var rowCount = 0
        var origins = RowOrigins()
        var errors: [Diagnostic] = []
        let allowUnknownCategories: Bool
        let nullValues: [String]
        var valuesSpans: [String: SourceSpan] = [:]
        /// One error per unknown value of a column: its first cell, and how many cells hold it.
        var unknownValues: [String: (error: Int, cells: Int)] = [:]
        /// Streaming: the batch size, the first row of the batch being read, where batches go, and what the
        /// receiver threw (which ends the reading).
        var batchRows: Int?
        var batchStart = 0
        var emit: ((Table) throws -> Void)?
        var bodyError: (any Error)?

        init(_ columns: [ColumnSchema], _ allowUnknownCategories: Bool, nullValues: [String]) throws(DataError) {
            builders = []
            for c in columns {
                builders.append(
                    try ColumnBuilder(c, allowUnknownCategories: allowUnknownCategories, nullValues: nullValues))
            }
            self.allowUnknownCategories = allowUnknownCategories
            self.nullValues = nullValues
        }

        var full: Bool { errors.count >= DataLimits.maxErrors }

        /// The errors so far, in file order (column-wise parsing finds a block's errors column by column).
        func throwErrors() throws(DataError) {
            guard !errors.isEmpty else { return }
            var errors = self.errors
            for (_, u) in unknownValues where u.cells > 1 {
                errors[u.error].message += " (\(u.cells) cells; the first is here)"
            }
            var diagnostics = Array(errors.sorted().prefix(DataLimits.maxErrors))
            if errors.count >= DataLimits.maxErrors {
                diagnostics.append(
                    Diagnostic(
                        .data(.tooManyErrors), .note, "stopped after \(DataLimits.maxErrors) errors", at: nil))
            }
            throw DataError(diagnostics)
        }

        /// Streaming: hands over the batch when it is full.
        mutating func flushIfFull() throws(DataError) {
            if let n = batchRows, rowCount - batchStart >= n { try flush() }
        }

        /// Streaming: hands over the rows read since the last batch, and starts the next one.
        mutating func flush() throws(DataError) {
            guard let emit, rowCount > batchStart else { return }
            // A batch with bad cells stops the reading; `stream` throws the errors collected.
            guard errors.isEmpty else { throw DataError([]) }
            var batchOrigins = RowOrigins()
            batchOrigins.files = origins.files.map { f in
                var f = f
                f.firstRow = max(0, f.firstRow - batchStart)
                return f
            }
            batchOrigins.lines = origins.lines
            let schemas = builders.map(\.schema)
            let table = Table(
                columns: builders.map { $0.finish() }, rowCount: rowCount - batchStart, origins: batchOrigins)
            builders = []
            for c in schemas {
                builders.append(
                    try ColumnBuilder(c, allowUnknownCategories: allowUnknownCategories, nullValues: nullValues))
            }
            origins.lines.removeAll(keepingCapacity: true)
            batchStart = rowCount
            do { try emit(table) } catch {
                bodyError = error
                throw DataError([])
            }
        }

        mutating func report(
            _ problem: CellProblem, column: ColumnSchema, text: String, file: String, line: Int, at col: Int
        ) {
            let span = SourceSpan.data(file, line: line, column: col)
            let name = column.name
            switch problem {
            case .notA(let what):
                let nullWords: Set<String> = ["na", "n/a", "nan", "null", "none", "nil", "-", "?"]
                errors.append(
                    Diagnostic(
                        .data(.parse), "'\(text)' in column '\(name)' is not \(what)", at: span,
                        help: nullWords.contains(text.lowercased())
                            ? "to read '\(text)' as a missing value, list it in the source's 'null_values: [\(text)]'"
                                + (column.nullable ? "" : " and declare the column 'nullable: true'") : nil))
            case .overflow(let what):
                errors.append(
                    Diagnostic(.data(.parse), "'\(text)' in column '\(name)' is too large for \(what)", at: span))
            case .null:
                errors.append(
                    Diagnostic(
                        .data(.null), "column '\(name)' is empty here, and it is not nullable", at: span,
                        help: "fill the cell, or declare the column 'nullable: true' (then impute it)"))
            case .belowMin(let min):
                errors.append(
                    Diagnostic(
                        .data(.range), "\(text) in column '\(name)' is below its minimum \(min.diagnosticText)", at: span
                    ))
            case .aboveMax(let max):
                errors.append(
                    Diagnostic(
                        .data(.range), "\(text) in column '\(name)' is above its maximum \(max.diagnosticText)", at: span
                    ))
            case .unknownCategory:
                let key = name + "\u{1F}" + text
                if let seen = unknownValues[key] {
                    unknownValues[key] = (seen.error, seen.cells + 1)
                    return
                }
                unknownValues[key] = (errors.count, 1)
                errors.append(
                    Diagnostic(
                        .data(.category), .error, "'\(text)' in column '\(name)' is not one of its values", at: span,
                        notes: valuesSpans[name].map { [DiagnosticNote("the column's values are declared here", at: $0)] } ?? [],
                        help: DidYouMean.help(for: text, among: column.values)
                            ?? "add it to 'values' (\(column.values.prefix(8).joined(separator: ", "))\(column.values.count > 8 ? ", ..." : ""))"
                    ))
            case .invalidUTF8:
                errors.append(
                    Diagnostic(
                        .data(.encoding), "column '\(name)' holds bytes that are not UTF-8 here", at: span,
                        help: "convert the file to UTF-8 (e.g. iconv -f LATIN1 -t UTF-8)"))
            case .patternMismatch:
                errors.append(
                    Diagnostic(
                        .data(.pattern),
                        "'\(text)' in column '\(name)' does not match its pattern '\(column.pattern ?? "")'",
                        at: span))
            }
        }
    }

    // MARK: csv / tsv

    private func readDelimited(
        _ file: String, delimiter: UInt8, kept: [ColumnSchema], firstHeader: inout [String]?, state: inout ReadState
    ) throws(DataError) {
        let reader = DelimitedReader(path: file, delimiter: delimiter, hashing: hashSources)
        // For each field of a record: the builder it feeds, or -1 (not kept).
        var target: [Int] = []
        var expected = -1
        var headerLine = 0
        let keptIndex = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1.name, $0) })
        var needHeader = source.header
        if !source.header {
            expected = schema.columns.count
            target = schema.columns.map { keptIndex[$0.name] ?? -1 }
        }
        var problems: [(row: Int, CellProblem)] = []
        var valid: [Int] = []
        var reserved = false
        var info = stat()
        let fileBytes = stat(file, &info) == 0 ? Int(info.st_size) : 0
        let digest = try reader.read { (block) throws(DataError) in
            var from = 0
            // Size the columns once from the first block's bytes per record: no regrowth (copies, page
            // faults, twice the memory at the moment of growth) for the rest of the file.
            if !reserved && block.count > 16 && state.batchRows == nil {
                reserved = true
                let perRecord = max(1, (block.starts[block.count - 1] - block.starts[1]) / (block.count - 2))
                let estimate = state.rowCount + fileBytes / perRecord + fileBytes / perRecord / 50 + 16
                for b in state.builders.indices { state.builders[b].reserve(estimate) }
                state.origins.lines.reserveCapacity(estimate)
            }
            if needHeader {
                needHeader = false
                headerLine = block.lines[0]
                var names: [String] = []
                for i in 0..<block.fieldCount(0) {
                    guard let name = block.string(0, i) else {
                        let (l, c) = block.position(0, i)
                        throw DataError(
                            .data(.encoding), "the header holds bytes that are not UTF-8",
                            at: .data(file, line: l, column: c))
                    }
                    names.append(name)
                }
                try checkHeader(names, file: file, line: headerLine, firstHeader: &firstHeader)
                expected = names.count
                target = names.map { keptIndex[$0] ?? -1 }
                from = 1
            }
            // Records with the wrong number of fields are reported and left out.
            valid.removeAll(keepingCapacity: true)
            var ragged = false
            for r in from..<block.count where block.fieldCount(r) != expected {
                ragged = true
                let n = block.fieldCount(r)
                let what = source.header ? "the header (line \(headerLine))" : "the schema's \(expected) columns"
                state.errors.append(
                    Diagnostic(
                        .data(.ragged), "this record has \(n) field\(n == 1 ? "" : "s"); \(what) has \(expected)",
                        at: .data(file, line: block.lines[r]),
                        help: n > expected
                            ? "a field that holds the delimiter must be quoted"
                            : "every record needs a value (or an empty cell) per column"))
            }
            if ragged {
                for r in from..<block.count where block.fieldCount(r) == expected { valid.append(r) }
            }
            problems.removeAll(keepingCapacity: true)
            for (i, b) in target.enumerated() where b >= 0 {
                let before = problems.count
                if ragged {
                    state.builders[b].append(block, field: i, rows: valid, problems: &problems)
                } else {
                    state.builders[b].append(block, field: i, rows: from..<block.count, problems: &problems)
                }
                for k in before..<problems.count {
                    let r = problems[k].row
                    let (l, c) = block.position(r, i)
                    state.report(
                        problems[k].1, column: state.builders[b].schema, text: block.shown(r, i), file: file, line: l,
                        at: c)
                }
            }
            if ragged {
                for r in valid { state.origins.lines.append(block.lines[r]) }
                state.rowCount += valid.count
            } else {
                for r in from..<block.count { state.origins.lines.append(block.lines[r]) }
                state.rowCount += block.count - from
            }
            if state.full { throw DataError([]) }
            try state.flushIfFull()
        }
        state.origins.files[state.origins.files.count - 1].digest = digest
        if needHeader {
            throw DataError(
                .data(.empty), "'\(file)' is empty", at: .fileStart(file), help: "a csv file starts with its header row")
        }
    }

    private func checkHeader(_ names: [String], file: String, line: Int, firstHeader: inout [String]?) throws(DataError)
    {
        var diagnostics: [Diagnostic] = []
        let span = SourceSpan.data(file, line: line)
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            diagnostics.append(Diagnostic(.data(.header), "the header names '\(name)' twice", at: span))
        }
        let declared = Set(schema.columns.map(\.name))
        let extra = names.filter { !declared.contains($0) }
        let missing = schema.columns.map(\.name).filter { !seen.contains($0) }
        // Columns the schema does not declare are not read (`kiln check` warns about them); a declared
        // column the file lacks is an error, with the likely misspelling when there is one.
        for name in missing {
            let near = DidYouMean.suggestion(for: name, among: extra)
            diagnostics.append(
                Diagnostic(
                    .data(.header), "the schema's column '\(name)' is not in the file's header", at: span,
                    help: near.map { "the file has '\($0)': rename one of them" }
                        ?? "the header is: \(names.prefix(12).joined(separator: ", "))\(names.count > 12 ? ", ..." : "")"
                ))
        }
        if diagnostics.isEmpty, let first = firstHeader, first != names {
            diagnostics.append(
                Diagnostic(
                    .data(.header), "this file's columns differ from the first file's", at: span,
                    help: "every file of a glob has the same columns in the same order"))
        }
        guard diagnostics.isEmpty else { throw DataError(diagnostics) }
        if firstHeader == nil { firstHeader = names }
    }

    // MARK: jsonl

    private func readJSONLines(_ file: String, kept: [ColumnSchema], state: inout ReadState) throws(DataError) {
        let keptIndex = Dictionary(uniqueKeysWithValues: kept.enumerated().map { ($1.name, $0) })
        var present = [Bool](repeating: false, count: kept.count)
        let digest = try JSONLinesReader(path: file, hashing: hashSources).read {
            (members, line, column) throws(DataError) in
            for k in present.indices { present[k] = false }
            for m in members {
                // Keys the schema does not declare are not read, like a csv file's undeclared columns.
                guard let b = keptIndex[m.key] else { continue }
                present[b] = true
                do throws(CellProblem) {
                    try state.builders[b].append(json: m.value)
                } catch {
                    let text: String =
                        switch m.value {
                        case .null: "null"
                        case .bool(let v): v ? "true" : "false"
                        case .number(let t): String(decoding: t, as: UTF8.self)
                        case .string(let s): s
                        }
                    state.report(
                        error, column: state.builders[b].schema, text: text, file: file, line: line,
                        at: column(m.offset))
                    if state.full { throw DataError([]) }
                    state.builders[b].appendPlaceholder()
                }
            }
            for (b, seen) in present.enumerated() where !seen {
                do {
                    try state.builders[b].append(json: .null)
                } catch {
                    state.errors.append(
                        Diagnostic(
                            .data(.null), "the key '\(kept[b].name)' is missing, and the column is not nullable",
                            at: .data(file, line: line),
                            help: "add the key, or declare the column 'nullable: true'"))
                    if state.full { throw DataError([]) }
                    state.builders[b].appendPlaceholder()
                }
            }
            state.origins.lines.append(line)
            state.rowCount += 1
            try state.flushIfFull()
        }
        state.origins.files[state.origins.files.count - 1].digest = digest
    }
}
