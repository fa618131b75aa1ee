import ArgumentParser
import Foundation
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec

struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch a remote's model histories, aliases and tags and take what moved forward.",
        discussion: """
            New models and versions on top of yours are taken; a history that diverged (versions
            registered on both sides) is reported and nothing is overwritten. Exit 1 on a conflict.

            Example:
              kiln pull /srv/kiln-registry.git -C examples/iris
            """)
    @OptionGroup var remote: RemoteArgument
    @OptionGroup var registry: RegistryOptions

    func run() throws {
        let workspace = registry.workspace
        let evaluator = Access.evaluator(workspace: workspace)
        // An alias the remote moved moves here too: the same permission and audit line as `kiln promote`.
        let authorize = { (model: String, alias: String, version: Int) -> String? in
            guard evaluator.isActive else { return nil }
            for environment in Access.environments(movedBy: alias, model: model, workspace: workspace) {
                let decision = evaluator.decide(
                    principal: Identity.current, action: "promote", on: ["model/\(model)"], environment: environment)
                guard !decision.allowed else { continue }
                Audit.record(
                    workspace: workspace, action: "promote", resource: "model/\(model)", outcome: "denied",
                    details: ["alias": alias, "version": "v\(version)", "reason": decision.reason, "via": "pull"])
                return "permission denied: \(decision.reason); the alias was not moved"
            }
            return nil
        }
        // Each alias move is audited by the registry's witness before the alias moves here.
        try sync(remote, registry, "pulled", { try $0.pull(from: $1, authorize: authorize) })
    }
}
