import Foundation

/// What kiln reads because a spec says so stays inside the workspace: a spec from someone else (a cloned
/// repository, a pull request) must not make `kiln check` read `/proc/self/environ` or `../../.ssh/id_rsa`
/// and print it. Paths are compared after every symlink is resolved. Directories outside the workspace are
/// readable only when the user (never a spec) names them in `KILN_ALLOW_READ` (a `:`-separated list).
/// Special files are refused wherever they are: anything below `/proc`, `/sys` or `/dev`, and anything
/// that is not a regular file (a FIFO would block a read forever; a device never ends).
public struct ReadConfinement: Sendable {
    /// Real paths of the directories reads may come from: the workspace first.
    public let roots: [String]

    public static let allowVariable = "KILN_ALLOW_READ"

    /// The workspace and the directories `KILN_ALLOW_READ` names in this process's environment.
    public init(workspace: String) {
        self.init(workspace: workspace, environment: ProcessInfo.processInfo.environment)
    }

    public init(workspace: String, environment: [String: String]) {
        var roots = [Self.realPath(workspace.isEmpty ? "." : workspace) ?? workspace]
        for entry in (environment[Self.allowVariable] ?? "").split(separator: ":") where !entry.isEmpty {
            if let real = Self.realPath(String(entry)) { roots.append(real) }
        }
        self.roots = roots
    }

    /// Why kiln must not read `path`, nil when it may (or when it does not exist: the caller says so).
    public func problem(_ path: String) -> String? {
        guard let real = Self.realPath(path) else {
            // It exists but does not resolve to a file (a link to /proc/self/fd/0 when stdin is a pipe).
            var link = stat()
            return lstat(path, &link) == 0 ? "it cannot be resolved to a regular file" : nil
        }
        if let problem = Self.special(path) ?? Self.special(real) { return problem }
        guard roots.contains(where: { real == $0 || real.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
            return
                "it is outside the workspace (\(roots[0])); kiln reads only files inside it unless \(Self.allowVariable) names the directory"
        }
        return nil
    }

    /// A path written relative to the workspace that cannot leave it by its text alone: not absolute, no
    /// `..` and no empty component (symlinks are the other half: `problem` and `contains`).
    public static func isPlainRelative(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return !path.hasPrefix("/") && !parts.contains("..") && !parts.contains("")
    }

    /// Why `path` is a file kiln never reads wherever it is (below `/proc`, `/sys`, `/dev`, or not a regular
    /// file), nil when it is a regular file or does not exist. For files outside the confinement too
    /// (secret files).
    public static func special(_ path: String) -> String? {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var link = stat()
        let exists = lstat(path, &link) == 0
        // A path that exists but cannot be resolved (a pipe behind /proc/self/fd/0) is refused too.
        guard let real = realPath(path) else { return exists ? "it cannot be resolved to a regular file" : nil }
        for special in ["/proc", "/sys", "/dev"] {
            for candidate in [real, (absolute as NSString).standardizingPath] where candidate == special || candidate.hasPrefix(special + "/") {
                return "it is a special file (\(special)); kiln reads only regular files"
            }
        }
        var info = stat()
        guard stat(real, &info) == 0 else { return nil }
        guard info.st_mode & S_IFMT == S_IFREG else {
            return "it is not a regular file (a directory, FIFO, socket or device)"
        }
        return nil
    }

    /// Whether a directory found while discovering spec files is inside the workspace (after symlinks).
    public func contains(directory: String) -> Bool {
        guard let real = Self.realPath(directory) else { return false }
        return roots.prefix(1).contains { real == $0 || real.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
