import ArgumentParser
import Foundation
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec

/// Where the registry is: `KILN_REGISTRY`, else the workspace's `.kiln/registry`.
struct RegistryOptions: ParsableArguments {
    @Option(name: [.customShort("C"), .long], help: "The workspace whose registry to use (default: .).")
    var workspace: String = "."

    var path: String { WorkspacePaths(path: workspace).registry }

    /// The registry, with the audit log as its witness: every reference move is audited before it happens.
    func open() -> GitRegistry { GitRegistry(path: path, witness: Audit.witness(workspace: workspace)) }

    /// `NAME@REF`, or a usage error naming the forms.
    static func reference(_ text: String) throws -> ModelReference {
        guard let r = ModelReference(text.contains("@") ? text : text + "@latest") else {
            throw ValidationError(
                "'\(Escaped(text))' is not a model reference: write NAME@vN (N ≥ 1), NAME@ALIAS or NAME@latest; names use a-z, 0-9 and '-', and an alias is not 'latest' or 'vN'"
            )
        }
        return r
    }

    /// Fails with exit 1 and a clear message when the reference names nothing.
    func resolve(_ reference: ModelReference) throws -> RegisteredVersion {
        do {
            if let v = try open().resolve(reference) { return v }
        } catch {
            Terminal.standardError("kiln: error: \(error)\n")
            throw ExitStatus.failure
        }
        let known = (try? open().models()) ?? []
        var message = "kiln: error: \(reference) names no registered version"
        if !known.contains(reference.model) {
            message +=
                known.isEmpty
                ? " (the registry at \(path) is empty)" : " (registered models: \(known.joined(separator: ", ")))"
        }
        Terminal.standardError(message + "\n")
        throw ExitStatus.failure
    }
}

func headline(_ metrics: [String: [String: Double]]) -> String {
    let split = metrics["test"] != nil ? "test" : (metrics["validation"] != nil ? "validation" : "train")
    guard let values = metrics[split] else { return "" }
    return values.filter { $0.key != "loss" }.sorted { $0.key < $1.key }.prefix(3)
        .map { "\(Escaped($0.key)) \(String(format: "%.4f", $0.value))" }.joined(separator: ", ")
}

/// `2026-11-29 12:57:12 +0000`. One formatter: `kiln log` formats a date per version.
let versionDateFormatter: DateFormatter = {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.dateFormat = "yyyy-MM-dd HH:mm:ss Z"
    return f
}()

func date(_ d: Date) -> String { versionDateFormatter.string(from: d) }

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
            Terminal.standardError("kiln: error: \(error)\n")
            throw ExitStatus.failure
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
            Terminal.standardError("kiln: error: \(error)\n")
            throw ExitStatus.failure
        }
        guard !versions.isEmpty else {
            Terminal.standardError("kiln: error: no model '\(model)' in \(registry.path)\n")
            throw ExitStatus.failure
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
                out +=
                    paint("v\(v.version)", 33, colour)
                    + " \(v.commit.prefix(7))\(tags) \(Escaped(String(v.message.split(separator: "\n").first ?? "")))  \(headline(v.metrics))\n"
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
                Terminal.standardError("kiln: error: \(version.reference): cannot read \(path): \(error)\n")
                throw ExitStatus.failure
            }
            guard let data else {
                guard !required else {
                    Terminal.standardError("kiln: error: \(version.reference) has no \(path): the registry is damaged\n")
                    throw ExitStatus.failure
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

struct Checkout: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Write a version's files to a directory: model.safetensors (byte-identical, verified), card.json, records, specs.",
        discussion: "Example:\n  kiln checkout iris-mlp@staging -C examples/iris -o /tmp/iris-model")

    @Argument(help: "NAME@vN, NAME@ALIAS or NAME@latest.") var reference: String
    @OptionGroup var registry: RegistryOptions
    @Option(name: .shortAndLong, help: "The directory to write into.") var output: String

    func run() throws {
        let ref = try RegistryOptions.reference(reference)
        let version = try registry.resolve(ref)
        do { _ = try registry.open().checkout(ref, to: output) } catch {
            Terminal.standardError("kiln: error: \(error)\n")
            throw ExitStatus.failure
        }
        Terminal.standardOutput("\(version.reference) → \(output)\n")
    }
}

struct AliasCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alias", abstract: "Manage aliases.", subcommands: [Set.self, History.self])

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every move of an alias, newest first: version, who, when, why.",
            discussion: "Example:\n  kiln alias history iris-mlp@production -C examples/iris")
        @Argument(help: "NAME@ALIAS.") var reference: String
        @OptionGroup var registry: RegistryOptions

        func run() throws {
            let ref = try RegistryOptions.reference(reference)
            guard case .alias(let alias) = ref.target else { throw ValidationError("name an alias: NAME@ALIAS") }
            let moves = try registry.open().history(of: alias, model: ref.model)
            guard !moves.isEmpty else {
                Terminal.standardError("kiln: error: \(ref) has never been set\n")
                throw ExitStatus.failure
            }
            Terminal.standardOutput(
                moves.map { "v\($0.version)  \(date($0.time))  \(Escaped($0.author))  \(Escaped($0.reason))\n" }.joined())
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Point ALIAS of a model at a version.",
            discussion: "Example:\n  kiln alias set iris-mlp@v2 candidate")
        @Argument(help: "NAME@vN, NAME@ALIAS or NAME@latest.") var reference: String
        @Argument(help: "The alias.") var alias: String
        @OptionGroup var registry: RegistryOptions
        @Option(help: "Why (kept in the alias's history).") var reason = "kiln alias set"

        func run() throws {
            let ref = try RegistryOptions.reference(reference)
            let version = try registry.resolve(ref)
            try move(alias, version, reason, registry, action: "alias")
        }
    }
}

func move(
    _ alias: String, _ version: RegisteredVersion, _ reason: String, _ registry: RegistryOptions, action: String
) throws {
    let details = ["alias": alias, "version": "v\(version.version)", "reason": reason]
    // Moving an alias is promoting to the environment it names, and to every environment serving it.
    try Access.requireAliasMove(
        Access.evaluator(workspace: registry.workspace), model: version.model, alias: alias,
        workspace: registry.workspace)
    // The registry's witness writes the audit line before the alias moves (and refuses the move if it
    // cannot); a move that then fails gets a second line saying so.
    do {
        try registry.open().setAlias(
            alias, model: version.model, version: version.version, author: Identity.current, reason: reason,
            action: action)
    } catch {
        Audit.record(
            workspace: registry.workspace, action: action, resource: "model/\(version.model)", outcome: "failed",
            details: details.merging(["error": "\(error)"]) { a, _ in a })
        Terminal.standardError("kiln: error: \(error)\n")
        throw ExitStatus.failure
    }
    Terminal.standardOutput("\(version.model)@\(alias) → v\(version.version)\n")
}

struct Promote: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move an environment's alias to a version (who, when and why are kept).",
        discussion: "Example:\n  kiln promote iris-mlp@staging production --reason 'passed review'")
    @Argument(help: "NAME@vN, NAME@ALIAS or NAME@latest.") var reference: String
    @Argument(help: "The environment (its alias).") var environment: String
    @OptionGroup var registry: RegistryOptions
    @Option(help: "Why.") var reason = "promoted"

    func run() throws {
        let version = try registry.resolve(try RegistryOptions.reference(reference))
        try move(environment, version, "promote: \(reason)", registry, action: "promote")
    }
}

struct Rollback: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move an environment's alias back to the version it named before its last move.",
        discussion:
            "Examples:\n  kiln rollback production\n  kiln rollback production --model iris-mlp --reason 'latency regression'"
    )
    @Argument(help: "The environment (its alias).") var environment: String
    @Option(help: "The model (needed when several have this alias).") var model: String?
    @OptionGroup var registry: RegistryOptions
    @Option(help: "Why.") var reason = "rolled back"

    func run() throws {
        let r = registry.open()
        let candidates =
            try model.map { [$0] } ?? r.models().filter { m in try r.aliases(m).contains { $0.alias == environment } }
        guard candidates.count == 1, let target = candidates.first else {
            Terminal.standardError(
                candidates.isEmpty
                    ? "kiln: error: no model has an alias '\(environment)'\n"
                    : "kiln: error: several models have '\(environment)' (\(candidates.joined(separator: ", "))); pass --model\n"
            )
            throw ExitStatus.failure
        }
        try Access.requireAliasMove(
            Access.evaluator(workspace: registry.workspace), model: target, alias: environment,
            workspace: registry.workspace)
        do {
            let version = try r.rollback(environment, model: target, author: Identity.current, reason: reason)
            Terminal.standardOutput("\(target)@\(environment) → v\(version) (rolled back)\n")
        } catch {
            Audit.record(
                workspace: registry.workspace, action: "rollback", resource: "model/\(target)", outcome: "failed",
                details: ["alias": environment, "error": "\(error)"])
            Terminal.standardError("kiln: error: \(error)\n")
            throw ExitStatus.failure
        }
    }
}

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
                Terminal.standardError("kiln: error: \(a) is the first version; name two versions to compare\n")
                throw ExitStatus.failure
            }
            a = previous
        }
        let d: VersionDiff
        do { d = try r.diff(a, b) } catch {
            Terminal.standardError("kiln: error: \(error)\n")
            throw ExitStatus.failure
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
}

/// `kiln push` and `kiln pull`: the remote is an argument, else `KILN_REMOTE`.
struct RemoteArgument: ParsableArguments {
    @Argument(help: "A path, file:// URL, ssh or https URL of a git repository (default: $KILN_REMOTE).")
    var remote: String?

    func url() throws -> String {
        if let remote { return remote }
        if let configured = ProcessInfo.processInfo.environment["KILN_REMOTE"], !configured.isEmpty {
            return configured
        }
        throw ValidationError("name a remote (a path or URL of a git repository), or set KILN_REMOTE")
    }
}

/// Runs a push or pull and prints its report; exit 1 on an error or a conflict.
func sync(
    _ remote: RemoteArgument, _ registry: RegistryOptions, _ verb: String,
    _ operation: (GitRegistry, String) throws -> SyncReport, after: (SyncReport) -> Void = { _ in }
) throws {
    let url = try remote.url()
    let report: SyncReport
    do { report = try operation(registry.open(), url) } catch {
        Terminal.standardError("kiln: error: \(error)\n")
        throw ExitStatus.failure
    }
    after(report)
    var out = ""
    for ref in report.updated { out += "  \(verb)  \(ref)\n" }
    out +=
        "\(report.updated.count) updated, \(report.unchanged) already up to date, \(report.conflicts.count) conflicts"
        + (report.refused.isEmpty ? "" : ", \(report.refused.count) refused") + "\n"
    Terminal.standardOutput(out)
    for conflict in report.conflicts { Terminal.standardError("kiln: conflict: \(conflict)\n") }
    for refused in report.refused { Terminal.standardError("kiln: refused: \(refused)\n") }
    if !report.conflicts.isEmpty || !report.refused.isEmpty { throw ExitStatus.failure }
}

struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push every model history, alias and version tag to a remote git repository (never forced).",
        discussion: """
            A local path that does not exist becomes a bare repository. A reference the remote
            refuses (someone registered or moved an alias meanwhile) is reported: pull, then push
            again. Exit 1 on a conflict.

            Examples:
              kiln push /srv/kiln-registry.git -C examples/iris
              KILN_REMOTE=ssh://git@host/registry.git kiln push
            """)
    @OptionGroup var remote: RemoteArgument
    @OptionGroup var registry: RegistryOptions

    func run() throws { try sync(remote, registry, "pushed") { try $0.push(to: $1) } }
}

struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fetch a remote's model histories, aliases and tags and take what moved forward.",
        discussion: """
            New models and versions on top of yours are taken; a history that diverged (versions
            registered on both sides) is reported and nothing is overwritten. Exit 1 on a conflict.

            Example:
              kiln pull /srv/kiln-registry.git -C examples/iris
            """)
    @OptionGroup var remote: RemoteArgument
    @OptionGroup var registry: RegistryOptions

    func run() throws {
        let workspace = registry.workspace
        let evaluator = Access.evaluator(workspace: workspace)
        // An alias the remote moved moves here too: the same permission and audit line as `kiln promote`.
        let authorize = { (model: String, alias: String, version: Int) -> String? in
            guard evaluator.isActive else { return nil }
            for environment in Access.environments(movedBy: alias, model: model, workspace: workspace) {
                let decision = evaluator.decide(
                    principal: Identity.current, action: "promote", on: ["model/\(model)"], environment: environment)
                guard !decision.allowed else { continue }
                Audit.record(
                    workspace: workspace, action: "promote", resource: "model/\(model)", outcome: "denied",
                    details: ["alias": alias, "version": "v\(version)", "reason": decision.reason, "via": "pull"])
                return "permission denied: \(decision.reason); the alias was not moved"
            }
            return nil
        }
        // Each alias move is audited by the registry's witness before the alias moves here.
        try sync(remote, registry, "pulled", { try $0.pull(from: $1, authorize: authorize) })
    }
}
