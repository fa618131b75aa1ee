import Foundation
import KilnTestSupport
import Synchronization
import Testing

/// `kiln run`, `plan`, `status`, `runs` end to end: the real binary, killed and interrupted for real.
extension CLI {
    /// A workspace whose training takes a few seconds in a debug build: 2,000 rows, an MLP with dropout,
    /// a checkpoint every epoch, one compute thread (so that resumed weights are bit-identical).
    func trainingWorkspace(epochs: Int = 20) throws -> TemporaryDirectory {
        var csv = (0..<8).map { "x\($0)" }.joined(separator: ",") + ",label\n"
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53) * 2 - 1
        }
        for _ in 0..<2000 {
            let x = (0..<8).map { _ in next() }
            let s = x[0..<4].reduce(0, +) - x[4..<8].reduce(0, +)
            csv +=
                x.map { String(format: "%.5f", $0) }.joined(separator: ",") + ","
                + (s < -0.5 ? "a" : s < 0.5 ? "b" : "c") + "\n"
        }
        let columns = (0..<8).map { "      x\($0): {type: float}\n" }.joined()
        return try TemporaryDirectory(files: [
            "data/points.csv": csv,
            "specs/all.yaml": """
            apiVersion: kiln/v1
            kind: Dataset
            metadata: {name: points}
            spec:
              source: {path: ../data/points.csv}
              schema:
                columns:
            \(columns)      label: {type: category, values: [a, b, c]}
                label: label
              split: {strategy: random, train: 0.8, validation: 0.1, test: 0.1, seed: 0}
            ---
            apiVersion: kiln/v1
            kind: Model
            metadata: {name: points-mlp}
            spec:
              task: classification
              architecture: {type: mlp, hidden: [64, 64], dropout: 0.1}
            ---
            apiVersion: kiln/v1
            kind: Training
            metadata: {name: points-train}
            spec:
              model: points-mlp
              dataset: points
              epochs: \(epochs)
              batch_size: 16
              optimizer: {type: adam, learning_rate: 0.001}
              checkpoint: {every_epochs: 1}
              threads: 1
              gates:
                - {metric: accuracy, split: test, min: 0.5}
              register: {message: "points"}

            """,
        ])
    }

    /// A `kiln` process whose stdout is read line by line while it runs.
    final class Spawned: Sendable {
        let process: Process
        private let lines = Mutex<[String]>([])
        private let done = DispatchSemaphore(value: 0)

        init(_ arguments: [String], environment: [String: String] = [:]) throws {
            process = Process()
            process.executableURL = URL(fileURLWithPath: Repository.kilnBinary)
            process.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            env["GITHUB_ACTIONS"] = nil
            for (k, v) in environment { env[k] = v }
            process.environment = env
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            let handle = out.fileHandleForReading
            Thread.detachNewThread { [self] in
                var buffer = Data()
                while true {
                    let chunk = PipeReader.readSome(handle)
                    if chunk.isEmpty { break }
                    buffer.append(chunk)
                    while let newline = buffer.firstIndex(of: 10) {
                        let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                        buffer.removeSubrange(buffer.startIndex...newline)
                        self.lines.withLock { $0.append(line) }
                    }
                }
                self.done.signal()
            }
        }

        var output: [String] { lines.withLock { $0 } }

        /// Waits (up to `seconds`) until a line satisfies `predicate`.
        func wait(seconds: Double = 120, until predicate: (String) -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if output.contains(where: predicate) { return true }
                if !process.isRunning && output.contains(where: predicate) == false {
                    Thread.sleep(forTimeInterval: 0.05)
                    return output.contains(where: predicate)
                }
                Thread.sleep(forTimeInterval: 0.02)
            }
            return false
        }

        func finish() -> Int32 {
            process.waitUntilExit()
            done.wait()
            return process.terminationStatus
        }
    }

    static func epoch(_ line: String, atLeast n: Int) -> Bool {
        guard line.contains("\"event\":\"epoch\""),
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let epoch = object["epoch"] as? Int
        else { return false }
        return epoch >= n
    }

    func lockLine(_ workspace: String, _ node: String, _ output: String) throws -> String? {
        let text = try String(contentsOfFile: workspace + "/kiln.lock", encoding: .utf8)
        guard let section = text.components(separatedBy: "\n[").first(where: { $0.hasPrefix(node + "]") }) else {
            return nil
        }
        return section.split(separator: "\n").first { $0.hasPrefix("output \(output) ") }.map(String.init)
    }

    @Test func aKilledTrainingResumesFromItsCheckpointToTheSameWeights() throws {
        let reference = try trainingWorkspace()
        let uninterrupted = try kiln("run", reference.path, "--quiet")
        #expect(uninterrupted.status == 0, "\(uninterrupted.stderr)")

        let killed = try trainingWorkspace()
        let first = try Spawned(["run", killed.path, "--json"])
        #expect(first.wait { Self.epoch($0, atLeast: 4) })
        kill(first.process.processIdentifier, SIGKILL)
        #expect(first.finish() == 9)
        let work = killed.path + "/.kiln/work"
        let checkpoints = (try? FileManager.default.subpathsOfDirectory(atPath: work)) ?? []
        #expect(checkpoints.contains { $0.hasSuffix("checkpoint.safetensors") }, "a checkpoint survives the kill")
        #expect(!FileManager.default.fileExists(atPath: killed.path + "/.kiln/registry/refs/kiln/models/points-mlp"))

        let second = try Spawned(["run", killed.path, "--json"])
        #expect(second.finish() == 0)
        let resumedFrom = second.output.compactMap { line -> Int? in
            guard Self.epoch(line, atLeast: 1),
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            else { return nil }
            return object["resumed_from"] as? Int
        }.first
        #expect((resumedFrom ?? 0) >= 4, "the second run resumed from the checkpoint, not from epoch 0")
        #expect(
            second.output.contains { $0.contains("\"event\":\"node_cached\"") && $0.contains("dataset/points:ingest") })
        // Bit-identical weights (and metrics, card, lineage): the same hashes in both kiln.lock files.
        let weights = try lockLine(killed.path, "training/points-train:fit", "model/model.safetensors")
        #expect(weights != nil)
        #expect(weights == (try lockLine(reference.path, "training/points-train:fit", "model/model.safetensors")))
        #expect(
            try String(contentsOfFile: killed.path + "/kiln.lock", encoding: .utf8)
                == String(contentsOfFile: reference.path + "/kiln.lock", encoding: .utf8))
        #expect(!FileManager.default.fileExists(atPath: work + "/" + (checkpoints.first ?? "")) || checkpoints.isEmpty)
    }

    @Test func ctrlCStopsCleanlyKeepsWorkAndTheNextRunResumes() throws {
        let ws = try trainingWorkspace()
        let run = try Spawned(["run", ws.path, "--json"])
        #expect(run.wait { Self.epoch($0, atLeast: 3) })
        kill(run.process.processIdentifier, SIGINT)
        #expect(run.finish() == 130)
        #expect(run.output.last?.contains("\"outcome\":\"cancelled\"") == true)
        #expect(
            run.output.contains { $0.contains("\"event\":\"node_finished\"") && $0.contains("dataset/points:split") })
        let records = try FileManager.default.contentsOfDirectory(atPath: ws.path + "/.kiln/runs")
        #expect(records.count == 1, "the interrupted run has its record")

        let status = try kiln("status", ws.path)
        #expect(status.stdout.contains("run  training/points-train:fit"))
        #expect(!status.stdout.contains("dataset/points:ingest"), "finished work stayed cached")
        let again = try Spawned(["run", ws.path, "--json"])
        #expect(again.finish() == 0)
        #expect(again.output.contains { $0.contains("\"resumed_from\":") })
    }

    @Test func aSecondRunOnTheSameWorkspaceFailsFastWithAClearMessage() throws {
        let ws = try trainingWorkspace()
        let first = try Spawned(["run", ws.path, "--json"])
        #expect(first.wait { Self.epoch($0, atLeast: 1) })
        let second = try kiln("run", ws.path)
        #expect(second.status == 1)
        #expect(second.stderr.contains("another kiln run holds the workspace"))
        #expect(second.stderr.contains("pid \(first.process.processIdentifier)"))
        #expect(second.stderr.contains("--wait"))
        kill(first.process.processIdentifier, SIGINT)
        _ = first.finish()
        // --wait queues behind the holder instead.
        let waiting = try kiln("run", ws.path, "--wait", "--quiet")
        #expect(waiting.status == 0, "\(waiting.stderr)")
    }

    @Test func jsonEventsFollowTheDocumentedSchema() throws {
        let ws = try trainingWorkspace(epochs: 2)
        let r = try kiln("run", ws.path, "--json")
        #expect(r.status == 0, "\(r.stderr)")
        let required: [String: [String]] = [
            "run_started": ["run", "nodes", "to_run", "cached", "jobs"],
            "node_cached": ["node", "key", "summary"],
            "node_started": ["node", "attempt"],
            "epoch": [
                "node", "epoch", "epochs", "train_loss", "validation", "samples_per_second", "learning_rate", "eta",
            ],
            "node_finished": ["node", "seconds", "summary", "metrics"],
            "node_failed": ["node", "seconds", "error", "attempt", "will_retry"],
            "node_skipped": ["node", "reason"],
            "run_finished": ["run", "outcome", "seconds", "counts"],
        ]
        var seen = Set<String>()
        for line in r.stdout.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["v"] as? Int == 1)
            #expect((object["time"] as? String)?.hasSuffix("Z") == true)
            let event = try #require(object["event"] as? String)
            let fields = try #require(required[event], "unknown event \(event)")
            for field in fields { #expect(object[field] != nil, "\(event) lacks \(field)") }
            seen.insert(event)
        }
        #expect(seen.isSuperset(of: ["run_started", "node_started", "epoch", "node_finished", "run_finished"]))
        let cached = try kiln("run", ws.path, "--json")
        #expect(cached.stdout.split(separator: "\n").filter { $0.contains("\"event\":\"node_cached\"") }.count == 6)
    }

    @Test func exitCodesOfRun() throws {
        let ws = try trainingWorkspace(epochs: 1)
        let spec = ws.path + "/specs/all.yaml"
        let text = try String(contentsOfFile: spec, encoding: .utf8)
        // A gate nobody passes: exit 1 with the metric, its value and the bound.
        try text.replacingOccurrences(of: "min: 0.5", with: "min: 0.9999").write(
            toFile: spec, atomically: true, encoding: .utf8)
        let gate = try kiln("run", ws.path)
        #expect(gate.status == 1)
        #expect(gate.stderr.contains("gate failed: accuracy on test is"))
        #expect(gate.stderr.contains("below the minimum 0.9999"))
        #expect(gate.stderr.contains("all.yaml:39"))
        // An invalid spec: exit 1 before anything runs.
        try text.replacingOccurrences(of: "epochs: 1", with: "epochs: -1").write(
            toFile: spec, atomically: true, encoding: .utf8)
        let runsBefore = try FileManager.default.contentsOfDirectory(atPath: ws.path + "/.kiln/runs").count
        let invalid = try kiln("run", ws.path)
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("nothing ran"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: ws.path + "/.kiln/runs").count == runsBefore)
        // Usage errors: exit 2.
        #expect(try kiln("run", ws.path, "--jobs", "0").status == 2)
        try text.write(toFile: spec, atomically: true, encoding: .utf8)
        let unknown = try kiln("run", ws.path, "training/point-train")
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("did you mean 'training/points-train'"))
    }

    @Test func planExplainsAndRunsListsRuns() throws {
        let ws = try trainingWorkspace(epochs: 1)
        let never = try kiln("plan", ws.path)
        #expect(never.stdout.contains("never ran"))
        #expect(try kiln("run", ws.path, "--quiet").status == 0)
        let spec = ws.path + "/specs/all.yaml"
        let text = try String(contentsOfFile: spec, encoding: .utf8)
        try text.replacingOccurrences(of: "learning_rate: 0.001", with: "learning_rate: 0.002")
            .write(toFile: spec, atomically: true, encoding: .utf8)
        let plan = try kiln("plan", ws.path)
        #expect(plan.stdout.contains("optimizer.learning_rate: 0.001 → 0.002  (specs/all.yaml:35)"), "\(plan.stdout)")
        #expect(plan.stdout.contains("3 to run, 3 cached"))
        let status = try kiln("status", ws.path, "--locked")
        #expect(status.status == 1)
        #expect(status.stderr.contains("training/points-train:fit is not up to date"))
        let runs = try kiln("runs", ws.path)
        #expect(runs.stdout.contains("succeeded"))
        #expect(runs.stdout.contains("6 done"))
    }
}

extension CLI {
    /// Many small datasets: a run that is mostly cache writes, to kill at an arbitrary node.
    func manyDatasets(_ n: Int) throws -> TemporaryDirectory {
        var files: [String: String] = [:]
        for i in 0..<n {
            files["data/d\(i).csv"] =
                "a,b\n" + (0..<50).map { "\($0),\(($0 * 7 + i) % 13)" }.joined(separator: "\n") + "\n"
            files["specs/d\(i).yaml"] = """
                apiVersion: kiln/v1
                kind: Dataset
                metadata: {name: d\(i)}
                spec:
                  source: {path: ../data/d\(i).csv}
                  schema:
                    columns: {a: {type: int}, b: {type: int}}
                  checks: [{check: row_count, min: 10}]
                  split: {strategy: random, train: 0.8, test: 0.2, seed: \(i)}

                """
        }
        return try TemporaryDirectory(files: files)
    }

    @Test func aRunKilledBetweenNodesResumesToTheSameLock() throws {
        let reference = try manyDatasets(40)
        #expect(try kiln("run", reference.path, "--quiet").status == 0)
        let killed = try manyDatasets(40)
        let run = try Spawned(["run", killed.path, "--json", "--jobs", "2"])
        #expect(run.wait { line in line.contains("\"event\":\"node_finished\"") && line.contains("d2:split") })
        kill(run.process.processIdentifier, SIGKILL)
        _ = run.finish()
        let resumed = try Spawned(["run", killed.path, "--json"])
        #expect(resumed.finish() == 0)
        #expect(
            resumed.output.contains { $0.contains("\"event\":\"node_cached\"") }, "work done before the kill is kept")
        #expect(
            try String(contentsOfFile: killed.path + "/kiln.lock", encoding: .utf8)
                == String(contentsOfFile: reference.path + "/kiln.lock", encoding: .utf8))
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: killed.path + "/.kiln/cache/tmp")) ?? []
        #expect(leftovers.isEmpty, "the next run clears what the killed one was building")
    }
}

extension CLI {
    @Test func registryCommandsAfterARun() throws {
        let ws = try trainingWorkspace(epochs: 1)
        #expect(try kiln("run", ws.path, "--quiet").status == 0)
        let spec = ws.path + "/specs/all.yaml"
        let text = try String(contentsOfFile: spec, encoding: .utf8)
        try text.replacingOccurrences(of: "learning_rate: 0.001", with: "learning_rate: 0.002")
            .replacingOccurrences(of: "message: \"points\"", with: "message: \"faster\"")
            .write(toFile: spec, atomically: true, encoding: .utf8)
        #expect(try kiln("run", ws.path, "--quiet").status == 0)

        #expect(try kiln("run", ws.path, "--quiet").status == 0)  // no spec change: no new spec commit
        let specLog = try kiln("log", "--specs", "-C", ws.path, "--oneline")
        #expect(specLog.stdout.split(separator: "\n").count == 2, "\(specLog.stdout)")

        let log = try kiln("log", "points-mlp", "-C", ws.path, "--oneline")
        #expect(log.status == 0)
        let lines = log.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("v2 ") == true && lines.first?.contains("faster") == true)
        let json = try kiln("log", "points-mlp", "-C", ws.path, "--json")
        let versions = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(versions.map { $0["version"] as? Int } == [2, 1])

        let show = try kiln("show", "points-mlp@v1", "-C", ws.path)
        #expect(show.stdout.contains("points-mlp@v1"))
        #expect(show.stdout.contains("labels   a, b, c"))
        #expect(show.stdout.contains("data     data/points.csv sha256"))

        #expect(
            try kiln("promote", "points-mlp@v1", "production", "-C", ws.path).stdout == "points-mlp@production → v1\n")
        #expect(try kiln("promote", "points-mlp@latest", "production", "-C", ws.path).status == 0)
        #expect(
            try kiln("rollback", "production", "-C", ws.path).stdout == "points-mlp@production → v1 (rolled back)\n")
        let history = try kiln("alias", "history", "points-mlp@production", "-C", ws.path)
        let moves = history.stdout.split(separator: "\n")
        #expect(moves.count == 3)
        #expect(moves.first?.hasPrefix("v1 ") == true && moves.first?.contains("rollback: rolled back") == true)
        let models = try kiln("models", "-C", ws.path)
        #expect(models.stdout.contains("points-mlp  2  production=v1"))

        let out = ws.path + "/exported"
        #expect(try kiln("checkout", "points-mlp@production", "-C", ws.path, "-o", out).status == 0)
        let cached = try FileManager.default.subpathsOfDirectory(atPath: ws.path + "/.kiln/cache")
            .filter { $0.hasSuffix("model/model.safetensors") }
            .map { try Data(contentsOf: URL(fileURLWithPath: ws.path + "/.kiln/cache/" + $0)) }
        #expect(cached.contains(try Data(contentsOf: URL(fileURLWithPath: out + "/model.safetensors"))))

        let diff = try kiln("diff", "points-mlp@v2", "-C", ws.path)
        #expect(diff.status == 0, "\(diff.stderr)")
        #expect(diff.stdout.contains("points-mlp@v1 → points-mlp@v2"))
        #expect(diff.stdout.contains("-  optimizer: {type: adam, learning_rate: 0.001}"))
        #expect(diff.stdout.contains("+  optimizer: {type: adam, learning_rate: 0.002}"))
        #expect(diff.stdout.contains("training.optimizer.learning_rate  0.001 → 0.002"))
        #expect(diff.stdout.contains("test       accuracy"))
        #expect(diff.stdout.contains("cosine"))
        let same = try kiln("diff", "points-mlp@v1", "points-mlp@production", "-C", ws.path, "--json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(same.stdout.utf8)) as? [String: Any])
        let weights = try #require(doc["weights"] as? [[String: Any]])
        #expect(!weights.isEmpty && weights.allSatisfy { $0["identical"] as? Bool == true })
        #expect((doc["params"] as? [Any])?.isEmpty == true)
        #expect(try kiln("diff", "points-mlp@v1", "-C", ws.path).status == 1)  // v1 has no predecessor

        let shared = ws.path + "/../" + UUID().uuidString + ".git"
        defer { try? FileManager.default.removeItem(atPath: shared) }
        let push = try kiln("push", shared, "-C", ws.path)
        #expect(push.status == 0, "\(push.stderr)")
        #expect(push.stdout.contains("pushed  refs/kiln/models/points-mlp"))
        let other = try TemporaryDirectory()
        let pull = try kiln("pull", shared, "-C", other.path)
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(try kiln("log", "points-mlp", "-C", other.path, "--oneline").stdout.split(separator: "\n").count == 2)
        #expect(try kiln("push", "-C", ws.path).status == 2)  // no remote named

        let unknown = try kiln("show", "points-mlp@v9", "-C", ws.path)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("points-mlp@v9 names no registered version"))
        #expect(try kiln("show", "not a ref", "-C", ws.path).status == 2)
    }
}

extension CLI {
    @Test func theActingIdentityIsKilnUserElseGitsUserName() throws {
        let ws = try trainingWorkspace(epochs: 1)
        let home = try TemporaryDirectory(files: [
            ".gitconfig": "[user]\n\tname = Tess Tester\n\temail = tess@example.com\n"
        ])
        let environment = ["HOME": home.path, "XDG_CONFIG_HOME": home.path + "/.config", "KILN_USER": ""]
        #expect(try kiln("run", ws.path, "--quiet", environment: environment).status == 0)
        let log = try kiln("log", "points-mlp", "-C", ws.path, environment: environment)
        #expect(log.stdout.contains("Author: Tess Tester"), "\(log.stdout)")
        #expect(
            try kiln("promote", "points-mlp@v1", "production", "-C", ws.path, environment: ["KILN_USER": "release-bot"])
                .status == 0)
        let moves = try kiln("alias", "history", "points-mlp@production", "-C", ws.path)
        #expect(moves.stdout.contains("  release-bot  "), "KILN_USER wins over git's user.name: \(moves.stdout)")
        let runs = try kiln("runs", ws.path, "--json", environment: environment)
        #expect(runs.stdout.contains("\"user\": \"Tess Tester\""), "\(runs.stdout.prefix(400))")
    }
}

extension CLI {
    @Test func aVersionRecordsTheWorkspacesGitCommit() throws {
        let ws = try trainingWorkspace(epochs: 1)
        func git(_ arguments: String...) throws {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["git", "-C", ws.path, "-c", "user.name=t", "-c", "user.email=t@example.com"] + arguments
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
        }
        try git("init", "-q")
        try git("add", "-A")
        try git("commit", "-qm", "specs")
        #expect(try kiln("run", ws.path, "--quiet").status == 0)
        let show = try kiln("show", "points-mlp@v1", "-C", ws.path, "--json")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        let lineage = try #require(doc["lineage"] as? [String: Any])
        #expect((lineage["workspace_commit"] as? String)?.count == 40)
        #expect(lineage["workspace_dirty"] as? Bool == false)
        #expect(lineage["kiln"] as? String != nil)
    }
}

extension CLI {
    /// kill -9 while a 17 MB model is being registered: the registry stays valid and the next run registers
    /// it exactly once (whether the kill came before or after the version was committed).
    @Test func aRunKilledDuringRegistrationLeavesTheRegistryValid() throws {
        let ws = try trainingWorkspace(epochs: 1)
        let spec = ws.path + "/specs/all.yaml"
        let text = try String(contentsOfFile: spec, encoding: .utf8)
        try text.replacingOccurrences(of: "hidden: [64, 64]", with: "hidden: [2048, 2048]")
            .replacingOccurrences(
                of: "train: 0.8, validation: 0.1, test: 0.1", with: "train: 0.05, validation: 0.05, test: 0.9"
            )
            .replacingOccurrences(of: "min: 0.5", with: "min: 0.0")
            .write(toFile: spec, atomically: true, encoding: .utf8)
        let run = try Spawned(["run", ws.path, "--json"])
        #expect(run.wait { $0.contains("\"event\":\"node_started\"") && $0.contains(":register") })
        kill(run.process.processIdentifier, SIGKILL)
        _ = run.finish()
        let models = try kiln("models", "-C", ws.path)
        #expect(models.status == 0, "\(models.stderr)")
        let log = try kiln("log", "points-mlp", "-C", ws.path, "--oneline")
        #expect(log.stdout.split(separator: "\n").count <= 1, "at most the one version, whole")
        #expect(try kiln("run", ws.path, "--quiet").status == 0)
        let after = try kiln("log", "points-mlp", "-C", ws.path, "--oneline")
        #expect(after.stdout.split(separator: "\n").count == 1, "registered exactly once: \(after.stdout)")
        let out = ws.path + "/../" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: out) }
        #expect(try kiln("checkout", "points-mlp@v1", "-C", ws.path, "-o", out).status == 0)
    }
}
