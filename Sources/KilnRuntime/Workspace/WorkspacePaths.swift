public import Foundation
import KilnData
import KilnDiagnostics
import KilnRegistry

/// Where a workspace keeps its state. The root is the directory given to `kiln run` (or the directory
/// of a spec file given instead); everything kiln writes is below `ROOT/.kiln`, except `ROOT/kiln.lock`,
/// which is meant to be committed.
public struct WorkspacePaths: Sendable {
    public let root: String

    public init(path: String) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            root = path
        } else {
            let parent = (path as NSString).deletingLastPathComponent
            root = parent.isEmpty ? "." : parent
        }
    }

    public var state: String { join(root, ".kiln") }
    /// Content-addressed node outputs: `cache/ab/abcdef…/{manifest.json, outputs/}`.
    public var cache: String { join(state, "cache") }
    /// Checkpoints of trainings in progress, by fit key.
    public var work: String { join(state, "work") }
    /// One JSON record per run.
    public var runs: String { join(state, "runs") }
    /// The workspace lock (flock) held by a running `kiln run`.
    public var runLock: String { join(state, "run.lock") }
    /// Keys kiln creates for itself (the pii mask key).
    public var keys: String { join(state, "keys") }
    /// The audit log: hash-chained JSON lines (KilnSecurity's `AuditLog`).
    public var auditLog: String { join(state, "audit.log") }
    /// The model registry: a bare git repository (libgit2); `KILN_REGISTRY` names another, for every
    /// command alike (run, serve and the registry commands).
    public var registry: String {
        if let configured = ProcessInfo.processInfo.environment["KILN_REGISTRY"], !configured.isEmpty {
            return configured
        }
        return join(state, "registry")
    }
    /// Node keys and output hashes, at the workspace root.
    public var lockFile: String { join(root, "kiln.lock") }

    func join(_ a: String, _ b: String) -> String { (a as NSString).appendingPathComponent(b) }

    /// A path as seen from the workspace root (how outputs, kiln.lock and messages record it).
    public func relative(_ path: String) -> String { Self.relative(path, to: root) }

    /// `path` relative to `root`, both normalized lexically; unchanged when it is not below `root`.
    public static func relative(_ path: String, to root: String) -> String { DatasetConfig.relative(path, to: root) }

    /// A workspace-relative path as seen from the current directory (how readers open it).
    public func local(_ path: String) -> String {
        path.hasPrefix("/") || root == "." ? path : DatasetConfig.normalized(root + "/" + path)
    }

    /// The workspace's key for masking pii values in printed rows: created once, readable by its owner only.
    public func piiMaskKey() -> Data {
        let path = join(keys, "pii-mask.key")
        if let key = FileManager.default.contents(atPath: path), key.count == 32 { return key }
        let key = PIIMasker.newKey()
        // In a read-only workspace these fail, and the output is masked with a key for this run only.
        try? FileManager.default.createDirectory(
            atPath: keys, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        _ = FileManager.default.createFile(atPath: path, contents: key, attributes: [.posixPermissions: 0o600])
        return key
    }
}

/// Who is acting: `KILN_USER`, else git's `user.name`, else the operating-system user. Found once per
/// process (it reads git's configuration files).
public enum Identity {
    public static var current: String { found.name }

    /// Where the identity came from, for messages (`KILN_USER`, `git's user.name`, `the OS user`).
    public static var source: String { found.source }

    private static let found: (name: String, source: String) = {
        let environment = ProcessInfo.processInfo.environment
        if let user = environment["KILN_USER"], !user.isEmpty { return (user, "KILN_USER") }
        if let name = GitConfig.userName { return (name, "git's user.name") }
        if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name { return (String(cString: name), "the OS user") }
        return (environment["USER"] ?? "unknown", "USER")
    }()

    /// Why the identity cannot be written into commits, tags and audit lines (a newline, a control
    /// character, '<' or '>'), with the fix; nil when it can. Commands that record who acted check this
    /// before doing anything.
    public static var problem: String? {
        guard let reason = GitSignature.problem(current) else { return nil }
        return "the acting identity '\(Escaped(current))' (from \(source)) cannot be recorded: \(reason); set KILN_USER to a plain name"
    }

    public static var host: String { ProcessInfo.processInfo.hostName }
}
