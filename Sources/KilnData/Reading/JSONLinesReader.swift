#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import KilnDiagnostics

/// One JSON object per line (JSON Lines / NDJSON), flat: every value is null, a boolean, a number or a
/// string. Nested arrays and objects are refused: kiln's columns hold scalars.
///
/// Hand-written on purpose: Foundation's JSON decoders neither keep a value's literal text (an int
/// column must refuse `3.0`; a category may be written `1`), nor report where in the line a problem is,
/// nor see duplicate keys. The grammar is RFC 8259's, and the fuzzer runs it.
struct JSONLinesReader {
    let path: String
    var hashing = false

    struct Member {
        var key: String
        var value: JSONScalar
        /// Byte offset of the key's opening quote in the line.
        var offset: Int
    }

    struct SyntaxError: Error {
        var message: String
        var offset: Int
    }

    /// Calls `sink` with each non-blank line's members, in order, and the line number.
    /// With `hashing`, returns the SHA-256 of the bytes read (the whole file).
    @discardableResult
    func read(_ sink: ([Member], Int, _ column: (Int) -> Int) throws(DataError) -> Void) throws(DataError)
        -> ContentHash.FileDigest?
    {
        let file = try ChunkedFile(path: path, hashing: hashing)
        var line = 1
        var position = 0
        var first = true
        _ = try file.refill(consumed: 0)
        while true {
            let base = UnsafePointer(file.bytes)
            let end = file.filled
            if first {
                first = false
                if end >= 3 && base[0] == 0xEF && base[1] == 0xBB && base[2] == 0xBF { position = 3 }
            }
            while position < end {
                guard let nl = memchr(base + position, 0x0A, end - position) else {
                    if !file.atEOF { break }
                    try handle(base, position, end, line, sink)
                    position = end
                    break
                }
                let at = base.distance(to: nl.assumingMemoryBound(to: UInt8.self))
                try handle(base, position, at, line, sink)
                line += 1
                position = at + 1
            }
            if file.atEOF { return file.digest }
            _ = try file.refill(consumed: position)
            position = 0
            if file.atEOF && file.filled == 0 { return file.digest }
        }
    }

    private func handle(
        _ base: UnsafePointer<UInt8>, _ start: Int, _ lineEnd: Int, _ line: Int,
        _ sink: ([Member], Int, (Int) -> Int) throws(DataError) -> Void
    ) throws(DataError) {
        var end = lineEnd
        if end > start && base[end - 1] == 0x0D { end -= 1 }
        let bytes = UnsafeBufferPointer(start: base + start, count: end - start)
        // Characters, not bytes, for messages.
        let column: (Int) -> Int = { offset in
            var c = 1
            for k in 0..<min(offset, bytes.count) where bytes[k] & 0xC0 != 0x80 { c += 1 }
            return c
        }
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }
        do {
            var parser = FlatObjectParser(bytes: bytes)
            let members = try parser.parse()
            try sink(members, line, column)
        } catch let e as SyntaxError {
            throw DataError(
                .data(.json), e.message, at: .data(path, line: line, column: column(e.offset)),
                help: "each line of a jsonl file is one JSON object, such as {\"a\": 1, \"b\": \"x\"}")
        } catch let e as DataError {
            throw e
        } catch {
            throw DataError(.data(.json), "\(error)", at: .data(path, line: line))
        }
    }
}

/// RFC 8259 for one line holding one object of scalars.
struct FlatObjectParser {
    let bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private func fail(_ message: String, at offset: Int? = nil) -> JSONLinesReader.SyntaxError {
        .init(message: message, offset: offset ?? i)
    }

    private mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0D { i += 1 }
    }

    mutating func parse() throws(JSONLinesReader.SyntaxError) -> [JSONLinesReader.Member] {
        skipSpace()
        guard i < bytes.count, bytes[i] == 0x7B else {
            throw fail("expected a JSON object ('{') at the start of the line")
        }
        i += 1
        var members: [JSONLinesReader.Member] = []
        var seen = Set<String>()
        skipSpace()
        if i < bytes.count && bytes[i] == 0x7D {
            i += 1
        } else {
            while true {
                skipSpace()
                let keyAt = i
                guard i < bytes.count, bytes[i] == 0x22 else { throw fail("expected a key in double quotes") }
                let key = try string()
                guard seen.insert(key).inserted else {
                    throw fail("key '\(key)' appears twice in the object", at: keyAt)
                }
                skipSpace()
                guard i < bytes.count, bytes[i] == 0x3A else { throw fail("expected ':' after the key '\(key)'") }
                i += 1
                skipSpace()
                let value = try scalar(key: key)
                members.append(.init(key: key, value: value, offset: keyAt))
                skipSpace()
                guard i < bytes.count else { throw fail("the object is not closed ('}' missing)") }
                if bytes[i] == 0x2C {
                    i += 1
                    continue
                }
                guard bytes[i] == 0x7D else { throw fail("expected ',' or '}' after the value of '\(key)'") }
                i += 1
                break
            }
        }
        skipSpace()
        guard i == bytes.count else { throw fail("text after the end of the object (one object per line)") }
        return members
    }

    private mutating func scalar(key: String) throws(JSONLinesReader.SyntaxError) -> JSONScalar {
        guard i < bytes.count else { throw fail("the value of '\(key)' is missing") }
        switch bytes[i] {
        case 0x22: return .string(try string())
        case 0x7B, 0x5B:
            throw fail(
                "the value of '\(key)' is an \(bytes[i] == 0x7B ? "object" : "array"); columns hold single values")
        case 0x74: try literal("true"); return .bool(true)
        case 0x66: try literal("false"); return .bool(false)
        case 0x6E: try literal("null"); return .null
        default: return .number(try number(key: key))
        }
    }

    private mutating func literal(_ word: StaticString) throws(JSONLinesReader.SyntaxError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw fail("expected '\(word)'") }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] { throw fail("expected '\(word)'") }
        i += n
    }

    private mutating func number(key: String) throws(JSONLinesReader.SyntaxError) -> [UInt8] {
        let start = i
        func digits(_ i: inout Int) -> Int {
            let s = i
            while i < bytes.count, bytes[i] &- 0x30 < 10 { i += 1 }
            return i - s
        }
        if i < bytes.count && bytes[i] == 0x2D { i += 1 }
        let intStart = i
        let n = digits(&i)
        guard n > 0 else { throw fail("the value of '\(key)' is not JSON (strings need double quotes)", at: start) }
        if n > 1 && bytes[intStart] == 0x30 { throw fail("a JSON number has no leading zeros", at: start) }
        if i < bytes.count && bytes[i] == 0x2E {
            i += 1
            guard digits(&i) > 0 else { throw fail("expected digits after '.'") }
        }
        if i < bytes.count && (bytes[i] | 0x20) == 0x65 {
            i += 1
            if i < bytes.count && (bytes[i] == 0x2B || bytes[i] == 0x2D) { i += 1 }
            guard digits(&i) > 0 else { throw fail("expected digits in the exponent") }
        }
        return Array(bytes[start..<i])
    }

    private mutating func string() throws(JSONLinesReader.SyntaxError) -> String {
        let open = i
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw fail("the string is not closed", at: open) }
            let c = bytes[i]
            if c == 0x22 {
                i += 1
                break
            }
            if c < 0x20 { throw fail("a control character inside a string must be escaped") }
            if c != 0x5C {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < bytes.count else { throw fail("the string is not closed", at: open) }
            let e = bytes[i]
            i += 1
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard i + 1 < bytes.count, bytes[i] == 0x5C, bytes[i + 1] == 0x75 else {
                        throw fail("a lone UTF-16 surrogate in \\u escapes")
                    }
                    i += 2
                    let low = try hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw fail("a lone UTF-16 surrogate in \\u escapes") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("a lone UTF-16 surrogate in \\u escapes")
                }
                guard let u = Unicode.Scalar(scalar) else { throw fail("an invalid \\u escape") }
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                throw fail("an unknown escape '\\\(Character(Unicode.Scalar(e)))' in a string", at: i - 2)
            }
        }
        guard let s = String(validating: out, as: UTF8.self) else {
            throw fail("the string is not valid UTF-8", at: open)
        }
        return s
    }

    private mutating func hex4() throws(JSONLinesReader.SyntaxError) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("expected four hex digits after \\u") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i] | 0x20
            let d: UInt8
            if c &- 0x30 < 10 {
                d = c &- 0x30
            } else if c >= 0x61 && c <= 0x66 {
                d = c - 0x61 + 10
            } else {
                throw fail("expected four hex digits after \\u")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }
}
