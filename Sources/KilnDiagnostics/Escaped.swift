/// Text from outside shown in a message: control characters (terminal escapes among them) as `\u{..}`,
/// so what a hostile file or registry holds cannot rewrite the user's terminal.
public struct Escaped: CustomStringConvertible, Sendable {
    public var text: String
    /// Control characters left as they are (the renderer keeps tabs and line breaks of its own text).
    public var keeping: Set<UInt32>

    public init(_ text: String, keeping: Set<UInt32> = []) {
        self.text = text
        self.keeping = keeping
    }

    public var description: String {
        // The common case, no control character at all, costs one pass and no copy.
        guard text.unicodeScalars.contains(where: { Self.isControl($0) && !keeping.contains($0.value) }) else {
            return text
        }
        var out = ""
        for scalar in text.unicodeScalars {
            if Self.isControl(scalar) && !keeping.contains(scalar.value) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// Characters that change how a terminal shows the text around them rather than showing themselves:
    /// C0 and C1 controls, DEL, line and paragraph separators, bidirectional overrides and isolates, and
    /// the replacement character (text that was not UTF-8).
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        return v < 32 || (v >= 127 && v < 160) || v == 0x2028 || v == 0x2029 || (0x202A...0x202E).contains(v)
            || (0x2066...0x2069).contains(v) || v == 0x200E || v == 0x200F || v == 0xFFFD
    }

    /// The first character of `text` that `isControl` refuses (outside `allowing`), for validation
    /// messages; nil when there is none.
    public static func firstControl(in text: String, allowing: Set<UInt32> = []) -> Unicode.Scalar? {
        text.unicodeScalars.first { isControl($0) && !allowing.contains($0.value) }
    }

    /// Text for a terminal: every control character escaped but line breaks, tabs and kiln's own colour
    /// codes (SGR: `ESC [ digits m`), so what a registry, a data file or a request holds cannot move the
    /// cursor, clear the screen, set the window title or reorder a line.
    public static func forTerminal(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { isControl($0) && $0 != "\n" && $0 != "\t" }) else { return text }
        var out = String.UnicodeScalarView()
        let scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if c == "\u{1B}", i + 1 < scalars.count, scalars[i + 1] == "[" {
                var j = i + 2
                while j < scalars.count, ("0"..."9").contains(scalars[j]) || scalars[j] == ";" { j += 1 }
                if j < scalars.count, scalars[j] == "m" {
                    out.append(contentsOf: scalars[i...j])
                    i = j + 1
                    continue
                }
            }
            if isControl(c) && c != "\n" && c != "\t" {
                out.append(contentsOf: "\\u{\(String(c.value, radix: 16))}".unicodeScalars)
            } else {
                out.append(c)
            }
            i += 1
        }
        return String(out)
    }
}
