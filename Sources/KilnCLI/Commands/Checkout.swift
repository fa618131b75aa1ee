import ArgumentParser
import Foundation
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec

struct Checkout: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Write a version's files to a directory: model.safetensors (byte-identical, verified), card.json, records, specs.",
        discussion: "Example:\n  kiln checkout iris-mlp@staging -C examples/iris -o /tmp/iris-model")

    @Argument(help: "NAME@vN, NAME@ALIAS or NAME@latest.") var reference: String
    @OptionGroup var registry: RegistryOptions
    @Option(name: .shortAndLong, help: "The directory to write into.") var output: String

    func run() throws {
        let ref = try RegistryOptions.reference(reference)
        let version = try registry.resolve(ref)
        do { _ = try registry.open().checkout(ref, to: output) } catch {
            throw fail("\(error)")
        }
        Terminal.standardOutput("\(version.reference) → \(output)\n")
    }
}
