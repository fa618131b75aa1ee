import ArgumentParser
import Foundation
import KilnCompiler
import KilnDiagnostics
import KilnRuntime
import KilnSpec

/// `[PATH] [TARGET...]`: the first argument is the workspace when it exists on disk, else a target.
struct WorkspaceAndTargets: ParsableArguments {
    @Argument(
        help: ArgumentHelp(
            "A workspace directory or spec file (default: .), then targets: node ids, resources, names or globs.",
            valueName: "path-or-target"))
    var arguments: [String] = []

    var path: String { Self.split(arguments).path }
    var targets: [String] { Self.split(arguments).rest }

    /// The workspace (the first argument when it exists on disk, else `.`) and the names after it.
    static func split(_ arguments: [String]) -> (path: String, rest: [String]) {
        guard let first = arguments.first, FileManager.default.fileExists(atPath: first) else {
            return (".", arguments)
        }
        return (first, Array(arguments.dropFirst()))
    }
}

/// Values the process keeps until it exits: a compiled workspace of thousands of specs took a tenth of a
/// second to free at the end of a command, and exiting frees it at once. The commands are one-shot.
enum UntilExit {
    nonisolated(unsafe) private static var kept: [Any] = []
    static func keep(_ value: Any) { kept.append(value) }
}

/// A compiled workspace ready to plan: graph, paths, cache, lock file.
struct LoadedWorkspace {
    var compiled: Compiler.Result
    var graph: ExecutionGraph
    var paths: WorkspacePaths
    var cache: Cache
    var lock: LockFile
    /// kiln.lock's stamp when `lock` was read.
    var lockStamp: String?
    var renderer: DiagnosticRenderer

    static let warningsShown = 3

    /// Compiles; on errors prints them and exits 1, before anything runs.
    static func load(_ path: String) throws -> LoadedWorkspace {
        let workspace = WorkspaceLoader().load(path: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            Access.remember(workspace.resources, workspace: path)
        }
        let (result, graph) = Compiler().lower(workspace)
        let renderer = DiagnosticRenderer(sources: workspace.sources, colour: Terminal.colour(for: 2))
        var diagnostics = result.diagnostics.sorted
        // Errors all; warnings a few (kiln check shows every one), so a run's output stays about the run.
        let warnings = diagnostics.filter { $0.severity != .error }
        if graph != nil && warnings.count > Self.warningsShown {
            diagnostics = Array(warnings.prefix(Self.warningsShown))
            Terminal.standardError(
                renderer.text(diagnostics).split(separator: "\n").dropLast().joined(separator: "\n")
                    + "\n… and \(warnings.count - Self.warningsShown) more warnings (`kiln check` shows them all)\n")
        } else if !diagnostics.isEmpty {
            Terminal.standardError(renderer.text(diagnostics))
        }
        guard let graph else {
            Terminal.standardError("kiln: the specs have errors; nothing ran\n")
            throw ExitStatus.failure
        }
        let paths = WorkspacePaths(path: path)
        let stamp = LockFile.stamp(paths.lockFile)
        let loaded = LoadedWorkspace(
            compiled: result, graph: graph, paths: paths, cache: Cache(directory: paths.cache),
            lock: try readLock(paths), lockStamp: stamp, renderer: renderer)
        UntilExit.keep(loaded)
        return loaded
    }

    static func readLock(_ paths: WorkspacePaths) throws -> LockFile {
        do { return try LockFile.load(paths.lockFile) } catch {
            throw fail("\(paths.lockFile): \(error)")
        }
    }

    /// kiln.lock as it is now: read again only when it changed since it was loaded (under the workspace's
    /// run lock, a run that just finished may have written it).
    mutating func refreshLock() throws {
        let stamp = LockFile.stamp(paths.lockFile)
        guard stamp != lockStamp else { return }
        lock = try Self.readLock(paths)
        lockStamp = stamp
    }

    var planner: Planner { Planner(graph: graph, cache: cache, lock: lock, root: paths.root) }

    /// The plan of `targets`; an unknown target is a usage error (exit 2).
    func plan(_ targets: [String]) throws -> Plan {
        do { return planner.plan(try planner.select(targets)) } catch {
            throw fail("\(error)", .usage)
        }
    }
}

extension Plan.Reason {
    /// One line, for `kiln plan`.
    func text(root: String) -> String {
        switch self {
        case .neverRan: return "never ran"
        case .field(let path, let old, let new, let at):
            let place = at.map { "  (\(WorkspacePaths.relative($0.file, to: root)):\($0.start.line))" } ?? ""
            return "\(path): \(old) → \(new)\(place)"
        case .file(let path, let old, let new):
            switch (old, new) {
            case (nil, _): return "\(path): new file"
            case (_, nil): return "\(path): no longer read"
            default: return "\(path) changed (sha256 \(old?.prefix(12) ?? "") → \(new?.prefix(12) ?? ""))"
            }
        case .input(let id): return "upstream \(id) changed"
        case .kilnVersion(let old, let new): return "kiln \(old) → \(new)"
        case .notInCache: return "up to date with kiln.lock, but its outputs are not in this cache"
        case .changedSinceLock(let old):
            return "changed since kiln.lock (was \(old.prefix(12)); that entry is not in the cache)"
        }
    }

    /// A short tag, for `kiln status`.
    var tag: String {
        switch self {
        case .neverRan: "never ran"
        case .field: "spec changed"
        case .file: "data changed"
        case .input: "upstream changed"
        case .kilnVersion: "kiln changed"
        case .notInCache: "not in cache"
        case .changedSinceLock: "changed"
        }
    }

}
