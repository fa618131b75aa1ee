import ArgumentParser
import Foundation
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec

struct Rollback: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move an environment's alias back to the version it named before its last move.",
        discussion:
            "Examples:\n  kiln rollback production\n  kiln rollback production --model iris-mlp --reason 'latency regression'"
    )
    @Argument(help: "The environment (its alias).") var environment: String
    @Option(help: "The model (needed when several have this alias).") var model: String?
    @OptionGroup var registry: RegistryOptions
    @Option(help: "Why.") var reason = "rolled back"

    func run() throws {
        let r = registry.open()
        let candidates =
            try model.map { [$0] } ?? r.models().filter { m in try r.aliases(m).contains { $0.alias == environment } }
        guard candidates.count == 1, let target = candidates.first else {
            throw fail(
                candidates.isEmpty
                    ? "no model has an alias '\(environment)'"
                    : "several models have '\(environment)' (\(candidates.joined(separator: ", "))); pass --model")
        }
        try Access.requireAliasMove(
            Access.evaluator(workspace: registry.workspace), model: target, alias: environment,
            workspace: registry.workspace)
        do {
            let version = try r.rollback(environment, model: target, author: Identity.current, reason: reason)
            Terminal.standardOutput("\(target)@\(environment) → v\(version) (rolled back)\n")
        } catch {
            Audit.record(
                workspace: registry.workspace, action: "rollback", resource: "model/\(target)", outcome: "failed",
                details: ["alias": environment, "error": "\(error)"])
            throw fail("\(error)")
        }
    }
}
