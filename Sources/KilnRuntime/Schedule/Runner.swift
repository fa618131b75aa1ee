public import Foundation
public import KilnCompiler
public import KilnDiagnostics
public import KilnRegistry
import KilnSpec
import Synchronization

/// One node's part in a run, for the run record.
public struct NodeRecord: Sendable, Codable {
    public var id: String
    public var kind: String
    /// done, cached, failed, skipped, not run.
    public var status: String
    public var key: String
    public var seconds: Double
    public var attempts: Int
    public var summary: String
    public var metrics: [String: Double]
    public var error: String?
}

/// What a run did.
public struct RunResult: Sendable {
    public var id: String
    public var outcome: RunOutcome
    public var started: Date
    public var seconds: Double
    public var nodes: [NodeRecord]
    /// Diagnostics of failed nodes, in node order.
    public var failures: [(node: String, diagnostics: [Diagnostic])]
    public var warnings: [Diagnostic]
}

/// Drives the scheduler's state machine: starts the nodes it hands out (each on a thread of its own,
/// so a long training never holds Swift's cooperative threads), commits their outputs to the cache,
/// retries what may be retried, and stops cleanly when cancelled.
public final class Runner: Sendable {
    public struct Options: Sendable {
        /// Nodes at once.
        public var jobs: Int
        public var keepGoing: Bool
        /// Compute threads for trainings whose spec does not say (default: all cores).
        public var computeThreads: Int
        /// kiln.lock as read under the workspace lock; the run's entries are merged into it.
        public var lock: LockFile

        public init(jobs: Int, keepGoing: Bool = false, computeThreads: Int, lock: LockFile = LockFile()) {
            self.jobs = jobs
            self.keepGoing = keepGoing
            self.computeThreads = computeThreads
            self.lock = lock
        }
    }

    let compiled: Compiler.Result
    let graph: ExecutionGraph
    let paths: WorkspacePaths
    let cache: Cache
    let reporter: any RunReporter
    let options: Options
    public let cancellation = CancellationFlag()
    let executor: NodeExecutor

    public init(
        compiled: Compiler.Result, graph: ExecutionGraph, paths: WorkspacePaths, registry: any ModelRegistry,
        reporter: any RunReporter, options: Options
    ) {
        self.compiled = compiled
        self.graph = graph
        self.paths = paths
        cache = Cache(directory: paths.cache)
        self.reporter = reporter
        self.options = options
        executor = NodeExecutor(
            compiled: compiled, graph: graph, cache: cache, paths: paths, registry: registry, reporter: reporter,
            cancellation: cancellation, tables: TableMemo(), computeThreads: options.computeThreads)
    }

    /// Asks running nodes to stop at their next check (a training: after its epoch, with a checkpoint).
    public func cancel() { cancellation.cancel() }

    private struct Finished: Sendable {
        var id: String
        var record: NodeRecord
        var failure: NodeFailure?
        var warnings: [Diagnostic]
        var lockEntry: LockFile.Entry?
    }

    public func run(_ plan: Plan) async -> RunResult {
        let started = Date()
        let clock = ContinuousClock.now
        let id = Self.runID(started)
        cache.cleanTemporary()
        reporter.report(
            .runStarted(
                run: id, nodes: plan.items.count, toRun: plan.toRun.count, cached: plan.cachedCount, jobs: options.jobs)
        )

        var records: [String: NodeRecord] = [:]
        var lockEntries: [String: LockFile.Entry] = [:]
        for item in plan.items where item.cached {
            let manifest =
                reporter.showsCached || item.lockedKey != item.node.fingerprint
                ? cache.manifest(item.node.fingerprint) : nil
            let summary = manifest?.summary ?? ""
            reporter.report(.nodeCached(node: item.node.id, key: item.node.fingerprint, summary: summary))
            records[item.node.id] = NodeRecord(
                id: item.node.id, kind: item.node.kind.rawValue, status: "cached", key: item.node.fingerprint,
                seconds: 0,
                attempts: 0, summary: summary, metrics: manifest?.metrics ?? [:])
            lockEntries[item.node.id] =
                manifest.map { LockFile.Entry(key: item.node.fingerprint, outputs: $0.outputs.mapValues(\.sha256)) }
                ?? options.lock.entries[item.node.id]
        }

        var state = SchedulerState(
            nodes: plan.items.map { item in
                SchedulerState.Node(
                    id: item.node.id, inputs: item.node.inputs, cost: cost(item.node), serial: serial(item.node))
            }, cached: Set(plan.items.filter(\.cached).map(\.node.id)), jobs: options.jobs,
            slots: options.computeThreads,
            keepGoing: options.keepGoing)
        let nodes = Dictionary(plan.items.map { ($0.node.id, $0.node) }, uniquingKeysWith: { a, _ in a })
        var failures: [(String, [Diagnostic])] = []
        var warnings: [Diagnostic] = []
        var cancelledSeen = false

        await withTaskGroup(of: Finished.self) { group in
            var running = 0
            while true {
                if cancellation.isCancelled && !cancelledSeen {
                    cancelledSeen = true
                    state.cancel()
                }
                for nodeID in state.start() {
                    guard let node = nodes[nodeID] else { continue }
                    running += 1
                    group.addTask { await self.execute(node) }
                }
                if running == 0 { break }
                guard let finished = await group.next() else { break }
                running -= 1
                records[finished.id] = finished.record
                warnings += finished.warnings
                if let entry = finished.lockEntry { lockEntries[finished.id] = entry }
                if let failure = finished.failure, failure.diagnostics.first?.id != "run.cancelled" {
                    failures.append((finished.id, failure.diagnostics))
                }
                if cancellation.isCancelled && !cancelledSeen {
                    cancelledSeen = true
                    state.cancel()
                }
                state.finish(finished.id, succeeded: finished.failure == nil)
                // Only a failure skips nodes; scanning the plan after every node would be quadratic.
                for item in plan.items where finished.failure != nil {
                    if case .skipped(let cause) = state.status(of: item.node.id), records[item.node.id] == nil,
                        records[cause]?.status != "not run"  // downstream of a cancelled node: not run, not skipped
                    {
                        let reason = "upstream \(cause) failed"
                        reporter.report(.nodeSkipped(node: item.node.id, reason: reason))
                        records[item.node.id] = NodeRecord(
                            id: item.node.id, kind: item.node.kind.rawValue, status: "skipped",
                            key: item.node.fingerprint,
                            seconds: 0, attempts: 0, summary: reason, metrics: [:])
                    }
                }
            }
        }
        state.cancel()  // anything still pending did not run
        for item in plan.items where records[item.node.id] == nil {
            records[item.node.id] = NodeRecord(
                id: item.node.id, kind: item.node.kind.rawValue, status: "not run", key: item.node.fingerprint,
                seconds: 0,
                attempts: 0, summary: "", metrics: [:])
        }

        let outcome: RunOutcome =
            cancellation.isCancelled
            ? .cancelled : (records.values.contains { $0.status == "failed" } ? .failed : .succeeded)
        let seconds = (ContinuousClock.now - clock).seconds
        var counts: [String: Int] = [:]
        for r in records.values { counts[r.status, default: 0] += 1 }
        updateLock(with: lockEntries)
        reporter.report(.runFinished(run: id, outcome: outcome, seconds: seconds, counts: counts))
        reporter.close()
        return RunResult(
            id: id, outcome: outcome, started: started, seconds: seconds,
            nodes: plan.items.compactMap { records[$0.node.id] }, failures: failures, warnings: warnings)
    }

    /// Compute slots a node takes: a training on one thread takes one, a training on more takes them all
    /// (trainings never share compute threads: results depend on the thread count, and must not depend on
    /// what else ran); other nodes take none.
    private func cost(_ node: GraphNode) -> Int {
        guard node.kind == .fit else { return 0 }
        let name = String(node.resource.dropFirst("training/".count))
        let threads =
            compiled.checked.trainings.first { $0.nodeName == name }?.spec["threads"]?.int ?? options.computeThreads
        return threads <= 1 ? 1 : options.computeThreads
    }

    /// Register nodes of one model run in graph order, so version numbers do not depend on timing.
    private func serial(_ node: GraphNode) -> String? {
        guard node.kind == .register else { return nil }
        if case .object(let fields) = node.config, let name = fields.first(where: { $0.0 == "name" })?.1,
            case .string(let s) = name
        {
            return "register:" + s
        }
        return nil
    }

    /// Runs one node with its retries; commits its outputs on success.
    private func execute(_ node: GraphNode) async -> Finished {
        let retry = retryPolicy(node)
        var attempt = 0
        let clock = ContinuousClock.now
        while true {
            attempt += 1
            reporter.report(.nodeStarted(node: node.id, attempt: attempt))
            let attemptNumber = attempt
            let outcome: Result<(NodeOutput, CacheManifest), NodeFailure> = await Self.onThread {
                self.attempt(node, attempt: attemptNumber)
            }
            let seconds = (ContinuousClock.now - clock).seconds
            switch outcome {
            case .success(let (output, manifest)):
                reporter.report(
                    .nodeFinished(node: node.id, seconds: seconds, summary: output.summary, metrics: output.metrics))
                return Finished(
                    id: node.id,
                    record: NodeRecord(
                        id: node.id, kind: node.kind.rawValue, status: "done", key: node.fingerprint, seconds: seconds,
                        attempts: attempt, summary: output.summary, metrics: output.metrics),
                    failure: nil, warnings: output.warnings,
                    lockEntry: LockFile.Entry(key: node.fingerprint, outputs: manifest.outputs.mapValues(\.sha256)))
            case .failure(let failure):
                let cancelled = failure.diagnostics.first?.id == "run.cancelled" || cancellation.isCancelled
                let again = failure.retriable && !cancelled && attempt <= retry.max
                reporter.report(
                    .nodeFailed(
                        node: node.id, seconds: seconds, error: failure.headline, attempt: attempt, willRetry: again))
                if again {
                    let wait = retry.backoff * pow(2, Double(attempt - 1))
                    try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))
                    if !cancellation.isCancelled { continue }
                }
                return Finished(
                    id: node.id,
                    record: NodeRecord(
                        id: node.id, kind: node.kind.rawValue, status: cancelled ? "not run" : "failed",
                        key: node.fingerprint,
                        seconds: seconds, attempts: attempt, summary: "", metrics: [:], error: failure.headline),
                    failure: failure, warnings: [], lockEntry: nil)
            }
        }
    }

    private func retryPolicy(_ node: GraphNode) -> (max: Int, backoff: Double) {
        guard node.kind == .fit else { return (0, 0) }
        let name = String(node.resource.dropFirst("training/".count))
        return compiled.checked.trainings.first { $0.nodeName == name }?.retry ?? (0, 0)
    }

    /// One attempt: the executor writes into a fresh build directory, which is committed or discarded.
    private func attempt(_ node: GraphNode, attempt: Int) -> Result<(NodeOutput, CacheManifest), NodeFailure> {
        let started = Date()
        let pending: String
        do { pending = try cache.begin(node.fingerprint) } catch {
            return .failure(NodeFailure("run.io", "cannot create a cache entry: \(error)"))
        }
        do {
            let output = try executor.execute(node, outputs: pending, attempt: attempt)
            let manifest = CacheManifest(
                node: node.id, kind: node.kind.rawValue, key: node.fingerprint, kiln: KilnVersion.string,
                config: node.config.serialized(),
                files: Dictionary(node.files.map { ($0.path, $0.sha256) }, uniquingKeysWith: { a, _ in a }),
                inputs: Dictionary(
                    node.inputs.compactMap { id in graph.node(id).map { (id, $0.fingerprint) } },
                    uniquingKeysWith: { a, _ in a }),
                outputs: [:], summary: output.summary, metrics: output.metrics,
                created: EventRecord.timestamp(started), seconds: Date().timeIntervalSince(started))
            let committed = try cache.commit(pending, manifest: manifest)
            if node.kind == .fit { try? FileManager.default.removeItem(atPath: paths.work + "/" + node.fingerprint) }
            return .success((output, committed))
        } catch let failure as NodeFailure {
            cache.discard(pending)
            return .failure(failure)
        } catch {
            cache.discard(pending)
            return .failure(NodeFailure("run.io", "cannot store the outputs: \(error)"))
        }
    }

    /// Runs blocking work on a Dispatch worker thread, outside Swift's cooperative pool.
    private static func onThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
    }

    /// Merges this run's entries into kiln.lock (as read when the run began, under the workspace lock):
    /// nodes no longer in the graph are dropped.
    private func updateLock(with entries: [String: LockFile.Entry]) {
        var lock = options.lock
        let ids = Set(graph.nodes.map(\.id))
        lock.entries = lock.entries.filter { ids.contains($0.key) }
        for (id, entry) in entries { lock.entries[id] = entry }
        try? lock.write(paths.lockFile)
    }

    static func runID(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date) + "-" + String(format: "%04x", UInt16.random(in: 0...UInt16.max))
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
