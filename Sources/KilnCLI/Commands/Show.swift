import ArgumentParser
import Foundation
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
        let version = try registry.resolve(ref)
        let r = registry.open()
        // A record that is there but cannot be read is damage, said and exit 1, never a silent blank.
        func object(_ path: String, required: Bool = false) throws -> [String: Any]? {
            let data: Data?
            do { data = try r.blob(ref, path: path) } catch {
                throw fail("\(version.reference): cannot read \(path): \(error)")
            }
            guard let data else {
                guard !required else {
                    throw fail("\(version.reference) has no \(path): the registry is damaged")
                }
                return nil
            }
            guard let value = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                Terminal.standardError(
                    "kiln: error: \(version.reference): \(path) is not a JSON object: the registry is damaged\n")
                throw ExitStatus.failure
            }
            return value
        }
        let summary = try r.log(ref.model).first { $0.version == version.version }
        let card = try object("card.json", required: true) ?? [:]
        let lineage = try object("lineage.json") ?? [:]
        let params = try object("params.json")
        if json {
            let doc: [String: Any] = [
                "model": version.model, "version": version.version, "commit": summary?.commit ?? "",
                "author": summary?.author ?? "", "date": summary.map { date($0.time) } ?? "",
                "message": summary?.message ?? "",
                "card": card, "metrics": version.metrics, "lineage": lineage, "params": params ?? [:],
            ]
            try Terminal.printJSON(doc)
            return
        }
        var out = "\(version.reference)  commit \(summary?.commit.prefix(12) ?? "")\n"
        out += "Author: \(Escaped(summary?.author ?? ""))\nDate:   \(summary.map { date($0.time) } ?? "")\n"
        out += "Source: \(Escaped(summary?.source ?? ""))\n\n" + Log.indented(summary?.message ?? "") + "\n"
        if let model = card["model"] as? [String: Any] {
            out += "model    \(model["task"] ?? "") \(model["architecture"] ?? ""), \(model["inputs"] ?? "?") inputs → "
            out += "\(model["hidden"].map { "\($0) → " } ?? "")\(model["outputs"] ?? "?") outputs\n"
        }
        if let labels = card["labels"] as? [String] { out += "labels   \(Escaped(labels.joined(separator: ", ")))\n" }
        for split in ["train", "validation", "test"] {
            guard let values = version.metrics[split] else { continue }
            out +=
                "\(split.padding(toLength: 11, withPad: " ", startingAt: 0))"
                + values.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.4f", $0.value))" }.joined(
                    separator: "  ") + "\n"
        }
        if let commit = lineage["workspace_commit"] as? String {
            out +=
                "workspace git commit \(commit.prefix(12))\((lineage["workspace_dirty"] as? Bool) == true ? " (with uncommitted changes)" : "")\n"
        }
        if let data = lineage["data"] as? [String: Any], let sources = data["sources"] as? [[String: Any]] {
            for s in sources {
                out +=
                    "data     \(s["path"] ?? "") sha256 \(String(describing: s["sha256"] ?? "").prefix(16)) (\(s["rows"] ?? "?") rows)\n"
            }
        }
        Terminal.standardOutput(out)
    }
}
