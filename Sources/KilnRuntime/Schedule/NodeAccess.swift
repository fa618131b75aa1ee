public import KilnCompiler

/// What running a node needs from access control, by node kind: the one mapping every front end applies
/// (the runner asks its authorizer before a run starts anything).
public enum NodeRequirement: Sendable, Hashable {
    /// `action` on every one of `resources` (Policy names: `training/t`, `model/m`), in `environment`.
    case permission(action: String, resources: [String], environment: String?)
    /// Moving `alias` of `model`: `promote` in every environment the move reaches (its own, and that of any
    /// Deployment whose canary names the alias), which only the authorizer can know.
    case aliasMove(model: String, alias: String)

    /// What `node` needs. Exhaustive on purpose: a new node kind must say what it needs.
    public static func of(_ node: GraphNode) -> [NodeRequirement] { of(node.id, node.payload) }

    /// What a node of this id and payload needs (a job run by `kiln exec-node` is checked the same way).
    public static func of(_ id: NodeID, _ payload: NodePayload) -> [NodeRequirement] {
        // A matrix cell (`training/t[lr=0.1]`) is the training `training/t`.
        let resource = id.resource.policyName
        switch payload {
        case .ingest:
            return [.permission(action: "read", resources: [resource], environment: nil)]
        case .check, .split, .tokenize, .gate:
            // They read what ingest already needed `read` for, and write only the cache.
            return []
        case .fit, .fineTune:
            return [.permission(action: "run", resources: [resource], environment: nil)]
        case .register(let r):
            // Registering with an alias moves it: the same permission as any other alias move.
            return [.permission(action: "register", resources: [resource, "model/\(r.model)"], environment: nil)]
                + (r.alias.map { [.aliasMove(model: r.model, alias: $0)] } ?? [])
        case .release(let d):
            // A release moves its environment's alias.
            return [
                .permission(action: "deploy", resources: [resource, "model/\(d.model.model)"], environment: d.environment),
                .aliasMove(model: d.model.model, alias: d.environment),
            ]
        }
    }
}

/// Decides what a run may do (a workspace's Policies, for the CLI). Without one, everything is allowed.
public protocol RunAuthorizer: Sendable {
    /// nil when allowed; otherwise why not (the authorizer audits its denials).
    func check(_ requirement: NodeRequirement, for node: NodeID) -> NodeFailure?
}
