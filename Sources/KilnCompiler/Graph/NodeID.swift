public import KilnSpec

/// The resource a node belongs to: `dataset/iris`, `training/iris-train`, or a matrix cell
/// `training/iris-train[batch_size=16]` (the cell is the bracketed assignment list).
public struct ResourceID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var kind: ResourceKind
    public var name: String
    /// A Training's matrix cell (`batch_size=16,optimizer.learning_rate=0.1`); nil otherwise.
    public var cell: String?

    public init(_ kind: ResourceKind, _ name: String, cell: String? = nil) {
        self.kind = kind
        self.name = name
        self.cell = cell
    }

    /// `iris-train` or `iris-train[batch_size=16]`, as a training cell's node name is written.
    public init(_ kind: ResourceKind, nodeName: String) {
        if let open = nodeName.firstIndex(of: "["), nodeName.hasSuffix("]") {
            self.init(
                kind, String(nodeName[..<open]),
                cell: String(nodeName[nodeName.index(after: open)..<nodeName.index(before: nodeName.endIndex)]))
        } else {
            self.init(kind, nodeName)
        }
    }

    /// `training/iris-train[batch_size=16]`.
    public var description: String { "\(kind.word)/\(nodeName)" }
    /// `iris-train[batch_size=16]`.
    public var nodeName: String { cell.map { "\(name)[\($0)]" } ?? name }
    /// The resource without its cell, as Policy patterns name it: `training/iris-train`.
    public var policyName: String { "\(kind.word)/\(name)" }

    public static func < (a: ResourceID, b: ResourceID) -> Bool { a.description < b.description }

    /// Parses `KIND/NAME` or `KIND/NAME[CELL]`.
    public init?(_ text: String) {
        guard let slash = text.firstIndex(of: "/"),
            let kind = ResourceKind.allCases.first(where: { $0.word == text[..<slash] })
        else { return nil }
        let rest = String(text[text.index(after: slash)...])
        guard !rest.isEmpty else { return nil }
        self.init(kind, nodeName: rest)
    }
}

/// A node of the execution graph: its resource and its kind (`dataset/iris:ingest`). Built from parts,
/// never by pasting strings; the text form is what kiln.lock, run records and events carry.
public struct NodeID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public var resource: ResourceID
    public var kind: GraphNode.Kind

    public init(_ resource: ResourceID, _ kind: GraphNode.Kind) {
        self.resource = resource
        self.kind = kind
    }

    public static func dataset(_ name: String, _ kind: GraphNode.Kind) -> NodeID {
        NodeID(ResourceID(.dataset, name), kind)
    }

    /// The node of the same resource with another kind (a gate's fit).
    public func sibling(_ kind: GraphNode.Kind) -> NodeID { NodeID(resource, kind) }

    public var description: String { "\(resource):\(kind.rawValue)" }

    public static func < (a: NodeID, b: NodeID) -> Bool { a.description < b.description }

    /// Parses `KIND/NAME:NODEKIND`.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let kind = GraphNode.Kind(rawValue: String(text[text.index(after: colon)...])),
            let resource = ResourceID(String(text[..<colon]))
        else { return nil }
        self.init(resource, kind)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let id = NodeID(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a node id: \(text)"))
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
