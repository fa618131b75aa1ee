import Dispatch
import Foundation
import Synchronization
import KilnDiagnostics
import KilnSpec

/// State shared by the passes of one compilation.
struct CompilerContext {
    let workspace: Workspace
    let checkFiles: Bool
    var parallel = true
    /// Where spec-named files may be read from (the workspace, and `KILN_ALLOW_READ`).
    let confinement: ReadConfinement
    var diagnostics: DiagnosticEngine
    var checked = CheckedWorkspace()

    /// The first resource of each kind and name (later duplicates are reported and skipped).
    var byName: [ResourceKind: [String: Resource]] = [:]
    /// Datasets and models some Training uses, for the unused-resource warnings.
    var used = Set<String>()
    /// An unknown reference makes the resource it meant look unused: skip those warnings then.
    var sawUnknownReference = false

    init(workspace: Workspace, checkFiles: Bool) {
        self.workspace = workspace
        self.checkFiles = checkFiles
        confinement = ReadConfinement(workspace: workspace.root)
        self.diagnostics = workspace.diagnostics
    }

    mutating func run() {
        indexNames()
        checked.policies = (byName[.policy]?.values.sorted { $0.name < $1.name } ?? []).map(PolicySpec.init)
        for policy in checked.policies { checkPolicy(policy) }
        // Each resource of a kind is checked on its own (datasets read their files' headers): on every core,
        // merged in resource order, so the result is the same as one after the other.
        inParallel(resources(.dataset)) { $0.checkDataset($1) }
        inParallel(resources(.model)) { $0.checkModel($1) }
        inParallel(resources(.training)) { $0.checkTraining($1) }
        for resource in resources(.deployment) { checkDeployment(resource) }
        warnUnused()
    }

    /// Runs `check` for each resource, in chunks on every core, each chunk on a copy of this context that
    /// sees everything checked so far; then merges what the copies found, in resource order.
    mutating func inParallel(_ list: [Resource], _ check: @Sendable (inout CompilerContext, Resource) -> Void) {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard parallel, cores > 1, list.count >= 64 else {
            for resource in list { check(&self, resource) }
            return
        }
        var base = self
        base.diagnostics = DiagnosticEngine()
        let before = (trainings: checked.trainings.count, deployments: checked.deployments.count)
        let size = (list.count + cores * 4 - 1) / (cores * 4)
        let chunks = stride(from: 0, to: list.count, by: size).map { Array(list[$0..<min($0 + size, list.count)]) }
        let done = Mutex<[CompilerContext?]>(Array(repeating: nil, count: chunks.count))
        let start = base
        DispatchQueue.concurrentPerform(iterations: chunks.count) { i in
            var part = start
            for resource in chunks[i] { check(&part, resource) }
            done.withLock { $0[i] = part }
        }
        for part in done.withLock({ $0 }) {
            guard let part else { continue }
            diagnostics.emit(contentsOf: part.diagnostics.diagnostics)
            // Only what the chunk added: every chunk also holds what earlier phases checked.
            if part.checked.datasets.count > start.checked.datasets.count {
                checked.datasets.merge(part.checked.datasets) { a, _ in a }
            }
            if part.checked.models.count > start.checked.models.count {
                checked.models.merge(part.checked.models) { a, _ in a }
            }
            checked.pretrained.merge(part.checked.pretrained) { a, _ in a }
            checked.trainings += part.checked.trainings.dropFirst(before.trainings)
            checked.deployments += part.checked.deployments.dropFirst(before.deployments)
            used.formUnion(part.used)
            sawUnknownReference = sawUnknownReference || part.sawUnknownReference
        }
    }

    func resources(_ kind: ResourceKind) -> [Resource] {
        workspace.resources.filter { $0.kind == kind && byName[kind]?[$0.name]?.span == $0.span }
    }

    func isBroken(_ kind: ResourceKind, _ name: String) -> Bool {
        workspace.brokenNames.contains("\(kind.word)/\(name)")
    }

    // MARK: Names

    mutating func indexNames() {
        for resource in workspace.resources {
            if let first = byName[resource.kind]?[resource.name] {
                diagnostics.error(
                    .compiler(.duplicateName), "duplicate \(resource.kind.rawValue) name '\(resource.name)'",
                    at: resource.nameSpan,
                    notes: [DiagnosticNote("'\(resource.name)' first defined here", at: first.nameSpan)],
                    help: "names are unique per kind; rename one of them")
            } else {
                byName[resource.kind, default: [:]][resource.name] = resource
            }
        }
    }

    /// Reports a reference to a resource that does not exist, unless it exists but failed to decode.
    mutating func unknownReference(_ kind: ResourceKind, _ name: String, at span: SourceSpan, from field: String) {
        guard !isBroken(kind, name) else { return }
        sawUnknownReference = true
        var notes: [DiagnosticNote] = []
        for other in ResourceKind.allCases where other != kind {
            if let r = byName[other]?[name] {
                notes.append(DiagnosticNote("a \(other.rawValue) named '\(name)' is defined here", at: r.nameSpan))
            }
        }
        let known = (byName[kind]?.keys).map(Array.init)?.sorted() ?? []
        diagnostics.error(
            .compiler(.unknownReference), "'\(field)' names no \(kind.rawValue) '\(name)'", at: span, notes: notes,
            help: DidYouMean.help(for: name, among: known)
                ?? (known.isEmpty ? "the workspace defines no \(kind.rawValue)" : nil))
    }

    /// Datasets and models no Training uses are worth a warning, once the workspace trains anything
    /// (a workspace of data contracts alone is legitimate), and only when every Training decoded
    /// (a broken one may be the user).
    mutating func warnUnused() {
        guard !resources(.training).isEmpty, !sawUnknownReference,
            !workspace.brokenNames.contains(where: { $0.hasPrefix("training/") })
        else {
            return
        }
        for kind in [ResourceKind.dataset, .model] {
            for resource in resources(kind) where !used.contains(resource.id) {
                diagnostics.warning(
                    .compiler(.unusedResource), "\(kind.rawValue) '\(resource.name)' is not used by any Training",
                    at: resource.nameSpan, help: "use it in a Training, or remove it")
            }
        }
    }

    // MARK: Files

    /// Resolves a path against a spec's directory.
    static func resolve(_ path: String, in directory: String) -> String {
        if path.hasPrefix("/") || directory.isEmpty { return path }
        return (directory as NSString).appendingPathComponent(path)
    }

    /// Files matching a path or glob, sorted.
    static func expand(_ path: String) -> [String] {
        guard path.contains(where: { "*?[".contains($0) }) else {
            return FileManager.default.fileExists(atPath: path) ? [path] : []
        }
        var g = glob_t()
        defer { globfree(&g) }
        guard glob(path, 0, nil, &g) == 0 else { return [] }
        var result: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            if let p = g.gl_pathv[i] { result.append(String(cString: p)) }
        }
        return result.sorted()
    }
}
