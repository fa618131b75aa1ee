import Foundation
import Synchronization

/// What kiln reads because a spec says so stays inside the workspace: a spec from someone else (a cloned
/// repository, a pull request) must not make `kiln check` read `/proc/self/environ` or `../../.ssh/id_rsa`
/// and print it. Paths are compared after every symlink is resolved. Directories outside the workspace are
/// readable only when the user (never a spec) names them in `KILN_ALLOW_READ` (a `:`-separated list).
/// Special files are refused wherever they are: anything below `/proc`, `/sys` or `/dev`, and anything
/// that is not a regular file (a FIFO would block a read forever; a device never ends).
public struct ReadConfinement: Sendable {
    /// Real paths of the directories reads may come from: the workspace first.
    public let roots: [String]
    /// Real paths of directories already resolved (a workspace of thousands of files lives in a few).
    private let directories = DirectoryCache()

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
        guard let real = directories.realPath(path) else {
            // It exists but does not resolve to a file (a link to /proc/self/fd/0 when stdin is a pipe).
            var link = stat()
            return lstat(path, &link) == 0 ? "it cannot be resolved to a regular file" : nil
        }
        if let problem = Self.special(path, real: real) { return problem }
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
        var link = stat()
        let exists = lstat(path, &link) == 0
        // A path that exists but cannot be resolved (a pipe behind /proc/self/fd/0) is refused too.
        guard let real = realPath(path) else { return exists ? "it cannot be resolved to a regular file" : nil }
        return special(path, real: real)
    }

    /// `special` of a path whose real path is known.
    static func special(_ path: String, real: String) -> String? {
        let absolute = path.hasPrefix("/") ? path : currentDirectory + "/" + path
        for special in ["/proc", "/sys", "/dev"] {
            for candidate in [real, lexical(absolute)] where candidate == special || candidate.hasPrefix(special + "/") {
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
        guard let real = directories.realPath(directory) else { return false }
        return roots.prefix(1).contains { real == $0 || real.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }
    }

    /// An absolute path with `.`, `..` and repeated slashes removed by its text alone (symlinks are
    /// `realPath`'s half; Foundation's `standardizingPath` resolves them too, a readlink per component).
    static func lexical(_ absolute: String) -> String {
        var parts: [Substring] = []
        for part in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The process's working directory when kiln started (it never changes it).
    static let currentDirectory = FileManager.default.currentDirectoryPath
}

/// Real paths of directories, resolved once each: a file's real path is its directory's, then its name,
/// unless the file itself is a symlink (then it is resolved in full).
final class DirectoryCache: Sendable {
    private let known = Mutex<[String: String]>([:])

    func realPath(_ path: String) -> String? {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var link = stat()
        guard !name.isEmpty, name != ".", name != "..", lstat(path, &link) == 0, link.st_mode & S_IFMT != S_IFLNK
        else { return ReadConfinement.realPath(path) }
        let real: String?
        if let cached = known.withLock({ $0[directory] }) {
            real = cached
        } else {
            real = ReadConfinement.realPath(directory)
            if let real { known.withLock { $0[directory] = real } }
        }
        guard let real else { return nil }
        return real == "/" ? "/" + name : real + "/" + name
    }
}
