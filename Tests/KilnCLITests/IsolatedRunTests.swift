import Foundation
import KilnCompiler
import KilnRuntime
import KilnSpec
import KilnTestSupport
import Testing

/// `kiln run --isolate` and `kiln exec-node`: every node in a process of its own, from its job file alone.
extension CLI {
    @Test func everyNodeInItsOwnProcessGivesTheInProcessLock() throws {
        let inProcess = try irisCopy(), isolated = try irisCopy()
        #expect(try kiln("run", inProcess.path, "--quiet").status == 0)
        let run = try kiln("run", isolated.path, "--quiet", "--isolate")
        #expect(run.status == 0, Comment(rawValue: run.stderr))
        let lock = try String(contentsOfFile: inProcess.path + "/kiln.lock", encoding: .utf8)
        #expect(lock.contains("training/iris-baseline:fit"))
        #expect(try String(contentsOfFile: isolated.path + "/kiln.lock", encoding: .utf8) == lock)

        // The run record says where each node ran: a process per node, none of them the runner.
        let records = try kiln("runs", isolated.path, "--json")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(records.stdout.utf8)) as? [[String: Any]])
        let nodes = try #require(parsed.first?["nodes"] as? [[String: Any]])
        let places = nodes.compactMap { $0["ran_in"] as? String }
        #expect(nodes.count == 12 && places.count == 12, Comment(rawValue: records.stdout))
        #expect(Set(places).count == 12 && places.allSatisfy { $0.hasPrefix("kiln exec-node, pid ") })
        #expect(!places.contains("kiln exec-node, pid \(ProcessInfo.processInfo.processIdentifier)"))
        // Both registries hold the same versions.
        #expect(try kiln("models", isolated.path).stdout == kiln("models", inProcess.path).stdout)
    }

    @Test func anIsolatedNodesFailureKeepsItsDiagnosticsAndPosition() throws {
        let ws = try irisCopy()
        let train = ws.path + "/specs/train.yaml"
        let text = try String(contentsOfFile: train, encoding: .utf8)
        try text.replacingOccurrences(of: "min: 0.85}", with: "min: 0.999}").write(
            toFile: train, atomically: true, encoding: .utf8)
        let run = try kiln("run", ws.path, "--isolate", "--keep-going")
        #expect(run.status == 1)
        #expect(run.stderr.contains("gate failed: accuracy on test is"), Comment(rawValue: run.stderr))
        #expect(run.stderr.contains("train.yaml:13:"), Comment(rawValue: run.stderr))
    }

    @Test func ctrlCReachesAnIsolatedTrainingWhichResumesNextRun() throws {
        let ws = try trainingWorkspace()
        let run = try Spawned(["run", ws.path, "--json", "--isolate"])
        // Epochs come back from the node's process as events.
        #expect(run.wait { Self.epoch($0, atLeast: 3) })
        kill(run.process.processIdentifier, SIGINT)
        #expect(run.finish() == 130)
        #expect(run.output.last?.contains("\"outcome\":\"cancelled\"") == true)
        let again = try Spawned(["run", ws.path, "--json", "--isolate"])
        #expect(again.finish() == 0)
        #expect(again.output.contains { $0.contains("\"resumed_from\":") })
    }

    @Test func execNodeRefusesAJobFileItCannotRead() throws {
        let ws = try TemporaryDirectory(files: ["job.json": "{\"id\": \"dataset/x:ingest\"}"])
        let r = try kiln("exec-node", "--job", ws.path + "/job.json", "--outputs", ws.path + "/out", "--workspace", ws.path)
        #expect(r.status == 1)
        let line = try #require(r.stdout.split(separator: "\n").last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let failure = try #require(object["failure"] as? [String: Any])
        #expect(failure["cause"] as? String == "infrastructure")
        #expect(String(describing: failure["diagnostics"] ?? "").contains("cannot be read"))
    }
}

extension CLI {
    @Test func aRunWhoseRecordCannotBeWrittenFails() throws {
        let ws = try irisCopy()
        try FileManager.default.createDirectory(atPath: ws.path + "/.kiln", withIntermediateDirectories: true)
        try "not a directory".write(toFile: ws.path + "/.kiln/runs", atomically: true, encoding: .utf8)
        let run = try kiln("run", ws.path, "--quiet")
        #expect(run.status == 1)
        #expect(run.stderr.contains("the run record could not be written"), Comment(rawValue: run.stderr))
    }
}

extension CLI {
    /// Two datasets that differ only in their transforms share their ingest, check and split keys: run
    /// side by side in their own processes, each has its own job file.
    @Test func isolatedNodesWithTheSameKeyRunSideBySide() throws {
        var csv = "x,y,label\n"
        for i in 0..<60 { csv += "\(i % 7),\(i % 5),\(i % 2 == 0 ? "a" : "b")\n" }
        func dataset(_ name: String, _ transforms: String) -> String {
            """
            apiVersion: kiln/v1
            kind: Dataset
            metadata: {name: \(name)}
            spec:
              source: {path: ../data/d.csv}
              schema:
                columns: {x: {type: float}, y: {type: float}, label: {type: category, values: [a, b]}}
                label: label
              transforms: \(transforms)
              split: {train: 0.8, test: 0.2}
            """
        }
        let ws = try TemporaryDirectory(files: [
            "data/d.csv": csv,
            "specs/a.yaml": dataset("plain", "[]"),
            "specs/b.yaml": dataset("scaled", "[{op: standardize, columns: auto}]"),
        ])
        let run = try kiln("run", ws.path, "--isolate", "--jobs", "4", "--quiet")
        #expect(run.status == 0, Comment(rawValue: run.stderr))
        let lock = try String(contentsOfFile: ws.path + "/kiln.lock", encoding: .utf8)
        #expect(lock.contains("[dataset/plain:split]") && lock.contains("[dataset/scaled:split]"))
    }
}


extension CLI {
    /// A job file carries no permission: `kiln exec-node` asks the workspace's Policy what `kiln run` would.
    @Test func execNodeRefusesANodeThePolicyDenies() throws {
        let w = try TemporaryDirectory()
        for entry in ["data", "specs"] {
            try FileManager.default.copyItem(
                atPath: Repository.path("examples/iris-secure/\(entry)"), toPath: w.path + "/" + entry)
        }
        #expect(try kiln("keygen", "--out", w.path + "/keys/release").status == 0)
        let (result, graph) = Compiler().lower(WorkspaceLoader().load(path: w.path))
        let graphValue = try #require(graph, Comment(rawValue: "\(result.diagnostics.sorted.map(\.message))"))
        let release = try #require(graphValue.nodes.first { $0.kind == .release })
        let job = NodeJob(release, upstream: graphValue.upstreamKeys(of: release.id))
        try JSONEncoder().encode(job).write(to: URL(fileURLWithPath: w.path + "/job.json"))
        try FileManager.default.createDirectory(atPath: w.path + "/out", withIntermediateDirectories: true)
        // alice may promote in staging only; the release deploys to production.
        let r = try kiln(
            "exec-node", "--job", w.path + "/job.json", "--outputs", w.path + "/out", "--workspace", w.path,
            environment: ["KILN_USER": "alice"])
        #expect(r.status == 1)
        let line = try #require(r.stdout.split(separator: "\n").last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let failure = try #require(object["failure"] as? [String: Any])
        let first = try #require((failure["diagnostics"] as? [[String: Any]])?.first)
        #expect(first["id"] as? String == "run.permission-denied", Comment(rawValue: String(line)))
        #expect(r.stderr.contains("permission denied"), Comment(rawValue: r.stderr))
        #expect(!FileManager.default.fileExists(atPath: w.path + "/.kiln/registry"), "nothing was touched")
    }
}

extension CLI {
    /// Keys become cache and work paths: a job whose key is not a SHA-256 is refused before anything runs.
    @Test func execNodeRefusesAKeyThatIsAPath() throws {
        let w = try irisCopy()
        let (_, graph) = Compiler().lower(WorkspaceLoader().load(path: w.path))
        let ingest = try #require(graph?.nodes.first { $0.kind == .ingest })
        var job = NodeJob(ingest, upstream: [:])
        job.key = "../../../tmp/escape-\(UUID().uuidString.prefix(8))"
        try JSONEncoder().encode(job).write(to: URL(fileURLWithPath: w.path + "/job.json"))
        let r = try kiln("exec-node", "--job", w.path + "/job.json", "--outputs", w.path + "/out", "--workspace", w.path)
        #expect(r.status == 1)
        #expect(r.stdout.contains("not a node's key"), Comment(rawValue: r.stdout))
    }
}
