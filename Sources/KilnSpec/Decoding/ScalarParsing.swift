import Foundation

/// Parsers for the scalar forms of the spec language. Hand-written on purpose: they run for every
/// scalar of a workspace, and each states exactly what it accepts (YAML 1.2 core numbers, no guessing).
enum ScalarParsing {
    static func integer(_ s: String) -> Int? {
        let u = Array(s.utf8)
        var i = 0
        if i < u.count && (u[i] == UInt8(ascii: "-") || u[i] == UInt8(ascii: "+")) { i += 1 }
        guard i < u.count, u[i...].allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(s.hasPrefix("+") ? String(s.dropFirst()) : s)
    }

    /// A decimal number: `1`, `-0.5`, `.5`, `1e-3`, `2.5E+4`. No `.inf`, no `.nan`: no spec wants them.
    static func number(_ s: String) -> Double? {
        let u = Array(s.utf8)
        var i = 0
        func digits() -> Int {
            let start = i
            while i < u.count && u[i] >= 48 && u[i] <= 57 { i += 1 }
            return i - start
        }
        if i < u.count && (u[i] == UInt8(ascii: "-") || u[i] == UInt8(ascii: "+")) { i += 1 }
        var mantissa = digits()
        if i < u.count && u[i] == UInt8(ascii: ".") {
            i += 1
            mantissa += digits()
        }
        guard mantissa > 0 else { return nil }
        if i < u.count && (u[i] == UInt8(ascii: "e") || u[i] == UInt8(ascii: "E")) {
            i += 1
            if i < u.count && (u[i] == UInt8(ascii: "-") || u[i] == UInt8(ascii: "+")) { i += 1 }
            guard digits() > 0 else { return nil }
        }
        guard i == u.count, let d = Double(s), d.isFinite else { return nil }
        return d
    }

    static func boolean(_ s: String) -> Bool? {
        switch s {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    /// Looks like a YAML 1.1 boolean: worth a hint when a boolean is expected.
    static func isYAML11Boolean(_ s: String) -> Bool {
        ["yes", "no", "on", "off", "y", "n"].contains(s.lowercased())
    }

    /// The longest duration a spec may give: 366 days.
    static let maxDuration: Double = 366 * 86400

    /// `30s`, `10m`, `2h`, `250ms`, `1d`, `1h30m`, `1.5h`: seconds.
    static func duration(_ s: String) -> Double? {
        let units: [(String, Double)] = [
            ("ms", 0.001), ("us", 0.000_001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400),
        ]
        var rest = Substring(s)
        var total = 0.0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let numberEnd = rest.firstIndex { !($0.isASCII && ($0.isNumber || $0 == ".")) } ?? rest.endIndex
            guard numberEnd != rest.startIndex, let n = Double(rest[rest.startIndex..<numberEnd]) else { return nil }
            rest = rest[numberEnd...]
            guard let unit = units.first(where: { rest.hasPrefix($0.0) }) else { return nil }
            total += n * unit.1
            rest = rest.dropFirst(unit.0.count)
        }
        return total.isFinite ? total : nil
    }

    /// `512KiB`, `1MiB`, `2GB`, `100B`, or a bare number of bytes.
    static func size(_ s: String) -> Int? {
        let units: [(String, Double)] = [
            ("KiB", 1024), ("MiB", 1_048_576), ("GiB", 1_073_741_824), ("TiB", 1_099_511_627_776),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("B", 1),
        ]
        let trimmed = s.trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            guard let n = Self.number(number), n >= 0, n * factor < 9e18 else { return nil }
            return Int((n * factor).rounded())
        }
        if let n = integer(trimmed), n >= 0 { return n }
        return nil
    }

    /// `10%` or `12.5%`: the fraction.
    static func percentage(_ s: String) -> Double? {
        guard s.hasSuffix("%"), let n = number(String(s.dropLast())) else { return nil }
        return n / 100
    }
}
