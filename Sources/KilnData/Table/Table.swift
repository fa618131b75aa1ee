/// Which cells of a column are empty: one bit per row, allocated at the first null.
public struct NullMask: Sendable, Equatable {
    private(set) var words: [UInt64] = []
    public private(set) var count = 0
    public private(set) var nullCount = 0

    public init() {}

    /// A mask from its stored form (the table codec); the null count is recounted, never trusted.
    init(words: [UInt64], count: Int) {
        self.words = words
        self.count = count
        nullCount = words.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    @inline(__always)
    public func isNull(_ row: Int) -> Bool {
        let w = row >> 6
        return w < words.count && words[w] & (1 << UInt64(row & 63)) != 0
    }

    @inline(__always)
    public mutating func append(null: Bool) {
        if null {
            let w = count >> 6
            if words.count <= w { words.append(contentsOf: repeatElement(0, count: w + 1 - words.count)) }
            words[w] |= 1 << UInt64(count & 63)
            nullCount += 1
        }
        count += 1
    }

    /// `n` more rows, none null.
    @inline(__always)
    mutating func extend(by n: Int) { count += n }

    /// Marks an existing row null.
    public mutating func markNull(_ row: Int) {
        let w = row >> 6
        if words.count <= w { words.append(contentsOf: repeatElement(0, count: w + 1 - words.count)) }
        if words[w] & (1 << UInt64(row & 63)) == 0 { nullCount += 1 }
        words[w] |= 1 << UInt64(row & 63)
    }

    public var hasNulls: Bool { nullCount > 0 }

    /// The mask of `rows`, in their order.
    func gathering(_ rows: some Collection<Int>) -> NullMask {
        var out = NullMask()
        for r in rows { out.append(null: isNull(r)) }
        return out
    }
}

/// A column's values, stored by type. A null cell holds a placeholder (NaN, 0, false, code -1, "");
/// the column's `nulls` is the truth.
public enum ColumnValues: Sendable, Equatable {
    case float([Double])
    case int([Int64])
    case bool([Bool])
    /// Codes into the schema's `values`; -1: a value outside them (allowed only when reading inference data).
    case category([Int32])
    case string([String])

    public var count: Int {
        switch self {
        case .float(let v): v.count
        case .int(let v): v.count
        case .bool(let v): v.count
        case .category(let v): v.count
        case .string(let v): v.count
        }
    }
}

/// One typed column of a table.
public struct Column: Sendable, Equatable {
    public var schema: ColumnSchema
    public var values: ColumnValues
    public var nulls: NullMask

    public var name: String { schema.name }

    public init(schema: ColumnSchema, values: ColumnValues, nulls: NullMask = NullMask()) {
        self.schema = schema
        self.values = values
        self.nulls = nulls
    }

    /// A numeric view of row `r` (float, int, bool as 0/1, category code); nil when null.
    public func number(_ r: Int) -> Double? {
        if nulls.isNull(r) { return nil }
        switch values {
        case .float(let v): return v[r]
        case .int(let v): return Double(v[r])
        case .bool(let v): return v[r] ? 1 : 0
        case .category(let v): return Double(v[r])
        case .string: return nil
        }
    }

    /// What joins a tokens or tags cell's items (a control character the token readers refuse in a token).
    public static let separator: Character = "\u{1F}"

    /// A tokens or tags cell's items, in order (empty when null).
    public func sequence(_ r: Int) -> [String] {
        guard !nulls.isNull(r), case .string(let v) = values else { return [] }
        return v[r].split(separator: Self.separator, omittingEmptySubsequences: false).map(String.init)
    }

    /// Row `r` as text, the way the file wrote it (numbers in their shortest round-trip form); nil when null.
    public func text(_ r: Int) -> String? {
        if nulls.isNull(r) { return nil }
        switch values {
        case .float(let v): return v[r].rounded() == v[r] && abs(v[r]) < 1e15 ? String(Int64(v[r])) : String(v[r])
        case .int(let v): return String(v[r])
        case .bool(let v): return v[r] ? "true" : "false"
        case .category(let v): return v[r] >= 0 && Int(v[r]) < schema.values.count ? schema.values[Int(v[r])] : "?"
        case .string(let v): return v[r]
        }
    }
}

/// Where each row was read: its file and its line (the line a record starts on).
public struct RowOrigins: Sendable, Equatable {
    public struct File: Sendable, Equatable, Codable {
        public var path: String
        /// Index of the file's first row in the table.
        public var firstRow: Int
        /// SHA-256 and size of the bytes read, when the reader hashed them (`TableReader.hashSources`).
        public var digest: ContentHash.FileDigest?
    }

    public var files: [File] = []
    /// Line of each row, 1-based, in its file.
    public var lines: [Int] = []

    public init() {}

    /// The file and line of row `r`.
    public func origin(of r: Int) -> (file: String, line: Int) {
        // The last file whose first row is at or before r.
        var lo = 0, hi = files.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if files[mid].firstRow <= r { lo = mid } else { hi = mid - 1 }
        }
        return (files.isEmpty ? "" : files[lo].path, r < lines.count ? lines[r] : 0)
    }

    /// "data/iris.csv:12"
    public func describe(_ r: Int) -> String {
        let (file, line) = origin(of: r)
        return "\(file):\(line)"
    }
}

/// Rows read from a dataset's files into typed columns, in the schema's order.
public struct Table: Sendable, Equatable {
    public var columns: [Column]
    public var rowCount: Int
    public var origins: RowOrigins

    /// The bytes the table's arrays hold (their capacity, which the readers reserve ahead), near enough.
    public var byteCount: Int {
        var bytes = origins.lines.capacity * 8
        for c in columns {
            bytes += c.nulls.words.capacity * 8
            switch c.values {
            case .float(let v): bytes += v.capacity * 8
            case .int(let v): bytes += v.capacity * 8
            case .bool(let v): bytes += v.capacity
            case .category(let v): bytes += v.capacity * 4
            case .string(let v): bytes += v.capacity * 16 + v.reduce(0) { $0 + ($1.utf8.count > 15 ? $1.utf8.count : 0) }
            }
        }
        return bytes
    }

    public init(columns: [Column], rowCount: Int, origins: RowOrigins = RowOrigins()) {
        self.columns = columns
        self.rowCount = rowCount
        self.origins = origins
    }

    public func column(_ name: String) -> Column? { columns.first { $0.name == name } }

    /// Appends the rows of a table of the same string columns (a second token file), origins included.
    mutating func append(_ other: Table) {
        for i in columns.indices {
            guard case .string(var mine) = columns[i].values, case .string(let theirs) = other.columns[i].values else {
                continue
            }
            mine += theirs
            columns[i].values = .string(mine)
            columns[i].nulls.extend(by: other.rowCount)
        }
        for var file in other.origins.files {
            file.firstRow += rowCount
            origins.files.append(file)
        }
        origins.lines += other.origins.lines
        rowCount += other.rowCount
    }
}
