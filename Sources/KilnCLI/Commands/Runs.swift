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
        abstract: "Past runs of a workspace: the list, newest first, and one run's trainings side by side.",
        subcommands: [RunsList.self, RunsShow.self], defaultSubcommand: RunsList.self)
}

struct RunsList: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List past runs of a workspace, newest first.",
        discussion: """
            Examples:
              kiln runs
              kiln runs examples/iris --limit 5
              kiln runs --json | jq '.[0].nodes'
              kiln runs show -C examples/baseball
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

/// One run: its nodes, and each sweep's cells side by side (as `dvc exp show` lays out experiments).
struct RunsShow: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "One run's trainings: a sweep's cells side by side, with params and metrics, the chosen one marked.",
        discussion: """
            One row per training cell of the run (cached cells included): the matrix values, the
            validation and test metrics, and '*' on the cell whose registration moved the alias.

            Examples:
              kiln runs show -C examples/baseball
              kiln runs show 20261202T003946Z-447a -C examples/baseball --json
            """)

    @Argument(help: "The run's id (default: the newest run).") var id: String?
    @Option(name: [.customShort("C"), .customLong("workspace")], help: "The workspace directory.") var workspace = "."
    @Flag(help: "Print JSON.") var json = false

    struct Cell {
        var training: String
        var params: [(String, String)]
        var metrics: [String: Double]
        var status: String
        var chosen: Bool
        var registered: String?
    }

    func run() throws {
        let paths = WorkspacePaths(path: workspace)
        let (records, _) = RunRecord.all(in: paths.runs)
        guard let record = id.map({ id in records.first { $0.id == id } }) ?? records.first else {
            throw fail(
                id.map { "no run '\($0)' in \(paths.runs)" } ?? "no runs yet in \(paths.root)",
                help: records.isEmpty ? "kiln run writes .kiln/runs/" : "kiln runs lists them")
        }
        // A fit node's training and matrix values: `training/NAME[k=v,k=v]:fit`.
        var cells: [Cell] = []
        for node in record.nodes where node.kind == "fit" {
            var name = String(node.id.dropFirst("training/".count).dropLast(":fit".count))
            var params: [(String, String)] = []
            if let open = name.firstIndex(of: "["), name.hasSuffix("]") {
                let inner = name[name.index(after: open)..<name.index(before: name.endIndex)]
                params = inner.split(separator: ",").map { pair in
                    let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    return (kv.first ?? "", kv.count > 1 ? kv[1] : "")
                }
                name = String(name[..<open])
            }
            let register = record.nodes.first { $0.id == node.id.dropLast(":fit".count) + ":register" }
            let summary = register?.summary ?? ""
            let chosen = summary.range(of: #"^\S+ \([a-z0-9_.-]+\)"#, options: .regularExpression) != nil
            cells.append(
                Cell(
                    training: name, params: params, metrics: node.metrics, status: node.status, chosen: chosen,
                    registered: register.flatMap { $0.summary.split(separator: " ").first.map(String.init) }))
        }
        if json {
            let doc: [[String: Any]] = cells.map { c in
                [
                    "training": c.training, "params": Dictionary(c.params, uniquingKeysWith: { a, _ in a }),
                    "metrics": c.metrics, "status": c.status, "chosen": c.chosen,
                    "registered": c.registered as Any? ?? NSNull(),
                ]
            }
            try Terminal.printJSON(["run": record.id, "cells": doc] as [String: Any])
            return
        }
        var out = "run \(record.id)  \(record.outcome.rawValue)  \(record.user)  \(record.started)\n"
        if cells.isEmpty { out += "\n(no trainings in this run)\n" }
        for training in cells.map(\.training).reduce(into: [String](), { if !$0.contains($1) { $0.append($1) } }) {
            let group = cells.filter { $0.training == training }
            let keys = group.flatMap { $0.params.map(\.0) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            // Validation first (what a selection uses), then test; loss last.
            let names = Set(group.flatMap(\.metrics.keys)).filter { $0.hasPrefix("validation_") || $0.hasPrefix("test_") }
            let metrics = names.sorted { a, b in
                let (sa, sb) = (a.hasPrefix("validation_") ? 0 : 1, b.hasPrefix("validation_") ? 0 : 1)
                let (la, lb) = (a.hasSuffix("_loss") ? 1 : 0, b.hasSuffix("_loss") ? 1 : 0)
                return (sa, la, a) < (sb, lb, b)
            }
            let header = ["", "cell"] + keys + metrics.map { $0.replacingOccurrences(of: "validation_", with: "val_") } + ["version", "status"]
            var rows = [header]
            for (i, c) in group.enumerated() {
                let params = keys.map { k in c.params.first { $0.0 == k }?.1 ?? "" }
                let values = metrics.map { m in c.metrics[m].map { String(format: "%.4f", $0) } ?? "-" }
                rows.append([c.chosen ? "*" : "", "\(i + 1)"] + params + values + [c.registered ?? "-", c.status])
            }
            let widths = header.indices.map { j in rows.map { $0[j].count }.max() ?? 0 }
            out += "\ntraining/\(training)\n"
            for row in rows {
                var line = "  " + row.enumerated().map { j, v in v.padding(toLength: widths[j], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ")
                while line.hasSuffix(" ") { line.removeLast() }
                out += line + "\n"
            }
            if group.contains(where: \.chosen) && group.count > 1 { out += "  * the cell whose registration moved the alias\n" }
        }
        Terminal.standardOutput(out)
    }
}
