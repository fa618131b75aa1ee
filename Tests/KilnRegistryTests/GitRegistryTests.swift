import Foundation
import KilnCompute
import KilnRegistry
import KilnSpec
import KilnTestSupport
import Testing

/// The registry on a real libgit2 repository: versions, aliases, chunked weights, concurrency, tampering.
@Suite struct GitRegistryTests {
    init() {}
    /// A trained-looking artifact: a real network's weights and card.
    func artifact(_ dir: String, seed: UInt64, hidden: [Int] = [32, 16], perturbLast: Float = 0) throws -> String {
        let blas = try BLAS.get()
        let config = ModelConfig(
            task: .classification, architecture: .mlp, inputs: 8, outputs: 3, hidden: hidden, seed: seed)
        let network = try Network(config, blas: blas)
        if perturbLast != 0, let last = network.parameters.last {
            for i in 0..<last.value.count { last.value.data[i] += perturbLast }
        }
        let path = dir + "/artifact-\(seed)-\(perturbLast)"
        try Artifact.save(
            network, card: ModelCard(model: config, inputColumns: (0..<8).map { "x\($0)" }, labels: ["a", "b", "c"]),
            to: path)
        return path
    }

    func registration(_ artifact: String, model: String = "m", alias: String? = nil, message: String = "v")
        -> Registration
    {
        Registration(
            model: model, artifact: artifact,
            records: ["metrics.json": Data(#"{"final":{"test":{"accuracy":0.9}}}"#.utf8)],
            specs: ["specs/train.yaml": Data("kind: Training\n".utf8)], message: message, alias: alias, author: "alice",
            source: "training/t")
    }

    func ref(_ s: String) throws -> ModelReference { try #require(ModelReference(s)) }

    @Test func registersResolvesAndChecksOutByteIdentically() throws {
        let dir = try TemporaryDirectory()
        let registry = GitRegistry(path: dir.path + "/registry")
        let a = try artifact(dir.path, seed: 1)
        let v1 = try registry.register(registration(a, alias: "staging"))
        #expect(v1.version == 1)
        #expect(v1.metrics["test"]?["accuracy"] == 0.9)
        let v2 = try registry.register(registration(try artifact(dir.path, seed: 2)))
        #expect(v2.version == 2)
        #expect(try registry.resolve(ref("m@latest"))?.version == 2)
        #expect(try registry.resolve(ref("m@v1"))?.version == 1)
        #expect(try registry.resolve(ref("m@staging"))?.version == 1)
        #expect(try registry.resolve(ref("m@v3")) == nil)
        #expect(try registry.resolve(ref("m@production")) == nil)
        #expect(try registry.resolve(ref("other@latest")) == nil)

        let out = dir.path + "/checkout"
        try registry.checkout(ref("m@v1"), to: out)
        #expect(
            FileManager.default.contents(atPath: out + "/model.safetensors")
                == FileManager.default.contents(atPath: a + "/model.safetensors"))
        #expect(
            FileManager.default.contents(atPath: out + "/card.json")
                == FileManager.default.contents(atPath: a + "/card.json"))
        #expect(FileManager.default.fileExists(atPath: out + "/specs/specs/train.yaml"))
    }

    @Test func registeringTheSameKeyAgainReturnsTheSameVersion() throws {
        let dir = try TemporaryDirectory()
        let registry = GitRegistry(path: dir.path + "/registry")
        let a = try artifact(dir.path, seed: 11)
        var r = registration(a, alias: "staging")
        r.key = "register-node-key"
        #expect(try registry.register(r).version == 1)
        #expect(try registry.register(r).version == 1)  // a rerun after a crash between registry and cache
        r.key = "another"
        #expect(try registry.register(r).version == 2)
        #expect(try registry.log("m").count == 2)
    }

    @Test func largeTensorsAreChunkedAndUnchangedTensorsAreShared() throws {
        let dir = try TemporaryDirectory()
        let registry = GitRegistry(path: dir.path + "/registry")
        // A 2,048 × 1,024 first layer: 8 MiB of float32, more than one 4 MiB chunk.
        let base = try artifact(dir.path, seed: 3, hidden: [2048, 1024])
        let tuned = try artifact(dir.path, seed: 3, hidden: [2048, 1024], perturbLast: 0.5)
        try registry.register(registration(base))
        let sizeAfterV1 = try directorySize(dir.path + "/registry/objects")
        try registry.register(registration(tuned))
        let growth = try directorySize(dir.path + "/registry/objects") - sizeAfterV1
        let modelBytes = try #require(
            try FileManager.default.attributesOfItem(atPath: tuned + "/model.safetensors")[.size] as? Int)
        #expect(
            growth < modelBytes / 10,
            "v2 changed only its last layer: \(growth) bytes added for a \(modelBytes)-byte model")
        let out = dir.path + "/v2"
        try registry.checkout(ref("m@v2"), to: out)
        #expect(
            FileManager.default.contents(atPath: out + "/model.safetensors")
                == FileManager.default.contents(atPath: tuned + "/model.safetensors"))
    }

    func directorySize(_ path: String) throws -> Int {
        var total = 0
        for file in FileManager.default.enumerator(atPath: path)?.compactMap({ $0 as? String }) ?? [] {
            total += (try FileManager.default.attributesOfItem(atPath: path + "/" + file)[.size] as? Int) ?? 0
        }
        return total
    }

    @Test func concurrentRegistrationsGetDistinctVersions() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/registry"
        let a = try artifact(dir.path, seed: 4)
        _ = try GitRegistry(path: path).register(registration(a))
        // Separate registry objects (separate libgit2 repositories), as two processes would have.
        let versions = try await withThrowingTaskGroup(of: [Int].self) { group in
            for _ in 0..<2 {
                group.addTask {
                    let registry = GitRegistry(path: path)
                    return try (0..<6).map { _ in try registry.register(self.registration(a)).version }
                }
            }
            var all: [Int] = []
            for try await v in group { all += v }
            return all
        }
        #expect(versions.sorted() == Array(2...13))
        let registry = GitRegistry(path: path)
        for n in 1...13 { #expect(try registry.resolve(ref("m@v\(n)"))?.version == n) }
    }

    @Test func aliasMovesAreKeptAndRollbackGoesBack() throws {
        let dir = try TemporaryDirectory()
        let registry = GitRegistry(path: dir.path + "/registry")
        let a = try artifact(dir.path, seed: 5)
        for _ in 0..<3 { try registry.register(registration(a)) }
        try registry.setAlias("production", model: "m", version: 1, author: "bob", reason: "first release")
        try registry.setAlias("production", model: "m", version: 3, author: "carol", reason: "better accuracy")
        #expect(try registry.resolve(ref("m@production"))?.version == 3)
        let back = try registry.rollback("production", model: "m", author: "dave", reason: "regression in prod")
        #expect(back == 1)
        #expect(try registry.resolve(ref("m@production"))?.version == 1)
        let history = try registry.history(of: "production", model: "m")
        #expect(history.map(\.version) == [1, 3, 1])
        #expect(history.map(\.author) == ["dave", "carol", "bob"])
        #expect(history.first?.reason == "rollback: regression in prod")
        #expect(throws: RegistryError.self) {
            try registry.setAlias("x", model: "m", version: 9, author: "a", reason: "")
        }
    }

    /// The typed read of a version: its card decoded, its lineage's sources, the stored documents; and
    /// errors that say which kind of refusal they are.
    @Test func versionDetailsAreTypedAndErrorsSayTheirKind() throws {
        let dir = try TemporaryDirectory()
        let registry = GitRegistry(path: dir.path + "/registry")
        var r = registration(try artifact(dir.path, seed: 1))
        r.records["lineage.json"] = Data(
            #"{"data":{"sources":[{"path":"data/x.csv","sha256":"ab12","rows":7,"bytes":9}]},"workspace_commit":"c0ffee","workspace_dirty":true}"#
                .utf8)
        r.records["params.json"] = Data(#"{"epochs":3}"#.utf8)
        _ = try registry.register(r)
        let details = try registry.details(ref("m@latest"))
        #expect(details.version.version == 1)
        #expect(details.card.labels == ["a", "b", "c"])
        #expect(details.card.model.hidden == [32, 16])
        #expect(details.summary.author == "alice")
        #expect(details.lineage?.sources.map(\.path) == ["data/x.csv"])
        #expect(details.lineage?.sources.first?.rows == 7)
        #expect(details.lineage?.workspaceCommit == "c0ffee" && details.lineage?.workspaceDirty == true)
        #expect(details.documents["params.json"] == .object([("epochs", .int(3))]))

        #expect(throws: RegistryError.notRegistered("m@v2")) { try registry.details(ref("m@v2")) }
        #expect(throws: RegistryError.noEarlierVersion(model: "m", alias: "production")) {
            try registry.setAlias("production", model: "m", version: 1, author: "a", reason: "first")
            try registry.rollback("production", model: "m", author: "a", reason: "undo")
        }
        #expect(throws: RegistryError.unrecordable(.modelName("Bad"))) {
            try registry.register(registration(try artifact(dir.path, seed: 2), model: "Bad"))
        }
        #expect(throws: RegistryError.unrecordable(.messageTrailer)) {
            try registry.register(registration(try artifact(dir.path, seed: 3), message: "x\nKiln-Version: 9"))
        }
    }

    @Test func tamperedObjectsAreDetectedOnRead() throws {
        let dir = try TemporaryDirectory()
        let registry = GitRegistry(path: dir.path + "/registry")
        let a = try artifact(dir.path, seed: 6)
        try registry.register(registration(a))
        // Rewrite every loose object of the weights' chunks with other valid zlib data of the same kind:
        // replace one chunk object file with another object's file (a valid object, the wrong content).
        let objects = dir.path + "/registry/objects"
        let files =
            FileManager.default.enumerator(atPath: objects)?.compactMap { $0 as? String }
            .filter { $0.count == 41 } ?? []
        let manifestOut = dir.path + "/ok"
        try registry.checkout(ref("m@v1"), to: manifestOut)
        let manifest = try JSONDecoder().decode(
            WeightStore.Manifest.self,
            from: try #require(try registryBlob(registry, dir.path, "weights/manifest.json")))
        let chunk = try #require(manifest.tensors.first?.chunks.first)
        let victim = objects + "/" + chunk.prefix(2) + "/" + chunk.dropFirst(2)
        let donor = try #require(files.map { objects + "/" + $0 }.first { $0 != victim })
        try FileManager.default.removeItem(atPath: victim)
        try FileManager.default.copyItem(atPath: donor, toPath: victim)
        #expect {
            try registry.checkout(ref("m@v1"), to: dir.path + "/bad")
        } throws: { error in
            "\(error)".contains("hash") || "\(error)".contains("registry was changed") || "\(error)".contains("object")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/bad/model.safetensors"))
    }

    /// A blob of v1's tree by path, read through a fresh checkout's files (the manifest is not exported).
    func registryBlob(_ registry: GitRegistry, _ dir: String, _ path: String) throws -> Data? {
        try registry.blob(ref("m@v1"), path: path)
    }
}

@Suite struct RegistrySyncTests {
    let helper = GitRegistryTests()

    @Test func pushAndPullRoundTripEveryVersionAliasAndTag() throws {
        let dir = try TemporaryDirectory()
        let a = GitRegistry(path: dir.path + "/a")
        let artifact = try helper.artifact(dir.path, seed: 7)
        try a.register(helper.registration(artifact, alias: "staging"))
        try a.register(helper.registration(try helper.artifact(dir.path, seed: 8)))
        try a.setAlias("production", model: "m", version: 1, author: "bob", reason: "release")
        let shared = dir.path + "/shared.git"
        let pushed = try a.push(to: shared)
        #expect(pushed.conflicts.isEmpty)
        #expect(pushed.updated.contains("refs/kiln/models/m"))
        #expect(pushed.updated.contains("refs/tags/kiln/m/v2"))

        let c = GitRegistry(path: dir.path + "/c")
        let pulled = try c.pull(from: shared)
        #expect(pulled.conflicts.isEmpty, "\(pulled.conflicts)")
        #expect(try c.resolve(helper.ref("m@latest"))?.version == 2)
        #expect(try c.resolve(helper.ref("m@v1"))?.version == 1)
        #expect(try c.resolve(helper.ref("m@staging"))?.version == 1)
        #expect(try c.resolve(helper.ref("m@production"))?.version == 1)
        #expect(try c.history(of: "production", model: "m").map(\.author) == ["bob"])
        try c.checkout(helper.ref("m@v1"), to: dir.path + "/out")
        #expect(
            FileManager.default.contents(atPath: dir.path + "/out/model.safetensors")
                == FileManager.default.contents(atPath: artifact + "/model.safetensors"))
        #expect(try c.pull(from: shared).updated.isEmpty)  // nothing new

        // c registers v3 and pushes; a pulls it as a fast-forward.
        try c.register(helper.registration(artifact, message: "from c"))
        #expect(try c.push(to: shared).conflicts.isEmpty)
        let forward = try a.pull(from: shared)
        #expect(forward.updated.contains("refs/kiln/models/m"))
        #expect(try a.log("m").first?.message == "from c")
    }

    @Test func divergedHistoriesAreReportedNotOverwritten() throws {
        let dir = try TemporaryDirectory()
        let a = GitRegistry(path: dir.path + "/a"), c = GitRegistry(path: dir.path + "/c")
        let artifact = try helper.artifact(dir.path, seed: 9)
        try a.register(helper.registration(artifact))
        let shared = dir.path + "/shared.git"
        _ = try a.push(to: shared)
        _ = try c.pull(from: shared)
        // Both register a v2 without seeing the other's.
        try a.register(helper.registration(artifact, message: "a's v2"))
        try c.register(helper.registration(artifact, message: "c's v2"))
        #expect(try a.push(to: shared).conflicts.isEmpty)
        let refused = try c.push(to: shared)
        #expect(refused.conflicts.contains { $0.contains("refs/kiln/models/m") && $0.contains("kiln pull") })
        let pulled = try c.pull(from: shared)
        #expect(pulled.conflicts.contains { $0.contains("refs/kiln/models/m diverged") })
        #expect(try c.log("m").first?.message == "c's v2", "nothing was overwritten")
        #expect(try GitRegistry(path: shared).log("m").first?.message == "a's v2")
    }
}
