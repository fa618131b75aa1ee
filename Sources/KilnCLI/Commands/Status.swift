import ArgumentParser
import Foundation
import KilnCompiler
import KilnRuntime

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Like plan, short: the nodes that would run, one line each, and the counts.",
        discussion: """
            With --locked, also compare with kiln.lock and exit 1 when a node's key differs
            from the one the lock records (specs or data changed and nobody ran them): a CI
            check that the committed lock is current, which needs no cache.

            Examples:
              kiln status
              kiln status examples/iris --locked
            """)

    @OptionGroup var selection: WorkspaceAndTargets

    @Flag(help: "Exit 1 when kiln.lock is not up to date with the specs and data.")
    var locked = false

    func run() throws {
        let loaded = try LoadedWorkspace.load(selection.path)
        let plan = try loaded.plan(selection.targets)
        var out = ""
        for item in plan.toRun {
            let tags = Array(Set(item.reasons.map(\.tag))).sorted().joined(separator: ", ")
            out += "run  \(item.node.id)  (\(tags))\n"
        }
        let stale = plan.items.filter { $0.lockedKey != $0.node.fingerprint }
        out += "\(plan.toRun.count) to run, \(plan.cachedCount) cached"
        if locked { out += stale.isEmpty ? "; kiln.lock is up to date" : "; \(stale.count) differ from kiln.lock" }
        Terminal.standardOutput(out + "\n")
        if locked && !stale.isEmpty {
            for item in stale.prefix(20) { Terminal.standardError("kiln.lock: \(item.node.id) is not up to date\n") }
            throw ExitStatus.failure
        }
    }
}
