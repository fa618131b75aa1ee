import ArgumentParser
import Foundation
import Synchronization
import KilnCompiler
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSecurity
import KilnServe
import KilnSpec
import Logging

/// `kiln serve [PATH] [DEPLOYMENT...]`: the workspace's Deployments over HTTP (Open Inference Protocol v2).
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve Deployments over HTTP with the Open Inference Protocol v2.",
        discussion: """
            Serves the named Deployments (default: all of the workspace's) from one server, on the first one's
            `server:` address unless --host/--port say otherwise. Versions are resolved through the registry; a
            moved alias (kiln promote, kiln rollback) is picked up while serving, without dropping a request.
            SIGTERM or Ctrl-C stops accepting, finishes the requests in flight and exits 0.

            Routes: GET /v2/health/live, /v2/health/ready, /v2, /v2/models/NAME[/versions/N][/ready],
            POST /v2/models/NAME[/versions/N]/infer, GET /metrics (Prometheus).

            Examples:
              kiln serve examples/iris
              kiln serve examples/iris iris-api --port 9000
              curl -s localhost:8080/v2/models/iris-api/infer -d '{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
            """)

    @Argument(
        help: ArgumentHelp(
            "A workspace directory (default: .), then Deployment names.", valueName: "path-or-deployment"))
    var arguments: [String] = []
    @Option(help: "Bind address (default: the Deployment's server.host).") var host: String?
    @Option(help: "TCP port; 0 picks a free one (default: the Deployment's server.port).") var port: Int?
    @Option(help: "Seconds a connection may wait without a complete request before it is closed.")
    var idleTimeout: Double = 10
    @Option(help: "Seconds a request body may take to arrive (408 after; keep it below --idle-timeout).")
    var bodyTimeout: Double = 5
    @Option(help: "Seconds between looks at the registry for moved aliases.") var pollInterval: Double = 0.25
    @Option(help: "trace, debug, info (access log), notice, warning, error.") var logLevel: String = "info"

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port is 0...65535, not \(port)") }
        // Seconds become nanosecond counts and timers: bounded to what they can hold.
        for (flag, value, range) in [
            ("--idle-timeout", idleTimeout, 0.01...86400.0), ("--body-timeout", bodyTimeout, 0.01...86400.0),
            ("--poll-interval", pollInterval, 0.01...3600.0),
        ] where !range.contains(value) {
            throw ValidationError("\(flag) is \(range.lowerBound)...\(Int(range.upperBound)) seconds, not \(value)")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level is trace, debug, info, notice, warning or error, not '\(logLevel)'")
        }
        guard idleTimeout > 0, bodyTimeout > 0, pollInterval > 0 else {
            throw ValidationError("timeouts and the poll interval are positive numbers of seconds")
        }
    }

    func run() throws {
        // The first argument is the workspace when it exists on disk, else a Deployment name.
        let split = WorkspaceAndTargets.split(arguments)
        let loaded = try LoadedWorkspace.load(split.path)
        let available = loaded.compiled.checked.deployments
        var chosen: [CheckedDeployment] = []
        for name in split.rest {
            guard let d = available.first(where: { $0.spec.name == name }) else {
                let names = available.map(\.spec.name)
                throw ValidationError(
                    "no Deployment '\(name)' in \(split.path)"
                        + (DidYouMean.suggestion(for: name, among: names).map { " (did you mean '\($0)'?)" }
                            ?? (names.isEmpty ? "" : "; its Deployments: \(names.joined(separator: ", "))")))
            }
            chosen.append(d)
        }
        if split.rest.isEmpty { chosen = available }
        guard !chosen.isEmpty else {
            throw fail("\(split.path) declares no Deployment (kind: Deployment) to serve")
        }
        let configs = chosen.compactMap { d -> DeploymentConfig? in
            var config = DeploymentConfig(d.spec)
            if d.signingRequired { config?.trustedKeyFiles = d.trustedKeyFiles }
            return config
        }
        let policies = loaded.compiled.checked.policies
        let evaluator = PolicyEvaluator(policies)
        for d in configs {
            try Access.require(
                evaluator, "deploy", on: ["deployment/\(d.name)", "model/\(d.model.model)"],
                environment: d.environment, workspace: loaded.paths.root)
        }
        for d in configs where d.authRequired && policies.isEmpty {
            throw fail(
                "Deployment '\(d.name)' has 'auth: required' (the default), but the workspace has no Policy to check tokens against",
                help: "add a Policy with principals and their token_sha256, or write 'auth: none' in the Deployment")
        }
        let first = configs[0]
        var settings = ServerSettings(
            host: host ?? first.host, port: port ?? first.port, idleTimeout: idleTimeout, bodyTimeout: bodyTimeout,
            pollInterval: pollInterval)
        // TLS from the first Deployment's server (the one whose address is bound).
        if let tls = chosen[0].spec.server.tls {
            do { settings.tls = try Self.tlsSettings(tls, directory: chosen[0].resource.directory, root: loaded.paths.root) }
            catch {
                throw fail("Deployment '\(first.name)': \(error)")
            }
        }
        // Tokens and client identities do not travel in clear beyond this machine.
        if settings.tls == nil, !ModelNames.isLoopback(settings.host), let exposed = configs.first(where: { $0.authRequired }) {
            throw fail(
                "Deployment '\(exposed.name)' has 'auth: required' and would listen on \(settings.host) in plain HTTP: bearer tokens would cross the network in clear",
                help: "add server: {tls: {certificate: …, key: ${file:…}}} to the Deployment, or listen on 127.0.0.1 behind a TLS proxy")
        }
        if host == nil && port == nil,
            let other = configs.first(where: { $0.host != first.host || $0.port != first.port })
        {
            Terminal.standardError(
                "kiln: warning: Deployment '\(other.name)' asks for \(other.host):\(other.port); one server serves all, on \(first.host):\(first.port)\n"
            )
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "kiln.serve")
        let workspace = loaded.paths.root
        let registryPath = loaded.paths.registry
        let denials = DenialAudit(workspace: workspace)
        let scheme = settings.tls == nil ? "http" : "https"
        let server: InferenceServer
        do {
            server = try InferenceServer(
                deployments: configs, registry: GitRegistry(path: registryPath),
                authorizer: policies.isEmpty
                    ? OpenAccess() : PolicyWatch.authorizer(policies, loaded.compiled.workspace.resources),
                reloadAuthorizer: policies.isEmpty ? nil : PolicyWatch(workspace: split.path).reload,
                settings: settings,
                logger: logger,
                onDenied: { denials.record($0) })
        } catch {
            throw fail("\(error)")
        }
        let served = configs.map { d in
            "\(d.name) (\(d.served)" + (d.canary.map { " + canary \($0) at \(Int(d.canaryTraffic * 100))%" } ?? "") + ")"
        }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                try await server.run { host, port in
                    for d in configs {
                        Audit.record(
                            workspace: workspace, action: "serve.start", resource: "deployment/\(d.name)",
                            outcome: "allowed",
                            details: [
                                "model": "\(d.served)", "address": "\(host):\(port)", "environment": d.environment,
                            ])
                    }
                    Terminal.standardOutput(
                        "kiln: serving \(served.joined(separator: ", ")) at \(scheme)://\(host):\(port)/v2\n")
                }
                denials.flush()
                for d in configs {
                    Audit.record(
                        workspace: workspace, action: "serve.stop", resource: "deployment/\(d.name)",
                        outcome: "allowed")
                }
            } catch {
                outcome.set(error)
            }
            done.signal()
        }
        done.wait()
        if let error = outcome.error {
            throw fail("\(error)")
        }
        Terminal.standardError("kiln: stopped serving\n")
    }
}

/// The workspace's Policy files, looked at by the server's watcher: when their bytes change, the Policies
/// are read again (decoded and checked by the compiler) and a new authorizer replaces the old one.
final class PolicyWatch: Sendable {
    let workspace: String
    private let fingerprint: Mutex<String>

    init(workspace: String) {
        self.workspace = workspace
        fingerprint = Mutex(Self.fingerprint(workspace))
    }

    /// The spec files' paths, sizes and modification times (nanoseconds): a stat per file at every poll,
    /// no reads; the files are read only when this changes.
    static func fingerprint(_ workspace: String) -> String {
        WorkspaceLoader.specFilePaths(workspace).map { file in
            var info = stat()
            guard stat(file, &info) == 0 else { return file + ":-" }
            return "\(file):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        }.joined(separator: "\n")
    }

    /// The authorizer of a workspace's checked Policies; `${file:…}` digests resolve against each Policy's
    /// spec directory.
    static func authorizer(_ policies: [PolicySpec], _ resources: [Resource]) throws -> any RequestAuthorizer {
        try PolicyAuthorizer(
            policies,
            directories: Dictionary(
                resources.filter { $0.kind == .policy }.map { ($0.name, $0.directory) }, uniquingKeysWith: { a, _ in a }))
    }

    func reload() throws -> (any RequestAuthorizer)? {
        let now = Self.fingerprint(workspace)
        guard fingerprint.withLock({ $0 }) != now else { return nil }
        fingerprint.withLock { $0 = now }
        let loaded = WorkspaceLoader().load(path: workspace)
        let result = Compiler().compile(loaded)
        guard !result.diagnostics.hasErrors else {
            throw ServeError("the workspace's specs have errors now (kiln check says which)")
        }
        let policies = result.checked.policies
        guard !policies.isEmpty else { throw ServeError("the workspace has no Policy any more") }
        return try Self.authorizer(policies, loaded.resources)
    }
}

extension Serve {
    /// The certificate and client CA read from inside the workspace, the key through its secret reference.
    static func tlsSettings(
        _ tls: DeploymentSpec.TLS, directory: String, root: String
    ) throws -> ServerSettings.TLSSettings {
        let confinement = ReadConfinement(workspace: root)
        func file(_ field: String, _ path: String?) throws -> [UInt8]? {
            guard let path else { return nil }
            let full = path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
            if let problem = confinement.problem(full) { throw ServeError("tls.\(field) '\(path)' is not read: \(problem)") }
            guard let data = FileManager.default.contents(atPath: full) else {
                throw ServeError("tls.\(field) '\(path)' cannot be read (paths resolve against the spec file's directory)")
            }
            return [UInt8](data)
        }
        guard let certificate = try file("certificate", tls.certificate) else { throw ServeError("tls needs a certificate") }
        guard let reference = SecretReference(tls.key) else {
            throw ServeError("tls.key must be a secret reference (${file:…} or ${env:…})")
        }
        let key = try reference.resolve(relativeTo: directory)
        return ServerSettings.TLSSettings(
            certificatePEM: certificate, keyPEM: [UInt8](key.utf8), clientCAPEM: try file("client_ca", tls.clientCA))
    }
}

/// Requests the server refused, in the audit log with the client's address, at most `limit` lines a
/// minute: past that they are counted, and one summary line per minute says how many, from how many
/// clients (a flood of bad tokens cannot fill the disk through the log).
final class DenialAudit: Sendable {
    let workspace: String
    let limit: Int
    let window: Double
    private struct State {
        var windowStart = Date()
        var written = 0
        var suppressed = 0
        var clients = Set<String>()
    }
    private let state = Mutex(State())

    init(workspace: String, limit: Int = 30, window: Double = 60) {
        self.workspace = workspace
        self.limit = limit
        self.window = window
    }

    func record(_ denial: InferenceServer.Denial) {
        let (write, summary) = state.withLock { s -> (Bool, (Int, Int)?) in
            var summary: (Int, Int)?
            if Date().timeIntervalSince(s.windowStart) >= window {
                if s.suppressed > 0 { summary = (s.suppressed, s.clients.count) }
                s = State()
            }
            guard s.written < limit else {
                s.suppressed += 1
                s.clients.insert(denial.client)
                return (false, summary)
            }
            s.written += 1
            return (true, summary)
        }
        if let (count, clients) = summary { writeSummary(count, clients) }
        guard write else { return }
        Audit.record(
            workspace: workspace, action: denial.action, resource: "deployment/\(denial.deployment)", outcome: "denied",
            details: ["reason": denial.reason, "status": "\(denial.status)", "client": denial.client])
    }

    /// The count of the current window, when the server stops.
    func flush() {
        let summary = state.withLock { s -> (Int, Int)? in
            defer { s = State() }
            return s.suppressed > 0 ? (s.suppressed, s.clients.count) : nil
        }
        if let (count, clients) = summary { writeSummary(count, clients) }
    }

    private func writeSummary(_ count: Int, _ clients: Int) {
        Audit.record(
            workspace: workspace, action: "serve.denials", resource: "server", outcome: "denied",
            details: [
                "suppressed": "\(count)", "clients": "\(clients)",
                "note": "more than \(limit) refused requests in \(Int(window)) s; these were counted, not logged one by one",
            ])
    }
}

/// The server task's error, handed to the waiting main thread.
private final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?

    func set(_ error: any Error) { lock.withLock { stored = error } }
    var error: (any Error)? { lock.withLock { stored } }
}
