#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a cell was refused, before the reader adds its position.
enum CellProblem: Error {
    case notA(String)
    case overflow(String)
    case null
    case belowMin(Double)
    case aboveMax(Double)
    case unknownCategory
    case invalidUTF8
    case patternMismatch
}

/// Appends parsed cells of one column: the typed storage grows, the null mask follows.
struct ColumnBuilder {
    let schema: ColumnSchema
    /// Category values as bytes, to match cells without making a String per cell.
    private let categoryBytes: [[UInt8]]
    private let categoryIndex: [String: Int32]
    private let pattern: Regex<AnyRegexOutput>?
    /// Reading data for inference: a category outside `values` is code -1 instead of an error.
    private let allowUnknownCategories: Bool
    /// Unquoted cells that mean missing besides the empty one (the source's `null_values`), as bytes.
    private let nullTokens: [[UInt8]]

    private var floats: [Double] = []
    private var ints: [Int64] = []
    private var bools: [Bool] = []
    private var codes: [Int32] = []
    private var strings: [String] = []
    private(set) var nulls = NullMask()

    init(_ schema: ColumnSchema, allowUnknownCategories: Bool, nullValues: [String] = []) throws(DataError) {
        self.schema = schema
        nullTokens = nullValues.filter { !$0.isEmpty }.map { Array($0.utf8) }
        categoryBytes = schema.values.map { Array($0.utf8) }
        var index: [String: Int32] = [:]
        for (i, v) in schema.values.enumerated() where index[v] == nil { index[v] = Int32(i) }
        categoryIndex = index
        self.allowUnknownCategories = allowUnknownCategories
        if let p = schema.pattern, schema.type == .string {
            do {
                pattern = try Regex(p)
            } catch {
                throw DataError(
                    .data(.pattern),
                    "the pattern of column '\(schema.name)' is not a valid regular expression: \(error)",
                    at: nil)
            }
        } else {
            pattern = nil
        }
    }

    var count: Int { nulls.count }

    mutating func reserve(_ n: Int) {
        switch schema.type {
        case .float: floats.reserveCapacity(n)
        case .int: ints.reserveCapacity(n)
        case .bool: bools.reserveCapacity(n)
        case .category: codes.reserveCapacity(n)
        case .string, .text, .tokens, .tags: strings.reserveCapacity(n)
        }
    }

    @inline(__always)
    private mutating func appendNull() throws(CellProblem) {
        guard schema.nullable else { throw .null }
        appendPlaceholder()
    }

    /// A null: the value of an empty cell, and after a refused cell the placeholder that keeps the columns
    /// aligned while the reader goes on to report further errors (a table is never returned with errors).
    mutating func appendPlaceholder() {
        switch schema.type {
        case .float: floats.append(.nan)
        case .int: ints.append(0)
        case .bool: bools.append(false)
        case .category: codes.append(-1)
        case .string, .text, .tokens, .tags: strings.append("")
        }
        nulls.append(null: true)
    }

    @inline(__always)
    private func checkBounds(_ v: Double) throws(CellProblem) {
        if let min = schema.min, v < min { throw .belowMin(min) }
        if let max = schema.max, v > max { throw .aboveMax(max) }
    }

    /// Field `i` of the block's records `rows` (csv/tsv), in one tight loop per type. A refused cell is
    /// recorded in `problems` with its record, and a placeholder keeps the column aligned.
    mutating func append(
        _ block: RecordBlock, field i: Int, rows: some Collection<Int>, problems: inout [(row: Int, CellProblem)]
    ) {
        let old = count
        nulls.extend(by: rows.count)
        var nullRows: [Int] = []
        let nullable = schema.nullable
        let (min, max) = (schema.min ?? -.infinity, schema.max ?? .infinity)
        @inline(__always) func bounded(_ v: Double) -> CellProblem? {
            v < min ? .belowMin(min) : v > max ? .aboveMax(max) : nil
        }
        switch schema.type {
        case .float:
            Self.fill(&floats, .nan, block, i, rows, nullable, nullTokens, &problems, &nullRows) { p, n in
                switch NumberParsing.paddedDouble(p, count: n) {
                case .success(let v): (v, bounded(v))
                case .failure(.syntax): (.nan, .notA("a number"))
                case .failure(.overflow): (.nan, .overflow("a float"))
                }
            }
        case .int:
            Self.fill(&ints, 0, block, i, rows, nullable, nullTokens, &problems, &nullRows) { p, n in
                switch NumberParsing.int(p, count: n) {
                case .success(let v): (v, bounded(Double(v)))
                case .failure(.syntax): (0, .notA("an integer"))
                case .failure(.overflow): (0, .overflow("a 64-bit integer"))
                }
            }
        case .bool:
            Self.fill(&bools, false, block, i, rows, nullable, nullTokens, &problems, &nullRows) { p, n in
                NumberParsing.bool(p, count: n).map { ($0, nil) } ?? (false, .notA("a boolean (true/false or 1/0)"))
            }
        case .category:
            let categoryBytes = self.categoryBytes
            let allowUnknownCategories = self.allowUnknownCategories
            Self.fill(&codes, -1, block, i, rows, nullable, nullTokens, &problems, &nullRows) { p, n in
                for (c, value) in categoryBytes.enumerated() where value.count == n {
                    if value.withUnsafeBufferPointer({ v in v.indices.allSatisfy { v[$0] == p[$0] } }) {
                        return (Int32(c), nil)
                    }
                }
                if !allowUnknownCategories { return (-1, .unknownCategory) }
                let valid = String(validating: UnsafeBufferPointer(start: p, count: n), as: UTF8.self) != nil
                return (-1, valid ? nil : .invalidUTF8)
            }
        case .string, .text, .tokens, .tags:
            var k = old
            for r in rows {
                let f = block.field(r, i)
                if f.count == 0 && !f.quoted || Self.isNullToken(block, f, nullTokens) {
                    strings.append("")
                    if !nullable { problems.append((r, .null)) }
                    nullRows.append(k)
                } else if let s = block.string(r, i) {
                    strings.append(s)
                    if let pattern, (try? pattern.wholeMatch(in: s)) == nil { problems.append((r, .patternMismatch)) }
                } else {
                    strings.append("")
                    problems.append((r, .invalidUTF8))
                }
                k &+= 1
            }
        }
        for k in nullRows { nulls.markNull(k) }
    }

    /// The loop every fixed-size type shares: an empty cell is a null (a problem unless the column is
    /// nullable); any other cell is `parse`d into the storage, with the problem it may have. Static, so that
    /// the storage is the only access to the builder while the loop runs.
    @inline(__always)
    private static func fill<T>(
        _ storage: inout [T], _ placeholder: T, _ block: RecordBlock, _ i: Int, _ rows: some Collection<Int>,
        _ nullable: Bool, _ nullTokens: [[UInt8]], _ problems: inout [(row: Int, CellProblem)],
        _ nullRows: inout [Int], _ parse: (UnsafePointer<UInt8>, Int) -> (T, CellProblem?)
    ) {
        var k = storage.count
        storage.append(contentsOf: repeatElement(placeholder, count: rows.count))
        storage.withUnsafeMutableBufferPointer { out in
            for r in rows {
                let f = block.field(r, i)
                if f.count == 0 || Self.isNullToken(block, f, nullTokens) {
                    if !nullable { problems.append((r, .null)) }
                    nullRows.append(k)
                } else {
                    let (value, problem) = parse(block.bytes(f), f.count)
                    out[k] = value
                    if let problem { problems.append((r, problem)) }
                }
                k &+= 1
            }
        }
    }

    /// Whether an unquoted cell is one of the null tokens (false at once when there are none).
    @inline(__always)
    private static func isNullToken(_ block: RecordBlock, _ f: FieldRange, _ tokens: [[UInt8]]) -> Bool {
        guard !tokens.isEmpty, !f.quoted else { return false }
        let p = block.bytes(f), n = f.count
        for t in tokens where t.count == n {
            if t.withUnsafeBufferPointer({ v in (0..<n).allSatisfy { v[$0] == p[$0] } }) { return true }
        }
        return false
    }

    /// One value given as text (a number of a jsonl line).
    private mutating func appendText(_ p: UnsafePointer<UInt8>, count n: Int) throws(CellProblem) {
        switch schema.type {
        case .float:
            switch NumberParsing.double(p, count: n) {
            case .success(let v):
                try checkBounds(v)
                floats.append(v)
            case .failure(.syntax): throw .notA("a number")
            case .failure(.overflow): throw .overflow("a float")
            }
        case .int:
            switch NumberParsing.int(p, count: n) {
            case .success(let v):
                try checkBounds(Double(v))
                ints.append(v)
            case .failure(.syntax): throw .notA("an integer")
            case .failure(.overflow): throw .overflow("a 64-bit integer")
            }
        default:
            throw .notA("a \(schema.type.rawValue)")
        }
        nulls.append(null: false)
    }

    /// A JSON value of a jsonl line.
    mutating func append(json value: JSONScalar) throws(CellProblem) {
        switch value {
        case .null:
            try appendNull()
        case .number(let text):
            switch schema.type {
            case .float, .int:
                try text.withUnsafeBufferPointer { (b) throws(CellProblem) in
                    guard let start = b.baseAddress else { throw .notA("a number") }
                    try appendText(start, count: b.count)
                }
            case .category:
                try appendCategory(String(decoding: text, as: UTF8.self))
            case .bool:
                if text == [0x30] || text == [0x31] {
                    bools.append(text == [0x31])
                    nulls.append(null: false)
                } else {
                    throw .notA("a boolean")
                }
            case .string, .text, .tokens, .tags:
                throw .notA("a string (a JSON string in quotes)")
            }
        case .bool(let b):
            switch schema.type {
            case .bool:
                bools.append(b)
                nulls.append(null: false)
            case .category: try appendCategory(b ? "true" : "false")
            default:
                throw .notA(schema.type.isTextual ? "a string" : "a \(schema.type.rawValue)")
            }
        case .string(let s):
            switch schema.type {
            case .category: try appendCategory(s)
            case .string, .text, .tokens, .tags:
                if let pattern, (try? pattern.wholeMatch(in: s)) == nil { throw .patternMismatch }
                strings.append(s)
                nulls.append(null: false)
            default:
                throw .notA("a \(schema.type == .float || schema.type == .int ? "number" : "boolean") (without quotes)")
            }
        }
    }

    private mutating func appendCategory(_ s: String) throws(CellProblem) {
        if let code = categoryIndex[s] {
            codes.append(code)
        } else {
            guard allowUnknownCategories else { throw .unknownCategory }
            codes.append(-1)
        }
        nulls.append(null: false)
    }

    consuming func finish() -> Column {
        let values: ColumnValues =
            switch schema.type {
            case .float: .float(floats)
            case .int: .int(ints)
            case .bool: .bool(bools)
            case .category: .category(codes)
            case .string, .text, .tokens, .tags: .string(strings)
            }
        return Column(schema: schema, values: values, nulls: nulls)
    }
}

/// A flat JSON value, as a jsonl reader hands it over (numbers as their text, parsed by the column's type).
enum JSONScalar {
    case null
    case bool(Bool)
    case number([UInt8])
    case string(String)
}
