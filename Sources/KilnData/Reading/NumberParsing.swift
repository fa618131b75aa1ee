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
enum NumberParsing {
    enum Failure: Error, Equatable {
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

    /// A finite Double from the bytes, or why not.
    static func double(_ p: UnsafePointer<UInt8>, count: Int) -> Result<Double, Failure> {
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
        if !dropped && mantissa <= 1 << 53 && exponent >= -22 && exponent <= 22 {
            let m = Double(mantissa)
            let v = exponent < 0 ? m / powersOfTen[-exponent] : m * powersOfTen[exponent]
            return .success(negative ? -v : v)
        }
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

    /// A 64-bit integer from the bytes: optional sign and digits only (`3.0` is not an integer).
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
        while i < end {
            let d = p[i] &- 0x30
            guard d < 10 else { return .failure(.syntax) }
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
