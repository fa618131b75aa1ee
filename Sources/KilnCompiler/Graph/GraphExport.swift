public import KilnSpec

/// `kiln graph` output: Graphviz dot, Mermaid, or JSON.
public enum GraphFormat: String, Sendable, CaseIterable {
    case dot, mermaid, json
}

extension ExecutionGraph {
    public func render(_ format: GraphFormat) -> String {
        switch format {
        case .dot: return dot()
        case .mermaid: return mermaid()
        case .json: return json().serialized(pretty: true) + "\n"
        }
    }

    public func json() -> JSON {
        .object([
            ("version", .int(Self.formatVersion)),
            (
                "nodes",
                .array(
                    nodes.map { n in
                        .object([
                            ("id", .string(n.id.description)), ("kind", .string(n.kind.rawValue)),
                            ("resource", .string(n.resource.description)),
                            ("fingerprint", .string(n.fingerprint)), ("inputs", .array(n.inputs.map { .string($0.description) })),
                            (
                                "files",
                                .array(
                                    n.files.map {
                                        .object([("path", .string($0.path)), ("sha256", .string($0.sha256))])
                                    })
                            ),
                            ("config", n.config),
                        ])
                    })
            ),
            ("edges", .array(edges.map { .object([("from", .string($0.from.description)), ("to", .string($0.to.description))]) })),
        ])
    }

    private func quoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    public func dot() -> String {
        var out = "digraph kiln {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n"
        var clusters: [ResourceID: [GraphNode]] = [:]
        var order: [ResourceID] = []
        for n in nodes {
            if clusters[n.resource] == nil { order.append(n.resource) }
            clusters[n.resource, default: []].append(n)
        }
        for (i, resource) in order.enumerated() {
            out += "  subgraph cluster_\(i) {\n    label=\(quoted(resource.description));\n"
            for n in clusters[resource] ?? [] {
                out += "    \(quoted(n.id.description)) [label=\(quoted(n.kind.rawValue + "\\n" + n.fingerprint.prefix(12)))];\n"
            }
            out += "  }\n"
        }
        for e in edges { out += "  \(quoted(e.from.description)) -> \(quoted(e.to.description));\n" }
        return out + "}\n"
    }

    public func mermaid() -> String {
        var out = "flowchart LR\n"
        var ids: [NodeID: String] = [:]
        for (i, n) in nodes.enumerated() {
            ids[n.id] = "n\(i)"
            let label = n.id.description.replacingOccurrences(of: "\"", with: "#quot;")
            out += "  n\(i)[\"\(label)\"]\n"
        }
        for e in edges { out += "  \(ids[e.from] ?? e.from.description) --> \(ids[e.to] ?? e.to.description)\n" }
        return out
    }
}
