import ArgumentParser
import Foundation
import KilnRuntime
import KilnSecurity
import KilnSpec
import Synchronization

/// Appends to the workspace's audit log as the acting identity. An entry that cannot be written is reported:
/// the action it records has happened, and the log must not pretend otherwise.
enum Audit {
    private static let paths = Mutex<[String: String]>([:])

    /// The log a workspace's Policy names (`audit: {log: PATH}`, relative to the workspace), else
    /// `.kiln/audit.log`. Read once per workspace and process (a server audits every refused request).
    static func path(workspace: String) -> String {
        let root = WorkspacePaths(path: workspace)
        return paths.withLock { known in
            if let p = known[root.root] { return p }
            var path = root.auditLog
            for resource in Access.policies(workspace: workspace) {
                if let configured = resource.spec[path: ["audit", "log"]]?.string, !configured.isEmpty {
                    path =
                        configured.hasPrefix("/")
                        ? configured : (root.root as NSString).appendingPathComponent(configured)
                    break
                }
            }
            known[root.root] = path
            return path
        }
    }

    static func record(
        workspace: String, action: String, resource: String, outcome: String, details: [String: String] = [:]
    ) {
        let log = AuditLog(path: path(workspace: workspace))
        do {
            try log.append(
                who: Identity.current, action: action, resource: resource, outcome: outcome, details: details)
        } catch {
            Terminal.standardError("kiln: error: the audit log was not written: \(error)\n")
        }
    }
}

/// `kiln audit`: the audit log; `kiln audit verify`: its chain.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Print the workspace's audit log, or verify its hash chain.",
        discussion: """
            Every run, registration, alias move (alias set, promote, rollback), server start and stop, and every
            request refused by the server is a line of .kiln/audit.log: who, when, action, resource, outcome,
            details, and the SHA-256 of the line before it.

            Examples:
              kiln audit -C examples/iris
              kiln audit verify -C examples/iris
              kiln audit head > audit-head.txt   # keep it elsewhere; later: kiln audit verify --head $(cat audit-head.txt)
            """,
        subcommands: [Show.self, Verify.self, Head.self], defaultSubcommand: Show.self)

    struct Location: ParsableArguments {
        @Option(name: [.customShort("C"), .long], help: "The workspace (default: .).") var workspace = "."
        var log: AuditLog { AuditLog(path: Audit.path(workspace: workspace)) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Print the entries, oldest first.")
        @OptionGroup var location: Location
        @Option(name: .shortAndLong, help: "Only the last N entries.") var number: Int?
        @Flag(help: "JSON lines, as stored.") var json = false

        func run() throws {
            let entries: [AuditEntry]
            do { entries = try location.log.entries() } catch {
                Terminal.standardError("kiln: error: \(error)\n")
                throw ExitStatus.failure
            }
            let shown = number.map { Array(entries.suffix($0)) } ?? entries
            if shown.isEmpty {
                Terminal.standardOutput("no audit entries in \(location.log.path)\n")
                return
            }
            var out = ""
            for e in shown {
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                    out += String(decoding: try encoder.encode(e), as: UTF8.self) + "\n"
                } else {
                    let details = e.details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                        .joined(separator: " ")
                    out +=
                        "\(e.seq)  \(e.time)  \(e.who)  \(e.action) \(e.resource)  \(e.outcome)"
                        + (details.isEmpty ? "" : "  \(details)") + "\n"
                }
            }
            Terminal.standardOutput(out)
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain; exit 1 naming the first bad line.")
        @OptionGroup var location: Location
        @Option(help: "The head recorded earlier (`kiln audit head`): also catches a log cut short or rewritten.")
        var head: String?

        func run() throws {
            do {
                let (count, head) = try location.log.verify(expectedHead: head)
                Terminal.standardOutput("audit log intact: \(count) entries, head \(head)\n")
            } catch {
                Terminal.standardError("kiln: error: \(error)\n")
                throw ExitStatus.failure
            }
        }
    }

    struct Head: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the hash of the last entry (after verifying the chain), to keep elsewhere.")
        @OptionGroup var location: Location

        func run() throws {
            do {
                Terminal.standardOutput(try location.log.verify().head + "\n")
            } catch {
                Terminal.standardError("kiln: error: \(error)\n")
                throw ExitStatus.failure
            }
        }
    }
}
