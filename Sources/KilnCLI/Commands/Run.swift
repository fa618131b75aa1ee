import ArgumentParser
import Dispatch
import Foundation
import KilnCompiler
import KilnData
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import Synchronization

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the execution graph: ingest, check and split data, train, gate, register, release.",
        discussion: """
            Nodes whose key is in the cache (.kiln/cache) are skipped; the rest run in
            dependency order, up to --jobs at once. A failed node stops what depends on it
            (and, without --keep-going, the run). Ctrl-C stops cleanly: running trainings save
            a checkpoint, finished work stays cached, and the next `kiln run` resumes. kiln.lock
            records each node's key and output hashes; .kiln/runs/ keeps a record of each run.

            Exit codes: 0 success, 1 invalid specs, a failed node or gate, or a held workspace,
            2 usage error, 130 interrupted.

            Examples:
              kiln run examples/iris
              kiln run examples/iris training/iris-baseline --jobs 1
              kiln run . --json | jq -c 'select(.event == "epoch")'
            """)

    @OptionGroup var selection: WorkspaceAndTargets

    @Option(name: .shortAndLong, help: "Nodes at once (default: the number of cores).")
    var jobs: Int?

    @Flag(help: "After a failure, still run every branch that does not depend on it.")
    var keepGoing = false

    @Flag(help: "One JSON event per line on stdout (schema: docs/cli.md).")
    var json = false

    @Flag(name: .shortAndLong, help: "Print failures and the final line only.")
    var quiet = false

    @Flag(help: "Wait for another run of this workspace to finish instead of failing at once.")
    var wait = false

    @Flag(help: "Run each node in a process of its own (`kiln exec-node`), from its job file alone.")
    var isolate = false

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if json && quiet { throw ValidationError("--json and --quiet do not go together") }
    }

    func run() throws {
        let loaded = try LoadedWorkspace.load(selection.path)
        let workspaceLock: WorkspaceLock
        do {
            workspaceLock = try WorkspaceLock(path: loaded.paths.runLock, wait: wait)
        } catch {
            throw fail("\(error)")
        }
        defer { withExtendedLifetime(workspaceLock) {} }
        var current = loaded
        try current.refreshLock()
        let plan = try current.plan(selection.targets)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        // Registrations and alias moves are audited by the registry's witness before their refs move.
        let registry = GitRegistry(path: current.paths.registry, witness: Audit.witness(workspace: current.paths.root))
        let reporter = makeReporter()
        let runner = Runner(
            graph: current.graph, paths: current.paths,
            executor: executor(current.paths, registry, cores),
            reporter: reporter,
            options: Runner.Options(jobs: jobs ?? cores, keepGoing: keepGoing, computeThreads: cores, lock: current.lock),
            authorizer: Access.runAuthorizer(current.compiled.checked.policies, workspace: current.paths.root))
        // Denied before anything happens (the denial is printed and audited by the authorizer).
        if runner.authorize(plan) != nil { throw ExitStatus.failure }

        // The run's line comes first: with no audit log, nothing runs.
        try Audit.require(
            workspace: current.paths.root, action: "run",
            resource: "workspace/\((current.paths.root as NSString).lastPathComponent)",
            details: ["phase": "start", "targets": selection.targets.joined(separator: " ")])
        recordSpecs(current, registry)

        let signals = SignalHandler { count in
            if count == 1 {
                if !json {
                    Terminal.standardError(
                        "\nkiln: stopping: running nodes finish their step (trainings save a checkpoint); Ctrl-C again to quit now\n"
                    )
                }
                runner.cancel()
            } else {
                Foundation.exit(130)
            }
        }
        let result = Blocking.run { await runner.run(plan) }
        signals.stop()

        for failure in result.failures {
            Terminal.standardError("\(failure.node) \(failure.cause.phrase):\n" + current.renderer.text(failure.diagnostics))
        }
        if !result.warnings.isEmpty { Terminal.standardError(current.renderer.text(result.warnings)) }
        let exit: ExitStatus? = result.outcome == .succeeded ? .success : (result.outcome == .failed ? .failure : nil)
        let code: Int32 = exit?.rawValue ?? 130
        let record = RunRecord(
            result, command: Array(CommandLine.arguments.dropFirst()), targets: selection.targets,
            jobs: jobs ?? cores, exitCode: code)
        let recordPath: String?
        var recordFailed = false
        do { recordPath = try record.write(to: current.paths.runs) } catch {
            // The run's record is how `kiln runs` and the UI know it happened: not having it is a failure.
            _ = fail(
                "the run record could not be written to \(current.paths.runs): \(error)",
                help: "make .kiln/runs writable; the cache and kiln.lock hold the run's outputs")
            recordPath = nil
            recordFailed = true
        }
        auditRun(record, root: current.paths.root)
        if !json && !quiet { Terminal.standardOutput(results(result, record: recordPath, root: current.paths.root)) }
        if result.outcome == .cancelled { Foundation.exit(130) }
        if let exit, exit != .success { throw exit }
        if recordFailed { throw ExitStatus.failure }
    }

    private func executor(_ paths: WorkspacePaths, _ registry: GitRegistry, _ cores: Int) -> any NodeExecuting {
        guard isolate else { return LocalExecutor(paths: paths, registry: registry, computeThreads: cores) }
        return ProcessExecutor(
            executable: Self.executable, workspace: paths.root, jobs: paths.work + "/jobs", computeThreads: cores)
    }

    /// This kiln binary (what `--isolate` starts for each node).
    static var executable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
    }

    /// The run's outcome in the audit log (its registrations and releases were audited as they happened).
    private func auditRun(_ record: RunRecord, root: String) {
        Audit.record(
            workspace: root, action: "run", resource: "workspace/\((root as NSString).lastPathComponent)",
            outcome: record.outcome == .succeeded ? "allowed" : "failed",
            details: [
                "run": record.id, "outcome": record.outcome.rawValue, "targets": record.targets.joined(separator: " "),
                "nodes": "\(record.nodes.count)",
            ])
    }

    /// The run's spec files on `refs/kiln/specs` (when they changed): spec history without a git workspace.
    private func recordSpecs(_ w: LoadedWorkspace, _ registry: GitRegistry) {
        var files: [String: Data] = [:]
        for file in w.compiled.workspace.files {
            files[w.paths.relative(file.path)] =
                Data(file.text.utf8)
        }
        do {
            try registry.recordSpecs(
                files, author: Identity.current, message: "kiln run \(selection.targets.joined(separator: " "))")
        } catch {
            Terminal.standardError("kiln: warning: the spec history was not recorded: \(error)\n")
        }
    }

    private func makeReporter() -> any RunReporter {
        let out = OutputSink(fd: 1)
        if json { return JSONLinesReporter(sink: out) }
        if quiet { return PlainReporter(sink: out, quiet: true) }
        if Terminal.colour(for: 1) {
            var size = winsize()
            let width = ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 100
            return LiveReporter(sink: out, colour: true, width: width)
        }
        return PlainReporter(sink: out)
    }

    /// Where the results are: trained models (cache), registered versions, the run record.
    private func results(_ result: RunResult, record: String?, root: String) -> String {
        var out = ""
        // What this run registered and released; a cached node did nothing now (its summary is an earlier
        // run's: the alias it names may have moved since), and a skipped one nothing at all.
        for node in result.nodes where (node.kind == "register" || node.kind == "release") && !node.summary.isEmpty {
            switch node.status {
            case "done":
                out += "  \(node.kind == "register" ? "registered" : "released  ") \(node.summary)\n"
            case "cached" where node.kind == "register":
                let version = node.summary.split(separator: " ").first.map(String.init) ?? node.summary
                out += "  unchanged  \(version), registered by an earlier run (kiln log shows its aliases now)\n"
            default:
                continue
            }
        }
        if let record { out += "  run record  \(DatasetConfig.normalized(record))\n" }
        return out
    }
}
