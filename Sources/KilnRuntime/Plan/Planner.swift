import Foundation
public import KilnCompiler
import KilnData
public import KilnDiagnostics
import KilnSpec

/// What a run would do: each selected node cached or to run, and for a node to run, why.
public struct Plan: Sendable {
    public enum Reason: Sendable, Equatable {
        /// No record of this node: neither kiln.lock nor the cache knows it.
        case neverRan
        /// A configuration value changed: the field, old and new values (JSON text), where it is written.
        case field(path: String, old: String, new: String, at: SourceSpan?)
        /// A file the node reads changed (or appeared, or vanished).
        case file(path: String, old: String?, new: String?)
        /// An upstream node's key changed (it runs, or ran, with something new).
        case input(String)
        case kilnVersion(old: String, new: String)
        /// kiln.lock has this very key, but the outputs are not in the local cache (a fresh clone).
        case notInCache
        /// The key differs from kiln.lock's, and the previous entry is not in the cache to compare.
        case changedSinceLock(old: String)
    }

    public struct Item: Sendable {
        public var node: GraphNode
        public var cached: Bool
        public var reasons: [Reason]
        /// The key kiln.lock records for this node, if any.
        public var lockedKey: String?
    }

    public var items: [Item]

    public var toRun: [Item] { items.filter { !$0.cached } }
    public var cachedCount: Int { items.count { $0.cached } }
}

/// Builds plans: compares each node's key with the cache and kiln.lock, and explains differences from the
/// entry kiln.lock names.
public struct Planner: Sendable {
    public let graph: ExecutionGraph
    public let cache: Cache
    public let lock: LockFile
    public let root: String

    public init(graph: ExecutionGraph, cache: Cache, lock: LockFile, root: String) {
        self.graph = graph
        self.cache = cache
        self.lock = lock
        self.root = root
    }

    public struct SelectionError: Error, CustomStringConvertible {
        public var target: String
        public var known: [String]
        public var description: String {
            "no node or resource matches '\(target)'"
                + (DidYouMean.help(for: target, among: known).map { "; \($0)" } ?? "")
                + " (try `kiln graph` for the node names)"
        }
    }

    /// The nodes `targets` name, with everything upstream of them; all nodes without targets. A target is a
    /// node id (`training/iris-train:fit`), a resource (`dataset/iris`), a bare name (`iris-train`) or a glob.
    public func select(_ targets: [String]) throws(SelectionError) -> [GraphNode] {
        guard !targets.isEmpty else { return graph.nodes }
        var wanted = Set<NodeID>()
        for target in targets {
            let matches = graph.nodes.filter { node in
                [node.id.description, node.resource.description, node.resource.nodeName].contains {
                    $0 == target || globMatches(target, $0)
                }
            }
            guard !matches.isEmpty else {
                throw SelectionError(
                    target: target, known: Array(Set(graph.nodes.map(\.resource.description))).sorted())
            }
            wanted.formUnion(matches.map(\.id))
        }
        var stack = Array(wanted)
        while let id = stack.popLast() {
            for input in graph.node(id)?.inputs ?? [] where !wanted.contains(input) {
                wanted.insert(input)
                stack.append(input)
            }
        }
        return graph.nodes.filter { wanted.contains($0.id) }
    }

    public func plan(_ nodes: [GraphNode]) -> Plan {
        var willRun = Set<NodeID>()
        var items: [Plan.Item] = []
        items.reserveCapacity(nodes.count)
        let present = cache.present(nodes.map(\.fingerprint))
        for node in nodes {
            let locked = lock.entries[node.id.description]?.key
            // Cached only when the entry exists and nothing upstream in this plan will run.
            let upstreamRuns = node.inputs.filter(willRun.contains)
            let cached = upstreamRuns.isEmpty && present.contains(node.fingerprint)
            if !cached { willRun.insert(node.id) }
            items.append(
                Plan.Item(
                    node: node, cached: cached, reasons: cached ? [] : reasons(node, locked: locked),
                    lockedKey: locked))
        }
        return Plan(items: items)
    }

    func reasons(_ node: GraphNode, locked: String?) -> [Plan.Reason] {
        guard let locked else {
            return [.neverRan]
        }
        if locked == node.fingerprint { return [.notInCache] }
        guard let previous = cache.manifest(locked) else { return [.changedSinceLock(old: locked)] }
        var reasons: [Plan.Reason] = []
        if previous.kiln != KilnVersion.string {
            reasons.append(.kilnVersion(old: previous.kiln, new: KilnVersion.string))
        }
        for change in ConfigDiff.changes(old: previous.config, new: node.config.serialized()) {
            let at = node.origin(of: change.path)
            reasons.append(.field(path: display(change.path, node), old: change.old, new: change.new, at: at?.span))
        }
        let newFiles = Dictionary(node.files.map { ($0.path, $0.sha256) }, uniquingKeysWith: { a, _ in a })
        for path in Set(newFiles.keys).union(previous.files.keys).sorted() where newFiles[path] != previous.files[path]
        {
            reasons.append(.file(path: relative(path), old: previous.files[path], new: newFiles[path]))
        }
        for input in node.inputs {
            guard let current = graph.node(input)?.fingerprint else { continue }
            if previous.inputs[input.description] != current { reasons.append(.input(input.description)) }
        }
        return reasons.isEmpty ? [.changedSinceLock(old: locked)] : reasons
    }

    /// A config path as the user wrote it: `training.optimizer.learning_rate` → `optimizer.learning_rate`.
    private func display(_ path: [String], _ node: GraphNode) -> String {
        let prefix = node.provenance.filter { path.starts(with: $0.path) }.map(\.path).max { $0.count < $1.count } ?? []
        let rest = path.dropFirst(prefix.count)
        return (rest.isEmpty ? path[...] : rest).joined(separator: ".")
    }

    func relative(_ path: String) -> String { WorkspacePaths.relative(path, to: root) }
}

/// Field-level differences of two JSON documents.
enum ConfigDiff {
    struct Change: Equatable {
        var path: [String]
        var old: String
        var new: String
    }

    static func changes(old: String, new: String) -> [Change] {
        let a = try? JSONSerialization.jsonObject(with: Data(old.utf8), options: [.fragmentsAllowed])
        let b = try? JSONSerialization.jsonObject(with: Data(new.utf8), options: [.fragmentsAllowed])
        var out: [Change] = []
        walk(a, b, [], &out)
        return out
    }

    private static func walk(_ a: Any?, _ b: Any?, _ path: [String], _ out: inout [Change]) {
        if let x = a as? [String: Any], let y = b as? [String: Any] {
            for key in Set(x.keys).union(y.keys).sorted() { walk(x[key], y[key], path + [key], &out) }
        } else if let x = a as? [Any], let y = b as? [Any], x.count == y.count,
            x.allSatisfy({ $0 is [String: Any] })
        {
            for i in x.indices { walk(x[i], y[i], path + [String(i)], &out) }
        } else if text(a) != text(b) {
            out.append(Change(path: path, old: text(a), new: text(b)))
        }
    }

    static func text(_ value: Any?) -> String {
        guard let value else { return "(absent)" }
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
        else { return "\(value)" }
        return String(decoding: data, as: UTF8.self)
    }
}
