import Foundation
import Synchronization
public import KilnProtocol
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Crypto
import NIOSSL
public import KilnRegistry
import KilnSpec
public import Logging
import NIOCore
import Prometheus

/// Settings of the server process, beside those of each Deployment.
public struct ServerSettings: Sendable {
    public var host: String
    /// 0: any free port (the bound one is reported to `onStart`).
    public var port: Int
    /// Seconds a connection may sit without a complete request head before it is closed (slow clients).
    public var idleTimeout: Double
    /// Seconds a request body may take to arrive whole (408 after). A body that stops arriving for
    /// `idleTimeout` is cut off with its connection, so this is the shorter of the two.
    public var bodyTimeout: Double
    /// Seconds between looks at the registry for moved aliases.
    public var pollInterval: Double
    /// HTTPS when set: PEM certificate chain and key, and the CA certificates that sign client certificates
    /// (then required: mutual TLS).
    public var tls: TLSSettings?

    public struct TLSSettings: Sendable {
        public var certificatePEM: [UInt8]
        public var keyPEM: [UInt8]
        public var clientCAPEM: [UInt8]?

        public init(certificatePEM: [UInt8], keyPEM: [UInt8], clientCAPEM: [UInt8]?) {
            self.certificatePEM = certificatePEM
            self.keyPEM = keyPEM
            self.clientCAPEM = clientCAPEM
        }

        /// BoringSSL's configuration, or an error naming what does not parse.
        func configuration() throws -> TLSConfiguration {
            let chain: [NIOSSLCertificate]
            let key: NIOSSLPrivateKey
            do { chain = try NIOSSLCertificate.fromPEMBytes(certificatePEM) } catch {
                throw ServeError("the TLS certificate is not a PEM certificate chain: \(error)")
            }
            do { key = try NIOSSLPrivateKey(bytes: keyPEM, format: .pem) } catch {
                throw ServeError("the TLS key is not a PEM private key: \(error)")
            }
            guard !chain.isEmpty else { throw ServeError("the TLS certificate file holds no certificate") }
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            if let clientCAPEM {
                let roots: [NIOSSLCertificate]
                do { roots = try NIOSSLCertificate.fromPEMBytes(clientCAPEM) } catch {
                    throw ServeError("the TLS client_ca is not PEM certificates: \(error)")
                }
                guard !roots.isEmpty else { throw ServeError("the TLS client_ca file holds no certificate") }
                configuration.trustRoots = .certificates(roots)
                // A client without a certificate the CA signed does not get past the handshake.
                configuration.certificateVerification = .noHostnameVerification
            }
            return configuration
        }
    }

    public init(
        host: String = "127.0.0.1", port: Int = 8080, idleTimeout: Double = 10, bodyTimeout: Double = 5,
        pollInterval: Double = 0.25
    ) {
        self.host = host
        self.port = port
        self.idleTimeout = idleTimeout
        self.bodyTimeout = bodyTimeout
        self.pollInterval = pollInterval
    }
}

/// `kiln serve`: the Open Inference Protocol v2 over HTTP/1.1 (Hummingbird 2) for one or more Deployments.
///
/// Routes: `GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2`, `GET /v2/models/{name}[/versions/{v}]`,
/// `GET …/ready`, `POST …/infer`, and `GET /metrics` (Prometheus text format). `{name}` is a Deployment's
/// name, or a model's name when one Deployment serves it.
public final class InferenceServer: Sendable {
    let hosts: [DeploymentHost]
    let registry: GitRegistry
    /// The token and certificate check; replaced when the Policy changes (`reloadAuthorizer`).
    private let currentAuthorizer: Mutex<any RequestAuthorizer>
    var authorizer: any RequestAuthorizer { currentAuthorizer.withLock { $0 } }
    /// Asked at every look at the registry: a new authorizer when the Policy files changed (nil: unchanged),
    /// so a token removed from the Policy stops working without a restart. A Policy that no longer reads
    /// throws, and the server keeps the one it has.
    let reloadAuthorizer: (@Sendable () throws -> (any RequestAuthorizer)?)?
    let settings: ServerSettings
    let logger: Logger
    let metrics: ServerMetrics
    /// Told of every request the authorisation hook refused (the audit log).
    let onDenied: @Sendable (Denial) -> Void

    /// A refused request: which deployment, what for, why, the status sent, and the client's address.
    public struct Denial: Sendable {
        public var deployment: String
        public var action: String
        public var reason: String
        public var status: Int
        public var client: String
    }

    /// Requests in progress per client address.
    let clients = ClientSlots()

    /// The connected client's address (`ip:port`) while a request is answered.
    @TaskLocal static var client = "-"
    /// The SHA-256 of the client's verified certificate while a request is answered (mutual TLS).
    @TaskLocal static var certificate: String?

    /// Loads every Deployment's versions; a reference that resolves to nothing, or a version that cannot be
    /// loaded, is an error here, before any port is bound.
    public init(
        deployments: [DeploymentConfig], registry: GitRegistry, authorizer: any RequestAuthorizer,
        reloadAuthorizer: (@Sendable () throws -> (any RequestAuthorizer)?)? = nil,
        settings: ServerSettings, logger: Logger,
        onDenied: @escaping @Sendable (Denial) -> Void = { _ in }
    ) throws {
        guard !deployments.isEmpty else { throw ServeError("no deployments to serve") }
        let metrics = ServerMetrics()
        var hosts: [DeploymentHost] = []
        for d in deployments {
            if try registry.resolve(d.served) == nil, d.served != d.model {
                throw ServeError(
                    "deployment '\(d.name)' serves \(d.served), its environment's alias, which names no version yet: release it first (`kiln run` moves '\(d.environment)' to \(d.model))"
                )
            }
            // The release source must exist too: a Deployment naming a version that is not there is wrong.
            for reference in [d.served, d.model] + (d.canary.map { [$0] } ?? []) {
                guard try registry.resolve(reference) != nil else {
                    let known = try registry.models()
                    throw ServeError(
                        "deployment '\(d.name)': \(reference) names no registered version"
                            + (known.contains(reference.model)
                                ? " (kiln log \(reference.model) lists its versions)"
                                : " (registered models: \(known.isEmpty ? "none; run `kiln run` first" : known.joined(separator: ", ")))")
                    )
                }
            }
            hosts.append(try DeploymentHost(d, registry: registry, onBatch: { metrics.batch(model: $0, rows: $1) }))
        }
        self.hosts = hosts
        self.registry = registry
        currentAuthorizer = Mutex(authorizer)
        self.reloadAuthorizer = reloadAuthorizer
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        self.onDenied = onDenied
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, finishes the requests in flight and returns.
    /// `onStart` gets the bound address once the server listens.
    public func run(onStart: @escaping @Sendable (String, Int) -> Void = { _, _ in }) async throws {
        let responder = CallbackResponder<ClientRequestContext> { [self] request, context in
            let certificate = settings.tls?.clientCAPEM == nil ? nil : await context.certificate()
            return await Self.$client.withValue(context.client) {
                await Self.$certificate.withValue(certificate) { await respond(request, context) }
            }
        }
        let http1 = HTTPServerBuilder.http1(
            configuration: .init(idleTimeout: .milliseconds(Int64(settings.idleTimeout * 1000))))
        let app = Application(
            responder: responder,
            server: try settings.tls.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: try $0.configuration()) }
                ?? http1,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "kiln"),
            onServerRunning: { [settings] channel in
                onStart(settings.host, channel.localAddress?.port ?? settings.port)
            },
            logger: logger)
        let watcher = Task { [self] in await watch() }
        defer {
            watcher.cancel()
            for host in hosts { host.retire() }
        }
        do {
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ServeError(
                "\(settings.host):\(settings.port) is in use by another process; stop it, or pick another port with --port"
            )
        } catch let error as IOError where error.errnoCode == EADDRNOTAVAIL || error.errnoCode == EACCES {
            throw ServeError("cannot listen on \(settings.host):\(settings.port): \(error)")
        }
    }

    // MARK: Hot switch

    /// Looks at the registry every `pollInterval`; a moved alias loads the new version and swaps it in.
    /// A refused switch (an unsigned version, a damaged one) is tried again with a doubling delay, up to a
    /// minute, and logged once per try, not four times a second forever.
    private func watch() async {
        var retryAt: [String: (at: ContinuousClock.Instant, delay: Double)] = [:]
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(settings.pollInterval * 1e9))
            do {
                if let next = try reloadAuthorizer?() {
                    currentAuthorizer.withLock { $0 = next }
                    logger.notice("the Policy changed: tokens, certificates and roles reloaded")
                }
            } catch {
                logger.error("the Policy changed but cannot be used; the previous one still applies", metadata: ["error": "\(error)"])
            }
            for host in hosts {
                let name = host.config.name
                if let retry = retryAt[name], ContinuousClock.now < retry.at { continue }
                do {
                    for move in try host.refresh(registry) {
                        logger.notice("switched", metadata: ["deployment": "\(name)", "move": "\(move)"])
                    }
                    retryAt[name] = nil
                } catch {
                    let delay = min(60, max(settings.pollInterval, 1) * 2 * (retryAt[name].map { $0.delay } ?? 0.5))
                    retryAt[name] = (ContinuousClock.now + .milliseconds(Int64(delay * 1000)), delay)
                    logger.error(
                        "cannot switch versions; still serving the current ones",
                        metadata: ["deployment": "\(name)", "error": "\(error)", "retry_in_s": "\(Int(delay))"])
                }
            }
        }
    }

    // MARK: Routing

    private func respond(_ request: Request, _ context: ClientRequestContext) async -> Response {
        let start = ContinuousClock.now
        // The version that answered, once known.
        var served: ServedModel?
        var deployment = "-"
        let response: Response
        do {
            response = try await route(request, served: &served, deployment: &deployment)
        } catch let failure as InferenceProtocol.Failure {
            response = Self.error(failure)
        } catch {
            let (failure, id) = Self.internalFailure(
                error, requestID: request.headers[Self.requestID], path: request.uri.path, logger: logger)
            var answer = Self.error(failure)
            answer.headers[Self.requestID] = id
            response = answer
        }
        let elapsed = ContinuousClock.now - start
        let status = response.status.code
        if deployment != "-" {
            metrics.request(
                deployment: deployment, model: served?.model ?? "-", version: served.map { "\($0.version)" } ?? "-",
                status: status, duration: elapsed)
        }
        logger.info(
            "request",
            metadata: [
                "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(status)",
                "ms": "\(String(format: "%.3f", elapsed / .milliseconds(1)))",
                "deployment": "\(deployment)", "model": "\(served?.reference ?? "-")",
            ])
        return response
    }

    private func route(_ request: Request, served: inout ServedModel?, deployment: inout String) async throws
        -> Response
    {
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let get = request.method == .get
        let post = request.method == .post
        switch parts {
        case ["v2", "health", "live"] where get:
            return Self.json(["live": true])
        case ["v2", "health", "ready"] where get:
            return Self.json(["ready": true])
        case ["v2"] where get:
            return Self.json(
                InferenceProtocol.ServerMetadata(name: "kiln", version: KilnVersion.string, extensions: []))
        case ["metrics"] where get:
            for host in hosts { metrics.queue(deployment: host.config.name, depth: host.queueDepth) }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(
                status: .ok, headers: headers,
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.registry.emitToBuffer())))
        default:
            break
        }
        guard parts.count >= 3, parts[0] == "v2", parts[1] == "models" else {
            throw InferenceProtocol.Failure(404, "no route \(request.method) \(request.uri.path)")
        }
        let host = try self.host(named: parts[2])
        deployment = host.config.name
        var rest = parts.dropFirst(3)
        var version: Int?
        if rest.first == "versions" {
            rest = rest.dropFirst()
            guard let text = rest.first else {
                throw InferenceProtocol.Failure(404, "no version in \(request.uri.path)")
            }
            guard let n = Int(text.hasPrefix("v") ? String(text.dropFirst()) : text), n > 0,
                text == "\(n)" || text == "v\(n)"
            else {
                throw InferenceProtocol.Failure(400, "'\(text)' is not a version (a number: 3, or v3)")
            }
            version = n
            rest = rest.dropFirst()
        }
        switch Array(rest) {
        case [] where get:
            try authorize(request, host, action: "read")
            let versions = host.versions
            let model =
                try version.map { v throws(InferenceProtocol.Failure) in
                    try host.route(requestID: nil, version: v).served
                }
                ?? versions[0]
            served = model
            return Self.json(model.metadata(name: host.config.name, versions: versions.map { "\($0.version)" }))
        case ["ready"] where get:
            // A model's readiness says which versions it serves: the token check applies, as for metadata.
            try authorize(request, host, action: "read")
            if let version { _ = try host.route(requestID: nil, version: version) }
            return Self.json(ModelReady(name: host.config.name, ready: true))
        case ["infer"] where post:
            try authorize(request, host, action: "infer")
            return try await infer(request, host, version: version, served: &served)
        case [], ["ready"], ["infer"]:
            throw InferenceProtocol.Failure(405, "\(request.method) is not allowed on \(request.uri.path)")
        default:
            throw InferenceProtocol.Failure(404, "no route \(request.method) \(request.uri.path)")
        }
    }

    private func host(named name: String) throws(InferenceProtocol.Failure) -> DeploymentHost {
        if let host = hosts.first(where: { $0.config.name == name }) { return host }
        let byModel = hosts.filter { $0.config.model.model == name }
        if byModel.count == 1 { return byModel[0] }
        // Names are listed only when every deployment is open: a server that checks tokens does not tell a
        // client without one what it serves.
        let open = hosts.allSatisfy { !$0.config.authRequired }
        let names = hosts.map(\.config.name)
        throw InferenceProtocol.Failure(
            404,
            byModel.count > 1
                ? "model '\(name)' is served by several deployments"
                    + (open ? " (\(byModel.map(\.config.name).joined(separator: ", ")))" : "") + ": name one"
                : "unknown model '\(name)'" + (open ? "; this server serves \(names.joined(separator: ", "))" : ""))
    }

    private func authorize(_ request: Request, _ host: DeploymentHost, action: String) throws(InferenceProtocol.Failure)
    {
        guard host.config.authRequired else { return }
        var token: String?
        if let header = request.headers[.authorization] {
            guard header.lowercased().hasPrefix("bearer ") else {
                throw InferenceProtocol.Failure(401, "the Authorization header must be 'Bearer <token>'")
            }
            token = String(header.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        }
        switch authorizer.authorize(
            bearerToken: token, clientCertificate: Self.certificate, action: action, deployment: host.config.name,
            environment: host.config.environment)
        {
        case .allowed: return
        case .unauthenticated(let why):
            onDenied(Denial(deployment: host.config.name, action: action, reason: why, status: 401, client: Self.client))
            throw InferenceProtocol.Failure(401, why)
        case .forbidden(let why):
            onDenied(Denial(deployment: host.config.name, action: action, reason: why, status: 403, client: Self.client))
            throw InferenceProtocol.Failure(403, why)
        }
    }

    // MARK: Inference

    private func infer(_ request: Request, _ host: DeploymentHost, version: Int?, served: inout ServedModel?)
        async throws
        -> Response
    {
        let limit = host.config.maxRequestBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw InferenceProtocol.Failure(
                413, "the request body is \(length) bytes; this deployment takes at most \(limit)")
        }
        // One client may hold at most a quarter of the slots: slow bodies from one address cannot take them all.
        let address = String(Self.client.split(separator: ":").dropLast().joined(separator: ":"))
        let perClient = max(4, host.config.maxConcurrency / 4)
        guard clients.admit(address, limit: perClient) else {
            throw InferenceProtocol.Failure(
                503, "this client has \(perClient) requests in progress, the most one client may; retry shortly",
                retryAfter: 1)
        }
        defer { clients.release(address) }
        guard host.admit() else {
            throw InferenceProtocol.Failure(
                503, "'\(host.config.name)' has \(host.config.maxConcurrency) requests queued; retry shortly",
                retryAfter: 1)
        }
        defer { host.release() }
        let body = try await readBody(request, limit: limit)
        let decoded = try InferenceProtocol.decodeRequest(body)
        let requestID = request.headers[Self.requestID] ?? decoded.id
        // A request routed to a version that was just swapped out is routed again, to the new one.
        for _ in 0..<3 {
            let batcher = try host.route(requestID: requestID, version: version)
            let model = batcher.served
            let input = try model.prepare(
                decoded, refuseLongText: host.config.refuseLongText, unknownCategories: host.config.unknownCategories)
            let rows = input.rows
            guard rows > 0 else { throw InferenceProtocol.Failure(400, "the request has no rows") }
            let result: [Float]
            do {
                result = try await batcher.submit(input)
            } catch is Batcher.Retired {
                continue
            }
            served = model
            let outputs = try result.withUnsafeBufferPointer { r throws(InferenceProtocol.Failure) in
                try model.outputs(
                    r, rows: rows, requested: decoded.outputs?.map(\.name), truncated: input.truncated, input: input)
            }
            var parameters = ["model": model.reference]
            if !input.unknownCategories.isEmpty {
                metrics.unknownCategories(deployment: host.config.name, input.unknownCategories)
                if host.config.unknownCategories == .warn {
                    // The sign a client can see: which inputs held values the model never saw.
                    parameters["unknown_categories"] = input.unknownCategories.sorted { $0.key < $1.key }
                        .map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                }
            }
            let response = InferenceProtocol.InferenceResponse(
                modelName: host.config.name, modelVersion: "\(model.version)", id: decoded.id,
                parameters: parameters, outputs: outputs)
            var headers = HTTPFields()
            headers[Self.modelHeader] = model.reference
            return Self.json(response, headers: headers)
        }
        throw InferenceProtocol.Failure(
            503, "the served version changed three times during this request; retry", retryAfter: 1)
    }

    /// The body, whole, refused past `limit` bytes (413) or `bodyTimeout` seconds (408).
    private func readBody(_ request: Request, limit: Int) async throws -> Data {
        let timeout = settings.bodyTimeout
        return try await withThrowingTaskGroup(of: Data?.self) { group in
            group.addTask {
                var data = Data()
                do {
                    for try await chunk in request.body {
                        guard data.count + chunk.readableBytes <= limit else {
                            throw InferenceProtocol.Failure(
                                413, "the request body is over \(limit) bytes, this deployment's max_request_bytes")
                        }
                        data.append(contentsOf: chunk.readableBytesView)
                    }
                } catch let failure as InferenceProtocol.Failure {
                    throw failure
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    // The HTTP decoder refused the body (a malformed chunk size, a broken length): the client's doing.
                    throw InferenceProtocol.Failure(400, "the request body is malformed (its chunked encoding or length)")
                }
                return data
            }
            group.addTask {
                try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let data = first else {
                throw InferenceProtocol.Failure(408, "the request body did not arrive within \(timeout) s")
            }
            return data
        }
    }

    // MARK: Responses

    /// A client's request id: the same id always goes to the same side of a canary split.
    static let requestID = header("X-Request-Id")
    /// The version that answered (`iris-mlp@v3`).
    static let modelHeader = header("Kiln-Model")

    private static func header(_ name: String) -> HTTPField.Name {
        guard let field = HTTPField.Name(name) else { preconditionFailure("'\(name)' is a valid header name") }
        return field
    }

    static func json(_ value: some Encodable, headers: HTTPFields = HTTPFields()) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        do {
            let data = try encoder.encode(value)
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch {
            // Not reached with checked outputs; never a 200 with an empty body if it is.
            return Self.error(InferenceProtocol.Failure(500, "the response could not be encoded"))
        }
    }

    /// A 500: the body is fixed and names the request (the client's X-Request-Id, else a new one) so that
    /// an operator can find the log line, which alone carries the cause (it may name paths or internals).
    static func internalFailure(_ error: any Error, requestID: String?, path: String, logger: Logger) -> (
        failure: InferenceProtocol.Failure, requestID: String
    ) {
        let id =
            requestID.flatMap { id in
                id.count <= 128 && id.unicodeScalars.allSatisfy { $0.value > 32 && $0.value < 127 && $0 != "\"" } ? id : nil
            } ?? UUID().uuidString.lowercased()
        logger.error("internal error", metadata: ["error": "\(error)", "path": "\(path)", "request_id": "\(id)"])
        return (.init(500, "internal error (request id \(id); the server's log has the detail)"), id)
    }

    static func error(_ failure: InferenceProtocol.Failure) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if let after = failure.retryAfter { headers[.retryAfter] = "\(after)" }
        return Response(
            status: HTTPResponse.Status(code: failure.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(bytes: failure.body)))
    }
}

struct ModelReady: Encodable {
    var name: String
    var ready: Bool
}

/// The Prometheus metrics of the server: requests by deployment, version and status; latency; batch sizes;
/// queue depth.
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let latencyBuckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .seconds(2.5),
    ]
    private static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "kiln", metricName: "requests", unitName: "total",
            helpText: "Requests to a deployment, by the model and version that answered and the HTTP status.")
    }
    private static var latency: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "kiln", metricName: "request_duration", unitName: "seconds",
            helpText: "Time from a request's arrival to its response.")
    }
    private static var batchRows: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "kiln", metricName: "batch", unitName: "rows",
            helpText: "Rows per batch run through the compute core.")
    }
    private static var queueDepth: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "kiln", metricName: "queue_depth", unitName: "requests",
            helpText: "Requests queued or running, at the time of the scrape.")
    }

    func request(deployment: String, model: String, version: String, status: Int, duration: Duration) {
        registry.makeCounter(
            descriptor: Self.requests,
            labels: [("deployment", deployment), ("model", model), ("version", version), ("status", "\(status)")]
        ).increment()
        registry.makeDurationHistogram(
            descriptor: Self.latency, labels: [("deployment", deployment)], buckets: latencyBuckets
        ).record(duration)
    }

    func batch(model: String, rows: Int) {
        registry.makeValueHistogram(
            descriptor: Self.batchRows, labels: [("model", model)], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
        ).record(Double(rows))
    }

    private static var unknown: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "kiln", metricName: "unknown_categories", unitName: "total",
            helpText: "Category values a request held that the model was not trained on (answered with an all-zero one-hot block, or -1 for an ordinal column), by input column.")
    }

    func unknownCategories(deployment: String, _ counts: [String: Int]) {
        for (column, n) in counts {
            registry.makeCounter(descriptor: Self.unknown, labels: [("deployment", deployment), ("column", column)])
                .increment(by: Int64(n))
        }
    }

    func queue(deployment: String, depth: Int) {
        registry.makeGauge(descriptor: Self.queueDepth, labels: [("deployment", deployment)]).set(Double(depth))
    }
}

/// The request context: Hummingbird's core, the connected client's address (audited on a denial), and
/// the SHA-256 of its verified TLS client certificate, if it presented one (mutual TLS).
struct ClientRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let client: String
    let channel: any Channel

    /// The SHA-256 (hex) of the client's verified certificate, asked of the channel's TLS handler on its
    /// event loop; nil without TLS or without a client certificate.
    func certificate() async -> String? {
        guard let certificate = try? await channel.nioSSL_peerCertificate().get(), let der = try? certificate.toDERBytes()
        else { return nil }
        return SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined()
    }

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        client = source.channel.remoteAddress.map { address in
            "\(address.ipAddress ?? "?"):\(address.port.map(String.init) ?? "?")"
        } ?? "-"
    }
}

/// Requests in progress by client address, so one client cannot hold every slot of a deployment.
final class ClientSlots: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func admit(_ client: String, limit: Int) -> Bool {
        counts.withLock { counts in
            let n = counts[client, default: 0]
            guard n < limit else { return false }
            counts[client] = n + 1
            return true
        }
    }

    func release(_ client: String) {
        counts.withLock { counts in
            let n = counts[client, default: 1] - 1
            counts[client] = n > 0 ? n : nil
        }
    }
}
