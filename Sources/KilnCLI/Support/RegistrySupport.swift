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
            throw fail("\(error)")
        }
        let known = (try? open().models()) ?? []
        var message = RegistryError.notRegistered(reference.description).description
        var help: String?
        if !known.contains(reference.model) {
            message +=
                known.isEmpty
                ? " (the registry at \(path) is empty)" : " (registered models: \(known.joined(separator: ", ")))"
            help = DidYouMean.help(for: reference.model, among: known)
        } else {
            // The model exists: say what it has (its aliases, its versions).
            let aliases = ((try? open().aliases(reference.model)) ?? []).sorted { $0.alias < $1.alias }
            let latest = (try? open().log(reference.model, limit: 1).first?.version) ?? 0
            var has = ["v1\(latest > 1 ? "…v\(latest)" : "")"]
            if !aliases.isEmpty { has.append("aliases " + aliases.map { "\($0.alias) (v\($0.version))" }.joined(separator: ", ")) }
            message += "; \(reference.model) has \(has.joined(separator: ", and "))"
            if case .alias(let a) = reference.target {
                help = DidYouMean.help(for: a, among: aliases.map(\.alias), listing: false)
                    ?? "set it with `kiln promote \(reference.model)@vN \(a)`"
            }
        }
        throw fail(message, help: help)
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
        throw fail("\(error)")
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
