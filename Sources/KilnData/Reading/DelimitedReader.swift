#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import KilnDiagnostics

/// One field of a record: its bytes (without the surrounding quotes) in the reader's buffer.
struct FieldRange {
    var start: Int
    var end: Int
    /// Written in quotes.
    var quoted: Bool
    /// Holds a doubled quote (`""`) that stands for one.
    var escaped: Bool
}

/// A record handed to a sink: valid only during the call.
struct RecordView {
    let base: UnsafePointer<UInt8>
    let fields: UnsafeBufferPointer<FieldRange>
    /// The line the record starts on (1-based).
    let line: Int
    /// Where the record starts in `base`.
    let start: Int

    var count: Int { fields.count }

    /// A field's text, quotes undone; nil when it is not valid UTF-8.
    func string(_ i: Int) -> String? {
        let f = fields[i]
        let bytes = UnsafeBufferPointer(start: base + f.start, count: f.end - f.start)
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
    func shown(_ i: Int) -> String {
        let f = fields[i]
        let text = String(decoding: UnsafeBufferPointer(start: base + f.start, count: f.end - f.start), as: UTF8.self)
        return text.count > 60 ? String(text.prefix(57)) + "..." : text
    }

    /// The line and column (in characters, 1-based) where field `i` starts, quotes included.
    func position(ofField i: Int) -> (line: Int, column: Int) {
        let f = fields[i]
        let fieldStart = f.quoted ? f.start - 1 : f.start
        return Self.position(base: base, from: start, line: line, to: fieldStart)
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

    /// Calls `sink` with every record in order; the sink's error stops the read.
    func read(_ sink: (RecordView) throws(DataError) -> Void) throws(DataError) {
        let file = try ChunkedFile(path: path)
        var fields = UnsafeMutableBufferPointer<FieldRange>.allocate(capacity: 64)
        defer { fields.deallocate() }
        var line = 1
        var first = true
        _ = try file.refill(consumed: 0)
        var position = 0
        if file.filled >= 2 {
            let b = file.bytes
            if (b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF) {
                throw DataError(
                    "data.encoding", "'\(path)' is UTF-16; kiln reads UTF-8", at: .fileStart(path),
                    help: "convert it, e.g. iconv -f UTF-16 -t UTF-8")
            }
        }
        while true {
            let base = UnsafePointer(file.bytes)
            let end = file.filled
            if first {
                first = false
                if end >= 3 && base[0] == 0xEF && base[1] == 0xBB && base[2] == 0xBF { position = 3 }
            }
            // Parse whole records from `position`; stop at a record the buffer does not hold completely.
            var incomplete = false
            while position < end {
                let recordStart = position
                let recordLine = line
                var p = position
                var count = 0
                var recordDone = false
                // Blank line: skip.
                if base[p] == 0x0A || base[p] == 0x0D {
                    if base[p] == 0x0D {
                        if p + 1 >= end && !file.atEOF {
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
                while !recordDone {
                    if count == fields.count {
                        let bigger = UnsafeMutableBufferPointer<FieldRange>.allocate(capacity: fields.count * 2)
                        _ = bigger.initialize(from: fields)
                        fields.deallocate()
                        fields = bigger
                    }
                    guard count < DataLimits.maxColumns else {
                        throw DataError(
                            "data.too-many-columns", "more than \(DataLimits.maxColumns) fields in one record",
                            at: .data(path, line: recordLine))
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
                            if at + 1 >= end && !file.atEOF {
                                p = end  // the next byte decides: doubled or closing
                                break
                            }
                            p = at + 1
                            closed = true
                            break
                        }
                        if !closed {
                            if file.atEOF {
                                let (l, c) = RecordView.position(
                                    base: base, from: recordStart, line: recordLine, to: open)
                                throw DataError(
                                    "data.unbalanced-quote",
                                    "the quoted field that starts here is never closed",
                                    at: .data(path, line: l, column: c),
                                    help:
                                        "close the field with a quote; a quote inside a quoted field is written twice (\"\")"
                                )
                            }
                            incomplete = true
                            break
                        }
                        field = FieldRange(start: open + 1, end: p - 1, quoted: true, escaped: escaped)
                        for k in (open + 1)..<(p - 1) where base[k] == 0x0A { line += 1 }
                        if p < end && base[p] != delimiter && base[p] != 0x0A && base[p] != 0x0D {
                            let (l, c) = RecordView.position(base: base, from: recordStart, line: recordLine, to: p)
                            throw DataError(
                                "data.text-after-quote", "text after the closing quote of a field",
                                at: .data(path, line: l, column: c),
                                help: "quote the whole field, and write a quote inside it twice (\"\")")
                        }
                    } else {
                        let s = p
                        while p < end {
                            let c = base[p]
                            if c == delimiter || c == 0x0A || c == 0x0D { break }
                            p += 1
                        }
                        field = FieldRange(start: s, end: p, quoted: false, escaped: false)
                    }
                    if p >= end && !file.atEOF {
                        incomplete = true
                        break
                    }
                    fields[count] = field
                    count += 1
                    if p >= end {
                        recordDone = true
                    } else if base[p] == delimiter {
                        p += 1
                        if p >= end && !file.atEOF {
                            incomplete = true
                            break
                        }
                        if p >= end {
                            // A delimiter at the very end: one more (empty) field.
                            fields[count] = FieldRange(start: p, end: p, quoted: false, escaped: false)
                            count += 1
                            recordDone = true
                        }
                    } else if base[p] == 0x0A {
                        p += 1
                        line += 1
                        recordDone = true
                    } else {  // CR, alone or before LF
                        if p + 1 >= end && !file.atEOF {
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
                try sink(
                    RecordView(
                        base: base, fields: UnsafeBufferPointer(start: fields.baseAddress, count: count),
                        line: recordLine, start: recordStart))
                position = p
            }
            if !incomplete && file.atEOF { return }
            _ = try file.refill(consumed: position)
            position = 0
            if file.atEOF && file.filled == 0 { return }
        }
    }
}
