import ArgumentParser
import Dispatch
import Foundation
import KilnCompiler
import KilnData
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec
import Synchronization

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List past runs of a workspace, newest first.",
        discussion: """
            Examples:
              kiln runs
              kiln runs examples/iris --limit 5
              kiln runs --json | jq '.[0].nodes'
            """)

    @Argument(help: "A workspace directory or spec file.")
    var path: String = "."

    @Option(help: "Show at most this many runs.")
    var limit = 20

    @Flag(help: "Print the records as a JSON array.")
    var json = false

    func run() throws {
        let paths = WorkspacePaths(path: path)
        let (records, skipped) = RunRecord.all(in: paths.runs)
        let shown = Array(records.prefix(max(0, limit)))
        for name in skipped {
            Terminal.standardError("kiln: warning: \(paths.runs)/\(name) is not a readable run record\n")
        }
        if json {
            Terminal.standardOutput(JSON.array(shown.map(\.json)).serialized(pretty: true) + "\n")
            return
        }
        guard !shown.isEmpty else {
            Terminal.standardOutput("no runs yet in \(paths.root) (kiln run writes .kiln/runs/)\n")
            return
        }
        var out = ""
        for r in shown {
            var counts: [String: Int] = [:]
            for n in r.nodes { counts[n.status, default: 0] += 1 }
            let summary = ["done", "cached", "failed", "skipped", "not run"].compactMap { k in
                counts[k].map { "\($0) \(k)" }
            }.joined(separator: ", ")
            let seconds = r.seconds < 60 ? String(format: "%.1fs", r.seconds) : String(format: "%.0fm", r.seconds / 60)
            out +=
                "\(r.id)  \(r.outcome.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0))  \(seconds.padding(toLength: 7, withPad: " ", startingAt: 0))  \(r.user)  \(summary)\n"
        }
        Terminal.standardOutput(out)
    }
}
