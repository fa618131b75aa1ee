import ArgumentParser
import Foundation
import KilnCompute
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec

struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One version: its card, metrics, lineage and spec files.",
        discussion: "Examples:\n  kiln show iris-mlp@staging -C examples/iris\n  kiln show iris-mlp@v1 --json")

    @Argument(help: "NAME@vN, NAME@ALIAS or NAME@latest.") var reference: String
    @OptionGroup var registry: RegistryOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let ref = try RegistryOptions.reference(reference)
        _ = try registry.resolve(ref)  // a reference that names nothing: said with the registry's models
        let details: VersionDetails
        do { details = try registry.open().details(ref) } catch {
            throw fail("\(error)")
        }
        let version = details.version, summary = details.summary
        if json {
            var doc: [(String, JSON)] = [
                ("author", .string(summary.author)), ("card", details.documents["card.json"] ?? .object([])),
                ("commit", .string(summary.commit)), ("date", .string(date(summary.time))),
                ("lineage", details.documents["lineage.json"] ?? .object([])), ("message", .string(summary.message)),
                (
                    "metrics",
                    .object(
                        version.metrics.sorted { $0.key < $1.key }.map { split, values in
                            (split, .object(values.sorted { $0.key < $1.key }.map { ($0.key, JSON.number($0.value)) }))
                        })
                ),
                ("model", .string(version.model)), ("params", details.documents["params.json"] ?? .object([])),
                ("version", .int(version.version)),
            ]
            doc.sort { $0.0 < $1.0 }
            Terminal.standardOutputJSON(JSON.object(doc).serialized(pretty: true) + "\n")
            return
        }
        var out = "\(version.model)@v\(version.version)  commit \(summary.commit.prefix(12))\n"
        out += "Author: \(Escaped(summary.author))\nDate:   \(date(summary.time))\n"
        out += "Source: \(Escaped(summary.source))\n\n" + Log.indented(summary.message) + "\n"
        let model = details.card.model
        if let t = details.card.transformer {
            out +=
                t.task == "token"
                ? "model    token classification transformer on tokens column '\(Escaped(details.card.inputColumns.first ?? ""))', \(model.outputs) tags, max_length \(t.maxLength)\n"
                : "model    \(model.task.rawValue) transformer on text column '\(Escaped(details.card.inputColumns.first ?? ""))', \(model.outputs) labels, pooling \(Escaped(t.pooling)), max_length \(t.maxLength)\n"
            out += "base     \(Escaped(t.base.name)) (\(t.layers) layers, hidden \(t.hiddenSize), \(t.heads) heads, vocabulary \(t.vocabularySize)) sha256 \(Escaped(String(t.base.sha256.prefix(16))))\n"
            var adaptation: String
            if let a = t.adapters {
                adaptation = "LoRA rank \(a.rank), alpha \(String(format: "%g", a.alpha)) on \(a.targets.map { "\(Escaped($0))" }.joined(separator: ", ")); the base weights are frozen"
            } else {
                adaptation = "full fine-tuning"
            }
            if t.frozenLayers > 0 { adaptation += ", the first \(t.frozenLayers) layers frozen" }
            out += "tuning   \(adaptation)\n"
            if let storage = try? registry.open().weightStorage(ref) {
                out += "weights  \(Self.megabytes(storage.bytes)), \(Self.megabytes(storage.unshared)) of it in no other version (the registry stores a chunk once)\n"
            }
        } else if let b = details.card.booster {
            let p = b.parameters
            var rounds = "\(b.rounds) rounds"
            if b.rounds < b.roundsTrained { rounds += " (the best of \(b.roundsTrained))" }
            out +=
                "model    \(model.task.rawValue) gradient_boosting (\(Escaped(b.library))), \(rounds), max_depth \(Escaped(p["max_depth"] ?? "?")), learning_rate \(Escaped(p["eta"] ?? "?")), \(model.inputs) inputs → \(model.outputs) output\(model.outputs == 1 ? "" : "s")\n"
            out += Self.importance(b, columns: details.card.inputColumns)
        } else {
            let widths = [model.inputs] + model.hidden + [model.outputs]
            out += "model    \(model.task.rawValue) \(model.architecture.rawValue), "
                + "\(widths.map(String.init).joined(separator: " → ")) (inputs → outputs)\n"
        }
        out += "labels   \(Escaped(details.card.labels.joined(separator: ", ")))"
        if model.task == .binary, let positive = details.card.labels.last {
            out += "  (positive: \(Escaped(positive)), threshold \(String(format: "%g", details.card.threshold ?? 0.5)))"
        }
        out += "\n"
        for split in ["train", "validation", "test"] {
            guard let values = version.metrics[split] else { continue }
            out +=
                "\(split.padding(toLength: 11, withPad: " ", startingAt: 0))"
                + values.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.4f", $0.value))" }.joined(
                    separator: "  ") + "\n"
        }
        if let lineage = details.lineage {
            if let commit = lineage.workspaceCommit {
                out +=
                    "workspace git commit \(Escaped(String(commit.prefix(12))))\(lineage.workspaceDirty == true ? " (with uncommitted changes)" : "")\n"
            }
            for s in lineage.sources {
                out += "data     \(Escaped(s.path)) sha256 \(Escaped(String(s.sha256.prefix(16)))) (\(s.rows.map(String.init) ?? "?") rows)\n"
            }
        }
        Terminal.standardOutput(out)
    }

    /// The booster's most important inputs by total gain, with their share of it and their splits.
    static func importance(_ b: BoosterCard, columns: [String], top: Int = 10) -> String {
        // A card from a registry is hostile: its arrays must line up before they are indexed.
        guard b.gain.count == columns.count, b.splits.count == columns.count, b.gain.allSatisfy(\.isFinite) else {
            return "features the card's importance does not match its \(columns.count) inputs (a damaged card)\n"
        }
        let total = b.gain.reduce(0, +)
        guard total > 0 else { return "features no split was made (every tree is a single leaf)\n" }
        let ranked = b.gain.indices.filter { b.gain[$0] > 0 }.sorted { b.gain[$0] > b.gain[$1] }
        var out = "features by total gain (\(ranked.count) of \(columns.count) inputs used):\n"
        let width = min(32, ranked.prefix(top).map { columns[$0].count }.max() ?? 0)
        for i in ranked.prefix(top) {
            let name = "\(Escaped(columns[i]))".padding(toLength: max(width, 1), withPad: " ", startingAt: 0)
            out += "  \(name)  \(String(format: "%5.1f", 100 * b.gain[i] / total)) %  \(b.splits[i]) splits\n"
        }
        if ranked.count > top { out += "  … \(ranked.count - top) more (kiln show --json has them all)\n" }
        return out
    }

    static func megabytes(_ bytes: Int) -> String { String(format: "%.2f MB", Double(bytes) / 1_000_000) }
}
