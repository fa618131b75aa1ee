public import KilnSpec

/// Role-based access by the workspace's Policies, as a pure function: who (a principal's name), what (an
/// action), on what (`KIND/NAME`, any of several names for the same thing), where (an environment, for
/// actions that have one). Deny by default: a principal no Policy names may do nothing, and a permission
/// comes only from a rule that names the action (or `admin`), matches the resource by its glob, and, when
/// the rule lists environments, is used in one of them.
public struct PolicyEvaluator: Sendable {
    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        /// Why not, naming the missing permission; for an allowed action, the rule's role.
        public var reason: String
    }

    struct Principal: Sendable {
        var roles: [String]
    }

    private let principals: [String: Principal]
    private let roles: [String: [PolicySpec.Rule]]
    private let policyNames: [String]
    private let active: Bool

    public init(_ policies: [PolicySpec]) {
        var principals: [String: Principal] = [:]
        var roles: [String: [PolicySpec.Rule]] = [:]
        for policy in policies {
            for p in policy.principals { principals[p.name, default: Principal(roles: [])].roles += p.roles }
            for role in policy.roles { roles[role.name, default: []] += role.rules }
        }
        self.principals = principals
        self.roles = roles
        policyNames = policies.map(\.name)
        active = policies.contains { !$0.principals.isEmpty || !$0.roles.isEmpty }
    }

    /// True when a Policy declares principals or roles: access control is on. A Policy that only sets up
    /// signing, encryption or the audit log leaves actions open.
    public var isActive: Bool { active }

    /// May `principal` do `action` on `resources` (alternative names of one thing, such as
    /// `deployment/iris-api` and `model/iris-mlp`) in `environment`?
    public func decide(principal: String, action: String, on resources: [String], environment: String? = nil)
        -> Decision
    {
        let what = "'\(action)' on \(resources.joined(separator: " or "))" + (environment.map { " in '\($0)'" } ?? "")
        guard let p = principals[principal] else {
            return Decision(
                allowed: false,
                reason:
                    "'\(principal)' is not a principal of the Policy (\(policyNames.joined(separator: ", "))), so may not do \(what)"
            )
        }
        for role in p.roles {
            for rule in roles[role] ?? [] {
                guard rule.actions.contains(action) || rule.actions.contains("admin") else { continue }
                guard resources.contains(where: { globMatches(rule.on, $0) }) else { continue }
                if let scoped = rule.environments {
                    guard let environment, scoped.contains(environment) else { continue }
                }
                return Decision(allowed: true, reason: "role '\(role)'")
            }
        }
        let held = p.roles.isEmpty ? "no roles" : "roles \(p.roles.joined(separator: ", "))"
        return Decision(
            allowed: false, reason: "'\(principal)' (\(held)) lacks the permission \(what)")
    }
}
