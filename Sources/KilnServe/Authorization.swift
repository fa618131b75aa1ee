import Crypto
public import KilnSpec

/// The authorisation hook every protected request passes (metadata and infer; health and metrics are
/// open): a bearer token, to a principal, to allowed or not. The Policy's evaluator (the security layer)
/// implements it; a Deployment with `auth: none` uses `OpenAccess`.
public protocol RequestAuthorizer: Sendable {
    /// `action` is `infer` or `read` (metadata); `deployment` the Deployment's name.
    func authorize(bearerToken: String?, action: String, deployment: String, environment: String)
        -> AuthorizationDecision
}

public enum AuthorizationDecision: Sendable, Equatable {
    case allowed(principal: String?)
    /// 401: no token, or one no principal holds.
    case unauthenticated(String)
    /// 403: the principal lacks the permission.
    case forbidden(String)
}

/// Every request allowed, as nobody (`auth: none`).
public struct OpenAccess: RequestAuthorizer {
    public init() {}

    public func authorize(bearerToken: String?, action: String, deployment: String, environment: String)
        -> AuthorizationDecision
    { .allowed(principal: nil) }
}

/// Bearer tokens checked against the Policies' principals (`token_sha256`), and the principal's roles
/// against the rules: `infer` (or `read` for metadata) on `deployment/NAME`, within the rule's
/// environments when it names some. Deny by default. The token's hash is compared with every principal's
/// in constant time, so the time taken does not tell how much of a hash matched.
public struct PolicyAuthorizer: RequestAuthorizer {
    struct Principal {
        var name: String
        var tokenHash: [UInt8]
        var rules: [PolicySpec.Rule]
    }

    private let principals: [Principal]

    public init(_ policies: [PolicySpec]) {
        var principals: [Principal] = []
        for policy in policies {
            let roles = Dictionary(policy.roles.map { ($0.name, $0.rules) }, uniquingKeysWith: { a, b in a + b })
            for p in policy.principals {
                guard let hex = p.tokenSHA256, let hash = Self.bytes(hex: hex) else { continue }
                principals.append(
                    Principal(name: p.name, tokenHash: hash, rules: p.roles.flatMap { roles[$0] ?? [] }))
            }
        }
        self.principals = principals
    }

    public func authorize(bearerToken: String?, action: String, deployment: String, environment: String)
        -> AuthorizationDecision
    {
        guard let token = bearerToken, !token.isEmpty else {
            return .unauthenticated("this deployment needs 'Authorization: Bearer <token>'")
        }
        let hash = Array(SHA256.hash(data: Array(token.utf8)))
        var found: Principal?
        for p in principals where Self.constantTimeEqual(p.tokenHash, hash) { found = p }
        guard let principal = found else { return .unauthenticated("the bearer token belongs to no principal") }
        let resource = "deployment/\(deployment)"
        let allowed = principal.rules.contains { rule in
            (rule.actions.contains(action) || rule.actions.contains("admin")) && globMatches(rule.on, resource)
                && (rule.environments.map { $0.contains(environment) } ?? true)
        }
        guard allowed else {
            return .forbidden(
                "principal '\(principal.name)' may not \(action) on \(resource) in environment '\(environment)'")
        }
        return .allowed(principal: principal.name)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in a.indices { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    static func bytes(hex: String) -> [UInt8]? {
        let u = Array(hex.utf8)
        guard u.count == 64 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: 64, by: 2) {
            guard let b = UInt8(String(decoding: u[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
        }
        return out
    }
}
