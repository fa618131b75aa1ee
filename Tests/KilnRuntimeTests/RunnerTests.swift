import Foundation
import KilnRegistry
import KilnRuntime
import KilnSpec
import KilnTestSupport
import Testing

/// The runner on a real (small) workspace: iris, a linear model, a gate, registration through the seam.
@Suite struct RunnerTests {
    @Test func aFirstRunDoesEverythingAndASecondIsAllCached() async throws {
        let ws = try TestWorkspace()
        let (first, events) = try await ws.run()
        #expect(first.outcome == .succeeded)
        #expect(first.ran.count == 6)
        #expect(events.contains { if case .epoch = $0 { true } else { false } })
        let registry = GitRegistry(path: ws.paths.registry)
        let elsewhere = try TemporaryDirectory()
        let out = elsewhere.path + "/checkout"
        try registry.checkout(try #require(ModelReference("iris-linear@v1")), to: out)
        #expect(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
        #expect(FileManager.default.fileExists(atPath: out + "/specs/specs/train.yaml"))
        #expect(FileManager.default.fileExists(atPath: out + "/lineage.json"))
        #expect(try registry.resolve(try #require(ModelReference("iris-linear@staging")))?.version == 1)
        let lock = try String(contentsOfFile: ws.paths.lockFile, encoding: .utf8)

        let (second, _) = try await ws.run()
        #expect(second.outcome == .succeeded)
        #expect(second.nodes.allSatisfy { $0.status == "cached" })
        #expect(try String(contentsOfFile: ws.paths.lockFile, encoding: .utf8) == lock)
        // Cached registration: no second version.
        #expect(try registry.resolve(try #require(ModelReference("iris-linear@latest")))?.version == 1)
    }

    @Test func aTrainingFieldChangeRerunsTheTrainingOnlyAndSaysWhere() async throws {
        let ws = try TestWorkspace()
        _ = try await ws.run()
        try ws.write("specs/train.yaml", TestWorkspace.training(learningRate: "0.05"))
        let plan = try ws.plan()
        #expect(
            plan.toRun.map(\.node.id) == [
                "training/iris-train:fit", "training/iris-train:gate", "training/iris-train:register",
            ])
        let fit = try #require(plan.items.first { $0.node.id == "training/iris-train:fit" })
        let change = try #require(
            fit.reasons.first { if case .field = $0 { true } else { false } })
        guard case .field(let path, let old, let new, let at) = change else { return }
        #expect(path == "optimizer.learning_rate")
        #expect(old == "0.1" && new == "0.05")
        #expect(at?.file.hasSuffix("specs/train.yaml") == true)
        #expect(at?.start.line == 9)
        let (result, _) = try await ws.run()
        #expect(result.ran == ["training/iris-train:fit", "training/iris-train:gate", "training/iris-train:register"])
    }

    @Test func aDataChangeRerunsEverythingFromIngest() async throws {
        let ws = try TestWorkspace()
        _ = try await ws.run()
        let handle = try #require(FileHandle(forWritingAtPath: ws.path + "/data/iris.csv"))
        handle.seekToEndOfFile()
        handle.write(Data("5.0,3.4,1.5,0.2,setosa\n".utf8))
        try handle.close()
        let plan = try ws.plan()
        #expect(plan.toRun.count == 6)
        let ingest = try #require(plan.items.first)
        #expect(ingest.reasons.contains { if case .file(let p, _, _) = $0 { p == "data/iris.csv" } else { false } })
    }

    @Test func aGateChangeRerunsTheGateNotTheTraining() async throws {
        let ws = try TestWorkspace()
        _ = try await ws.run()
        try ws.write("specs/train.yaml", TestWorkspace.training(gateMin: "0.7"))
        #expect(try ws.plan().toRun.map(\.node.id) == ["training/iris-train:gate", "training/iris-train:register"])
        try ws.write("specs/train.yaml", TestWorkspace.training(message: "another message"))
        #expect(try ws.plan().toRun.map(\.node.id) == ["training/iris-train:register"])
    }

    @Test func aContractChangeRerunsTheCheckAndDownstreamNotTheIngest() async throws {
        let ws = try TestWorkspace()
        _ = try await ws.run()
        try ws.write(
            "specs/dataset.yaml", TestWorkspace.dataset.replacingOccurrences(of: "min: 100}", with: "min: 120}"))
        let plan = try ws.plan()
        #expect(plan.items.first { $0.node.id == "dataset/iris:ingest" }?.cached == true)
        #expect(plan.toRun.first?.node.id == "dataset/iris:check")
    }

    @Test func aFailedGateFailsTheRunAndBlocksRegistration() async throws {
        let ws = try TestWorkspace(training: TestWorkspace.training(gateMin: "0.999"))
        let (result, _) = try await ws.run()
        #expect(result.outcome == .failed)
        #expect(result.status("training/iris-train:gate") == "failed")
        #expect(result.status("training/iris-train:register") == "skipped")
        let diagnostic = try #require(result.failures.first?.diagnostics.first)
        #expect(diagnostic.id == "run.gate-failed")
        #expect(diagnostic.message.contains("accuracy on test is"))
        #expect(diagnostic.message.contains("below the minimum 0.999"))
        #expect(diagnostic.span?.start.line == 13)
        #expect(
            try GitRegistry(path: ws.paths.registry).resolve(try #require(ModelReference("iris-linear@latest"))) == nil)
        // The fit is cached; a relaxed gate reruns only the gate and the registration.
        try ws.write("specs/train.yaml", TestWorkspace.training(gateMin: "0.5"))
        let (again, _) = try await ws.run()
        #expect(again.outcome == .succeeded)
        #expect(again.ran == ["training/iris-train:gate", "training/iris-train:register"])
    }

    @Test func aFailedContractStopsTraining() async throws {
        let ws = try TestWorkspace()
        try ws.write(
            "specs/dataset.yaml", TestWorkspace.dataset.replacingOccurrences(of: "min: 100}", with: "min: 1000}"))
        let (result, _) = try await ws.run()
        #expect(result.outcome == .failed)
        #expect(result.status("dataset/iris:check") == "failed")
        #expect(result.status("training/iris-train:fit") == "skipped")
        #expect(result.failures.first?.diagnostics.contains { $0.id == "run.contract-failed" } == true)
    }

    @Test func targetsSelectANodeAndItsUpstream() async throws {
        let ws = try TestWorkspace()
        let (result, _) = try await ws.run(["dataset/iris"])
        #expect(result.nodes.map(\.id) == ["dataset/iris:ingest", "dataset/iris:check", "dataset/iris:split"])
        let fitOnly = try ws.plan(["training/iris-train:fit"])
        #expect(fitOnly.items.map(\.node.id).last == "training/iris-train:fit")
        #expect(fitOnly.toRun.map(\.node.id) == ["training/iris-train:fit"])
        #expect(try ws.plan(["iris-*"]).items.count == 6)
    }

    @Test func aDamagedCacheEntryIsRebuilt() async throws {
        let ws = try TestWorkspace()
        _ = try await ws.run()
        let (_, graph) = try ws.compile()
        let ingest = try #require(graph.node("dataset/iris:ingest"))
        let cache = Cache(directory: ws.paths.cache)
        // A flipped byte in the cached table: the fit that reads it must not trust it.
        let table = cache.outputs(ingest.fingerprint) + "/table.bin"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: table))
        bytes[bytes.count - 3] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: table))
        try ws.write("specs/train.yaml", TestWorkspace.training(learningRate: "0.2"))
        let (failed, _) = try await ws.run()
        #expect(failed.outcome == .failed)
        #expect(failed.failures.first?.diagnostics.first?.message.contains("damaged") == true)
        let (rebuilt, _) = try await ws.run()
        #expect(rebuilt.outcome == .succeeded)
        #expect(rebuilt.status("dataset/iris:ingest") == "done")
    }

    @Test func runRecordsListNewestFirst() async throws {
        let ws = try TestWorkspace()
        let (first, _) = try await ws.run()
        try RunRecord(first, command: ["run"], targets: [], jobs: 2, exitCode: 0).write(to: ws.paths.runs)
        let (second, _) = try await ws.run()
        try RunRecord(second, command: ["run"], targets: [], jobs: 2, exitCode: 0).write(to: ws.paths.runs)
        let records = RunRecord.all(in: ws.paths.runs).records
        #expect(records.map(\.id) == [second.id, first.id].sorted(by: >))
        #expect(records.last?.nodes.count == 6)
    }
}

@Suite struct RunnerPolicyTests {
    @Test func aTimeoutStopsTheTrainingAndARetryResumesIt() async throws {
        let training = TestWorkspace.training().replacingOccurrences(of: "epochs: 20", with: "epochs: 1000000")
            .replacingOccurrences(
                of: "threads: 1",
                with: "threads: 1\n  timeout: 300ms\n  retry: {max: 1, backoff: 10ms}\n  checkpoint: {every_epochs: 50}"
            )
        let ws = try TestWorkspace(training: training)
        let (result, events) = try await ws.run()
        #expect(result.outcome == .failed)
        let fit = try #require(result.nodes.first { $0.id == "training/iris-train:fit" })
        #expect(fit.status == "failed")
        #expect(fit.attempts == 2)
        let diagnostic = try #require(result.failures.first?.diagnostics.first)
        #expect(diagnostic.id == "run.timeout")
        #expect(diagnostic.message.contains("timeout of 300 ms"))
        #expect(diagnostic.span?.start.line == 12)
        let retried = events.contains {
            if case .nodeFailed(_, _, _, 1, true) = $0 { true } else { false }
        }
        #expect(retried, "the first attempt's failure announces the retry")
        let resumed = events.contains {
            if case .epoch(_, let p) = $0 { (p.resumedFrom ?? 0) > 0 } else { false }
        }
        #expect(resumed, "the second attempt resumes from the checkpoint the timeout saved")
    }

    @Test func aGateComparesWithTheRegisteredAlias() async throws {
        func training(_ lr: String) -> String {
            TestWorkspace.training(learningRate: lr).replacingOccurrences(
                of: "min: 0.8}",
                with: "min: 0.0}\n    - {metric: accuracy, split: test, compare_to: staging, max_drop: 0.05}")
        }
        let ws = try TestWorkspace(training: training("0.1"))
        let (first, _) = try await ws.run()
        #expect(first.outcome == .succeeded, "\(first.failures)")  // no staging version yet: nothing to compare with
        // A learning rate that barely moves the weights: far worse than v1, which staging points at.
        try ws.write("specs/train.yaml", training("0.000001"))
        let (second, _) = try await ws.run()
        #expect(second.outcome == .failed)
        let message = try #require(second.failures.first?.diagnostics.first?.message)
        #expect(message.contains("worse than iris-linear@v1 (staging)"), "\(message)")
        #expect(message.contains("the most allowed is 0.05"))
    }

    /// `max_drop: 0` allows an equal value (issue 21: the same metric against itself failed): the same
    /// training run again from an empty cache gives the registered version's metrics exactly.
    @Test func aGateWithNoAllowedDropPassesAnEqualValue() async throws {
        let training = TestWorkspace.training().replacingOccurrences(
            of: "min: 0.8}", with: "min: 0.8}\n    - {metric: accuracy, split: test, compare_to: staging, max_drop: 0}")
        let ws = try TestWorkspace(training: training)
        let (first, _) = try await ws.run()
        #expect(first.outcome == .succeeded, "\(first.failures)")
        try FileManager.default.removeItem(atPath: ws.paths.cache)
        try? FileManager.default.removeItem(atPath: ws.paths.lockFile)
        let (second, _) = try await ws.run()
        #expect(second.ran.contains("training/iris-train:gate"), "\(second.nodes.map { ($0.id, $0.status) })")
        #expect(second.outcome == .succeeded, "\(second.failures.flatMap(\.diagnostics).map(\.message))")
    }
}
