import Dispatch
import Foundation
import Synchronization
public import KilnDiagnostics

/// A spec file as read: its display path and text (kept for the source lines of diagnostics).
public struct SourceFile: Sendable {
    public var path: String
    public var text: String
}

/// Everything the front end read from a workspace: files, resources, and the diagnostics so far.
public struct Workspace: Sendable {
    public var root: String
    public var files: [SourceFile] = []
    public var resources: [Resource] = []
    public var diagnostics = DiagnosticEngine()
    /// Names of resources that exist but failed to decode: references to them are not reported again.
    public var brokenNames: Set<String> = []
    /// YAML documents that are not kiln resources (another tool's file), for `--verbose`.
    public var ignored: [SourceSpan] = []

    public init(root: String) {
        self.root = root
    }

    public var sources: [String: String] {
        Dictionary(files.map { ($0.path, $0.text) }, uniquingKeysWith: { a, _ in a })
    }
}

/// Reads a workspace: finds spec files, composes them, decodes each document by the schema.
public struct WorkspaceLoader: Sendable {
    public var limits: YAMLLimits

    public init(limits: YAMLLimits = .default) {
        self.limits = limits
    }

    /// Loads every `*.yaml`/`*.yml` below `path` (or the single file `path`), skipping `.kiln/`,
    /// `.git/` and hidden folders, in a stable order.
    public func load(path: String) -> Workspace {
        var isDirectory: ObjCBool = false
        let fm = FileManager.default
        guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
            var w = Workspace(root: path)
            w.diagnostics.error(
                .workspace(.notFound), "no such file or directory '\(path)'", at: nil,
                help: "give a workspace directory or a spec file")
            return w
        }
        var workspace = Workspace(root: isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent)
        var unreadable: [String] = []
        let files = isDirectory.boolValue ? Self.specFiles(in: path, unreadable: &unreadable) : [path]
        for directory in unreadable {
            // Its specs would be missing from the graph while everything else looks fine.
            workspace.diagnostics.warning(
                .workspace(.unreadable),
                "cannot read the directory '\(directory)': spec files in it, if any, are not loaded", at: nil,
                help: "make it readable (chmod u+rx), or move it out of the workspace")
        }
        if isDirectory.boolValue && files.isEmpty && unreadable.isEmpty {
            workspace.diagnostics.warning(
                .workspace(.empty), "no spec files (*.yaml, *.yml) in '\(path)'", at: nil)
        }
        // Files are independent until the compiler joins them: read, compose and decode them on every core,
        // then merge in file order (the result is the same as one after the other).
        let fragments = Mutex<[Workspace?]>(Array(repeating: nil, count: files.count))
        let loader = self
        DispatchQueue.concurrentPerform(iterations: files.count) { i in
            var fragment = Workspace(root: "")
            if let data = FileManager.default.contents(atPath: files[i]) {
                loader.load(file: files[i], bytes: [UInt8](data), into: &fragment)
            } else {
                fragment.diagnostics.error(.workspace(.unreadable), "cannot read '\(files[i])'", at: nil)
            }
            fragments.withLock { $0[i] = fragment }
        }
        for fragment in fragments.withLock({ $0 }) {
            guard let fragment else { continue }
            workspace.files += fragment.files
            workspace.resources += fragment.resources
            workspace.diagnostics.emit(contentsOf: fragment.diagnostics.diagnostics)
            workspace.brokenNames.formUnion(fragment.brokenNames)
            workspace.ignored += fragment.ignored
        }
        return workspace
    }

    /// Loads one file's text into a workspace (also the entry point of tests and the fuzzer).
    public func load(file: String, bytes: [UInt8], into workspace: inout Workspace) {
        let composed = YAMLComposer(file: file, limits: limits).compose(bytes)
        workspace.files.append(
            SourceFile(path: file, text: String(decoding: bytes.prefix(limits.maxFileBytes), as: UTF8.self)))
        workspace.diagnostics.emit(contentsOf: composed.diagnostics)
        let directory = (file as NSString).deletingLastPathComponent
        for document in composed.documents {
            decodeDocument(document.root, directory: directory, into: &workspace)
        }
    }

    /// The spec files a load of `path` reads (a directory's, or the file itself).
    public static func specFilePaths(_ path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        return isDirectory.boolValue ? specFiles(in: path) : [path]
    }

    /// Spec files below `directory`. A directory reached through a symlink that leads out of the workspace
    /// is not walked (a link to `/proc/self` once made discovery walk the whole filesystem), and only
    /// regular files inside the workspace are spec files (a FIFO named `x.yaml` would block the read).
    static func specFiles(in directory: String) -> [String] {
        var unreadable: [String] = []
        return specFiles(in: directory, unreadable: &unreadable)
    }

    /// Spec files below `directory`; directories that cannot be listed go to `unreadable`.
    static func specFiles(in directory: String, unreadable: inout [String]) -> [String] {
        let fm = FileManager.default
        let confinement = ReadConfinement(workspace: directory, environment: [:])
        var result: [String] = []
        var stack = [directory]
        // A symlink back up the tree must not loop: each real directory is read once.
        var visited = Set<String>()
        while let dir = stack.popLast() {
            guard visited.insert(URL(fileURLWithPath: dir).resolvingSymlinksInPath().path).inserted else { continue }
            guard let names = try? fm.contentsOfDirectory(atPath: dir) else {
                unreadable.append(dir)
                continue
            }
            for name in names.sorted() {
                if name.hasPrefix(".") { continue }
                let full = dir == "." ? name : (dir as NSString).appendingPathComponent(name)
                var isDir: ObjCBool = false
                guard fm.fileExists(atPath: full, isDirectory: &isDir) else { continue }
                if isDir.boolValue {
                    if confinement.contains(directory: full) { stack.append(full) }
                } else if name.hasSuffix(".yaml") || name.hasSuffix(".yml"), confinement.problem(full) == nil {
                    result.append(full)
                }
            }
        }
        return result.sorted()
    }

    private static let envelope = ["apiVersion", "kind", "metadata", "spec"]

    private func decodeDocument(_ root: YAMLNode, directory: String, into workspace: inout Workspace) {
        guard let entries = root.entries else {
            workspace.ignored.append(root.span)
            return
        }
        func entry(_ name: String) -> YAMLEntry? { entries.first { $0.name == name } }
        let apiVersion = entry("apiVersion")
        let kindEntry = entry("kind")
        let claimsKiln = apiVersion?.value.scalar?.hasPrefix("kiln/") ?? false
        let namesKind = kindEntry.flatMap { $0.value.scalar }.map { ResourceKind(rawValue: $0) != nil } ?? false
        guard claimsKiln || namesKind else {
            workspace.ignored.append(root.span)
            return
        }
        var decoder = SchemaDecoder()
        var ok = true
        var suggested = Set<String>()
        for e in entries where !Self.envelope.contains(e.name) {
            if let s = DidYouMean.suggestion(for: e.name, among: Self.envelope) { suggested.insert(s) }
            workspace.diagnostics.error(
                .spec(.unknownField), "unknown field '\(e.name)' at the top of a resource", at: e.key.span,
                help: DidYouMean.help(for: e.name, among: Self.envelope))
            ok = false
        }
        if let apiVersion {
            if apiVersion.value.scalar != SpecSchema.apiVersion {
                workspace.diagnostics.error(
                    .spec(.unknownApiVersion), "unknown apiVersion \(apiVersion.value.describedKind)",
                    at: apiVersion.value.span, help: "this kiln reads 'apiVersion: \(SpecSchema.apiVersion)'")
                ok = false
            }
        } else {
            workspace.diagnostics.error(
                .spec(.missingField), "missing required field 'apiVersion' in the resource", at: root.span,
                help: "add 'apiVersion: \(SpecSchema.apiVersion)'")
            ok = false
        }
        var kind: ResourceKind?
        if let kindEntry {
            let words = ResourceKind.allCases.map(\.rawValue)
            if let word = kindEntry.value.scalar, let k = ResourceKind(rawValue: word) {
                kind = k
            } else {
                workspace.diagnostics.error(
                    .spec(.unknownKind), "unknown kind \(kindEntry.value.describedKind)", at: kindEntry.value.span,
                    help: DidYouMean.help(for: kindEntry.value.scalar ?? "", among: words))
            }
        } else {
            workspace.diagnostics.error(
                .spec(.missingField), "missing required field 'kind' in the resource", at: root.span,
                help: "add 'kind:' (one of Dataset, Model, Training, Deployment, Policy)")
        }
        let metadataEntry = entry("metadata")
        let metadata = metadataEntry.flatMap {
            decoder.decode($0.value, as: .object(SpecSchema.metadata), name: "metadata", keySpan: $0.key.span)
        }
        if metadataEntry == nil && !suggested.contains("metadata") {
            workspace.diagnostics.error(
                .spec(.missingField), "missing required field 'metadata' in the resource", at: root.span,
                help: "add 'metadata: {name: …}'")
        }
        var spec: SpecValue?
        if let kind {
            if let specEntry = entry("spec") {
                spec = decoder.decode(
                    specEntry.value, as: .object(SpecSchema.spec(for: kind)), name: "spec", keySpan: specEntry.key.span)
            } else if !suggested.contains("spec") {
                workspace.diagnostics.error(
                    .spec(.missingField), "missing required field 'spec' in the \(kind.rawValue)", at: root.span,
                    help: "add 'spec:' with the \(kind.rawValue)'s fields")
            }
        }
        workspace.diagnostics.emit(contentsOf: decoder.diagnostics)
        ok = ok && decoder.diagnostics.isEmpty && spec != nil
        guard let kind, let metadata, let name = metadata["name"]?.string, let nameValue = metadata["name"] else {
            return
        }
        guard ok, let spec else {
            workspace.brokenNames.insert("\(kind.word)/\(name)")
            return
        }
        workspace.resources.append(
            Resource(
                kind: kind, name: name, nameSpan: nameValue.span, span: root.span, metadata: metadata, spec: spec,
                directory: directory))
    }
}
