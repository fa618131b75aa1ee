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

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 32 || (scalar.value >= 127 && scalar.value < 160)
    }
}
