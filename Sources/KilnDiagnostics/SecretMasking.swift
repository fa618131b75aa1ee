/// Source lines quoted by diagnostics with secrets masked, decided from the raw text alone: the line may
/// be one the YAML parser could not read (a syntax error, a tab indent), under a misspelled field, or in
/// a nested map, so nothing decoded can say which value is a secret. Two rules, applied to every quoted
/// line:
/// - the value of a key named like a secret (`key`, `secret`, `token`, `password`, `passphrase`,
///   `credential`, `private`, `api_key`, …), in block or flow style, unless it is a secret reference
///   (`${env:…}`, `${file:…}`) or a digest (`token_sha256`);
/// - any run of 24 or more characters that looks like key material (base64 or hex with letters and
///   digits mixed).
public enum SecretMasking {
    static let secretWords = ["key", "secret", "token", "password", "passwd", "passphrase", "credential", "private"]

    public static func mask(_ line: String) -> String {
        var scalars = Array(line.unicodeScalars)
        maskNamedValues(&scalars)
        maskKeyMaterial(&scalars)
        return String(String.UnicodeScalarView(scalars))
    }

    /// `name: value` anywhere on the line (block or flow style): mask `value` when `name` is secret-like.
    private static func maskNamedValues(_ s: inout [Unicode.Scalar]) {
        var i = 0
        while i < s.count {
            guard s[i] == ":" else {
                i += 1
                continue
            }
            // The key before the colon (letters, digits, _ - .), quotes allowed around it.
            var k = i - 1
            while k >= 0, s[k] == " " || s[k] == "\"" || s[k] == "'" { k -= 1 }
            let keyEnd = k + 1
            while k >= 0, isKeyCharacter(s[k]) { k -= 1 }
            let key = String(String.UnicodeScalarView(s[(k + 1)..<keyEnd])).lowercased()
            // The value after it: to the end of the line, or to a ',' or '}' in flow style.
            var start = i + 1
            while start < s.count, s[start] == " " || s[start] == "\t" { start += 1 }
            var end = start
            let flow = s[..<i].contains("{")
            while end < s.count, !(flow && (s[end] == "," || s[end] == "}")), s[end] != "#" || (end > 0 && s[end - 1] != " ") {
                end += 1
            }
            var valueEnd = end
            while valueEnd > start, s[valueEnd - 1] == " " { valueEnd -= 1 }
            let value = String(String.UnicodeScalarView(s[start..<valueEnd]))
            let isReference = value.trimmingQuotes.hasPrefix("${")
            // A digest of a secret (`token_sha256`) is not one: it is what a Policy is meant to hold.
            let isDigest = key.hasSuffix("sha256") || key.contains("digest") || key.contains("fingerprint")
            if !key.isEmpty, secretWords.contains(where: { key.contains($0) }), !isDigest, !isReference, valueEnd > start,
                !value.hasPrefix("{"), !value.hasPrefix("[")
            {
                for j in start..<valueEnd { s[j] = "*" }
            }
            i = max(i + 1, start)
        }
    }

    private static func maskKeyMaterial(_ s: inout [Unicode.Scalar]) {
        var i = 0
        while i < s.count {
            guard isMaterial(s[i]) else {
                i += 1
                continue
            }
            var j = i
            var letters = false, digits = false
            while j < s.count, isMaterial(s[j]) {
                if ("0"..."9").contains(s[j]) { digits = true } else if s[j].properties.isAlphabetic { letters = true }
                j += 1
            }
            if j - i >= 24 && letters && digits {
                for k in i..<j { s[k] = "*" }
            }
            i = j
        }
    }

    private static func isKeyCharacter(_ c: Unicode.Scalar) -> Bool {
        c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "_" || c == "-" || c == "."
    }

    private static func isMaterial(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "+" || c == "/"
            || c == "=" || c == "_" || c == "-"
    }
}

extension String {
    fileprivate var trimmingQuotes: String {
        var s = Substring(self)
        while let f = s.first, f == "\"" || f == "'" { s = s.dropFirst() }
        return String(s)
    }
}
