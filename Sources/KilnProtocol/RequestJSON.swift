import Foundation
import KilnData

/// A strict JSON reader (RFC 8259) for inference request bodies, written for speed: a request of one
/// 784-feature row spent a third of the server's time in Foundation's JSONDecoder (generic decoding, one
/// element at a time) and more in JSONSerialization (an NSNumber per element). Numbers are read by the data
/// layer's exact parser (the one the CSV reader uses). It accepts only valid JSON; anything it refuses goes
/// to `InferenceProtocol.decodeExplaining`, which reads it again with JSONSerialization and says what is
/// wrong, so this reader never needs to explain.
enum RequestJSON {
    // Not `indirect`: arrays already box their elements, and an indirect case would allocate per number.
    enum Value {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([Value])
        case object([(String, Value)])

        subscript(_ key: String) -> Value? {
            guard case .object(let members) = self else { return nil }
            return members.first { $0.0 == key }?.1
        }
    }

    struct Invalid: Error {}

    static let maxDepth = 64

    static func parse(_ data: Data) -> Value? {
        data.withUnsafeBytes { raw -> Value? in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return nil }
            var reader = Reader(p: base, end: raw.count)
            do {
                let value = try reader.value(depth: 0)
                reader.skipSpace()
                return reader.i == reader.end ? value : nil
            } catch {
                return nil
            }
        }
    }

    private struct Reader {
        let p: UnsafePointer<UInt8>
        let end: Int
        var i = 0

        mutating func skipSpace() {
            while i < end, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09 { i += 1 }
        }

        mutating func value(depth: Int) throws(Invalid) -> Value {
            guard depth < maxDepth else { throw Invalid() }
            skipSpace()
            guard i < end else { throw Invalid() }
            switch p[i] {
            case UInt8(ascii: "{"):
                i += 1
                var members: [(String, Value)] = []
                skipSpace()
                if i < end && p[i] == UInt8(ascii: "}") {
                    i += 1
                    return .object(members)
                }
                while true {
                    skipSpace()
                    guard i < end, p[i] == UInt8(ascii: "\"") else { throw Invalid() }
                    let key = try string()
                    skipSpace()
                    guard i < end, p[i] == UInt8(ascii: ":") else { throw Invalid() }
                    i += 1
                    // A key given twice is refused (the explaining path says so): readers disagree on which
                    // one wins, and a request must mean one thing.
                    guard !members.contains(where: { $0.0 == key }) else { throw Invalid() }
                    members.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard i < end else { throw Invalid() }
                    if p[i] == UInt8(ascii: ",") {
                        i += 1
                    } else if p[i] == UInt8(ascii: "}") {
                        i += 1
                        return .object(members)
                    } else {
                        throw Invalid()
                    }
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [Value] = []
                skipSpace()
                if i < end && p[i] == UInt8(ascii: "]") {
                    i += 1
                    return .array(items)
                }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < end else { throw Invalid() }
                    if p[i] == UInt8(ascii: ",") {
                        i += 1
                    } else if p[i] == UInt8(ascii: "]") {
                        i += 1
                        return .array(items)
                    } else {
                        throw Invalid()
                    }
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null")
                return .null
            default:
                return .number(try number())
            }
        }

        mutating func literal(_ word: StaticString) throws(Invalid) {
            let n = word.utf8CodeUnitCount
            guard end - i >= n else { throw Invalid() }
            for k in 0..<n where p[i + k] != word.utf8Start[k] { throw Invalid() }
            i += n
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, then the exact parser on the token.
        mutating func number() throws(Invalid) -> Double {
            let start = i
            func digits(_ r: inout Reader) -> Int {
                let s = r.i
                while r.i < r.end, r.p[r.i] >= 0x30, r.p[r.i] <= 0x39 { r.i += 1 }
                return r.i - s
            }
            if i < end && p[i] == UInt8(ascii: "-") { i += 1 }
            guard i < end else { throw Invalid() }
            if p[i] == UInt8(ascii: "0") {
                i += 1
            } else {
                guard digits(&self) > 0 else { throw Invalid() }
            }
            if i < end && p[i] == UInt8(ascii: ".") {
                i += 1
                guard digits(&self) > 0 else { throw Invalid() }
            }
            if i < end && (p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) {
                i += 1
                if i < end && (p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-")) { i += 1 }
                guard digits(&self) > 0 else { throw Invalid() }
            }
            guard case .success(let v) = NumberParsing.double(p + start, count: i - start) else { throw Invalid() }
            return v
        }

        /// A string at `p[i] == "`: escapes undone, UTF-8 validated.
        mutating func string() throws(Invalid) -> String {
            i += 1
            let start = i
            // Most strings (names, datatypes) have no escape: one scan, one validated copy.
            while i < end && p[i] != UInt8(ascii: "\"") && p[i] != UInt8(ascii: "\\") && p[i] >= 0x20 { i += 1 }
            guard i < end else { throw Invalid() }
            if p[i] == UInt8(ascii: "\"") {
                defer { i += 1 }
                return try text(UnsafeBufferPointer(start: p + start, count: i - start))
            }
            var bytes = [UInt8](UnsafeBufferPointer(start: p + start, count: i - start))
            while i < end {
                let c = p[i]
                if c == UInt8(ascii: "\"") {
                    i += 1
                    return try bytes.withUnsafeBufferPointer { b throws(Invalid) in try text(b) }
                }
                guard c >= 0x20 else { throw Invalid() }
                if c != UInt8(ascii: "\\") {
                    bytes.append(c)
                    i += 1
                    continue
                }
                i += 1
                guard i < end else { throw Invalid() }
                let e = p[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(e)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard end - i >= 6, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u") else {
                            throw Invalid()
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw Invalid() }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw Invalid() }
                    bytes.append(contentsOf: Array(String(Character(u)).utf8))
                default:
                    throw Invalid()
                }
            }
            throw Invalid()
        }

        mutating func hex4() throws(Invalid) -> UInt32 {
            guard end - i >= 4 else { throw Invalid() }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = p[i]
                let d: UInt32
                switch c {
                case 0x30...0x39: d = UInt32(c - 0x30)
                case 0x41...0x46: d = UInt32(c - 0x41 + 10)
                case 0x61...0x66: d = UInt32(c - 0x61 + 10)
                default: throw Invalid()
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        func text(_ bytes: UnsafeBufferPointer<UInt8>) throws(Invalid) -> String {
            guard let s = String(validating: bytes, as: UTF8.self) else { throw Invalid() }
            return s
        }
    }

    /// The first key that an object of `data` holds twice, found without recursion (any depth), keys
    /// compared after their escapes are decoded; nil when there is none. The explaining path runs it
    /// before Foundation's reader, which keeps the last of two keys while the fast reader would refuse.
    static func firstDuplicateKey(_ data: Data) -> String? {
        let bytes = [UInt8](data)
        var stack: [Set<String>?] = []  // nil: an array
        var i = 0
        func readString() -> (raw: ArraySlice<UInt8>, escaped: Bool)? {
            let start = i + 1
            var j = start
            var escaped = false
            while j < bytes.count {
                if bytes[j] == UInt8(ascii: "\\") {
                    escaped = true
                    j += 2
                    continue
                }
                if bytes[j] == UInt8(ascii: "\"") {
                    i = j + 1
                    return (bytes[start..<j], escaped)
                }
                j += 1
            }
            return nil
        }
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "{"):
                stack.append(Set<String>())
                i += 1
            case UInt8(ascii: "["):
                stack.append(nil)
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = stack.popLast()
                i += 1
            case UInt8(ascii: "\""):
                guard let (raw, escaped) = readString() else { return nil }
                var k = i
                while k < bytes.count, [9, 10, 13, 32].contains(bytes[k]) { k += 1 }
                guard k < bytes.count, bytes[k] == UInt8(ascii: ":"), let top = stack.indices.last, stack[top] != nil
                else { continue }
                var key = String(decoding: raw, as: UTF8.self)
                if escaped {
                    let quoted = Data([UInt8(ascii: "\"")] + raw + [UInt8(ascii: "\"")])
                    guard let decoded = try? JSONSerialization.jsonObject(with: quoted, options: .fragmentsAllowed) as? String
                    else { return nil }
                    key = decoded
                }
                if stack[top]?.insert(key).inserted == false { return key }
            default:
                i += 1
            }
        }
        return nil
    }
}
