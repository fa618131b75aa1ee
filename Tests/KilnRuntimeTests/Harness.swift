import Synchronization
import Foundation
import KilnCompiler
import KilnRegistry
import KilnRuntime
import KilnSpec
import KilnTestSupport

/// A workspace in a temporary directory: iris data and specs written from strings, run in-process.
final class TestWorkspace {
    let directory: TemporaryDirectory
    var path: String { directory.path }

    static let dataset = """
        apiVersion: kiln/v1
        kind: Dataset
        metadata: {name: iris}
        spec:
          source: {path: ../data/iris.csv}
          schema:
            columns:
              sepal_length: {type: float}
              sepal_width: {type: float}
              petal_length: {type: float}
              petal_width: {type: float}
              species: {type: category, values: [setosa, versicolor, virginica]}
            label: species
          checks:
            - {check: row_count, min: 100}
          transforms:
            - {op: standardize, columns: auto}
          split: {strategy: stratified, train: 0.7, validation: 0.1, test: 0.2, seed: 0}
        """

    static let model = """
        apiVersion: kiln/v1
        kind: Model
        metadata: {name: iris-linear}
        spec:
          task: classification
          architecture: {type: linear}
          init: {scheme: zeros}
        """

    static func training(learningRate: String = "0.1", gateMin: String = "0.8", message: String = "baseline") -> String
    {
        """
        apiVersion: kiln/v1
        kind: Training
        metadata: {name: iris-train}
        spec:
          model: iris-linear
          dataset: iris
          epochs: 20
          batch_size: 16
          optimizer: {type: sgd, learning_rate: \(learningRate)}
          metrics: [accuracy]
          threads: 1
          gates:
            - {metric: accuracy, split: test, min: \(gateMin)}
          register: {message: "\(message)", alias: staging}
        """
    }

    init(training: String = TestWorkspace.training()) throws {
        directory = try TemporaryDirectory(files: [
            "specs/dataset.yaml": Self.dataset, "specs/model.yaml": Self.model, "specs/train.yaml": training,
        ])
        try FileManager.default.createDirectory(atPath: path + "/data", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: Repository.path("examples/iris/data/iris.csv"), toPath: path + "/data/iris.csv")
    }

    /// A workspace of `files` (path → text) and copies of repository files or folders (path → repository path).
    init(files: [String: String], copies: [String: String]) throws {
        directory = try TemporaryDirectory(files: files)
        for (target, source) in copies {
            let destination = path + "/" + target
            try FileManager.default.createDirectory(
                atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: Repository.path(source), toPath: destination)
        }
    }

    func write(_ name: String, _ text: String) throws { try directory.write(name, text) }

    func compile() throws -> (Compiler.Result, ExecutionGraph) {
        let workspace = WorkspaceLoader().load(path: path)
        let (result, graph) = Compiler().lower(workspace)
        guard let graph else {
            throw TestFailure("the test workspace does not compile: \(result.diagnostics.sorted.map(\.message))")
        }
        return (result, graph)
    }

    var paths: WorkspacePaths { WorkspacePaths(path: path) }

    func plan(_ targets: [String] = []) throws -> Plan {
        let (_, graph) = try compile()
        let planner = Planner(
            graph: graph, cache: Cache(directory: paths.cache), lock: try LockFile.load(paths.lockFile), root: path)
        return planner.plan(try planner.select(targets))
    }

    /// Runs like `kiln run`, in-process.
    /// `watch` sees every event with the runner (to cancel it at a chosen point).
    func run(
        _ targets: [String] = [], jobs: Int = 2, keepGoing: Bool = false,
        watch: (@Sendable (RunEvent, Runner) -> Void)? = nil
    ) async throws -> (RunResult, [RunEvent]) {
        let (_, graph) = try compile()
        let lock = try LockFile.load(paths.lockFile)
        let planner = Planner(graph: graph, cache: Cache(directory: paths.cache), lock: lock, root: path)
        let plan = planner.plan(try planner.select(targets))
        let recorder = WatchingReporter(watch)
        let runner = Runner(
            graph: graph, paths: paths,
            executor: LocalExecutor(paths: paths, registry: GitRegistry(path: paths.registry), computeThreads: 2),
            reporter: recorder, options: Runner.Options(jobs: jobs, keepGoing: keepGoing, computeThreads: 2, lock: lock)
        )
        recorder.runner.withLock { $0 = runner }
        let result = await runner.run(plan)
        return (result, recorder.recording.all)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension RunResult {
    func status(_ id: String) -> String? { nodes.first { $0.id == id }?.status }
    var ran: [String] { nodes.filter { $0.status == "done" }.map(\.id) }
}

/// Records events, and hands each to a watcher with the runner.
final class WatchingReporter: RunReporter, Sendable {
    let recording = RecordingReporter()
    let runner = Mutex<Runner?>(nil)
    let watch: (@Sendable (RunEvent, Runner) -> Void)?

    init(_ watch: (@Sendable (RunEvent, Runner) -> Void)?) { self.watch = watch }

    func report(_ event: RunEvent) {
        recording.report(event)
        if let watch, let runner = runner.withLock({ $0 }) { watch(event, runner) }
    }
}
