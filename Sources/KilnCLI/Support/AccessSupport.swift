import Foundation
import KilnCompiler
import KilnRuntime
import KilnSecurity
import KilnSpec
import Synchronization

/// The acting identity's permissions, when the workspace has a Policy: a denial prints the missing
/// permission, is audited, and exits 1 before anything happens. Without a Policy everything is allowed
/// (docs/security.md).
enum Access {
    private static let resources = Mutex<[String: [Resource]]>([:])

    /// The Policy and Deployment resources of a workspace, read without compiling the rest, once per
    /// process (a registry command asks for its evaluator, its audit log's path, its trusted keys, and which
    /// deployments serve an alias).
    private static func resources(workspace: String) -> [Resource] {
        let root = WorkspacePaths(path: workspace).root
        return resources.withLock { known in
            if let p = known[root] { return p }
            let found = WorkspaceLoader().load(path: workspace).resources.filter {
                $0.kind == .policy || $0.kind == .deployment
            }
            known[root] = found
            return found
        }
    }

    /// The Policy and Deployment resources of a workspace that this process has loaded already (`kiln run`
    /// loads every spec once; the audit log and the authorizer then need not load them again).
    static func remember(_ loaded: [Resource], workspace: String) {
        let root = WorkspacePaths(path: workspace).root
        let found = loaded.filter { $0.kind == .policy || $0.kind == .deployment }
        resources.withLock { $0[root] = found }
    }

    static func policies(workspace: String) -> [Resource] {
        resources(workspace: workspace).filter { $0.kind == .policy }
    }

    /// The environments an alias move reaches: the alias's own, and that of every Deployment of the
    /// workspace whose canary is `MODEL@ALIAS` (a server serves its environment's alias as the primary, and
    /// the canary as written). Moving `candidate` while production's canary is `iris-mlp@candidate`
    /// changes production: it needs `promote` there too.
    static func environments(movedBy alias: String, model: String, workspace: String) -> [String] {
        var out = [alias]
        for resource in resources(workspace: workspace) where resource.kind == .deployment {
            let d = DeploymentSpec(resource)
            let serves = d.canary?.model == model && d.canary?.target == .alias(alias)
            if serves && !out.contains(d.environment) { out.append(d.environment) }
        }
        return out
    }

    /// `promote` on `model/MODEL` in every environment an alias move reaches.
    static func requireAliasMove(
        _ evaluator: PolicyEvaluator, model: String, alias: String, workspace: String
    ) throws {
        for environment in environments(movedBy: alias, model: model, workspace: workspace) {
            try require(evaluator, "promote", on: ["model/\(model)"], environment: environment, workspace: workspace)
        }
    }

    /// The evaluator of a workspace's Policies (registry commands).
    static func evaluator(workspace: String) -> PolicyEvaluator {
        PolicyEvaluator(policies(workspace: workspace).map(PolicySpec.init))
    }

    static func require(
        _ evaluator: PolicyEvaluator, _ action: String, on resources: [String], environment: String? = nil,
        workspace: String
    ) throws {
        guard evaluator.isActive else { return }
        let who = Identity.current
        let decision = evaluator.decide(principal: who, action: action, on: resources, environment: environment)
        guard !decision.allowed else { return }
        Audit.record(
            workspace: workspace, action: action, resource: resources[0], outcome: "denied",
            details: ["reason": decision.reason].merging(environment.map { ["environment": $0] } ?? [:]) { a, _ in a })
        throw fail(
            "permission denied: \(decision.reason)",
            help:
                "a Policy role of '\(who)' needs {allow: [\(action)], on: \"\(resources[0])\"\(environment.map { ", environments: [\($0)]" } ?? "")}; the acting identity is KILN_USER, else git's user.name, else the OS user"
        )
    }

    /// `kiln run`'s authorizer: the runtime says what each node needs (`NodeRequirement.of`), this answers
    /// from the workspace's Policies, audits each denial, and prints it as every other command does.
    struct RunPolicy: RunAuthorizer {
        let evaluator: PolicyEvaluator
        let workspace: String

        func check(_ requirement: NodeRequirement, for node: NodeID) -> NodeFailure? {
            do {
                switch requirement {
                case .permission(let action, let resources, let environment):
                    try require(evaluator, action, on: resources, environment: environment, workspace: workspace)
                case .aliasMove(let model, let alias):
                    try requireAliasMove(evaluator, model: model, alias: alias, workspace: workspace)
                }
                return nil
            } catch {
                return NodeFailure(.run(.permissionDenied), "permission denied for \(node)")
            }
        }
    }

    /// nil without an active Policy.
    static func runAuthorizer(_ policies: [PolicySpec], workspace: String) -> (any RunAuthorizer)? {
        let evaluator = PolicyEvaluator(policies)
        return evaluator.isActive ? RunPolicy(evaluator: evaluator, workspace: workspace) : nil
    }
}
