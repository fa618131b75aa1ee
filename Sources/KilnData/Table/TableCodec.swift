public import Foundation

/// The binary form of a table, for the runner's cache: a cached ingest restores its table without
/// parsing the source files again. Little-endian, columnar, no padding:
///
///     "KILNTBL1"  u64 header length  header (canonical JSON: columns' schemas, row count, files)
///     i32 × rows  line of each row
///     per column: u64 mask words, u64 × words (null bitmap), then the values:
///         float f64 × rows · int i64 × rows · bool u8 × rows · category i32 × rows ·
///         string (u32 length, UTF-8 bytes) × rows
///
/// The encoding of a table is deterministic (the lock file records its hash). Decoding checks every
/// length against the bytes it has; the cache also verifies the file's SHA-256 before decoding.
public enum TableCodec {
    static let magic = Array("KILNTBL1".utf8)

    struct Header: Codable {
        var columns: [ColumnSchema]
        var rows: Int
        var files: [RowOrigins.File]
    }

    public static func encode(_ table: Table) -> Data {
        var out = Data()
        out.reserveCapacity(64 + table.rowCount * (4 + table.columns.count * 8))
        out.append(contentsOf: magic)
        let header = ContentHash.canonicalJSON(
            Header(columns: table.columns.map(\.schema), rows: table.rowCount, files: table.origins.files))
        append(UInt64(header.count), to: &out)
        out.append(header)
        appendArray(table.origins.lines.map { Int32(truncatingIfNeeded: $0) }, to: &out)
        for column in table.columns {
            append(UInt64(column.nulls.words.count), to: &out)
            appendArray(column.nulls.words, to: &out)
            switch column.values {
            case .float(let v): appendArray(v, to: &out)
            case .int(let v): appendArray(v, to: &out)
            case .bool(let v): appendArray(v.map { $0 ? UInt8(1) : 0 }, to: &out)
            case .category(let v): appendArray(v, to: &out)
            case .string(let v):
                for s in v {
                    let bytes = Array(s.utf8)
                    append(UInt32(bytes.count), to: &out)
                    out.append(contentsOf: bytes)
                }
            }
        }
        return out
    }

    public static func decode(_ data: Data, path: String) throws(DataError) -> Table {
        var reader = Reader(bytes: [UInt8](data), path: path)
        guard try reader.take(magic.count) == magic else { throw reader.corrupt("not a kiln table") }
        let headerLength = try reader.integer(UInt64.self)
        guard headerLength <= UInt64(reader.remaining) else { throw reader.corrupt("header length") }
        let headerBytes = try reader.take(Int(headerLength))
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)), header.rows >= 0 else {
            throw reader.corrupt("header")
        }
        let rows = header.rows
        let lines: [Int32] = try reader.array(count: rows)
        var columns: [Column] = []
        for schema in header.columns {
            let wordCount = try reader.integer(UInt64.self)
            guard wordCount <= UInt64(rows / 64 + 1) else { throw reader.corrupt("null mask of '\(schema.name)'") }
            let words: [UInt64] = try reader.array(count: Int(wordCount))
            let values: ColumnValues
            switch schema.type {
            case .float: values = .float(try reader.array(count: rows))
            case .int: values = .int(try reader.array(count: rows))
            case .bool: values = .bool((try reader.array(count: rows) as [UInt8]).map { $0 != 0 })
            case .category: values = .category(try reader.array(count: rows))
            case .string, .text, .tokens, .tags:
                var strings: [String] = []
                strings.reserveCapacity(rows)
                for _ in 0..<rows {
                    let n = Int(try reader.integer(UInt32.self))
                    strings.append(String(decoding: try reader.take(n), as: UTF8.self))
                }
                values = .string(strings)
            }
            columns.append(Column(schema: schema, values: values, nulls: NullMask(words: words, count: rows)))
        }
        guard reader.remaining == 0 else { throw reader.corrupt("trailing bytes") }
        var origins = RowOrigins()
        origins.files = header.files
        origins.lines = lines.map(Int.init)
        return Table(columns: columns, rowCount: rows, origins: origins)
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Values of a trivial type, as their in-memory bytes (every platform kiln runs on is little-endian).
    private static func appendArray<T: BitwiseCopyable>(_ values: [T], to out: inout Data) {
        values.withUnsafeBytes { out.append(contentsOf: $0) }
    }

    private struct Reader {
        let bytes: [UInt8]
        let path: String
        var offset = 0

        var remaining: Int { bytes.count - offset }

        func corrupt(_ what: String) -> DataError {
            DataError(
                .data(.cacheCorrupt), "'\(path)' is not a readable kiln table (\(what))", at: nil,
                help: "remove the cache entry; the next run reads the source files again")
        }

        mutating func take(_ n: Int) throws(DataError) -> [UInt8] {
            guard n >= 0, n <= remaining else { throw corrupt("truncated") }
            defer { offset += n }
            return Array(bytes[offset..<offset + n])
        }

        mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(DataError) -> T {
            let raw = try take(MemoryLayout<T>.size)
            return raw.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(as: T.self)) }
        }

        mutating func array<T: BitwiseCopyable>(count: Int) throws(DataError) -> [T] {
            let size = MemoryLayout<T>.stride
            guard count >= 0, count <= remaining / max(size, 1) else { throw corrupt("truncated") }
            let start = offset
            offset += count * size
            return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
                bytes.withUnsafeBytes { raw in
                    if let base = buffer.baseAddress, let source = raw.baseAddress, count > 0 {
                        UnsafeMutableRawPointer(base).copyMemory(
                            from: source.advanced(by: start), byteCount: count * size)
                    }
                }
                initialized = count
            }
        }
    }
}
