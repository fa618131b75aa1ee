import ArgumentParser
import Foundation
import KilnCompute
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec

struct Diff: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What changed between two versions: spec files, params, metrics, weights.",
        discussion: """
            With one reference, compares it with the version before it. Weights: per tensor,
            the shape, ‖new − old‖₂, that relative to ‖old‖₂, the cosine of old and new, or
            'identical' (the same chunks in the registry, known without reading them).

            Examples:
              kiln diff iris-mlp@v2 -C examples/iris
              kiln diff iris-mlp@staging iris-mlp@production --json
            """)

    @Argument(help: "The older version (or the only one: then its predecessor is the older).") var first: String
    @Argument(help: "The newer version.") var second: String?
    @OptionGroup var registry: RegistryOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let r = registry.open()
        var a = try RegistryOptions.reference(first)
        _ = try registry.resolve(a)
        var b: ModelReference
        if let second {
            b = try RegistryOptions.reference(second)
            _ = try registry.resolve(b)
        } else {
            b = a
            guard let previous = try r.predecessor(of: a) else {
                throw fail("\(a) is the first version; name two versions to compare")
            }
            a = previous
        }
        let d: VersionDiff
        do { d = try r.diff(a, b) } catch {
            throw fail("\(error)")
        }
        if json {
            let doc: [String: Any] = [
                "old": d.old.reference, "new": d.new.reference,
                "specs": d.specs.map {
                    ["path": $0.path, "old": $0.old as Any? ?? NSNull(), "new": $0.new as Any? ?? NSNull()]
                        as [String: Any]
                },
                "params": d.params.map { ["path": $0.path, "old": $0.old, "new": $0.new] },
                "metrics": d.metrics.map {
                    [
                        "split": $0.split, "metric": $0.metric, "old": $0.old as Any? ?? NSNull(),
                        "new": $0.new as Any? ?? NSNull(),
                    ] as [String: Any]
                },
                "weights": d.tensors.map {
                    [
                        "tensor": $0.name, "old_shape": $0.oldShape as Any? ?? NSNull(),
                        "new_shape": $0.newShape as Any? ?? NSNull(), "identical": $0.identical,
                        "l2": $0.l2 as Any? ?? NSNull(), "relative": $0.relative as Any? ?? NSNull(),
                        "cosine": $0.cosine as Any? ?? NSNull(),
                    ] as [String: Any]
                },
            ]
            try Terminal.printJSON(doc)
            return
        }
        let c = Terminal.colour(for: 1)
        let (ov, nv) = ("v\(d.old.version)", "v\(d.new.version)")
        var out = paint("\(d.old.reference) → \(d.new.reference)", 1, c) + "\n\n" + paint("Specs", 1, c) + "\n"
        if d.specs.isEmpty { out += "  (no change)\n" }
        for f in d.specs {
            for line in LineDiff.unified(
                old: f.old ?? "", new: f.new ?? "", oldName: "\(f.path) (\(ov))", newName: "\(f.path) (\(nv))")
            {
                let code = line.hasPrefix("@@") ? 36 : (line.hasPrefix("+") ? 32 : (line.hasPrefix("-") ? 31 : 0))
                out += (code == 0 ? line : paint(line, code, c)) + "\n"
            }
        }
        out += "\n" + paint("Params (changed)", 1, c) + "\n"
        if d.params.isEmpty { out += "  (no change)\n" }
        let width = d.params.map(\.path.count).max() ?? 0
        for p in d.params {
            out += "  \(p.path.padding(toLength: width, withPad: " ", startingAt: 0))  \(p.old) → \(p.new)\n"
        }
        if let oldCard = try? r.details(a).card, let newCard = try? r.details(b).card, let old = oldCard.booster,
            let new = newCard.booster
        {
            out += "\n" + paint("Trees", 1, c) + "\n" + Self.boosterChange(old, new, columns: newCard.inputColumns)
            // The trees themselves: their bytes (the card's figures can agree while the leaves differ).
            let same = (try? r.blob(a, path: BoosterCard.file)) == (try? r.blob(b, path: BoosterCard.file))
            out += "  booster.json  \(same ? "identical" : "changed")\n"
        }
        out += "\n" + paint("Metrics", 1, c) + "\n"
        for m in d.metrics {
            let o = m.old.map { String(format: "%.4f", $0) } ?? "-", n = m.new.map { String(format: "%.4f", $0) } ?? "-"
            var delta = ""
            if let x = m.old, let y = m.new {
                let higher = m.metric != "loss" && !["rmse", "mae"].contains(m.metric)
                let better = higher ? y > x : y < x
                let arrow = y == x ? "=" : (better ? paint("↑", 32, c) : paint("↓", 31, c))
                delta = String(format: "%+.4f ", y - x) + arrow
            }
            out +=
                "  \(m.split.padding(toLength: 10, withPad: " ", startingAt: 0)) \(m.metric.padding(toLength: 16, withPad: " ", startingAt: 0)) \(o) → \(n)  \(delta)\n"
        }
        out += "\n" + paint("Weights", 1, c) + "\n"
        // Columns aligned: name, shape, then the figures.
        let rows = d.tensors.map { t -> (String, String, String) in
            let shape =
                t.oldShape == t.newShape
                ? "\(t.newShape ?? [])"
                : "\(t.oldShape.map { "\($0)" } ?? "absent") → \(t.newShape.map { "\($0)" } ?? "absent")"
            var detail = t.identical ? "identical" : ""
            if let l2 = t.l2 {
                detail =
                    String(format: "‖Δ‖₂ %-10.4g", l2)
                    + (t.relative.map { String(format: "  relative %-10.4g", $0) } ?? "")
                    + (t.cosine.map { String(format: "  cosine %.6f", $0) } ?? "")
            } else if !t.identical {
                detail = "changed"
            }
            return (t.name, shape, detail)
        }
        let nameWidth = rows.map(\.0.count).max() ?? 0
        let shapeWidth = rows.map(\.1.count).max() ?? 0
        for (name, shape, detail) in rows {
            out +=
                "  \(name.padding(toLength: nameWidth, withPad: " ", startingAt: 0))  "
                + "\(shape.padding(toLength: shapeWidth, withPad: " ", startingAt: 0))  \(detail)\n"
        }
        Terminal.standardOutput(out)
    }

    /// Two boosters' rounds and their inputs' shares of the total gain (the newer's ten largest, with the
    /// older's share beside).
    static func boosterChange(_ old: BoosterCard, _ new: BoosterCard, columns: [String]) -> String {
        let delta = Int64(new.rounds) - Int64(old.rounds)
        var out = "  rounds  \(old.rounds) → \(new.rounds)\(delta == 0 ? "" : "  \(delta > 0 ? "+" : "")\(delta)")\n"
        let (ot, nt) = (old.gain.reduce(0, +), new.gain.reduce(0, +))
        guard nt > 0, nt.isFinite, ot.isFinite, old.gain.count == new.gain.count, new.gain.count == columns.count else {
            return out + "  (the inputs differ: no importance comparison)\n"
        }
        let ranked = new.gain.indices.sorted { new.gain[$0] > new.gain[$1] }.prefix(10)
        let width = min(32, ranked.map { columns[$0].count }.max() ?? 0)
        out += "  share of total gain (old → new):\n"
        for i in ranked where new.gain[i] > 0 || old.gain[i] > 0 {
            let o = ot > 0 ? 100 * old.gain[i] / ot : 0, n = 100 * new.gain[i] / nt
            out +=
                "    \("\(Escaped(columns[i]))".padding(toLength: max(width, 1), withPad: " ", startingAt: 0))  "
                + String(format: "%5.1f %% → %5.1f %%  %+5.1f", o, n, n - o) + "\n"
        }
        return out
    }
}
