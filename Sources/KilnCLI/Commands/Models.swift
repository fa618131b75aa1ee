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

    private struct Row {
        var model: String
        var versions: Int
        var aliases: [(alias: String, version: Int)]
        var metrics: [String: [String: Double]]

        var json: JSON {
            .object([
                ("aliases", .object(aliases.map { ($0.alias, .int($0.version)) })),
                (
                    "metrics",
                    .object(
                        metrics.sorted { $0.key < $1.key }.map { split, values in
                            (split, .object(values.sorted { $0.key < $1.key }.map { ($0.key, JSON.number($0.value)) }))
                        })
                ),
                ("model", .string(model)), ("versions", .int(versions)),
            ])
        }
    }

    func run() throws {
        let r = registry.open()
        var rows: [Row] = []
        do {
            for model in try r.models() {
                let latest = try r.log(model, limit: 1).first
                let aliases = try r.aliases(model).map { ($0.alias, $0.version) }.sorted { $0.0 < $1.0 }
                rows.append(
                    Row(model: model, versions: latest?.version ?? 0, aliases: aliases, metrics: latest?.metrics ?? [:]))
            }
        } catch {
            throw fail("\(error)")
        }
        if json {
            Terminal.standardOutputJSON(JSON.array(rows.map(\.json)).serialized(pretty: true) + "\n")
            return
        }
        guard !rows.isEmpty else {
            Terminal.standardOutput("no registered models in \(registry.path)\n")
            return
        }
        var out = "MODEL  VERSIONS  ALIASES  LATEST\n"
        for row in rows {
            let aliases = row.aliases.map { "\($0.alias)=v\($0.version)" }
            out +=
                "\(row.model)  \(row.versions)  \(aliases.isEmpty ? "-" : aliases.joined(separator: ","))  "
                + headline(row.metrics) + "\n"
        }
        Terminal.standardOutput(out)
    }
}
