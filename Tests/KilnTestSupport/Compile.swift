import Foundation
public import KilnCompiler
public import KilnDiagnostics
public import KilnSpec

/// Compiling from literals and folders, the way tests need it.
public enum TestCompile {
    /// Loads YAML text as one file (referenced files are not looked at).
    public static func workspace(_ yaml: String, file: String = "test.yaml") -> Workspace {
        var workspace = Workspace(root: ".")
        WorkspaceLoader().load(file: file, bytes: Array(yaml.utf8), into: &workspace)
        return workspace
    }

    /// Every diagnostic of a YAML text, sorted.
    public static func diagnostics(_ yaml: String, checkFiles: Bool = false) -> [Diagnostic] {
        var compiler = Compiler()
        compiler.checkFiles = checkFiles
        return compiler.compile(workspace(yaml)).diagnostics.sorted
    }

    /// The graph of a YAML text, or nil with errors.
    public static func graph(_ yaml: String) -> ExecutionGraph? {
        var compiler = Compiler()
        compiler.checkFiles = false
        return compiler.lower(workspace(yaml), hashFiles: false).1
    }

    /// The text rendering of a workspace path's diagnostics, with `base/` stripped from paths.
    public static func rendered(path: String, relativeTo base: String) -> (text: String, errors: Int) {
        let workspace = WorkspaceLoader().load(path: path)
        let result = Compiler().compile(workspace)
        let text = DiagnosticRenderer(sources: workspace.sources).text(result.diagnostics.sorted)
        let relative = text.replacingOccurrences(of: base + "/", with: "").replacingOccurrences(of: base, with: ".")
        return (relative, result.diagnostics.errorCount)
    }
}

/// A temporary directory of files, removed when released.
public final class TemporaryDirectory {
    public let path: String

    public init(files: [String: String] = [:]) throws {
        path = NSTemporaryDirectory() + "kiln-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (name, text) in files { try write(name, text) }
    }

    public func write(_ name: String, _ text: String) throws {
        let full = (path as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: full, atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Node ids written as text in tests (`"dataset/iris:ingest"`); kiln's sources build them from parts.
extension NodeID: ExpressibleByStringLiteral {
    public init(stringLiteral text: String) {
        guard let id = NodeID(text) else { preconditionFailure("not a node id: \(text)") }
        self = id
    }
}

/// Diagnostic ids written as text in tests (`"spec.duplicate-key"`); kiln's sources name them through
/// their stage's catalog.
extension DiagnosticID: ExpressibleByStringLiteral {
    public init(stringLiteral text: String) { self.init(catalog: text) }
}
