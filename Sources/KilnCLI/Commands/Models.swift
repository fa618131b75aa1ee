import ArgumentParser
import Foundation
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List registered models: versions, aliases, the latest version's metrics.",
        discussion: "Examples:\n  kiln models -C examples/iris\n  KILN_REGISTRY=/srv/registry kiln models --json")

    @OptionGroup var registry: RegistryOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let r = registry.open()
        var rows: [[String: Any]] = []
        do {
            for model in try r.models() {
                let latest = try r.log(model, limit: 1).first
                let aliases = try r.aliases(model)
                rows.append([
                    "model": model, "versions": latest?.version ?? 0,
                    "aliases": Dictionary(aliases.map { ($0.alias, $0.version) }, uniquingKeysWith: { a, _ in a }),
                    "metrics": latest?.metrics ?? [:],
                ])
            }
        } catch {
            throw fail("\(error)")
        }
        if json {
            try Terminal.printJSON(rows)
            return
        }
        guard !rows.isEmpty else {
            Terminal.standardOutput("no registered models in \(registry.path)\n")
            return
        }
        var out = "MODEL  VERSIONS  ALIASES  LATEST\n"
        for row in rows {
            let aliases = (row["aliases"] as? [String: Int] ?? [:]).sorted { $0.key < $1.key }.map {
                "\($0.key)=v\($0.value)"
            }
            out +=
                "\(row["model"] ?? "")  \(row["versions"] ?? 0)  \(aliases.isEmpty ? "-" : aliases.joined(separator: ","))  "
                + headline(row["metrics"] as? [String: [String: Double]] ?? [:]) + "\n"
        }
        Terminal.standardOutput(out)
    }
}
