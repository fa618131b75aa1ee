import ArgumentParser
import Foundation
import KilnCompiler
import KilnRegistry
import KilnRuntime
import KilnSecurity
import KilnSpec

/// Plumbing: runs one node from its job file. `kiln run --isolate` starts one of these per node; a cluster
/// backend would start it where the node runs.
struct ExecNode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec-node",
        abstract: "Plumbing: run one node of a compiled graph from its job file.",
        discussion: """
            The job file (JSON, written by the runner) holds the node's id, key, canonical
            config, payload, the files it reads with their hashes, and the keys of the
            upstream nodes whose outputs it reads from the workspace's cache. Nothing is
            compiled: the node runs from that file alone, and writes its outputs into
            --outputs (the runner commits them to the cache under the node's key).

            stdout carries one JSON object per line: {"epoch": {...}} while a training runs,
            then {"output": {...}} (exit 0) or {"failure": {...}} (exit 1). SIGTERM stops the
            node at its next check (a training saves its checkpoint) with a failure whose
            cause is "cancelled".

            Exit codes: 0 the node succeeded, 1 it failed (the failure is on stdout), 2 usage.
            """)

    @Option(help: "The job file.")
    var job: String

    @Option(help: "An empty directory for the node's outputs.")
    var outputs: String

    @Option(help: "The workspace (its cache, registry and keys).")
    var workspace: String = "."

    @Option(help: "Which attempt this is (1 for the first).")
    var attempt = 1

    @Option(help: "Seconds since 1970 after which the node stops at its next check (its timeout).")
    var deadline: Double?

    @Option(help: "Compute threads for a training whose spec does not say (default: the number of cores).")
    var threads: Int?

    func run() throws {
        let paths = WorkspacePaths(path: workspace)
        let decoded: NodeJob
        do {
            decoded = try JSONDecoder().decode(NodeJob.self, from: Data(contentsOf: URL(fileURLWithPath: job)))
        } catch {
            emit(WorkerMessage(failure: .infrastructure(.run(.exec), "the job file \(job) cannot be read", error)))
            throw ExitStatus.failure
        }
        // The same access control as `kiln run`: a job file does not carry a permission.
        if let authorizer = Access.runAuthorizer(
            Access.policies(workspace: paths.root).map(PolicySpec.init), workspace: paths.root)
        {
            for requirement in NodeRequirement.of(decoded.id, decoded.payload) {
                if let denial = authorizer.check(requirement, for: decoded.id) {
                    emit(WorkerMessage(failure: denial))
                    throw ExitStatus.failure
                }
            }
        }
        // Keys become paths in the cache and the work directory: a job file from elsewhere must not name
        // anything but a key (SHA-256 hex), and its inputs must be node ids.
        func isKey(_ s: String) -> Bool { s.utf8.count == 64 && s.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) } }
        if !isKey(decoded.key) || !decoded.inputs.allSatisfy({ NodeID($0.key) != nil && isKey($0.value) }) {
            emit(
                WorkerMessage(
                    failure: NodeFailure(
                        .run(.exec), "the job file \(job) names a key or an input that is not a node's key",
                        cause: .infrastructure)))
            throw ExitStatus.failure
        }
        let registry = GitRegistry(path: paths.registry, witness: Audit.witness(workspace: paths.root))
        let executor = LocalExecutor(
            paths: paths, registry: registry,
            computeThreads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let cancellation = CancellationFlag()
        let signals = SignalHandler { _ in cancellation.cancel() }
        defer { signals.stop() }
        // A node whose runner died stops too (at its next check, a training with its checkpoint): it must not
        // go on writing beside the next run.
        let parent = getppid()
        let orphaned = Thread {
            while !cancellation.isCancelled {
                if getppid() != parent { cancellation.cancel() }
                usleep(200_000)
            }
        }
        orphaned.start()
        let context = ExecutionContext(
            outputs: outputs, attempt: attempt, deadline: deadline.map { Date(timeIntervalSince1970: $0) },
            cancellation: cancellation
        ) { event in
            if case .epoch(_, let progress) = event { emit(WorkerMessage(epoch: progress)) }
        }
        do {
            emit(WorkerMessage(output: try executor.execute(decoded, context)))
        } catch {
            emit(WorkerMessage(failure: error))
            throw ExitStatus.failure
        }
    }
}

private func emit(_ message: WorkerMessage) {
    FileHandle.standardOutput.write(Data(message.line.utf8))
}
