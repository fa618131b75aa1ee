/// Text from outside shown in a message: control characters (terminal escapes among them) as `\u{..}`,
/// so what a hostile file or registry holds cannot rewrite the user's terminal.
public struct Escaped: CustomStringConvertible, Sendable {
    public var text: String
    public init(_ text: String) { self.text = text }
    public var description: String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0..<32, 127..<160: out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
