public import Foundation
import KilnDiagnostics

/// What `kiln exec-node` writes on stdout, one JSON object per line: progress while the node runs, then
/// exactly one of `output` or `failure`.
public struct WorkerMessage: Sendable, Codable {
    public var epoch: EpochProgress?
    public var output: NodeOutput?
    public var failure: NodeFailure?

    public init(epoch: EpochProgress? = nil, output: NodeOutput? = nil, failure: NodeFailure? = nil) {
        self.epoch = epoch
        self.output = output
        self.failure = failure
    }

    public var line: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return ((try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
    }

    static func decode(_ line: Substring) -> WorkerMessage? {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try? decoder.decode(WorkerMessage.self, from: Data(line.utf8))
    }
}

/// Runs each node in a process of its own: the job is written to a file and `kiln exec-node` runs it from
/// that file, the cache and the workspace alone (`launcher` goes in front of the command: a wrapper that
/// runs it elsewhere, such as `srun`, fits there). Progress comes back on the process's stdout; Ctrl-C
/// reaches it as SIGTERM (it stops at its next check, a training with a checkpoint).
public struct ProcessExecutor: NodeExecuting {
    /// The kiln executable.
    public var executable: String
    public var launcher: [String]
    public var workspace: String
    /// Where job files and the processes' stderr go while they run.
    public var jobs: String
    /// Compute threads for trainings whose spec does not say.
    public var computeThreads: Int

    public init(executable: String, launcher: [String] = [], workspace: String, jobs: String, computeThreads: Int) {
        self.executable = executable
        self.launcher = launcher
        self.workspace = workspace
        self.jobs = jobs
        self.computeThreads = computeThreads
    }

    public func execute(_ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput {
        // Unique per attempt: two nodes can share a key (same kind, config, files and inputs).
        let base = "\(jobs)/\(job.key.prefix(16))-\(context.attempt)-\(UUID().uuidString.lowercased())"
        let jobFile = base + ".json", errorFile = base + ".stderr"
        do {
            try FileManager.default.createDirectory(atPath: jobs, withIntermediateDirectories: true)
            try JSONEncoder().encode(job).write(to: URL(fileURLWithPath: jobFile), options: .atomic)
            _ = FileManager.default.createFile(atPath: errorFile, contents: nil)
        } catch { throw .infrastructure(.run(.exec), "cannot write the job file \(jobFile)", error) }
        defer {
            try? FileManager.default.removeItem(atPath: jobFile)
            try? FileManager.default.removeItem(atPath: errorFile)
        }

        var arguments = [
            "exec-node", "--job", jobFile, "--outputs", context.outputs, "--workspace", workspace,
            "--attempt", String(context.attempt), "--threads", String(computeThreads),
        ]
        if let deadline = context.deadline { arguments += ["--deadline", String(deadline.timeIntervalSince1970)] }
        let process = Process()
        let command = launcher + [executable] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle(forWritingAtPath: errorFile)
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch {
            throw .infrastructure(.run(.exec), "cannot start \(command[0])", error)
        }
        let pid = process.processIdentifier

        // Ctrl-C: the process is asked to stop (SIGTERM) and given its step to finish.
        let exited = CancellationFlag()
        let watcher = Thread {
            while !exited.isCancelled {
                if context.cancellation.isCancelled {
                    if process.isRunning { kill(pid, SIGTERM) }
                    return
                }
                usleep(50_000)
            }
        }
        watcher.start()

        var final: WorkerMessage?
        var buffer = Data()
        let reader = out.fileHandleForReading
        while true {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: 10) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                guard let message = WorkerMessage.decode(Substring(line)) else { continue }
                if let progress = message.epoch {
                    context.report(.epoch(node: job.id.description, progress: progress))
                } else if message.output != nil || message.failure != nil {
                    final = message
                }
            }
        }
        process.waitUntilExit()
        exited.cancel()

        if var output = final?.output, process.terminationStatus == 0 {
            output.ranIn = "kiln exec-node, pid \(pid)"
            return output
        }
        if let failure = final?.failure { throw failure }
        let stderr = (try? String(contentsOfFile: errorFile, encoding: .utf8)) ?? ""
        let tail = stderr.split(separator: "\n").suffix(5).joined(separator: "\n")
        let how =
            process.terminationReason == .uncaughtSignal
            ? "was killed by signal \(process.terminationStatus)" : "exited with status \(process.terminationStatus)"
        throw NodeFailure(
            .run(.exec), "the node's process (pid \(pid)) \(how) without a result" + (tail.isEmpty ? "" : ":\n\(tail)"),
            cause: context.cancellation.isCancelled ? .cancelled : .infrastructure, retriable: true)
    }
}
