import Foundation
import KilnCompute
import KilnRegistry
import KilnSpec
import KilnTestSupport
import Testing

/// A registry kiln did not write: crafted trees, names and references, as a hostile remote serves them.
/// Each is refused on read, on sign and on pull, and nothing is written outside the target.
@Suite struct HostileRegistryTests {
    func artifact(_ dir: String) throws -> String {
        let config = ModelConfig(task: .classification, architecture: .mlp, inputs: 4, outputs: 3, hidden: [8], seed: 3)
        let network = try Network(config, blas: try BLAS.get())
        let path = dir + "/artifact"
        try Artifact.save(
            network, card: ModelCard(model: config, inputColumns: ["a", "b", "c", "d"], labels: ["x", "y", "z"]),
            to: path)
        return path
    }

    /// A registry with m@v1 (kiln's own) and m@v2 (crafted with `extra` entries at the root of its tree).
    func hostile(_ dir: TemporaryDirectory, extra: (String) throws -> [CraftedRegistry.Entry]) throws -> GitRegistry {
        let path = dir.path + "/remote.git"
        let registry = GitRegistry(path: path)
        _ = try registry.register(
            Registration(
                model: "m", artifact: try artifact(dir.path), records: [:], specs: ["specs/a.yaml": Data("a".utf8)],
                message: "v1", alias: nil, author: "alice", source: "training/t"))
        try CraftedRegistry.addVersion(path, model: "m", extra: try extra(path))
        return GitRegistry(path: path)
    }

    nonisolated(unsafe) static let crafted: [(String, (String) throws -> [CraftedRegistry.Entry])] = [
        ("..", { r in [.init(mode: "40000", name: "..", id: try CraftedRegistry.payload(r, name: "pwned", text: "x"))] }),
        (".", { r in [.init(mode: "40000", name: ".", id: try CraftedRegistry.payload(r, name: "pwned", text: "x"))] }),
        ("backslash", { r in [.init(mode: "100644", name: "..\\pwned", id: try CraftedRegistry.blob(r, Data("x".utf8)))] }),
        ("escape", { r in [.init(mode: "100644", name: "\u{1b}[2Jpwned", id: try CraftedRegistry.blob(r, Data("x".utf8)))] }),
        ("symlink", { r in [.init(mode: "120000", name: "link", id: try CraftedRegistry.blob(r, Data("/etc/passwd".utf8)))] }),
        // A `.git` folder a checkout would write: its config runs a command at the next `git status`.
        (".git", { r in [.init(mode: "40000", name: ".git", id: try CraftedRegistry.payload(r, name: "config", text: "[core]\n\tfsmonitor = touch /tmp/pwned\n"))] }),
        (".GIT", { r in [.init(mode: "40000", name: ".GIT", id: try CraftedRegistry.payload(r, name: "config", text: "x"))] }),
    ]

    @Test(arguments: 0..<crafted.count) func aCraftedVersionIsRefusedOnCheckoutAndSignAndWritesNothing(_ i: Int) throws {
        let dir = try TemporaryDirectory()
        let registry = try hostile(dir, extra: Self.crafted[i].1)
        let v2 = try #require(ModelReference("m@v2"))
        let out = dir.path + "/out/checkout"
        #expect(throws: (any Error).self) { try registry.checkout(v2, to: out) }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/out/pwned"))
        #expect(!FileManager.default.fileExists(atPath: out + "/card.json"), "nothing is written before the check")
        #expect(throws: (any Error).self) { try registry.fileDigests(v2) }
        // kiln's own version beside it still reads.
        try registry.checkout(try #require(ModelReference("m@v1")), to: dir.path + "/v1")
        #expect(FileManager.default.fileExists(atPath: dir.path + "/v1/model.safetensors"))
    }

    @Test func theCheckErrorNamesTheEntryEscaped() throws {
        let dir = try TemporaryDirectory()
        let registry = try hostile(dir, extra: Self.crafted[3].1)
        let error = try #require(throws: (any Error).self) {
            try registry.checkout(try #require(ModelReference("m@v2")), to: dir.path + "/out")
        }
        let message = "\(error)"
        #expect(message.contains("m@v2 is damaged or crafted"))
        #expect(message.contains("\\u{1b}[2Jpwned"), Comment(rawValue: message))
        #expect(!message.contains("\u{1b}"))
    }

    @Test func pullRefusesACraftedHistoryAndTakesTheRest() throws {
        let dir = try TemporaryDirectory()
        let remote = try hostile(dir, extra: Self.crafted[0].1)
        // A second, honest model on the same remote.
        _ = try remote.register(
            Registration(
                model: "honest", artifact: try artifact(dir.path), records: [:], specs: [:], message: "ok",
                alias: "staging", author: "bob", source: "training/h"))
        let local = GitRegistry(path: dir.path + "/local.git")
        let report = try local.pull(from: remote.path)
        #expect(report.refused.contains { $0.hasPrefix("refs/kiln/models/m:") }, Comment(rawValue: "\(report.refused)"))
        #expect(report.refused.contains { $0.hasPrefix("refs/tags/kiln/m/v1:") })
        #expect(try local.models() == ["honest"])
        #expect(try local.resolve(try #require(ModelReference("m@v2"))) == nil)
        #expect(try local.resolve(try #require(ModelReference("m@v1"))) == nil, "its tag is refused with its history")
        #expect(try local.resolve(try #require(ModelReference("honest@staging")))?.version == 1)
        #expect(report.aliasMoves == [.init(model: "honest", alias: "staging", from: nil, to: 1)])
    }

    /// A version whose card or booster.json no kiln could load is not taken by a pull (nor aliased, nor
    /// released from), though its tree is laid out as kiln's.
    @Test func pullRefusesAVersionWhoseBoosterIsCrafted() throws {
        let dir = try TemporaryDirectory()
        let remote = GitRegistry(path: dir.path + "/remote.git")
        let path = dir.path + "/booster"
        var card = ModelCard(
            model: ModelConfig(task: .binary, architecture: .gradientBoosting, inputs: 2, outputs: 1),
            inputColumns: ["a", "b"], labels: ["no", "yes"])
        card.booster = BoosterCard(library: "xgboost 1.7.4", rounds: 1, roundsTrained: 1, parameters: [:], gain: [1, 0], splits: [1, 0])
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Artifact.writeCard(card, to: path)
        try SafeTensors.write(
            SafeTensors.encode([("importance.gain", try Tensor(shape: [2], values: [1, 0]))], metadata: [:]),
            to: path + "/model.safetensors")
        // One tree whose root splits on feature 9 of 2: XGBoost would read past its inputs.
        let trees = #"{"learner": {"learner_model_param": {"num_feature": "2", "num_class": "0", "base_score": "5E-1"}, "objective": {"name": "binary:logistic"}, "gradient_booster": {"name": "gbtree", "model": {"gbtree_model_param": {"num_trees": "1", "num_parallel_tree": "1"}, "tree_info": [0], "trees": [{"id": 0, "tree_param": {"num_nodes": "3"}, "left_children": [1, -1, -1], "right_children": [2, -1, -1], "parents": [2147483647, 0, 0], "split_indices": [9, 0, 0], "split_conditions": [0.5, 0.1, -0.1], "default_left": [0, 0, 0], "base_weights": [0, 0.1, -0.1], "split_type": [0, 0, 0], "categories": []}]}}}}"#
        try Data(trees.utf8).write(to: URL(fileURLWithPath: path + "/booster.json"))
        _ = try remote.register(
            Registration(
                model: "trees", artifact: path, records: [:], specs: [:], message: "crafted", alias: "production",
                author: "mallory", source: "training/t"))
        let local = GitRegistry(path: dir.path + "/local.git")
        let report = try local.pull(from: remote.path)
        #expect(report.refused.contains { $0.contains("booster.json: tree 0: node 0 splits on feature 9 of 2") }, Comment(rawValue: "\(report.refused)"))
        #expect(try local.resolve(try #require(ModelReference("trees@production"))) == nil)
    }

    @Test func pullRefusesReferencesKilnDoesNotKeepAndAliasesTheAuthorizerDenies() throws {
        let dir = try TemporaryDirectory()
        let remote = GitRegistry(path: dir.path + "/remote.git")
        _ = try remote.register(
            Registration(
                model: "m", artifact: try artifact(dir.path), records: [:], specs: [:], message: "ok",
                alias: "production", author: "bob", source: "training/h"))
        let tip = try ProgramRun.run("git", ["--git-dir", remote.path, "rev-parse", "refs/kiln/models/m"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        for name in ["refs/kiln/models/UPPER", "refs/kiln/aliases/m/v2", "refs/kiln/models/m/extra"] {
            let r = try ProgramRun.run("git", ["--git-dir", remote.path, "update-ref", name, tip])
            #expect(r.status == 0 || name.hasSuffix("/extra"), Comment(rawValue: r.stderr))
        }
        let local = GitRegistry(path: dir.path + "/local.git")
        let report = try local.pull(from: remote.path) { model, alias, version in
            alias == "production" ? "permission denied: promote \(model) in \(alias) (v\(version))" : nil
        }
        #expect(report.refused.contains { $0.hasPrefix("refs/kiln/models/UPPER:") })
        #expect(report.refused.contains { $0.hasPrefix("refs/kiln/aliases/m/v2:") })
        #expect(report.refused.contains { $0.hasPrefix("refs/kiln/aliases/m/production: permission denied") })
        #expect(try local.resolve(try #require(ModelReference("m@v1")))?.version == 1)
        #expect(try local.resolve(try #require(ModelReference("m@production"))) == nil)
        #expect(report.aliasMoves.isEmpty)
    }

    @Test func checkoutNeverFollowsASymlinkAlreadyInTheTarget() throws {
        let dir = try TemporaryDirectory()
        let registry = GitRegistry(path: dir.path + "/r.git")
        _ = try registry.register(
            Registration(
                model: "m", artifact: try artifact(dir.path), records: [:], specs: ["specs/a.yaml": Data("a".utf8)],
                message: "v1", alias: nil, author: "alice", source: "training/t"))
        let v1 = try #require(ModelReference("m@v1"))
        let outside = dir.path + "/outside.txt"
        try "precious".write(toFile: outside, atomically: true, encoding: .utf8)
        let target = dir.path + "/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: target + "/card.json", withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: target + "/model.safetensors", withDestinationPath: outside)
        try registry.checkout(v1, to: target)
        #expect(try String(contentsOfFile: outside, encoding: .utf8) == "precious")
        for name in ["card.json", "model.safetensors"] {
            let type = try FileManager.default.attributesOfItem(atPath: target + "/" + name)[.type] as? FileAttributeType
            #expect(type == .typeRegular, "\(name) replaced the link instead of writing through it")
        }

        // A symlinked directory on the way is refused, and what it points at is untouched.
        let elsewhere = dir.path + "/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let second = dir.path + "/second"
        try FileManager.default.createDirectory(atPath: second, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: second + "/specs", withDestinationPath: elsewhere)
        let error = try #require(throws: (any Error).self) { try registry.checkout(v1, to: second) }
        #expect("\(error)".contains("symlink"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
    }

    /// A version whose manifest names other chunks but keeps the recorded SHA-256: verification and
    /// signing recompute the hash from the objects, so it fails (it used to verify, finding 9).
    @Test func aManifestPointingAtOtherChunksFailsVerification() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/r.git"
        let registry = GitRegistry(path: path)
        _ = try registry.register(
            Registration(
                model: "m", artifact: try artifact(dir.path), records: [:], specs: [:], message: "v1", alias: nil,
                author: "alice", source: "training/t"))
        var manifest = try #require(
            try JSONSerialization.jsonObject(with: Data(CraftedRegistry.file(path, model: "m", "weights/manifest.json").utf8))
                as? [String: Any])
        var tensors = try #require(manifest["tensors"] as? [[String: Any]])
        let original = try #require((tensors[0]["chunks"] as? [String])?.first)
        let size = try CraftedRegistry.file(path, model: "m", "weights/chunks/\(original)").utf8.count
        let forged = try CraftedRegistry.blob(path, Data(repeating: 7, count: max(size, 1)))
        tensors[0]["chunks"] = [forged]
        manifest["tensors"] = tensors
        let manifestBlob = try CraftedRegistry.blob(path, try JSONSerialization.data(withJSONObject: manifest))
        let weights = try CraftedRegistry.entries(path, "refs/kiln/models/m:weights").map {
            $0.name == "manifest.json" ? CraftedRegistry.Entry(mode: $0.mode, name: $0.name, id: manifestBlob) : $0
        }
        let tree = try CraftedRegistry.tree(path, weights)
        try CraftedRegistry.addVersion(path, model: "m", replacing: ["weights": .init(mode: "40000", name: "weights", id: tree)])
        let v2 = try #require(ModelReference("m@v2"))
        let error = try #require(throws: (any Error).self) { try registry.fileDigests(v2) }
        #expect("\(error)".contains("do not match the SHA-256 recorded at registration"))
        #expect(throws: (any Error).self) { try registry.checkout(v2, to: dir.path + "/out") }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/out/model.safetensors"))
    }

    @Test func relativePathsRefuseEveryWayOut() throws {
        for bad in ["", "/etc/passwd", "..", "a/../b", "a//b", "./a", "a/.", "a\u{0}b", "a\\b", "a/\u{7}", "a/", "a\u{202e}b", "a\u{9b}b", "a\u{fffd}b",
            ".g\u{200c}it", "a\u{feff}", "a\u{ad}b", "GIT~1", "git~2"] {
            #expect(throws: RelativePath.Invalid.self, "\(bad.debugDescription)") { try RelativePath(bad) }
        }
        #expect(throws: RelativePath.Invalid.self) { try RelativePath(component: "a/b") }
        #expect(throws: RelativePath.Invalid.self) { try RelativePath(String(repeating: "a", count: 256)) }
        #expect(try RelativePath("specs/train.yaml").components == ["specs", "train.yaml"])
        #expect(try RelativePath("..a/b..").string == "..a/b..")
    }

    /// Found by the second probe: a history that skips numbers where it joins ours (v5 on v2), and a local
    /// alias naming a commit outside the model's history.
    @Test func pullRefusesAHistorySkippingNumbersAndAliasesMustNameHistory() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/remote.git"
        let remote = GitRegistry(path: path)
        let local = GitRegistry(path: dir.path + "/local.git")
        _ = try remote.register(
            Registration(
                model: "m", artifact: try artifact(dir.path), records: [:], specs: [:], message: "v1", alias: nil,
                author: "alice", source: "training/t"))
        _ = try local.pull(from: path)
        try CraftedRegistry.addVersion(path, model: "m", number: 5)
        let report = try local.pull(from: path)
        #expect(report.refused.contains { $0.hasPrefix("refs/kiln/models/m:") }, "\(report.refused)")
        #expect(try local.resolve(try #require(ModelReference("m@latest")))?.version == 1)

        // An alias commit whose alias.json names a commit that is not v1 of m's history.
        let index = try CraftedRegistry.blob(
            path, Data(#"{"kiln":"0","model":"m","source":"x","version":1}"#.utf8))
        let tree = try CraftedRegistry.tree(path, [.init(mode: "100644", name: "kiln.json", id: index)])
        let stray = try ProgramRun.run(
            "git", ["--git-dir", path, "commit-tree", tree, "-m", "x\n\nKiln-Model: m\nKiln-Version: 1\nKiln-Source: x"],
            environment: ["GIT_AUTHOR_NAME": "m", "GIT_AUTHOR_EMAIL": "m@x", "GIT_COMMITTER_NAME": "m", "GIT_COMMITTER_EMAIL": "m@x"]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let aliasJSON = try CraftedRegistry.blob(
            path, Data(#"{"alias":"staging","commit":"\#(stray)","model":"m","version":1}"#.utf8))
        let aliasTree = try CraftedRegistry.tree(path, [.init(mode: "100644", name: "alias.json", id: aliasJSON)])
        let aliasCommit = try ProgramRun.run(
            "git", ["--git-dir", path, "commit-tree", aliasTree, "-m", "staging"],
            environment: ["GIT_AUTHOR_NAME": "m", "GIT_AUTHOR_EMAIL": "m@x", "GIT_COMMITTER_NAME": "m", "GIT_COMMITTER_EMAIL": "m@x"]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try ProgramRun.run("git", ["--git-dir", path, "update-ref", "refs/kiln/aliases/m/staging", aliasCommit])
        let error = try #require(throws: (any Error).self) { try remote.resolve(try #require(ModelReference("m@staging"))) }
        #expect("\(error)".contains("is not v1 of m's history"), "\(error)")
    }
}
