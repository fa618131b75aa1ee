import Crypto
import KilnSecurity
public import KilnSpec

/// The authorisation hook every protected request passes (metadata and infer; health and metrics are
/// open): a bearer token, to a principal, to allowed or not. The Policy's evaluator (the security layer)
/// implements it; a Deployment with `auth: none` uses `OpenAccess`.
public protocol RequestAuthorizer: Sendable {
    /// `action` is `infer` or `read` (metadata); `deployment` the Deployment's name; `clientCertificate`
    /// the SHA-256 (hex) of the verified TLS client certificate, when the client presented one.
    func authorize(
        bearerToken: String?, clientCertificate: String?, action: String, deployment: String, environment: String
    ) -> AuthorizationDecision
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

    public func authorize(
        bearerToken: String?, clientCertificate: String?, action: String, deployment: String, environment: String
    ) -> AuthorizationDecision { .allowed(principal: nil) }
}

/// Bearer tokens checked against the Policies' principals (`token_sha256`), then the principal's
/// permission by the Policy evaluator: `infer` (or `read` for metadata) on `deployment/NAME` in the
/// Deployment's environment. Deny by default. The token's hash is compared with every principal's in
/// constant time, so the time taken does not tell how much of a hash matched.
public struct PolicyAuthorizer: RequestAuthorizer {
    struct Principal {
        var name: String
        var tokenHash: [UInt8]?
        var certificateHash: [UInt8]?
    }

    private let principals: [Principal]
    private let evaluator: PolicyEvaluator

    /// `directories`: each Policy's spec directory, against which `${file:…}` digests resolve. A digest
    /// given as a secret reference is read here, when the server starts; one that cannot be read, or does
    /// not hold a digest, is an error naming the reference.
    public init(_ policies: [PolicySpec], directories: [String: String] = [:]) throws {
        var principals: [Principal] = []
        for policy in policies {
            for p in policy.principals {
                let certificate = p.certificateSHA256.flatMap(Self.bytes(hex:))
                guard var hex = p.tokenSHA256 else {
                    if let certificate { principals.append(Principal(name: p.name, certificateHash: certificate)) }
                    continue
                }
                if let reference = SecretReference(hex) {
                    do { hex = try reference.resolve(relativeTo: directories[policy.name] ?? ".") } catch {
                        throw ServeError("principal '\(p.name)': \(error)")
                    }
                    guard Self.bytes(hex: hex) != nil else {
                        throw ServeError(
                            "principal '\(p.name)': \(reference) does not hold a SHA-256 digest (64 lower-case hex characters)"
                        )
                    }
                }
                guard let hash = Self.bytes(hex: hex) else { continue }
                principals.append(Principal(name: p.name, tokenHash: hash, certificateHash: certificate))
            }
        }
        self.principals = principals
        evaluator = PolicyEvaluator(policies)
    }

    public func authorize(
        bearerToken: String?, clientCertificate: String?, action: String, deployment: String, environment: String
    ) -> AuthorizationDecision {
        var found: Principal?
        if let token = bearerToken, !token.isEmpty {
            let hash = Array(SHA256.hash(data: Array(token.utf8)))
            for p in principals {
                if let t = p.tokenHash, Self.constantTimeEqual(t, hash) { found = p }
            }
            guard found != nil else { return .unauthenticated("the bearer token belongs to no principal") }
        } else if let certificate = clientCertificate.flatMap(Self.bytes(hex:)) {
            // Mutual TLS: the verified client certificate names the principal.
            for p in principals {
                if let c = p.certificateHash, Self.constantTimeEqual(c, certificate) { found = p }
            }
            guard found != nil else {
                return .unauthenticated("the client certificate belongs to no principal (certificate_sha256)")
            }
        } else {
            return .unauthenticated("this deployment needs 'Authorization: Bearer <token>' or a client certificate")
        }
        guard let principal = found else { return .unauthenticated("no principal") }
        let decision = evaluator.decide(
            principal: principal.name, action: action, on: ["deployment/\(deployment)"], environment: environment)
        guard decision.allowed else {
            return .forbidden(
                "principal '\(principal.name)' may not \(action) on deployment/\(deployment) in environment '\(environment)'"
            )
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
