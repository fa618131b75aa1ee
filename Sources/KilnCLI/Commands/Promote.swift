import ArgumentParser
import Foundation
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec

struct Promote: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move an environment's alias to a version (who, when and why are kept).",
        discussion: "Example:\n  kiln promote iris-mlp@staging production --reason 'passed review'")
    @Argument(help: "NAME@vN, NAME@ALIAS or NAME@latest.") var reference: String
    @Argument(help: "The environment (its alias).") var environment: String
    @OptionGroup var registry: RegistryOptions
    @Option(help: "Why.") var reason = "promoted"

    func run() throws {
        let version = try registry.resolve(try RegistryOptions.reference(reference))
        try move(environment, version, "promote: \(reason)", registry, action: "promote")
    }
}
