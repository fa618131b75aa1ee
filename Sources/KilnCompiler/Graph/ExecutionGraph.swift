public import KilnSpec

/// The lowered workspace: what `kiln graph` shows and what the runner executes.
public struct ExecutionGraph: Sendable {
    /// Version of the graph's JSON form (docs/cli.md); bump on any incompatible change.
    public static let formatVersion = 1

    /// Nodes in a stable topological order.
    public let nodes: [GraphNode]
    private let index: [NodeID: Int]

    public init(nodes: [GraphNode]) {
        self.nodes = nodes
        index = Dictionary(nodes.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func node(_ id: NodeID) -> GraphNode? { index[id].map { nodes[$0] } }

    /// Edges as (from, to) pairs, in node order.
    public var edges: [(from: NodeID, to: NodeID)] {
        nodes.flatMap { node in node.inputs.map { (from: $0, to: node.id) } }
    }

    /// Every node upstream of `id` (its inputs, theirs, and so on), with its key: what an executor may read.
    public func upstreamKeys(of id: NodeID) -> [NodeID: String] {
        var out: [NodeID: String] = [:]
        var stack = node(id)?.inputs ?? []
        while let next = stack.popLast() {
            guard out[next] == nil, let n = node(next) else { continue }
            out[next] = n.fingerprint
            stack += n.inputs
        }
        return out
    }
}

/// One unit of work. A class: plans, the scheduler and the run's records refer to a node many times
/// (17,200 nodes were copied four times over, config, payload and provenance each time).
public final class GraphNode: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case ingest, check, split, tokenize, fit, gate, register, release
    }

    /// `dataset/iris:ingest`, `training/iris-train[batch_size=16]:fit`.
    public let id: NodeID
    public var kind: Kind { id.kind }
    /// `dataset/iris`, `training/iris-train[batch_size=16]`.
    public var resource: ResourceID { id.resource }
    /// Nodes this node consumes.
    public let inputs: [NodeID]
    /// The resolved configuration the node runs with, in the spec's words (hashed into the fingerprint;
    /// `kiln plan` compares it field by field; a fit's is the registered version's params.json).
    public let config: JSON
    /// What the node's executor works from (derived from the same spec values as `config`).
    public let payload: NodePayload
    /// Files the node reads, with their content hashes (SHA-256 hex).
    public let files: [(path: String, sha256: String)]
    /// Hash of kind, config, file hashes, input fingerprints and kiln version.
    public let fingerprint: String
    /// Where parts of `config` were written: a config path prefix and the spec value it came from, so
    /// that a changed field can be shown at its file and line (`kiln plan`). Not hashed.
    public let provenance: [(path: [String], value: SpecValue)]

    public init(
        id: NodeID, inputs: [NodeID], config: JSON, payload: NodePayload, files: [(path: String, sha256: String)],
        fingerprint: String, provenance: [(path: [String], value: SpecValue)] = []
    ) {
        self.id = id
        self.inputs = inputs
        self.config = config
        self.payload = payload
        self.files = files
        self.fingerprint = fingerprint
        self.provenance = provenance
    }

    /// The spec value a config path came from, as deep as the spec goes (a removed field: its parent).
    public func origin(of path: [String]) -> SpecValue? {
        let candidates = provenance.filter { path.starts(with: $0.path) }
        guard let best = candidates.max(by: { $0.path.count < $1.path.count }) else { return nil }
        return best.value.deepest(along: path.dropFirst(best.path.count))
    }
}
