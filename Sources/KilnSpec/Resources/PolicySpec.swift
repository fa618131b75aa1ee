public import KilnDiagnostics

public struct PolicySpec: SpecView {
    public enum Part: String, SpecPart { case signing, encryption, auditLog = "audit.log", encryptionKey = "encryption.key" }

    /// A text of the spec and where it is written.
    public struct Written: Sendable {
        public var text: String
        public var span: SourceSpan
    }

    public struct Rule: Sendable {
        public var actions: [String]
        public var on: String
        public var onSpan: SourceSpan
        public var environments: [String]?
        public var span: SourceSpan
    }

    public struct Principal: Sendable {
        public var name: String
        public var nameSpan: SourceSpan
        public var roles: [String]
        /// The roles, each where it is written.
        public var roleItems: [Written]
        public var tokenSHA256: String?
        /// SHA-256 (hex) of the DER of the principal's client certificate (mutual TLS).
        public var certificateSHA256: String?
    }

    public struct DataRule: Sendable {
        public var deny: [String]
        public var allow: [String]
        public var on: String
        public var onSpan: SourceSpan
        public var pii: Bool?
        public var classification: String?
        public var span: SourceSpan
    }

    public var name: String
    public var principals: [Principal]
    public var roles: [(name: String, rules: [Rule])]
    public var data: [DataRule]
    public var signingRequiredFor: [String]
    /// Public key files, relative to the spec's directory, each where it is written.
    public var trustedKeys: [Written]
    /// The audit log's path, relative to the workspace (the schema's default when not written).
    public var auditLog: Written?
    /// The audit chain's HMAC key, a secret reference as written.
    public var auditKey: String?
    /// The key of encryption at rest, a secret reference as written.
    public var encryptionKey: Written?
    public var raw: SpecValue
    /// Where the Policy is declared.
    public var span: SourceSpan { raw.keySpan ?? raw.span }

    public init(_ resource: Resource) {
        let v = resource.spec
        func written(_ value: SpecValue?) -> Written? { value.flatMap { s in s.string.map { Written(text: $0, span: s.span) } } }
        name = resource.name
        principals = (v["principals"]?.list ?? []).map {
            Principal(
                name: $0["name"]?.string ?? "", nameSpan: $0["name"]?.span ?? $0.span, roles: $0["roles"]?.strings ?? [],
                roleItems: ($0["roles"]?.list ?? []).compactMap(written),
                tokenSHA256: $0["token_sha256"]?.string, certificateSHA256: $0["certificate_sha256"]?.string)
        }
        roles = (v["roles"]?.fields ?? []).map { field in
            let rules = (field.value.list ?? []).map {
                Rule(
                    actions: $0["allow"]?.strings ?? [], on: $0["on"]?.string ?? "", onSpan: $0["on"]?.span ?? $0.span,
                    environments: $0["environments"]?.strings, span: $0.span)
            }
            return (field.name, rules)
        }
        data = (v["data"]?.list ?? []).map {
            DataRule(
                deny: $0["deny"]?.strings ?? [], allow: $0["allow"]?.strings ?? [], on: $0["on"]?.string ?? "",
                onSpan: $0["on"]?.span ?? $0.span, pii: $0[path: ["where", "pii"]]?.bool,
                classification: $0[path: ["where", "classification"]]?.string, span: $0.span)
        }
        signingRequiredFor = v[path: ["signing", "required_for"]]?.strings ?? []
        trustedKeys = (v[path: ["signing", "trusted_keys"]]?.list ?? []).compactMap(written)
        auditLog = written(v[path: ["audit", "log"]])
        auditKey = v[path: ["audit", "key"]]?.string
        encryptionKey = written(v[path: ["encryption", "key"]])
        raw = v
    }

    /// Environments this Policy names: rules scoped to them or signing required for them.
    public var protectedEnvironments: Set<String> {
        var result = Set(signingRequiredFor)
        for role in roles { for rule in role.rules { result.formUnion(rule.environments ?? []) } }
        return result
    }
}
