import ArgumentParser
import Foundation
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec

struct Log: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A model's versions, newest first, like git log.",
        discussion: "Examples:\n  kiln log iris-mlp -C examples/iris\n  kiln log iris-mlp --oneline -n 5")

    @Argument(help: "The model's name.") var model: String?
    @OptionGroup var registry: RegistryOptions
    @Flag(help: "The workspace's spec history instead: a commit per run that changed the specs.") var specs = false
    @Flag(help: "One line per version.") var oneline = false
    @Flag(help: "Print JSON.") var json = false
    @Option(name: .shortAndLong, help: "Show at most this many versions.") var number: Int?

    func validate() throws {
        if model == nil && !specs { throw ValidationError("name a model, or pass --specs") }
    }

    /// A message as `git log` shows it: every line indented and escaped, so no line of it can pass for
    /// kiln's own output.
    static func indented(_ message: String) -> String {
        message.split(separator: "\n", omittingEmptySubsequences: false).map { "    \(Escaped(String($0)))\n" }.joined()
    }

    func run() throws {
        let r = registry.open()
        guard let model, !specs else {
            var out = ""
            for c in try r.specHistory(limit: number ?? .max) {
                out +=
                    oneline
                    ? "\(c.commit.prefix(7)) \(date(c.time)) \(Escaped(c.author))  \(Escaped(c.message))\n"
                    : "commit \(c.commit)\nAuthor: \(Escaped(c.author))\nDate:   \(date(c.time))\n\n"
                        + Self.indented(c.message) + "\n"
            }
            Terminal.standardOutput(out.isEmpty ? "no spec history in \(registry.path)\n" : out)
            return
        }
        let versions: [GitRegistry.VersionSummary]
        do { versions = try r.log(model, limit: number ?? .max) } catch {
            throw fail("\(error)")
        }
        guard !versions.isEmpty else {
            throw fail("no model '\(model)' in \(registry.path)")
        }
        let aliases = Dictionary(grouping: try r.aliases(model), by: \.version).mapValues { $0.map(\.alias).sorted() }
        if json {
            let rows: [[String: Any]] = versions.map {
                [
                    "version": $0.version, "commit": $0.commit, "author": $0.author, "date": date($0.time),
                    "message": $0.message, "metrics": $0.metrics, "source": $0.source,
                    "aliases": aliases[$0.version] ?? [],
                ]
            }
            try Terminal.printJSON(rows)
            return
        }
        let colour = Terminal.colour(for: 1)
        var out = ""
        for v in versions {
            let tags = aliases[v.version].map { " (" + $0.joined(separator: ", ") + ")" } ?? ""
            if oneline {
                // A sweep cell's parameters (`[model=hr-mlp]`, from its source), unless its message has them.
                let subject = String(v.message.split(separator: "\n").first ?? "")
                var cell = ""
                if let open = v.source.firstIndex(of: "["), v.source.hasSuffix("]") {
                    let params = String(v.source[open...])
                    if !subject.contains(params) { cell = " " + paint("\(Escaped(params))", 36, colour) }
                }
                out +=
                    paint("v\(v.version)", 33, colour)
                    + " \(v.commit.prefix(7))\(tags) \(Escaped(subject))\(cell)  \(headline(v.metrics))\n"
                continue
            }
            out += paint("version v\(v.version)", 33, colour) + paint(tags, 36, colour) + "\n"
            out +=
                "commit  \(v.commit)\nAuthor: \(Escaped(v.author))\nDate:   \(date(v.time))\nSource: \(Escaped(v.source))\n\n"
            out += Self.indented(v.message)
            if !v.metrics.isEmpty { out += "\n    \(headline(v.metrics))\n" }
            out += "\n"
        }
        Terminal.standardOutput(out)
    }
}
