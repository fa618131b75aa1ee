import ArgumentParser
import Crypto
import Foundation

/// `kiln token new PRINCIPAL`: a fresh bearer token, shown once, and the line to paste into the Policy.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Make bearer tokens for `kiln serve` clients.",
        subcommands: [New.self])

    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a fresh random token once, and the principal line (with its SHA-256) for the Policy.",
            discussion: """
                The token is 32 random bytes (base64url): give it to the client, which sends
                `Authorization: Bearer TOKEN`. kiln stores only its SHA-256 (`token_sha256`), so a lost token cannot
                be recovered: make a new one.

                Example:
                  kiln token new shop-frontend --role consumer
                """)
        @Argument(help: "The principal's name.") var principal: String
        @Option(name: .customLong("role"), help: "A role for the principal line (repeatable).") var roles: [String] = []

        func validate() throws {
            let valid = principal.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "-"
            }
            guard valid, !principal.isEmpty else {
                throw ValidationError("a principal's name is lower-case letters, digits and '-', not '\(principal)'")
            }
        }

        func run() throws {
            let key = SymmetricKey(size: .bits256)
            let token = key.withUnsafeBytes { Data($0) }.base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
            let hash = SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
            let roleList = roles.isEmpty ? "ROLE" : roles.joined(separator: ", ")
            Terminal.standardOutput(
                """
                token (shown once; give it to the client): \(token)
                principal line for the Policy:
                    - {name: \(principal), roles: [\(roleList)], token_sha256: "\(hash)"}

                """)
        }
    }
}
