import ArgumentParser
import Foundation
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec

struct AliasCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alias", abstract: "Manage aliases.", subcommands: [Set.self, History.self])

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every move of an alias, newest first: version, who, when, why.",
            discussion: "Example:\n  kiln alias history iris-mlp@production -C examples/iris")
        @Argument(help: "NAME@ALIAS.") var reference: String
        @OptionGroup var registry: RegistryOptions

        func run() throws {
            let ref = try RegistryOptions.reference(reference)
            guard case .alias(let alias) = ref.target else { throw ValidationError("name an alias: NAME@ALIAS") }
            let moves = try registry.open().history(of: alias, model: ref.model)
            guard !moves.isEmpty else {
                throw fail("\(ref) has never been set")
            }
            Terminal.standardOutput(
                moves.map { "v\($0.version)  \(date($0.time))  \(Escaped($0.author))  \(Escaped($0.reason))\n" }.joined())
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Point ALIAS of a model at a version.",
            discussion: "Example:\n  kiln alias set iris-mlp@v2 candidate")
        @Argument(help: "NAME@vN, NAME@ALIAS or NAME@latest.") var reference: String
        @Argument(help: "The alias.") var alias: String
        @OptionGroup var registry: RegistryOptions
        @Option(help: "Why (kept in the alias's history).") var reason = "kiln alias set"

        func run() throws {
            let ref = try RegistryOptions.reference(reference)
            let version = try registry.resolve(ref)
            try move(alias, version, reason, registry, action: "alias")
        }
    }
}

func move(
    _ alias: String, _ version: RegisteredVersion, _ reason: String, _ registry: RegistryOptions, action: String
) throws {
    let details = ["alias": alias, "version": "v\(version.version)", "reason": reason]
    // Moving an alias is promoting to the environment it names, and to every environment serving it.
    try Access.requireAliasMove(
        Access.evaluator(workspace: registry.workspace), model: version.model, alias: alias,
        workspace: registry.workspace)
    // The registry's witness writes the audit line before the alias moves (and refuses the move if it
    // cannot); a move that then fails gets a second line saying so.
    do {
        try registry.open().setAlias(
            alias, model: version.model, version: version.version, author: Identity.current, reason: reason,
            action: action)
    } catch {
        Audit.record(
            workspace: registry.workspace, action: action, resource: "model/\(version.model)", outcome: "failed",
            details: details.merging(["error": "\(error)"]) { a, _ in a })
        throw fail("\(error)")
    }
    Terminal.standardOutput("\(version.model)@\(alias) → v\(version.version)\n")
}
