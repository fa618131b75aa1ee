public import Foundation
public import KilnCompiler
import KilnData
public import KilnRegistry
public import KilnSpec
import Synchronization

/// One node, as an executor receives it: the node's key, its canonical config, its payload, the files it
/// reads, and the keys of the upstream nodes whose outputs it may read (by content-addressed path in the
/// cache). Nothing else: no compiler result, no graph. It is written to a file for `kiln exec-node`.
public struct NodeJob: Sendable, Codable {
    public var id: NodeID
    public var key: String
    /// The canonical config text (what the key hashes).
    public var config: String
    public var payload: NodePayload
    public var files: [FileHash]
    /// Every upstream node's key, by node id (text form).
    public var inputs: [String: String]

    public struct FileHash: Sendable, Codable {
        public var path: String
        public var sha256: String
    }

    public init(_ node: GraphNode, upstream: [NodeID: String]) {
        id = node.id
        key = node.fingerprint
        config = node.config.serialized()
        payload = node.payload
        files = node.files.map { FileHash(path: $0.path, sha256: $0.sha256) }
        inputs = Dictionary(uniqueKeysWithValues: upstream.map { ($0.key.description, $0.value) })
    }

    /// The key of an upstream node, or an internal failure when the job does not carry it.
    public func key(of input: NodeID) throws(NodeFailure) -> String {
        guard let key = inputs[input.description] else {
            throw NodeFailure(.run(.internal), "\(id) has no input \(input)", cause: .infrastructure)
        }
        return key
    }
}

/// What the runner gives an attempt besides the job: where to write, which attempt it is, when it must
/// stop, and where progress goes.
public struct ExecutionContext: Sendable {
    /// The attempt's fresh output directory (committed to the cache under the job's key on success).
    public var outputs: String
    public var attempt: Int
    /// Past this, the node stops at its next check (a training: after its epoch, with a checkpoint).
    public var deadline: Date?
    public var cancellation: CancellationFlag
    public var report: @Sendable (RunEvent) -> Void

    public init(
        outputs: String, attempt: Int, deadline: Date?, cancellation: CancellationFlag,
        report: @escaping @Sendable (RunEvent) -> Void
    ) {
        self.outputs = outputs
        self.attempt = attempt
        self.deadline = deadline
        self.cancellation = cancellation
        self.report = report
    }

    public var isPastDeadline: Bool { deadline.map { Date() > $0 } ?? false }
}

/// Runs nodes: the seam between the runner and where work happens. The runner receives one (it never
/// builds its own); `LocalExecutor` runs nodes in this process, `ProcessExecutor` runs each in a
/// `kiln exec-node` process, and a cluster backend would submit the job file instead. `execute` blocks
/// (the runner calls it on a thread of its own) and writes only into `context.outputs`.
public protocol NodeExecuting: Sendable {
    func execute(_ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput

    /// The nodes a run is about to execute, before any starts (an executor that shares state between
    /// nodes, like the in-process table memo, sizes it by them). Optional.
    func prepare(_ nodes: [GraphNode], in graph: ExecutionGraph)
}

extension NodeExecuting {
    public func prepare(_ nodes: [GraphNode], in graph: ExecutionGraph) {}
}

/// What executors in this process share: the workspace's places, the cache, the registry, and what is
/// worth computing once per run (decoded tables, the pii mask key, the data key).
public final class ExecutorEnvironment: Sendable {
    public let paths: WorkspacePaths
    public let cache: Cache
    public let registry: any ModelRegistry
    /// Compute threads for trainings whose spec does not say.
    public let computeThreads: Int
    let tables = TableMemo()
    let maskKey = Once<Data>()
    let sealing = Once<Result<PolicySealer, NodeFailure>>()

    public init(paths: WorkspacePaths, registry: any ModelRegistry, computeThreads: Int) {
        self.paths = paths
        cache = Cache(directory: paths.cache)
        self.registry = registry
        self.computeThreads = computeThreads
    }

    func relative(_ path: String) -> String { paths.relative(path) }
    func local(_ path: String) -> String { paths.local(path) }
}

/// Runs every node kind in this process, each by its own executor.
public struct LocalExecutor: NodeExecuting {
    public let environment: ExecutorEnvironment

    public init(_ environment: ExecutorEnvironment) { self.environment = environment }

    public init(paths: WorkspacePaths, registry: any ModelRegistry, computeThreads: Int) {
        self.init(ExecutorEnvironment(paths: paths, registry: registry, computeThreads: computeThreads))
    }

    /// Counts, for each ingested table, the nodes of this run that will read it (its check, its split and
    /// every fit on it): the memo lets a table go after its last reader.
    public func prepare(_ nodes: [GraphNode], in graph: ExecutionGraph) {
        var readers: [String: Int] = [:]
        for node in nodes {
            guard let data = node.payload.readsTable else { continue }
            if let ingest = graph.node(.dataset(data.dataset.name, .ingest)) { readers[ingest.fingerprint, default: 0] += 1 }
        }
        environment.tables.expect(readers)
    }

    public func execute(_ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput {
        let e = environment
        switch job.payload {
        case .ingest(let p): return try IngestExecutor(environment: e).run(p, job, context)
        case .check(let p): return try CheckExecutor(environment: e).run(p, job, context)
        case .split(let p): return try SplitExecutor(environment: e).run(p, job, context)
        case .fit(let p): return try FitExecutor(environment: e).run(p, job, context)
        case .tokenize(let p): return try TokenizeExecutor(environment: e).run(p, job, context)
        case .fineTune(let p): return try FineTuneExecutor(environment: e).run(p, job, context)
        case .gate(let p): return try GateExecutor(environment: e).run(p, job, context)
        case .register(let p): return try RegisterExecutor(environment: e).run(p, job, context)
        case .release(let p): return try ReleaseExecutor(environment: e).run(p, job, context)
        }
    }
}

/// The executor of one node kind.
protocol KindExecutor {
    associatedtype Payload
    var environment: ExecutorEnvironment { get }
    func run(_ payload: Payload, _ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput
}

extension KindExecutor {
    func write(_ data: Data, _ directory: String, _ name: String) throws(NodeFailure) {
        do { try FileWriter.write(data, to: directory + "/" + name) } catch {
            throw .infrastructure(.run(.io), "cannot write \(name)", error)
        }
    }

    /// A training's records beside its model: `metrics.json`, `params.json` (the node's config) and
    /// `lineage.json` (the data's lineage, the training and its key).
    func writeTrainingRecords(
        _ metrics: TrainingMetrics, lineage: Lineage, _ job: NodeJob, _ context: ExecutionContext
    ) throws(NodeFailure) {
        let params: JSON
        do { params = try JSON.parse(job.config) } catch {
            throw .infrastructure(.run(.internal), "the node's config is not JSON", error)
        }
        try write(ContentHash.canonicalJSON(metrics), context.outputs, "metrics.json")
        try write(Data(params.serialized(pretty: true).utf8), context.outputs, "params.json")
        try write(
            ContentHash.canonicalJSON(FitExecutor.FitLineage(data: lineage, training: job.id.description, key: job.key)),
            context.outputs, "lineage.json")
    }
}

/// A value computed at most once, from any thread.
final class Once<T: Sendable>: Sendable {
    private let stored = Mutex<T?>(nil)
    func value(_ make: () -> T) -> T {
        stored.withLock { v in
            if let v { return v }
            let made = make()
            v = made
            return made
        }
    }
}

/// Decoded tables of this run, so that a dataset's check, split and fits do not decode its table from the
/// cache again. When the run said who will read each table (`expect`), a table goes after its last reader
/// and one nobody will read is not kept; otherwise (a single node, tests) the least recently used go past
/// the budget, the newest staying.
final class TableMemo: Sendable {
    private struct State {
        var tables: [String: (table: Table, bytes: Int, used: UInt64)] = [:]
        var bytes = 0
        var clock: UInt64 = 0
        /// Reads still to come, by table key; nil when the run did not say.
        var readers: [String: Int]?

        /// Counts a read; true when it was the last one expected.
        mutating func read(_ key: String) -> Bool {
            guard let left = readers?[key] else { return false }
            readers?[key] = left - 1
            return left <= 1
        }

        mutating func drop(_ key: String) {
            if let old = tables.removeValue(forKey: key) { bytes -= old.bytes }
        }
    }

    let budget: Int
    private let state = Mutex(State())

    init(budget: Int = 128 << 20) { self.budget = budget }

    func expect(_ readers: [String: Int]) { state.withLock { $0.readers = readers } }

    /// A read of the table, if it is here.
    func table(_ key: String) -> Table? {
        state.withLock { s -> Table? in
            guard let entry = s.tables[key] else { return nil }
            s.clock += 1
            s.tables[key]?.used = s.clock
            if s.read(key) { s.drop(key) }
            return entry.table
        }
    }

    /// Keeps a table; `read`: the caller is one of its readers (it decoded the table to read it).
    func store(_ key: String, _ table: Table, read: Bool = false) {
        let bytes = table.byteCount
        state.withLock { s in
            if read && s.read(key) { return }
            if let readers = s.readers, readers[key, default: 0] <= 0 { return }
            s.clock += 1
            s.drop(key)
            s.tables[key] = (table, bytes, s.clock)
            s.bytes += bytes
            // The newest table stays even past the budget (its check, split and fit follow it).
            while s.bytes > budget, s.tables.count > 1,
                let oldest = s.tables.min(by: { $0.value.used < $1.value.used })
            {
                s.drop(oldest.key)
            }
        }
    }
}

/// A flag set from a training's progress callback.
final class Flag {
    private(set) var isSet = false
    func set() { isSet = true }
}

final class Box<T> {
    var value: T
    init(_ value: T) { self.value = value }
}
