import Foundation
import KilnCompiler
import KilnDiagnostics
import KilnRuntime
import KilnTestSupport
import Synchronization
import Testing

/// The runner alone, with an executor that only records and pretends: order, parallelism, failures and
/// skips, retries, timeouts, cancel and keep-going, in milliseconds, without data, training or git.
final class FakeExecutor: NodeExecuting, Sendable {
    enum Behaviour: Sendable {
        case succeed
        case fail
        /// Fails retriably this many times, then succeeds.
        case flaky(Int)
        /// Runs until the context says stop (its deadline, or the run's cancel).
        case untilStopped
        /// Says it was cancelled although the run was not (its process was signalled from outside).
        case stoppedFromOutside
    }

    struct Event: Sendable {
        var node: String
        var start: Date
        var end: Date
        var attempt: Int
        var deadline: Date?
    }

    let behaviours: [String: Behaviour]
    let delay: Double
    private let state = Mutex<(events: [Event], running: Int, peak: Int, peakFits: Int, fitsRunning: Int)>(
        ([], 0, 0, 0, 0))

    init(_ behaviours: [String: Behaviour] = [:], delay: Double = 0.005) {
        self.behaviours = behaviours
        self.delay = delay
    }

    var events: [Event] { state.withLock { $0.events } }
    var peak: Int { state.withLock { $0.peak } }
    var peakFits: Int { state.withLock { $0.peakFits } }
    func attempts(_ node: String) -> Int { events.filter { $0.node == node }.count }

    func execute(_ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput {
        let isFit = job.id.kind == .fit
        state.withLock {
            $0.running += 1
            $0.peak = max($0.peak, $0.running)
            if isFit {
                $0.fitsRunning += 1
                $0.peakFits = max($0.peakFits, $0.fitsRunning)
            }
        }
        let start = Date()
        let name = job.id.description
        defer {
            state.withLock {
                $0.running -= 1
                if isFit { $0.fitsRunning -= 1 }
                $0.events.append(
                    Event(node: name, start: start, end: Date(), attempt: context.attempt, deadline: context.deadline))
            }
        }
        switch behaviours[name] ?? .succeed {
        case .succeed:
            usleep(useconds_t(delay * 1e6))
        case .fail:
            throw NodeFailure("run.gate-failed", "gate failed: \(name)")
        case .flaky(let times):
            if context.attempt <= times {
                throw NodeFailure("run.training", "flaky", cause: .infrastructure, retriable: true)
            }
        case .stoppedFromOutside:
            throw .cancelled("stopped")
        case .untilStopped:
            while !context.cancellation.isCancelled && !context.isPastDeadline { usleep(1000) }
            if context.cancellation.isCancelled { throw .cancelled("stopped") }
            throw NodeFailure("run.timeout", "past its timeout", cause: .timeout, retriable: true)
        }
        try? Data(name.utf8).write(to: URL(fileURLWithPath: context.outputs + "/out.txt"))
        return NodeOutput(summary: "fake \(name)")
    }
}

/// An authorizer that denies one node kind.
struct Denying: RunAuthorizer {
    let kind: GraphNode.Kind
    func check(_ requirement: NodeRequirement, for node: NodeID) -> NodeFailure? {
        node.kind == kind ? NodeFailure("run.permission-denied", "permission denied for \(node)") : nil
    }
}

@Suite struct RunnerWithAFakeExecutor {
    /// `count` datasets, each with a training (threads as given, retry and timeout as written).
    static func workspace(_ count: Int, threads: Int = 1, training extra: String = "") -> String {
        var docs = [
            """
            apiVersion: kiln/v1
            kind: Model
            metadata: {name: m}
            spec: {task: classification, architecture: {type: linear}}
            """
        ]
        for i in 0..<count {
            docs.append(
                """
                apiVersion: kiln/v1
                kind: Dataset
                metadata: {name: d\(i)}
                spec:
                  source: {path: d.csv}
                  schema:
                    columns: {x: {type: float}, y: {type: category, values: [a, b]}}
                    label: y
                  split: {train: 0.8, test: 0.2}
                """)
            docs.append(
                """
                apiVersion: kiln/v1
                kind: Training
                metadata: {name: t\(i)}
                spec:
                  model: m
                  dataset: d\(i)
                  threads: \(threads)
                \(extra)
                """)
        }
        return docs.joined(separator: "\n---\n")
    }

    struct Setup {
        let directory: TemporaryDirectory
        let graph: ExecutionGraph
        var paths: WorkspacePaths { WorkspacePaths(path: directory.path) }

        init(_ yaml: String) throws {
            directory = try TemporaryDirectory()
            graph = try #require(TestCompile.graph(yaml), Comment(rawValue: "\(TestCompile.diagnostics(yaml))"))
        }

        func plan() throws -> Plan {
            let planner = Planner(graph: graph, cache: Cache(directory: paths.cache), lock: LockFile(), root: paths.root)
            return planner.plan(graph.nodes)
        }

        func run(
            _ executor: FakeExecutor, jobs: Int = 4, slots: Int = 2, keepGoing: Bool = false,
            authorizer: (any RunAuthorizer)? = nil, whileRunning: (@Sendable (Runner) async -> Void)? = nil
        ) async throws -> RunResult {
            let runner = Runner(
                graph: graph, paths: paths, executor: executor, reporter: RecordingReporter(),
                options: Runner.Options(jobs: jobs, keepGoing: keepGoing, computeThreads: slots), authorizer: authorizer)
            let plan = try plan()
            async let result = runner.run(plan)
            if let whileRunning { await whileRunning(runner) }
            return await result
        }
    }

    @Test func everyNodeStartsAfterItsInputsAndTheLockRecordsThemAll() async throws {
        let setup = try Setup(Self.workspace(3))
        let fake = FakeExecutor()
        let result = try await setup.run(fake)
        #expect(result.outcome == .succeeded)
        #expect(result.nodes.count == 15 && result.nodes.allSatisfy { $0.status == "done" })
        let events = Dictionary(fake.events.map { ($0.node, $0) }, uniquingKeysWith: { a, _ in a })
        for node in setup.graph.nodes {
            for input in node.inputs {
                let before = try #require(events[input.description]), after = try #require(events[node.id.description])
                #expect(before.end <= after.start, "\(input) ends before \(node.id) starts")
            }
        }
        let lock = try LockFile.load(setup.paths.lockFile)
        #expect(lock.entries.count == 15)
        // A second run finds everything cached: the executor is not called again.
        let again = FakeExecutor()
        let second = try await setup.run(again)
        #expect(second.nodes.allSatisfy { $0.status == "cached" } && again.events.isEmpty)
    }

    @Test func atMostJobsNodesRunAndTrainingsOnManyThreadsNeverShareTheCores() async throws {
        let setup = try Setup(Self.workspace(6, threads: 2))
        let fake = FakeExecutor(delay: 0.01)
        let result = try await setup.run(fake, jobs: 3, slots: 2)
        #expect(result.outcome == .succeeded)
        #expect(fake.peak <= 3 && fake.peak >= 2, "peak \(fake.peak)")
        #expect(fake.peakFits == 1, "a training on 2 threads takes both compute slots")

        let single = try Setup(Self.workspace(6, threads: 1))
        // Long enough that two ready fits overlap even when the whole suite loads both cores (at 20 ms a
        // scheduling lag on a busy CI machine once let them run one after the other).
        let parallel = FakeExecutor(delay: 0.15)
        _ = try await single.run(parallel, jobs: 4, slots: 2)
        #expect(parallel.peakFits == 2, "one-thread trainings share the two slots")
    }

    @Test func aFailureSkipsWhatDependsOnItAndStopsTheRun() async throws {
        let setup = try Setup(Self.workspace(2))
        let fake = FakeExecutor(["dataset/d0:check": .fail])
        let result = try await setup.run(fake, jobs: 1)
        #expect(result.outcome == .failed)
        #expect(result.status("dataset/d0:check") == "failed")
        #expect(result.status("dataset/d0:split") == "skipped")
        #expect(result.status("training/t0:fit") == "skipped")
        #expect(result.nodes.first { $0.id == "training/t0:gate" }?.summary == "upstream dataset/d0:check failed")
        // Without --keep-going nothing new starts after the failure.
        #expect(result.status("training/t1:fit") == "not run")
        #expect(result.failures.map(\.node) == ["dataset/d0:check"])
        #expect(try LockFile.load(setup.paths.lockFile).entries["dataset/d0:check"] == nil)
    }

    @Test func keepGoingRunsEveryBranchThatDoesNotDependOnTheFailure() async throws {
        let setup = try Setup(Self.workspace(2))
        let result = try await setup.run(FakeExecutor(["dataset/d0:check": .fail]), jobs: 1, keepGoing: true)
        #expect(result.outcome == .failed)
        #expect(result.status("training/t1:gate") == "done")
        #expect(result.status("training/t0:gate") == "skipped")
    }

    @Test func aRetriableFailureIsRetriedWithDoublingBackoff() async throws {
        let setup = try Setup(Self.workspace(1, training: "  retry: {max: 2, backoff: 20ms}"))
        let fake = FakeExecutor(["training/t0:fit": .flaky(2)])
        let result = try await setup.run(fake)
        #expect(result.outcome == .succeeded)
        #expect(fake.attempts("training/t0:fit") == 3)
        #expect(result.nodes.first { $0.id == "training/t0:fit" }?.attempts == 3)
        let starts = fake.events.filter { $0.node == "training/t0:fit" }.map(\.start)
        #expect(starts[1].timeIntervalSince(starts[0]) >= 0.02 && starts[2].timeIntervalSince(starts[1]) >= 0.04)

        // One retry is not enough for a node that fails twice: it fails after two attempts.
        let short = try Setup(Self.workspace(1, training: "  retry: {max: 1, backoff: 1ms}"))
        let failing = FakeExecutor(["training/t0:fit": .flaky(2)])
        let failed = try await short.run(failing)
        #expect(failed.outcome == .failed && failing.attempts("training/t0:fit") == 2)
        // A failure that is not retriable is not retried.
        let once = FakeExecutor(["training/t0:fit": .fail])
        _ = try await Setup(Self.workspace(1, training: "  retry: {max: 3, backoff: 1ms}")).run(once)
        #expect(once.attempts("training/t0:fit") == 1)
    }

    @Test func aTimeoutGivesEachAttemptADeadline() async throws {
        let setup = try Setup(Self.workspace(1, training: "  timeout: 30ms\n  retry: {max: 1, backoff: 1ms}"))
        let fake = FakeExecutor(["training/t0:fit": .untilStopped])
        let result = try await setup.run(fake)
        #expect(result.outcome == .failed)
        let attempts = fake.events.filter { $0.node == "training/t0:fit" }
        #expect(attempts.count == 2)
        for a in attempts {
            let deadline = try #require(a.deadline)
            #expect(abs(deadline.timeIntervalSince(a.start) - 0.03) < 0.02)
            #expect(a.end >= deadline)
        }
        #expect(result.failures.first?.diagnostics.first?.id == "run.timeout")
    }

    @Test func cancelStopsRunningNodesAndLeavesTheRestNotRun() async throws {
        let setup = try Setup(Self.workspace(1))
        let fake = FakeExecutor(["training/t0:fit": .untilStopped])
        let result = try await setup.run(fake) { runner in
            while !fake.events.contains(where: { $0.node == "dataset/d0:split" }) { try? await Task.sleep(for: .milliseconds(2)) }
            try? await Task.sleep(for: .milliseconds(20))
            runner.cancel()
        }
        #expect(result.outcome == .cancelled)
        #expect(result.status("dataset/d0:split") == "done")
        #expect(result.status("training/t0:fit") == "not run")
        #expect(result.status("training/t0:gate") == "not run", "downstream of a cancelled node: not run, not skipped")
        #expect(result.failures.isEmpty)
    }

    @Test func aDeniedNodeStopsTheRunBeforeAnythingStarts() async throws {
        let setup = try Setup(Self.workspace(1))
        let fake = FakeExecutor()
        let result = try await setup.run(fake, authorizer: Denying(kind: .fit))
        #expect(result.outcome == .failed)
        #expect(fake.events.isEmpty)
        #expect(result.failures.first?.node == "training/t0:fit")
        #expect(result.failures.first?.diagnostics.first?.id == "run.permission-denied")
    }

    @Test func everyNodeKindSaysWhatItNeeds() throws {
        let yaml = Self.workspace(1, training: "  register: {name: m1, alias: staging}") + """

            ---
            apiVersion: kiln/v1
            kind: Deployment
            metadata: {name: api}
            spec: {model: m1@staging, environment: production}
            """
        let graph = try #require(TestCompile.graph(yaml), Comment(rawValue: "\(TestCompile.diagnostics(yaml))"))
        func needs(_ id: NodeID) throws -> [NodeRequirement] { NodeRequirement.of(try #require(graph.node(id))) }
        #expect(try needs("dataset/d0:ingest") == [.permission(action: "read", resources: ["dataset/d0"], environment: nil)])
        #expect(try needs("dataset/d0:check").isEmpty)
        #expect(try needs("training/t0:fit") == [.permission(action: "run", resources: ["training/t0"], environment: nil)])
        #expect(
            try needs("training/t0:register") == [
                .permission(action: "register", resources: ["training/t0", "model/m1"], environment: nil),
                .aliasMove(model: "m1", alias: "staging"),
            ])
        #expect(
            try needs("deployment/api:release") == [
                .permission(action: "deploy", resources: ["deployment/api", "model/m1"], environment: "production"),
                .aliasMove(model: "m1", alias: "production"),
            ])
    }
}

extension RunnerWithAFakeExecutor {
    @Test func aRunThatCannotWriteKilnLockFails() async throws {
        let setup = try Setup(Self.workspace(1))
        // A directory where kiln.lock goes: the write fails (as it would without permission, even as root).
        try FileManager.default.createDirectory(atPath: setup.paths.lockFile, withIntermediateDirectories: true)
        let result = try await setup.run(FakeExecutor())
        #expect(result.outcome == .failed)
        #expect(result.nodes.allSatisfy { $0.status == "done" })
        let failure = try #require(result.failures.first)
        #expect(failure.node == "kiln.lock" && failure.cause == .infrastructure)
        #expect(failure.diagnostics.first?.id == "run.lock-not-written")
    }
}

extension RunnerWithAFakeExecutor {
    @Test func aNodeStoppedFromOutsideTheRunFailsTheRun() async throws {
        let setup = try Setup(Self.workspace(1))
        let result = try await setup.run(FakeExecutor(["training/t0:fit": .stoppedFromOutside]))
        #expect(result.outcome == .failed)
        #expect(result.status("training/t0:fit") == "failed")
        #expect(result.status("training/t0:gate") == "skipped")
        #expect(result.failures.first?.cause == .infrastructure)
    }
}

