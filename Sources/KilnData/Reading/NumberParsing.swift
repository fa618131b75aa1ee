#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Cell text to numbers, strictly: a decimal number with an optional sign, fraction and exponent;
/// ASCII spaces around it are allowed. No `nan`, `inf`, hex, thousands separators or trailing text:
/// anything else is "does not parse", never a silent NaN or a truncated prefix.
///
/// Most cells take the exact fast path (Clinger): a mantissa of at most 2^53 scaled by an exactly
/// representable power of ten is correctly rounded by one multiplication or division. The rest
/// (long mantissas, large exponents) go to the C library's `strtod`, after this grammar checked them.
public enum NumberParsing {
    public enum Failure: Error, Equatable {
        /// Not a number's text.
        case syntax
        /// A number too large for the type (or a float beyond Double's range).
        case overflow
    }

    private static let powersOfTen: [Double] = (0...22).map { e in
        var p = 1.0
        for _ in 0..<e { p *= 10 }
        return p
    }

    @inline(__always)
    private static func trimmed(_ p: UnsafePointer<UInt8>, _ count: Int) -> (Int, Int) {
        var start = 0, end = count
        while start < end && p[start] == 0x20 { start &+= 1 }
        while end > start && p[end &- 1] == 0x20 { end &-= 1 }
        return (start, end)
    }

    /// The number of leading ASCII digits in a little-endian word of 8 bytes, and the word with each byte
    /// turned into its digit value (meaningful for those leading bytes).
    @inline(__always)
    private static func leadingDigits(_ word: UInt64) -> (count: Int, digits: UInt64) {
        let x = word ^ 0x3030_3030_3030_3030  // a digit byte becomes 0...9
        // A byte is not a digit when it is above 9 after the xor: its high bit, or a carry into bit 7 from +0x76.
        let nonDigit = (((x & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080
        return (nonDigit.trailingZeroBitCount >> 3, x)
    }

    /// The value of the first `n` (1...8) digit bytes of `digits` (from `leadingDigits`), in three multiplies.
    @inline(__always)
    private static func value(ofFirst n: Int, _ digits: UInt64) -> UInt64 {
        // Move the n digits to the top of the word: the zero bytes below them are leading zeros.
        var v = digits << UInt64((8 &- n) &* 8)
        // Memory order is most significant first: byte 0 is the first digit. Pairs, then fours, then eight.
        v = (v &* 10) &+ (v >> 8)
        v = ((v & 0x00FF_00FF_00FF_00FF) &* 100) &+ ((v >> 16) & 0x00FF_00FF_00FF_00FF)
        v = ((v & 0x0000_FFFF_0000_FFFF) &* 10000) &+ ((v >> 32) & 0xFFFF)
        return v & 0xFFFF_FFFF
    }

    private static let powersOfTenInt: [UInt64] = (0...8).map { e in (0..<e).reduce(1) { r, _ in r * 10 } }

    /// Up to 16 digits from `p + i` into `mantissa`, 8 at a time; returns how many, and moves `i` past them.
    @inline(__always)
    private static func digitRun(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ mantissa: inout UInt64) -> Int {
        var total = 0
        for _ in 0..<2 {
            let (n, d) = leadingDigits(UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self).littleEndian)
            if n > 0 {
                mantissa = mantissa &* powersOfTenInt[n] &+ value(ofFirst: n, d)
                total &+= n
                i &+= n
            }
            if n < 8 { break }
        }
        return total
    }

    /// Clinger's fast path: a mantissa of at most 2^53 scaled by an exactly representable power of ten is
    /// correctly rounded by one multiplication or division; nil when it does not apply.
    @inline(__always)
    private static func exact(_ mantissa: UInt64, _ exponent: Int, negative: Bool) -> Double? {
        guard mantissa <= 1 << 53, exponent >= -22, exponent <= 22 else { return nil }
        let m = Double(mantissa)
        let v = exponent < 0 ? m / powersOfTen[-exponent] : m * powersOfTen[exponent]
        return negative ? -v : v
    }

    /// `double` for bytes that sit in a buffer readable at least 8 bytes past `count` (the chunk buffer's
    /// padding): digits are taken 8 at a time, without a branch per digit.
    @inline(__always)
    static func paddedDouble(_ p: UnsafePointer<UInt8>, count: Int) -> Result<Double, Failure> {
        let end = count
        guard end > 0, end <= 24, p[0] != 0x20, p[end &- 1] != 0x20 else { return carefulDouble(p, count: count) }
        let negative = p[0] == 0x2D
        var i = negative || p[0] == 0x2B ? 1 : 0
        var mantissa: UInt64 = 0
        var exponent = 0
        // Integer part and fraction, up to 16 digits each here (longer ones are rare: the careful path).
        var digits = digitRun(p, &i, &mantissa)
        if i < end && p[i] == 0x2E {
            i &+= 1
            let n = digitRun(p, &i, &mantissa)
            digits &+= n
            exponent = -n
        }
        guard digits > 0, digits <= 19, i == end, let v = exact(mantissa, exponent, negative: negative) else {
            return carefulDouble(p, count: count)
        }
        return .success(v)
    }

    /// A finite Double from the bytes, or why not (for text outside the chunk buffer: jsonl numbers,
    /// fill values, inference).
    public static func double(_ p: UnsafePointer<UInt8>, count: Int) -> Result<Double, Failure> {
        carefulDouble(p, count: count)
    }

    /// The whole grammar: spaces, exponents, mantissas beyond 19 digits; exact powers of ten where they
    /// suffice, strtod otherwise.
    @inline(never)
    static func carefulDouble(_ p: UnsafePointer<UInt8>, count: Int) -> Result<Double, Failure> {
        var (i, end) = trimmed(p, count)
        guard i < end else { return .failure(.syntax) }
        let begin = i
        var negative = false
        if p[i] == 0x2D || p[i] == 0x2B {  // - +
            negative = p[i] == 0x2D
            i &+= 1
        }
        var mantissa: UInt64 = 0
        var digits = 0  // significant digits taken into the mantissa
        var dropped = false  // a non-zero digit beyond 19 significant ones
        var exponent = 0
        var sawDigit = false
        while i < end, p[i] &- 0x30 < 10 {
            sawDigit = true
            let d = UInt64(p[i] &- 0x30)
            if digits < 19 {
                if mantissa != 0 || d != 0 {
                    mantissa = mantissa &* 10 &+ d
                    digits &+= 1
                }
            } else {
                exponent &+= 1
                dropped = dropped || d != 0
            }
            i &+= 1
        }
        if i < end && p[i] == 0x2E {  // .
            i &+= 1
            while i < end, p[i] &- 0x30 < 10 {
                sawDigit = true
                let d = UInt64(p[i] &- 0x30)
                if digits < 19 {
                    if mantissa != 0 || d != 0 {
                        mantissa = mantissa &* 10 &+ d
                        digits &+= 1
                    }
                    exponent &-= 1
                } else {
                    dropped = dropped || d != 0
                }
                i &+= 1
            }
        }
        guard sawDigit else { return .failure(.syntax) }
        if i < end && (p[i] | 0x20) == 0x65 {  // e E
            i &+= 1
            var expNegative = false
            if i < end && (p[i] == 0x2D || p[i] == 0x2B) {
                expNegative = p[i] == 0x2D
                i &+= 1
            }
            var e = 0
            var expDigits = 0
            while i < end, p[i] &- 0x30 < 10 {
                if e < 100_000 { e = e &* 10 &+ Int(p[i] &- 0x30) }
                expDigits &+= 1
                i &+= 1
            }
            guard expDigits > 0 else { return .failure(.syntax) }
            exponent &+= expNegative ? -e : e
        }
        guard i == end else { return .failure(.syntax) }
        if mantissa == 0 { return .success(negative ? -0.0 : 0) }
        if !dropped, let v = exact(mantissa, exponent, negative: negative) { return .success(v) }
        return slowDouble(p + begin, count: end - begin)
    }

    /// strtod on a NUL-terminated copy; the grammar was checked already.
    private static func slowDouble(_ p: UnsafePointer<UInt8>, count: Int) -> Result<Double, Failure> {
        var text = [CChar](repeating: 0, count: count + 1)
        for k in 0..<count { text[k] = CChar(bitPattern: p[k]) }
        return text.withUnsafeBufferPointer { buffer in
            guard let start = buffer.baseAddress else { return .failure(.syntax) }
            var endPointer: UnsafeMutablePointer<CChar>?
            let v = strtod(start, &endPointer)
            guard let endPointer, UnsafePointer(endPointer) == start + count else { return .failure(.syntax) }
            return v.isFinite ? .success(v) : .failure(.overflow)
        }
    }

    /// A 64-bit integer from the bytes: optional sign and digits, and a decimal point only before zeros
    /// (`3.0` is 3; `3.5` is not an integer).
    static func int(_ p: UnsafePointer<UInt8>, count: Int) -> Result<Int64, Failure> {
        var (i, end) = trimmed(p, count)
        guard i < end else { return .failure(.syntax) }
        var negative = false
        if p[i] == 0x2D || p[i] == 0x2B {
            negative = p[i] == 0x2D
            i &+= 1
        }
        guard i < end else { return .failure(.syntax) }
        // Accumulate negatively: Int64.min has no positive counterpart.
        var v: Int64 = 0
        var overflow = false
        let digits = i
        while i < end {
            let d = p[i] &- 0x30
            guard d < 10 else {
                // A whole number written with a decimal point (`129.0`, as spreadsheets and pandas write
                // an integer column that had a missing value) is that integer; `129.5` is not one.
                guard p[i] == 0x2E, i > digits, (i &+ 1..<end).allSatisfy({ p[$0] == 0x30 }) else {
                    return .failure(.syntax)
                }
                break
            }
            if !overflow {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.subtractingReportingOverflow(Int64(d))
                overflow = o1 || o2
                v = s
            }
            i &+= 1
        }
        if overflow { return .failure(.overflow) }
        if negative { return .success(v) }
        guard v != .min else { return .failure(.overflow) }
        return .success(-v)
    }

    /// `true`/`false` in any case, or `1`/`0`.
    static func bool(_ p: UnsafePointer<UInt8>, count: Int) -> Bool? {
        let (i, end) = trimmed(p, count)
        let n = end - i
        if n == 1 {
            if p[i] == 0x31 { return true }
            if p[i] == 0x30 { return false }
            return nil
        }
        func matches(_ word: StaticString) -> Bool {
            guard n == word.utf8CodeUnitCount else { return false }
            let w = word.utf8Start
            for k in 0..<n where p[i + k] | 0x20 != w[k] { return false }
            return true
        }
        if matches("true") { return true }
        if matches("false") { return false }
        return nil
    }
}
