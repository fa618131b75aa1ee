import KilnDiagnostics

public struct DeploymentSpec: SpecView {
    public enum Part: String, SpecPart {
        case model, environment, auth, canary, canaryModel = "canary.model"
        case host = "server.host", tls = "server.tls"
        case certificate = "server.tls.certificate", key = "server.tls.key", clientCA = "server.tls.client_ca"
    }

    public enum Auth: String, Sendable { case required, none }

    /// HTTPS: the certificate chain and key, and the CA of client certificates (mutual TLS).
    public struct TLS: Sendable {
        /// Paths as written, relative to the spec's directory.
        public var certificate: String
        /// A secret reference (`${file:…}`, `${env:…}`) as written.
        public var key: String
        public var clientCA: String?
    }

    public struct Server: Sendable {
        public var host: String
        public var port: Int
        public var tls: TLS?
    }

    public struct Batching: Sendable {
        public var maxBatchSize: Int
        /// Seconds.
        public var maxDelay: Double
    }

    public struct Limits: Sendable {
        public var maxRequestBytes: Int
        public var maxConcurrency: Int
    }

    public var name: String
    public var model: ModelReference?
    public var canary: ModelReference?
    /// The canary's share of requests (0 without a canary).
    public var canaryTraffic: Double
    public var environment: String
    public var auth: Auth
    public var server: Server
    public var batching: Batching
    public var limits: Limits
    /// A transformer's text longer than its max_length is refused instead of cut.
    public var refuseLongText: Bool
    /// `error`, `warn` or `zero`.
    public var unknownCategories: String
    public var raw: SpecValue

    public init(_ resource: Resource) {
        let v = resource.spec
        let f = FieldReader(v, SpecSchema.deployment)
        let canary = FieldReader(v["canary"], SpecSchema.canary)
        let server = FieldReader(v["server"], SpecSchema.server)
        let batching = FieldReader(v["batching"], SpecSchema.batching)
        let limits = FieldReader(v["limits"], SpecSchema.limits)
        name = resource.name
        model = f.optionalText("model").flatMap(ModelReference.init)
        self.canary = canary.optionalText("model").flatMap(ModelReference.init)
        canaryTraffic = canary.optionalNumber("traffic") ?? 0
        environment = f.text("environment")
        auth = f.choice("auth")
        self.server = Server(
            host: server.text("host"), port: server.integer("port"),
            tls: server["tls"].map { t in
                TLS(
                    certificate: t["certificate"]?.string ?? "", key: t["key"]?.string ?? "",
                    clientCA: t["client_ca"]?.string)
            })
        self.batching = Batching(maxBatchSize: batching.integer("max_batch_size"), maxDelay: batching.number("max_delay"))
        self.limits = Limits(
            maxRequestBytes: Int(limits.number("max_request_bytes")), maxConcurrency: limits.integer("max_concurrency"))
        refuseLongText = FieldReader(v["text"], SpecSchema.textInput).text("truncation") == "refuse"
        unknownCategories = FieldReader(v, SpecSchema.deployment).text("unknown_categories")
        raw = v
    }
}
