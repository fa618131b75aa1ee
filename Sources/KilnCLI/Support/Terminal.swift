import Foundation
import KilnDiagnostics

/// What the output goes to: a TTY gets colour; a pipe, `CI=true` or `NO_COLOR` get plain text.
enum Terminal {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    static func colour(for fd: Int32) -> Bool {
        isatty(fd) == 1 && environment["NO_COLOR"] == nil && environment["CI"] != "true"
            && environment["TERM"] != "dumb"
    }

    /// Everything kiln prints goes through here, escaped for a terminal (`Escaped.forTerminal`): messages
    /// and tables quote registry entries, data and requests.
    static func standardError(_ s: String) {
        FileHandle.standardError.write(Data(Escaped.forTerminal(s).utf8))
    }

    static func standardOutput(_ s: String) {
        FileHandle.standardOutput.write(Data(Escaped.forTerminal(s).utf8))
    }

    /// A JSON document on standard output: indented, keys sorted, slashes unescaped.
    static func printJSON(_ object: Any) throws {
        let data = try JSONSerialization.data(
            withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        standardOutputJSON(String(decoding: data, as: UTF8.self) + "\n")
    }

    /// JSON text on standard output, its control and formatting characters (which can only stand inside
    /// strings) written as JSON escapes: still valid JSON, and harmless on a terminal.
    static func standardOutputJSON(_ s: String) {
        var out = ""
        for scalar in s.unicodeScalars {
            if Escaped.isControl(scalar) && scalar != "\n" {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }

    /// The diagnostics format: the flag if given, GitHub annotations under GitHub Actions, else text.
    static func diagnosticFormat(_ flag: DiagnosticFormat?) -> DiagnosticFormat {
        if let flag { return flag }
        return environment["GITHUB_ACTIONS"] == "true" ? .github : .text
    }
}
