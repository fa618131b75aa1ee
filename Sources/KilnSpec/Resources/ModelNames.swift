import KilnDiagnostics

/// Names and references that specs, the command line and the registry share.

/// The names kiln accepts for models, resources and aliases, wherever they come from (a spec, the command
/// line, a pulled registry's reference names): they become git reference names and Policy patterns.
public enum ModelNames {
    /// A lower-case letter, then lower-case letters, digits and '-', at most 63 characters.
    public static func isName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...63).contains(u.count), u[0] >= 97 && u[0] <= 122 else { return false }
        return u.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
    }

    /// What makes a registration message unfit for a version's commit: a line starting with `Kiln-` (kiln's
    /// own trailers follow the message and would be forged), or a control or formatting character (tabs
    /// and line breaks aside). The compiler says it at `kiln check`; the registry refuses it again.
    public enum MessageProblem: Sendable { case trailer, control }

    public static func messageProblem(_ message: String) -> MessageProblem? {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.contains(where: { $0.hasPrefix("Kiln-") }) { return .trailer }
        if Escaped.firstControl(in: message, allowing: [9, 10]) != nil { return .control }
        return nil
    }

    /// A loopback address: plain HTTP with tokens is allowed there only.
    public static func isLoopback(_ host: String) -> Bool {
        host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.")
    }

    /// A name that is not `latest` nor `v` and digits (with or without '-'): those name versions.
    public static func isAlias(_ s: String) -> Bool {
        guard isName(s), s != "latest" else { return false }
        let rest = s.dropFirst().drop { $0 == "-" }
        return !(s.hasPrefix("v") && !rest.isEmpty && rest.allSatisfy(\.isNumber))
    }
}

/// `NAME@vN`, `NAME@ALIAS` or `NAME@latest`.
public struct ModelReference: Sendable, Hashable, CustomStringConvertible {
    public enum Target: Sendable, Hashable {
        case version(Int)
        case alias(String)
        case latest
    }

    public var model: String
    public var target: Target

    /// nil unless the model is a name and the target is `latest`, `vN` (N ≥ 1, as written by kiln: no
    /// leading zeros) or an alias (`ModelNames.isAlias`): `@v0`, `@v-1` and `@v01` name nothing.
    public init?(_ text: String) {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, ModelNames.isName(String(parts[0])) else { return nil }
        model = String(parts[0])
        let ref = String(parts[1])
        if ref == "latest" {
            target = .latest
        } else if ref.hasPrefix("v"), let n = Int(ref.dropFirst()), n > 0, "v\(n)" == ref {
            target = .version(n)
        } else if ModelNames.isAlias(ref) {
            target = .alias(ref)
        } else {
            return nil
        }
    }

    public var description: String {
        switch target {
        case .version(let n): return "\(model)@v\(n)"
        case .alias(let a): return "\(model)@\(a)"
        case .latest: return "\(model)@latest"
        }
    }
}

extension ModelReference: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let reference = ModelReference(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a model reference: \(text)"))
        }
        self = reference
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Glob matching of `KIND/NAME` patterns: `*` matches any run of characters, `?` one.
public func globMatches(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern.unicodeScalars), t = Array(text.unicodeScalars)
    var pi = 0, ti = 0, star = -1, mark = 0
    while ti < t.count {
        if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) {
            pi += 1
            ti += 1
        } else if pi < p.count && p[pi] == "*" {
            star = pi
            mark = ti
            pi += 1
        } else if star >= 0 {
            pi = star + 1
            mark += 1
            ti = mark
        } else {
            return false
        }
    }
    while pi < p.count && p[pi] == "*" { pi += 1 }
    return pi == p.count
}
