import Foundation
public import KilnProtocol
import KilnRegistry
import KilnSecurity
import Synchronization
public import KilnSpec

/// One Deployment as the server runs it: the values of its spec that serving reads.
public struct DeploymentConfig: Sendable {
    public var name: String
    public var environment: String
    public var model: ModelReference
    public var canary: ModelReference?
    /// The canary's share of requests, 0...1.
    public var canaryTraffic: Double
    public var maxBatchSize: Int
    /// Seconds.
    public var maxDelay: Double
    public var maxRequestBytes: Int
    public var maxConcurrency: Int
    public var authRequired: Bool
    public var host: String
    public var port: Int
    /// When the environment requires signed versions: the trusted public keys' files. A version that is
    /// unsigned, signed by another key, or changed since signing is refused (at start and at a switch).
    public var trustedKeyFiles: [String]?
    /// A transformer's text longer than its max_length: refused (400) instead of truncated (and flagged in
    /// the `truncated` output).
    public var refuseLongText = false
    /// A category value the model was not trained on.
    public var unknownCategories = UnknownCategories.warn

    /// What the server serves: the environment's alias (`iris-mlp@production`), which only a release,
    /// promote, rollback or alias set moves, each needing `promote` in that environment. `model` is what a
    /// release moves it to; serving `model` itself would let whoever may move `staging` change production.
    public var served: ModelReference { ModelReference("\(model.model)@\(environment)") ?? model }

    public init(
        name: String, environment: String = "default", model: ModelReference, canary: ModelReference? = nil,
        canaryTraffic: Double = 0, maxBatchSize: Int = 64, maxDelay: Double = 0.002,
        maxRequestBytes: Int = 1 << 20, maxConcurrency: Int = 256, authRequired: Bool = false,
        host: String = "127.0.0.1", port: Int = 8080
    ) {
        self.name = name
        self.environment = environment
        self.model = model
        self.canary = canary
        self.canaryTraffic = canaryTraffic
        self.maxBatchSize = maxBatchSize
        self.maxDelay = maxDelay
        self.maxRequestBytes = maxRequestBytes
        self.maxConcurrency = maxConcurrency
        self.authRequired = authRequired
        self.host = host
        self.port = port
    }

    /// From a Deployment's decoded spec (defaults are filled in by the schema).
    public init?(_ spec: DeploymentSpec) {
        guard let model = spec.model else { return nil }
        self.init(
            name: spec.name, environment: spec.environment, model: model, canary: spec.canary,
            canaryTraffic: spec.canaryTraffic, maxBatchSize: spec.batching.maxBatchSize,
            maxDelay: spec.batching.maxDelay, maxRequestBytes: spec.limits.maxRequestBytes,
            maxConcurrency: spec.limits.maxConcurrency, authRequired: spec.auth == .required,
            host: spec.server.host, port: spec.server.port)
        refuseLongText = spec.refuseLongText
        unknownCategories = UnknownCategories(rawValue: spec.unknownCategories) ?? .warn
    }
}

/// What one Deployment serves now: the primary version and the canary, each behind its batcher. The
/// registry watcher moves them (`refresh`) when an alias moves; requests in flight finish on the version
/// they were routed to.
final class DeploymentHost: @unchecked Sendable {
    let config: DeploymentConfig
    private let lock = NSLock()
    private var primary: Batcher
    private var canary: Batcher?
    private let inFlight = InFlight()
    private let onBatch: @Sendable (String, Int) -> Void

    init(_ config: DeploymentConfig, registry: GitRegistry, onBatch: @escaping @Sendable (String, Int) -> Void) throws {
        self.config = config
        self.onBatch = onBatch
        primary = try Self.batcher(config.served, config, registry, inFlight, onBatch)
        canary = try config.canary.map { try Self.batcher($0, config, registry, inFlight, onBatch) }
    }

    private static func batcher(
        _ reference: ModelReference, _ config: DeploymentConfig, _ registry: GitRegistry, _ inFlight: InFlight,
        _ onBatch: @escaping @Sendable (String, Int) -> Void
    ) throws -> Batcher {
        // One version, pinned, for the check and the load: an alias may move in between.
        guard let resolved = try registry.resolve(reference),
            let reference = ModelReference("\(reference.model)@v\(resolved.version)")
        else { throw ServeError("deployment '\(config.name)': \(reference) names no registered version") }
        if let trusted = config.trustedKeyFiles {
            do {
                let (version, files) = try registry.fileDigests(reference)
                try ModelSigning.verifyAny(
                    try registry.signatures(model: reference.model, version: version), model: reference.model,
                    version: version, files: files, trustedKeyFiles: trusted)
            } catch {
                throw ServeError(
                    "deployment '\(config.name)': environment '\(config.environment)' requires a signed version: \(error)"
                )
            }
        }
        let served = try ServedModel.load(reference, registry: registry)
        let name = served.reference
        return try Batcher(
            served, settings: .init(maxBatchSize: config.maxBatchSize, maxDelay: config.maxDelay),
            inFlight: { inFlight.count.load(ordering: .relaxed) }, onBatch: { onBatch(name, $0) })
    }

    /// The versions served now: primary first.
    var versions: [ServedModel] {
        lock.lock()
        defer { lock.unlock() }
        return [primary.served] + (canary.map { [$0.served] } ?? [])
    }

    /// The batcher for a request: the version pinned in the URL, else the canary for its share of
    /// requests (the same request id always goes the same way), else the primary.
    func route(requestID: String?, version: Int?) throws(InferenceProtocol.Failure) -> Batcher {
        lock.lock()
        defer { lock.unlock() }
        if let version {
            if primary.served.version == version { return primary }
            if let canary, canary.served.version == version { return canary }
            let serving = ([primary] + (canary.map { [$0] } ?? [])).map { "v\($0.served.version)" }
            throw InferenceProtocol.Failure(
                404,
                "version \(version) of '\(config.name)' is not served here (serving \(serving.joined(separator: " and ")))"
            )
        }
        guard let canary, config.canaryTraffic > 0 else { return primary }
        let draw = requestID.map(Self.unitInterval) ?? Double.random(in: 0..<1)
        return draw < config.canaryTraffic ? canary : primary
    }

    /// A request id's fixed place in [0, 1): FNV-1a over its bytes, then MurmurHash3's 64-bit finaliser,
    /// without which ids that differ in their last characters (`req-1`, `req-2`) share their high bits.
    static func unitInterval(_ id: String) -> Double {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        hash = hash &* 0xc4ce_b9fe_1a85_ec53
        hash ^= hash >> 33
        return Double(hash >> 11) / Double(UInt64(1) << 53)
    }

    /// Counts a request in; false when `maxConcurrency` are already queued or running.
    func admit() -> Bool {
        let before = inFlight.count.add(1, ordering: .relaxed).oldValue
        guard before < config.maxConcurrency else {
            inFlight.count.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    /// Counts a request out, and lets the batchers look again at what is on its way.
    func release() {
        inFlight.count.subtract(1, ordering: .relaxed)
        let batchers = lock.withLock { [primary] + (canary.map { [$0] } ?? []) }
        for b in batchers { b.poke() }
    }

    var queueDepth: Int { inFlight.count.load(ordering: .relaxed) }

    /// Resolves the references again; a version that changed is loaded (off the request path) and swapped
    /// in, and the old one drains. Returns what moved (`iris-mlp@v2 → iris-mlp@v3`).
    func refresh(_ registry: GitRegistry) throws -> [String] {
        var moves: [String] = []
        let current = (
            primary: lock.withLock { primary.served.version }, canary: lock.withLock { canary?.served.version }
        )
        if let resolved = try registry.resolve(config.served), resolved.version != current.primary {
            let next = try Self.batcher(config.served, config, registry, inFlight, onBatch)
            let old = lock.withLock {
                let old = primary
                primary = next
                return old
            }
            old.retire()
            moves.append("\(config.served): \(old.served.reference) → \(next.served.reference)")
        }
        if let reference = config.canary, let resolved = try registry.resolve(reference),
            resolved.version != current.canary
        {
            let next = try Self.batcher(reference, config, registry, inFlight, onBatch)
            let old = lock.withLock {
                let old = canary
                canary = next
                return old
            }
            old?.retire()
            moves.append("\(reference): \(old?.served.reference ?? "none") → \(next.served.reference)")
        }
        return moves
    }

    /// Stops the workers once their queues are empty.
    func retire() {
        lock.withLock { [primary] + (canary.map { [$0] } ?? []) }.forEach { $0.retire() }
    }
}

/// Requests a deployment has admitted and not yet answered (shared with its batchers).
final class InFlight: Sendable {
    let count = Atomic<Int>(0)
}
