import ArgumentParser
import Crypto
import Foundation
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSecurity
import KilnSpec
import Synchronization

struct AuditSetupFailure: Error, CustomStringConvertible {
    var description: String
}

/// The workspace's audit log, as the acting identity. Lines for actions are written before the action
/// takes effect (`require`, and the registry's witness): if the line cannot be written, the action is
/// refused. Lines after the fact (`record`: an outcome, a denial) report a failure to write.
enum Audit {
    /// The log and its key, once per workspace and process (a server audits every refused request).
    struct Setup: Sendable {
        var path: String
        /// Why the configured path cannot hold the log (outside the workspace); every append refuses.
        var problem: String?
        /// The Policy's `audit.key`, resolved; nil: the workspace's own key file.
        var policyKey: SymmetricKey?
        var keyProblem: String?
        var keyFile: String
    }

    private static let setups = Mutex<[String: Setup]>([:])

    static func setup(workspace: String) -> Setup {
        let root = WorkspacePaths(path: workspace)
        return setups.withLock { known in
            if let s = known[root.root] { return s }
            var s = Setup(path: root.auditLog, keyFile: root.keys + "/audit.key")
            for resource in Access.policies(workspace: workspace) {
                let policy = PolicySpec(resource)
                if let configured = policy.auditLog?.text, !configured.isEmpty {
                    s.path = (root.root as NSString).appendingPathComponent(configured)
                    s.problem = problem(configured, root: root.root)
                }
                if let text = policy.auditKey {
                    do {
                        guard let reference = SecretReference(text) else {
                            throw AuditSetupFailure(description: "audit.key must be a secret reference")
                        }
                        let value = try reference.resolve(relativeTo: resource.directory)
                        guard let bytes = Data(base64Encoded: value), bytes.count >= 32 else {
                            throw AuditSetupFailure(
                                description: "the audit key \(reference) is not at least 32 bytes in base64 (make one: openssl rand -base64 32)")
                        }
                        s.policyKey = SymmetricKey(data: bytes)
                    } catch {
                        s.keyProblem = "\(error)"
                    }
                }
                if s.path != root.auditLog || s.policyKey != nil || s.keyProblem != nil { break }
            }
            known[root.root] = s
            return s
        }
    }

    /// The log stays in the workspace: a relative path without `..`, not through a symlink out of it, and
    /// a regular file (never /dev/null).
    static func problem(_ configured: String, root: String) -> String? {
        guard ReadConfinement.isPlainRelative(configured) else {
            return "audit.log '\(configured)' must be a path inside the workspace (relative, without '..')"
        }
        let confinement = ReadConfinement(workspace: root, environment: [:])
        let full = (root as NSString).appendingPathComponent(configured)
        var existing = full
        while !FileManager.default.fileExists(atPath: existing) && existing.count > root.count {
            existing = (existing as NSString).deletingLastPathComponent
        }
        let inside = existing == full ? confinement.problem(full) == nil : confinement.contains(directory: existing)
        return inside ? nil : "audit.log '\(configured)' leads outside the workspace or to a special file"
    }

    /// The log to append to, its key made on first use (`.kiln/keys/audit.key`, mode 0600) unless the Policy
    /// names one.
    static func log(workspace: String, creatingKey: Bool) throws -> AuditLog {
        let s = setup(workspace: workspace)
        if let problem = s.problem { throw AuditSetupFailure(description: problem) }
        if let keyProblem = s.keyProblem { throw AuditSetupFailure(description: keyProblem) }
        if let key = s.policyKey { return AuditLog(path: s.path, key: key) }
        if let data = FileManager.default.contents(atPath: s.keyFile) {
            guard data.count == 32 else {
                throw AuditSetupFailure(description: "\(s.keyFile) is not a 32-byte audit key")
            }
            return AuditLog(path: s.path, key: SymmetricKey(data: data))
        }
        guard creatingKey else { return AuditLog(path: s.path) }
        let key = SymmetricKey(size: .bits256)
        let directory = (s.keyFile as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let fd = open(s.keyFile, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if fd >= 0 {
            let bytes = key.withUnsafeBytes { Array($0) }
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard written == 32 else { throw AuditSetupFailure(description: "cannot write \(s.keyFile)") }
            return AuditLog(path: s.path, key: key)
        }
        // Another process made it first: use theirs.
        return try log(workspace: workspace, creatingKey: false)
    }

    /// Appends a line; returns the log's new head. Throws when it cannot be written.
    @discardableResult
    static func append(
        workspace: String, who: String = Identity.current, action: String, resource: String, outcome: String,
        details: [String: String] = [:]
    ) throws -> String {
        let log = try log(workspace: workspace, creatingKey: true)
        let entry = try log.append(who: who, action: action, resource: resource, outcome: outcome, details: details)
        let head = AuditLog.hash(try AuditLog.encode(entry))
        // An anchor: the head, and which log it is the head of.
        return "\(head) \(try log.identity() ?? head)"
    }

    /// Before an action: the line, or the action is refused (exit 1).
    static func require(
        workspace: String, action: String, resource: String, outcome: String = "allowed",
        details: [String: String] = [:]
    ) throws {
        do {
            try append(workspace: workspace, action: action, resource: resource, outcome: outcome, details: details)
        } catch {
            throw fail("refused: the audit log cannot be written, so nothing was done: \(error)")
        }
    }

    /// After the fact (an outcome, a denial): a failure to write is reported; false then.
    @discardableResult
    static func record(
        workspace: String, action: String, resource: String, outcome: String, details: [String: String] = [:]
    ) -> Bool {
        do {
            try append(workspace: workspace, action: action, resource: resource, outcome: outcome, details: details)
            return true
        } catch {
            _ = fail("the audit log was not written: \(error)")
            return false
        }
    }

    /// The registry's witness: every version registered and alias moved gets its line before the reference
    /// moves, and the commit carries the head.
    static func witness(workspace: String) -> RegistryWitness {
        { event in
            switch event {
            case .register(let model, let version, let alias, let source, let author):
                var details = ["version": "v\(version)", "source": source]
                if let alias { details["alias"] = alias }
                return try append(
                    workspace: workspace, who: author.isEmpty ? Identity.current : author, action: "register",
                    resource: "model/\(model)", outcome: "allowed", details: details)
            case .aliasMove(let model, let alias, let version, let author, let reason, let action):
                return try append(
                    workspace: workspace, who: author.isEmpty ? Identity.current : author, action: action,
                    resource: "model/\(model)", outcome: "allowed",
                    details: ["alias": alias, "version": "v\(version)", "reason": reason])
            }
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
        /// The log with its key, if it has one (never made here).
        var log: AuditLog {
            get throws { try Audit.log(workspace: workspace, creatingKey: false) }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Print the entries, oldest first.")
        @OptionGroup var location: Location
        @Option(name: .shortAndLong, help: "Only the last N entries.") var number: Int?
        @Flag(help: "JSON lines, as stored.") var json = false

        func run() throws {
            let entries: [AuditEntry]
            let log: AuditLog
            do {
                log = try location.log
                entries = try log.entries()
            } catch {
                throw fail("\(error)")
            }
            let shown = number.map { Array(entries.suffix($0)) } ?? entries
            if shown.isEmpty {
                Terminal.standardOutput("no audit entries in \(log.path)\n")
                return
            }
            var out = ""
            for e in shown {
                if json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                    out += String(decoding: try encoder.encode(e), as: UTF8.self) + "\n"
                } else {
                    // One entry, one line: every field escaped, line breaks included (a reason holding a
                    // newline and a fake entry must not print as two entries).
                    let details = e.details.sorted { $0.key < $1.key }.map { "\(Escaped($0.key))=\(Escaped($0.value))" }
                        .joined(separator: " ")
                    out +=
                        "\(e.seq)  \(Escaped(e.time))  \(Escaped(e.who))  \(Escaped(e.action)) \(Escaped(e.resource))  \(Escaped(e.outcome))"
                        + (details.isEmpty ? "" : "  \(details)") + "\n"
                }
            }
            if json { Terminal.standardOutputJSON(out) } else { Terminal.standardOutput(out) }
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
                let log = try location.log
                let (count, head) = try log.verify(expectedHead: head)
                var out = "audit log intact: \(count) entries, head \(head)"
                out += log.key == nil ? " (unkeyed: an edit of the last line is not detectable)" : ", every line's MAC checked"
                // The registry's commits carry the heads of this log when they were made: each must be a
                // line of it still (a cut or replaced log fails here, whoever holds the registry).
                let identity = try log.identity()
                var checked = 0, others = 0
                let heads = try log.heads()
                for anchor in try GitRegistry(path: WorkspacePaths(path: location.workspace).registry).auditAnchors() {
                    guard anchor.log == identity else {
                        others += 1
                        continue
                    }
                    checked += 1
                    if !heads.contains(anchor.head) {
                        throw AuditSetupFailure(
                            description:
                                "\(log.path): the registry's \(anchor.what) (commit \(anchor.commit.prefix(12))) records audit head \(anchor.head.prefix(16))…, which is not a line of this log: lines were cut or the log was rewritten"
                        )
                    }
                }
                out += "; \(checked) registry anchor\(checked == 1 ? "" : "s") found in it"
                if others > 0 { out += " (\(others) from other workspaces' logs not checked)" }
                Terminal.standardOutput(out + "\n")
            } catch {
                throw fail("\(error)")
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
                throw fail("\(error)")
            }
        }
    }
}
