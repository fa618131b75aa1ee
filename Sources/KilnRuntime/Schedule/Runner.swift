public import Foundation
public import KilnCompiler
public import KilnDiagnostics
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
    /// Where the node ran, when not in the runner's own process (`kiln exec-node, pid 4242`).
    public var ranIn: String?
}

/// What a run did.
public struct RunResult: Sendable {
    public var id: String
    public var outcome: RunOutcome
    public var started: Date
    public var seconds: Double
    public var nodes: [NodeRecord]
    /// Diagnostics of failed nodes, in node order, with what kind of failure each was.
    public var failures: [(node: String, cause: NodeFailure.Cause, diagnostics: [Diagnostic])]
    public var warnings: [Diagnostic]
    /// What the nodes that ran produced (registrations, releases), in node order.
    public var outputs: [(node: NodeID, output: NodeOutput)] = []
}

/// Drives the scheduler's state machine: starts the nodes it hands out (each on a thread of its own,
/// so a long training never holds Swift's cooperative threads) through the executor it was given,
/// commits their outputs to the cache, retries what may be retried, and stops cleanly when cancelled.
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

    let graph: ExecutionGraph
    let paths: WorkspacePaths
    let cache: Cache
    let reporter: any RunReporter
    let options: Options
    let executor: any NodeExecuting
    let authorizer: (any RunAuthorizer)?
    public let cancellation = CancellationFlag()

    public init(
        graph: ExecutionGraph, paths: WorkspacePaths, executor: any NodeExecuting, reporter: any RunReporter,
        options: Options, authorizer: (any RunAuthorizer)? = nil
    ) {
        self.graph = graph
        self.paths = paths
        cache = Cache(directory: paths.cache)
        self.reporter = reporter
        self.options = options
        self.executor = executor
        self.authorizer = authorizer
    }

    /// Asks running nodes to stop at their next check (a training: after its epoch, with a checkpoint).
    public func cancel() { cancellation.cancel() }

    /// What the plan's nodes to run need from access control (`NodeRequirement.of`), asked of the
    /// authorizer: the first denial, or nil. `run` asks this first, and runs nothing when denied.
    public func authorize(_ plan: Plan) -> (node: NodeID, failure: NodeFailure)? {
        guard let authorizer else { return nil }
        for item in plan.items where !item.cached {
            for requirement in NodeRequirement.of(item.node) {
                if let denial = authorizer.check(requirement, for: item.node.id) { return (item.node.id, denial) }
            }
        }
        return nil
    }

    private struct Finished: Sendable {
        var id: NodeID
        var record: NodeRecord
        var failure: NodeFailure?
        var output: NodeOutput?
        var lockEntry: LockFile.Entry?
    }

    public func run(_ plan: Plan) async -> RunResult {
        let started = Date()
        let clock = ContinuousClock.now
        let id = Self.runID(started)
        func record(_ node: GraphNode, _ status: String, summary: String = "", seconds: Double = 0, attempts: Int = 0)
            -> NodeRecord
        {
            NodeRecord(
                id: node.id.description, kind: node.kind.rawValue, status: status, key: node.fingerprint,
                seconds: seconds, attempts: attempts, summary: summary, metrics: [:])
        }
        if let (node, denial) = authorize(plan) {
            let nodes = plan.items.map { record($0.node, $0.node.id == node ? "failed" : "not run") }
            reporter.close()
            return RunResult(
                id: id, outcome: .failed, started: started, seconds: 0, nodes: nodes,
                failures: [(node.description, denial.cause, denial.diagnostics)], warnings: [])
        }
        cache.cleanTemporary()
        reporter.report(
            .runStarted(
                run: id, nodes: plan.items.count, toRun: plan.toRun.count, cached: plan.cachedCount, jobs: options.jobs)
        )

        var records: [NodeID: NodeRecord] = [:]
        var outputs: [NodeID: NodeOutput] = [:]
        var lockEntries: [String: LockFile.Entry] = [:]
        for item in plan.items where item.cached {
            let manifest =
                reporter.showsCached || item.lockedKey != item.node.fingerprint
                ? cache.manifest(item.node.fingerprint) : nil
            let summary = manifest?.summary ?? ""
            reporter.report(.nodeCached(node: item.node.id.description, key: item.node.fingerprint, summary: summary))
            var r = record(item.node, "cached", summary: summary)
            r.metrics = manifest?.metrics ?? [:]
            records[item.node.id] = r
            lockEntries[item.node.id.description] =
                manifest.map { LockFile.Entry(key: item.node.fingerprint, outputs: $0.outputs.mapValues(\.sha256)) }
                ?? options.lock.entries[item.node.id.description]
        }

        var state = SchedulerState(
            nodes: plan.items.map { item in
                SchedulerState.Node(
                    id: item.node.id.description, inputs: item.node.inputs.map(\.description), cost: cost(item.node),
                    serial: serial(item.node))
            }, cached: Set(plan.items.filter(\.cached).map(\.node.id.description)), jobs: options.jobs,
            slots: options.computeThreads,
            keepGoing: options.keepGoing)
        let nodes = Dictionary(plan.items.map { ($0.node.id.description, $0.node) }, uniquingKeysWith: { a, _ in a })
        executor.prepare(plan.toRun.map(\.node), in: graph)
        var failures: [(String, NodeFailure.Cause, [Diagnostic])] = []
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
                    let job = NodeJob(node, upstream: graph.upstreamKeys(of: node.id))
                    group.addTask { await self.execute(node, job) }
                }
                if running == 0 { break }
                guard let finished = await group.next() else { break }
                running -= 1
                records[finished.id] = finished.record
                if let output = finished.output {
                    warnings += output.warnings
                    outputs[finished.id] = output
                }
                if let entry = finished.lockEntry { lockEntries[finished.id.description] = entry }
                let cancelled = finished.failure?.cause == .cancelled
                if let failure = finished.failure, !cancelled {
                    failures.append((finished.id.description, failure.cause, failure.diagnostics))
                }
                if cancellation.isCancelled && !cancelledSeen {
                    cancelledSeen = true
                    state.cancel()
                }
                let outcome: SchedulerState.Outcome =
                    finished.failure == nil ? .succeeded : (cancelled ? .cancelled : .failed)
                for action in state.finish(finished.id.description, outcome) {
                    guard case .skip(let skipped, let cause) = action, let node = nodes[skipped] else { continue }
                    let reason = "upstream \(cause) failed"
                    reporter.report(.nodeSkipped(node: skipped, reason: reason))
                    records[node.id] = record(node, "skipped", summary: reason)
                }
            }
        }
        state.cancel()  // anything still pending did not run
        for item in plan.items where records[item.node.id] == nil {
            records[item.node.id] = record(item.node, "not run")
        }

        var outcome: RunOutcome =
            cancellation.isCancelled
            ? .cancelled : (records.values.contains { $0.status == "failed" } ? .failed : .succeeded)
        // kiln.lock is the run's result as much as the cache is: a run that cannot write it failed.
        if let problem = updateLock(with: lockEntries) {
            failures.append(("kiln.lock", .infrastructure, [problem]))
            if outcome == .succeeded { outcome = .failed }
        }
        let seconds = (ContinuousClock.now - clock).seconds
        var counts: [String: Int] = [:]
        for r in records.values { counts[r.status, default: 0] += 1 }
        reporter.report(.runFinished(run: id, outcome: outcome, seconds: seconds, counts: counts))
        reporter.close()
        return RunResult(
            id: id, outcome: outcome, started: started, seconds: seconds,
            nodes: plan.items.compactMap { records[$0.node.id] }, failures: failures, warnings: warnings,
            outputs: plan.items.compactMap { item in outputs[item.node.id].map { (item.node.id, $0) } })
    }

    /// Compute slots a node takes: a training on one thread takes one, a training on more takes them all
    /// (trainings never share compute threads: results depend on the thread count, and must not depend on
    /// what else ran); other nodes take none.
    private func cost(_ node: GraphNode) -> Int {
        guard let training = node.payload.training else { return 0 }
        let threads = training.threads ?? options.computeThreads
        return threads <= 1 ? 1 : options.computeThreads
    }

    /// Register nodes of one model run in graph order, so version numbers do not depend on timing.
    private func serial(_ node: GraphNode) -> String? {
        guard case .register(let r) = node.payload else { return nil }
        return "register:" + r.model
    }

    private func retryPolicy(_ node: GraphNode) -> RetryPolicy {
        node.payload.training?.retry ?? .never
    }

    private func timeout(_ node: GraphNode) -> Double? {
        node.payload.training?.timeout ?? nil
    }

    /// Runs one node with its retries; commits its outputs on success.
    private func execute(_ node: GraphNode, _ job: NodeJob) async -> Finished {
        let retry = retryPolicy(node)
        var attempt = 0
        let clock = ContinuousClock.now
        let name = node.id.description
        while true {
            attempt += 1
            reporter.report(.nodeStarted(node: name, attempt: attempt))
            let attemptNumber = attempt
            let outcome: Result<(NodeOutput, CacheManifest), NodeFailure> = await Self.onThread {
                self.attempt(node, job, attempt: attemptNumber)
            }
            let seconds = (ContinuousClock.now - clock).seconds
            switch outcome {
            case .success(let (output, manifest)):
                reporter.report(
                    .nodeFinished(node: name, seconds: seconds, summary: output.summary, metrics: output.metrics))
                return Finished(
                    id: node.id,
                    record: NodeRecord(
                        id: name, kind: node.kind.rawValue, status: "done", key: node.fingerprint, seconds: seconds,
                        attempts: attempt, summary: output.summary, metrics: output.metrics, ranIn: output.ranIn),
                    failure: nil, output: output,
                    lockEntry: LockFile.Entry(key: node.fingerprint, outputs: manifest.outputs.mapValues(\.sha256)))
            case .failure(var failure):
                // Whatever ends a node while the run is cancelled is the cancel's doing; a node that says it
                // was cancelled when the run was not (its process was signalled from outside) failed.
                if cancellation.isCancelled {
                    failure.cause = .cancelled
                } else if failure.cause == .cancelled {
                    failure = NodeFailure(
                        failure.diagnostics.map {
                            var d = $0
                            d.message += " (the node was stopped from outside the run)"
                            return d
                        }, cause: .infrastructure, retriable: true)
                }
                let cancelled = failure.cause == .cancelled
                let again = failure.retriable && !cancelled && attempt <= retry.max
                reporter.report(
                    .nodeFailed(
                        node: name, seconds: seconds, error: failure.headline, attempt: attempt, willRetry: again))
                if again {
                    let wait = retry.backoff * pow(2, Double(attempt - 1))
                    try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))
                    if !cancellation.isCancelled { continue }
                    failure.cause = .cancelled
                }
                return Finished(
                    id: node.id,
                    record: NodeRecord(
                        id: name, kind: node.kind.rawValue, status: failure.cause == .cancelled ? "not run" : "failed",
                        key: node.fingerprint,
                        seconds: seconds, attempts: attempt, summary: "", metrics: [:], error: failure.headline),
                    failure: failure, output: nil, lockEntry: nil)
            }
        }
    }

    /// One attempt: the executor writes into a fresh build directory, which is committed or discarded.
    private func attempt(_ node: GraphNode, _ job: NodeJob, attempt: Int) -> Result<(NodeOutput, CacheManifest), NodeFailure>
    {
        let started = Date()
        let pending: String
        do { pending = try cache.begin(node.fingerprint) } catch {
            return .failure(.infrastructure(.run(.io), "cannot create a cache entry", error))
        }
        let context = ExecutionContext(
            outputs: pending, attempt: attempt, deadline: timeout(node).map { started.addingTimeInterval($0) },
            cancellation: cancellation, report: { [reporter] in reporter.report($0) })
        do {
            let output = try executor.execute(job, context)
            let manifest = CacheManifest(
                node: node.id.description, kind: node.kind.rawValue, key: node.fingerprint, kiln: KilnVersion.string,
                config: job.config,
                files: Dictionary(node.files.map { ($0.path, $0.sha256) }, uniquingKeysWith: { a, _ in a }),
                inputs: Dictionary(
                    node.inputs.compactMap { id in graph.node(id).map { (id.description, $0.fingerprint) } },
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
            return .failure(.infrastructure(.run(.io), "cannot store the outputs", error))
        }
    }

    /// Runs blocking work on a Dispatch worker thread, outside Swift's cooperative pool.
    private static func onThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
    }

    /// Merges this run's entries into kiln.lock (as read when the run began, under the workspace lock):
    /// nodes no longer in the graph are dropped. A lock that cannot be written is the run's failure.
    private func updateLock(with entries: [String: LockFile.Entry]) -> Diagnostic? {
        var lock = options.lock
        let ids = Set(graph.nodes.map(\.id.description))
        lock.entries = lock.entries.filter { ids.contains($0.key) }
        for (id, entry) in entries { lock.entries[id] = entry }
        // Nothing new (a no-op run): the lock this run was planned from is the file, under the run's lock.
        if lock == options.lock && FileManager.default.fileExists(atPath: paths.lockFile) { return nil }
        do { try lock.write(paths.lockFile) } catch {
            return Diagnostic(
                .run(.lockNotWritten), .error,
                "kiln.lock could not be written (\(error)); the cache holds this run's outputs, but the lock does not record them",
                at: nil, help: "make \(paths.lockFile) writable, then run again: cached nodes are not redone")
        }
        return nil
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
