import ArgumentParser
import Foundation
import KilnCompiler
import KilnRuntime

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what `kiln run` would do: each node cached or to run, and why it runs.",
        discussion: """
            A node runs when the cache has no entry for its key: a hash of its resolved
            configuration, the files it reads, its inputs' keys and the kiln version. The
            reasons compare with the entry kiln.lock names: the spec fields that changed (old →
            new, with file:line), the data files whose hash changed, the upstream nodes that
            changed, or "never ran".

            Examples:
              kiln plan examples/iris
              kiln plan examples/iris training/iris-baseline
              kiln plan . 'dataset/*' --json
            """)

    @OptionGroup var selection: WorkspaceAndTargets

    @Flag(help: "Print the plan as JSON.")
    var json = false

    func run() throws {
        let loaded = try LoadedWorkspace.load(selection.path)
        let plan = try loaded.plan(selection.targets)
        if json {
            let items: [[String: Any]] = plan.items.map { item in
                [
                    "node": item.node.id, "key": item.node.fingerprint, "action": item.cached ? "cached" : "run",
                    "reasons": item.reasons.map { $0.text(root: loaded.paths.root) },
                ]
            }
            try Terminal.printJSON(["nodes": items, "run": plan.toRun.count, "cached": plan.cachedCount])
            return
        }
        let colour = Terminal.colour(for: 1)
        let width = plan.items.map(\.node.id.description.count).max() ?? 0
        var out = ""
        for item in plan.items {
            let padded = item.node.id.description.padding(toLength: width, withPad: " ", startingAt: 0)
            let action = item.cached ? paint("cached", 2, colour) : paint("run", 33, colour)
            out += "\(padded)  \(action)\n"
            for reason in item.reasons { out += "    \(reason.text(root: loaded.paths.root))\n" }
        }
        out += "\(plan.toRun.count) to run, \(plan.cachedCount) cached\n"
        Terminal.standardOutput(out)
    }
}
