#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import KilnDiagnostics

/// One field of a record: its bytes (without the surrounding quotes) in the reader's buffer. Offsets fit
/// 32 bits: the buffer never exceeds `DataLimits.maxRecordBytes` plus a chunk.
struct FieldRange {
    var start: Int32
    var end: Int32
    /// Written in quotes.
    var quoted: Bool
    /// Holds a doubled quote (`""`) that stands for one.
    var escaped: Bool

    var count: Int { Int(end &- start) }
}

/// Up to `DelimitedReader.blockSize` consecutive records, handed to a sink: valid only during the call.
/// Column-wise consumers loop over one field of every record, which keeps their loops tight.
struct RecordBlock {
    let base: UnsafePointer<UInt8>
    let count: Int
    /// Record r's fields are `fields[first[r] ..< first[r + 1]]`.
    let first: UnsafePointer<Int32>
    let fields: UnsafePointer<FieldRange>
    /// The line each record starts on (1-based), and its offset in `base`.
    let lines: UnsafePointer<Int>
    let starts: UnsafePointer<Int>

    @inline(__always) func fieldCount(_ r: Int) -> Int { Int(first[r &+ 1] &- first[r]) }

    @inline(__always) func field(_ r: Int, _ i: Int) -> FieldRange { fields[Int(first[r]) &+ i] }

    @inline(__always) func bytes(_ f: FieldRange) -> UnsafePointer<UInt8> { base + Int(f.start) }

    /// A field's text, quotes undone; nil when it is not valid UTF-8.
    func string(_ r: Int, _ i: Int) -> String? {
        let f = field(r, i)
        let bytes = UnsafeBufferPointer(start: base + Int(f.start), count: f.count)
        guard f.escaped else { return String(validating: bytes, as: UTF8.self) }
        var unescaped: [UInt8] = []
        unescaped.reserveCapacity(bytes.count)
        var k = 0
        while k < bytes.count {
            unescaped.append(bytes[k])
            k += bytes[k] == 0x22 ? 2 : 1
        }
        return String(validating: unescaped, as: UTF8.self)
    }

    /// The text of a field for a message: invalid UTF-8 shown with replacement characters, long text cut.
    func shown(_ r: Int, _ i: Int) -> String {
        let f = field(r, i)
        let text = String(decoding: UnsafeBufferPointer(start: base + Int(f.start), count: f.count), as: UTF8.self)
        return text.count > 60 ? String(text.prefix(57)) + "..." : text
    }

    /// The line and column (in characters, 1-based) where a field starts, quotes included.
    func position(_ r: Int, _ i: Int) -> (line: Int, column: Int) {
        let f = field(r, i)
        let fieldStart = Int(f.start) - (f.quoted ? 1 : 0)
        return Self.position(base: base, from: starts[r], line: lines[r], to: fieldStart)
    }

    static func position(base: UnsafePointer<UInt8>, from start: Int, line: Int, to target: Int) -> (
        line: Int, column: Int
    ) {
        var line = line
        var lineStart = start
        for k in start..<target where base[k] == 0x0A {
            line += 1
            lineStart = k + 1
        }
        // Characters, not bytes: count the bytes that begin a UTF-8 sequence.
        var column = 1
        for k in lineStart..<target where base[k] & 0xC0 != 0x80 { column += 1 }
        return (line, column)
    }
}

/// RFC 4180 records from a csv or tsv file: quoted fields with doubled quotes, embedded newlines, LF or
/// CRLF (or a lone CR) line ends, a UTF-8 byte order mark skipped. Blank lines are skipped. A quote only
/// opens a quoted field at the start of a field; elsewhere it is an ordinary character.
///
/// Streaming: the file is read in chunks; memory is one chunk plus the longest record.
struct DelimitedReader {
    let path: String
    let delimiter: UInt8
    var hashing = false
    /// Records per block (a header read needs one).
    var blockSize = 1024

    /// Calls `sink` with every record in order, a block at a time; the sink's error stops the read.
    /// With `hashing`, returns the SHA-256 of the bytes read (the whole file).
    @discardableResult
    func read(_ sink: (RecordBlock) throws(DataError) -> Void) throws(DataError) -> ContentHash.FileDigest? {
        let file = try ChunkedFile(path: path, hashing: hashing)
        var fieldCapacity = 64 * blockSize
        var fields = UnsafeMutablePointer<FieldRange>.allocate(capacity: fieldCapacity)
        let first = UnsafeMutablePointer<Int32>.allocate(capacity: blockSize + 1)
        let lines = UnsafeMutablePointer<Int>.allocate(capacity: blockSize)
        let starts = UnsafeMutablePointer<Int>.allocate(capacity: blockSize)
        defer {
            fields.deallocate()
            first.deallocate()
            lines.deallocate()
            starts.deallocate()
        }
        var records = 0
        var used = 0  // fields in the block
        first[0] = 0
        func flush(_ base: UnsafePointer<UInt8>) throws(DataError) {
            guard records > 0 else { return }
            try sink(
                RecordBlock(base: base, count: records, first: first, fields: fields, lines: lines, starts: starts))
            records = 0
            used = 0
        }

        var line = 1
        _ = try file.refill(consumed: 0)
        var position = 0
        if file.filled >= 2 {
            let b = file.bytes
            if (b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF) {
                throw DataError(
                    .data(.encoding), "'\(path)' is UTF-16; kiln reads UTF-8", at: .fileStart(path),
                    help: "convert it, e.g. iconv -f UTF-16 -t UTF-8")
            }
            if file.filled >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { position = 3 }
        }
        let delimiter = self.delimiter
        while true {
            let base = UnsafePointer(file.bytes)
            let end = file.filled
            let atEOF = file.atEOF
            // Parse whole records from `position`; stop at a record the buffer does not hold completely.
            var incomplete = false
            while position < end {
                let recordStart = position
                let recordLine = line
                var p = position
                // Blank line: skip.
                if base[p] == 0x0A || base[p] == 0x0D {
                    if base[p] == 0x0D {
                        if p + 1 >= end && !atEOF {
                            incomplete = true
                            break
                        }
                        p += (p + 1 < end && base[p + 1] == 0x0A) ? 2 : 1
                    } else {
                        p += 1
                    }
                    line += 1
                    position = p
                    continue
                }
                var count = 0
                var recordDone = false
                while !recordDone {
                    if used + count == fieldCapacity {
                        guard count < DataLimits.maxColumns else {
                            throw DataError(
                                .data(.tooManyColumns), "more than \(DataLimits.maxColumns) fields in one record",
                                at: .data(path, line: recordLine))
                        }
                        let bigger = UnsafeMutablePointer<FieldRange>.allocate(capacity: fieldCapacity * 2)
                        bigger.moveInitialize(from: fields, count: used + count)
                        fields.deallocate()
                        fields = bigger
                        fieldCapacity *= 2
                    }
                    var field: FieldRange
                    if p < end && base[p] == 0x22 {
                        // Quoted: up to the closing quote, doubled quotes inside.
                        let open = p
                        p += 1
                        var escaped = false
                        var closed = false
                        while p < end {
                            guard let q = memchr(base + p, 0x22, end - p) else {
                                p = end
                                break
                            }
                            let at = base.distance(to: q.assumingMemoryBound(to: UInt8.self))
                            if at + 1 < end && base[at + 1] == 0x22 {
                                escaped = true
                                p = at + 2
                                continue
                            }
                            if at + 1 >= end && !atEOF {
                                p = end  // the next byte decides: doubled or closing
                                break
                            }
                            p = at + 1
                            closed = true
                            break
                        }
                        if !closed {
                            if atEOF {
                                let (l, c) = RecordBlock.position(
                                    base: base, from: recordStart, line: recordLine, to: open)
                                throw DataError(
                                    .data(.unbalancedQuote),
                                    "the quoted field that starts here is never closed",
                                    at: .data(path, line: l, column: c),
                                    help:
                                        "close the field with a quote; a quote inside a quoted field is written twice (\"\")"
                                )
                            }
                            incomplete = true
                            break
                        }
                        field = FieldRange(start: Int32(open + 1), end: Int32(p - 1), quoted: true, escaped: escaped)
                        for k in (open + 1)..<(p - 1) where base[k] == 0x0A { line += 1 }
                        if p < end && base[p] != delimiter && base[p] != 0x0A && base[p] != 0x0D {
                            let (l, c) = RecordBlock.position(base: base, from: recordStart, line: recordLine, to: p)
                            throw DataError(
                                .data(.textAfterQuote), "text after the closing quote of a field",
                                at: .data(path, line: l, column: c),
                                help: "quote the whole field, and write a quote inside it twice (\"\")")
                        }
                    } else {
                        let s = p
                        while p < end {
                            let c = base[p]
                            if c == delimiter || c == 0x0A || c == 0x0D { break }
                            p &+= 1
                        }
                        field = FieldRange(
                            start: Int32(truncatingIfNeeded: s), end: Int32(truncatingIfNeeded: p), quoted: false,
                            escaped: false)
                    }
                    if p >= end && !atEOF {
                        incomplete = true
                        break
                    }
                    fields[used + count] = field
                    count += 1
                    if p >= end {
                        recordDone = true
                    } else if base[p] == delimiter {
                        p += 1
                        if p >= end && !atEOF {
                            incomplete = true
                            break
                        }
                        if p >= end {
                            // A delimiter at the very end: one more (empty) field.
                            fields[used + count] = FieldRange(
                                start: Int32(p), end: Int32(p), quoted: false, escaped: false)
                            count += 1
                            recordDone = true
                        }
                    } else if base[p] == 0x0A {
                        p += 1
                        line += 1
                        recordDone = true
                    } else {  // CR, alone or before LF
                        if p + 1 >= end && !atEOF {
                            incomplete = true
                            break
                        }
                        p += (p + 1 < end && base[p + 1] == 0x0A) ? 2 : 1
                        line += 1
                        recordDone = true
                    }
                }
                if incomplete {
                    line = recordLine
                    position = recordStart
                    break
                }
                lines[records] = recordLine
                starts[records] = recordStart
                used += count
                records += 1
                first[records] = Int32(used)
                position = p
                if records == blockSize { try flush(base) }
            }
            // The block points into the buffer: hand it over before the buffer moves.
            try flush(base)
            if !incomplete && atEOF { return file.digest }
            _ = try file.refill(consumed: position)
            position = 0
            if file.atEOF && file.filled == 0 { return file.digest }
        }
    }
}
