import ArgumentParser
import Foundation
import KilnRegistry
import KilnRuntime
import KilnSecurity
import KilnSpec

/// `kiln keygen`: an Ed25519 key pair for signing versions.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make an Ed25519 key pair: PREFIX.key (private, mode 0600) and PREFIX.pub.",
        discussion: """
            Keep the .key file out of the workspace's repository. List the .pub file in the Policy's
            signing.trusted_keys.

            Example:
              kiln keygen --out ~/.kiln/release && cp ~/.kiln/release.pub keys/
            """)
    @Option(help: "The files' path without extension.") var out = "keys/release"

    func run() throws {
        do {
            let (privatePath, publicPath) = try ModelSigning.generateKeys(prefix: out)
            Terminal.standardOutput("private key: \(privatePath) (keep it secret)\npublic key:  \(publicPath)\n")
        } catch {
            throw fail("\(error)")
        }
    }
}
