import Foundation
import KilnBoost
import KilnCompute
import Testing

/// XGBoost through KilnBoost on data whose answer is known: the trees learn it, the same seed and thread
/// count give the same model bytes, early stopping keeps the best round, missing values go through, and a
/// crafted booster.json is refused before XGBoost reads it.
@Suite struct BoosterTests {
    /// Two features; the class is whether x0 + x1 > 1 (binary), x1 is missing in every fifth row.
    static func examples(_ n: Int, seed: UInt64, task: ModelConfig.Task = .binary) throws -> Examples {
        var rng = SystemRandomNumberGenerator.Seeded(seed)
        var x: [Float] = [], y: [Float] = []
        for i in 0..<n {
            let a = Float(rng.unit()), b = Float(rng.unit())
            x += [a, i % 5 == 0 ? .nan : b]
            switch task {
            case .binary: y.append(a + b > 1 ? 1 : 0)
            case .classification: y.append(a < 0.33 ? 0 : (a < 0.66 ? 1 : 2))
            case .regression: y.append(3 * a - 2 * b)
            }
        }
        return try Examples(features: Tensor(shape: [n, 2], values: x), targets: Tensor(shape: [n, 1], values: y))
    }

    static func config(_ task: ModelConfig.Task = .binary, trees: Int = 40, earlyStopping: TrainingConfig.EarlyStopping? = nil)
        -> BoosterConfig
    {
        BoosterConfig(
            task: task, classes: task == .classification ? 3 : 1, trees: trees, maxDepth: 4, learningRate: 0.3,
            subsample: 0.8, columnSample: 1, minChildWeight: 1, l1: 0, l2: 1, minSplitLoss: 0, maxBins: 256,
            metrics: task == .regression ? [.rmse, .r2] : [.accuracy], earlyStopping: earlyStopping, seed: 7, threads: 2)
    }

    @Test(arguments: [ModelConfig.Task.binary, .classification, .regression])
    func learnsDeterministically(_ task: ModelConfig.Task) throws {
        let train = try Self.examples(600, seed: 1, task: task), test = try Self.examples(300, seed: 2, task: task)
        let first = try BoosterTraining.fit(Self.config(task), threads: 2, train: train, validation: test) { _ in true }
        let second = try BoosterTraining.fit(Self.config(task), threads: 2, train: train, validation: test) { _ in true }
        #expect(try first.booster.json() == second.booster.json())
        #expect(first.history.count == 40 && first.rounds == 40)
        let scores = try BoosterTraining.evaluate(first.booster, test, Self.config(task))
        if task == .regression {
            #expect(scores["r2"]! > 0.8)
        } else {
            #expect(scores["accuracy"]! > 0.85)
        }
        // The last round's validation scores are the evaluation of the model kept.
        #expect(abs(first.history.last!.validation["loss"]! - scores["loss"]!) < 1e-6)
        #expect(first.history.last!.trainLoss < first.history.first!.trainLoss)
    }

    @Test func earlyStoppingKeepsTheBestRound() throws {
        let train = try Self.examples(300, seed: 3), valid = try Self.examples(200, seed: 4)
        let config = Self.config(trees: 400, earlyStopping: .init(monitor: "val_loss", patience: 5))
        let result = try BoosterTraining.fit(config, threads: 2, train: train, validation: valid) { _ in true }
        #expect(result.stoppedEarly)
        #expect(result.roundsTrained == result.history.count && result.roundsTrained < 400)
        let best = result.history.min { $0.validation["loss"]! < $1.validation["loss"]! }!
        #expect(result.rounds == best.round)
        #expect(try result.booster.rounds == best.round)
        let kept = try BoosterTraining.evaluate(result.booster, valid, config)
        #expect(abs(kept["loss"]! - best.validation["loss"]!) < 1e-6)
    }

    @Test func artifactRoundTripsAndImportanceNamesTheUsefulFeature() throws {
        let dir = NSTemporaryDirectory() + "kiln-booster-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = try Self.examples(500, seed: 5, task: .classification)
        let config = Self.config(.classification, trees: 10)
        let result = try BoosterTraining.fit(config, threads: 2, train: train, validation: nil) { _ in true }
        let card = try Self.card(result, config)
        // The class depends on x0 only.
        #expect(card.booster!.gain[0] > 10 * card.booster!.gain[1])
        try BoosterModel.save(result.booster, card: card, to: dir)
        let (predictor, loaded) = try BoosterModel.load(dir, threads: 1)
        #expect(loaded == card)
        let direct = try BoosterPredictor(result.booster, task: .classification, classes: 3).predict(train.features)
        #expect(try predictor.predict(train.features) == direct)
        #expect(direct.count == 1500)
        for r in 0..<500 { #expect(abs(direct[3 * r] + direct[3 * r + 1] + direct[3 * r + 2] - 1) < 1e-5) }
    }

    static func card(_ result: BoosterResult, _ config: BoosterConfig) throws -> ModelCard {
        let (gain, splits) = try result.booster.importance(features: 2)
        var card = ModelCard(
            model: ModelConfig(
                task: config.task, architecture: .gradientBoosting, inputs: 2, outputs: config.outputWidth),
            inputColumns: ["x0", "x1"], labels: config.task == .classification ? ["a", "b", "c"] : (config.task == .binary ? ["no", "yes"] : ["y"]))
        card.booster = BoosterCard(
            library: xgboostLibrary, rounds: result.rounds, roundsTrained: result.roundsTrained,
            parameters: Dictionary(uniqueKeysWithValues: config.parameters(threads: 2).map { ($0.name, $0.value) }),
            gain: gain, splits: splits)
        return card
    }

    /// A booster.json edited by hand (a child index past the tree, a feature past the inputs, a tree too
    /// many) is refused with what is wrong, before XGBoost reads it.
    @Test func craftedModelsAreRefused() throws {
        let dir = NSTemporaryDirectory() + "kiln-booster-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = try Self.examples(200, seed: 6)
        let config = Self.config(trees: 3)
        let result = try BoosterTraining.fit(config, threads: 1, train: train, validation: nil) { _ in true }
        try BoosterModel.save(result.booster, card: try Self.card(result, config), to: dir)
        let path = dir + "/booster.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        func edit(_ change: (inout [String: Any]) -> Void) throws -> String {
            var json = try JSONSerialization.jsonObject(with: original) as! [String: Any]
            change(&json)
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: path))
            do {
                _ = try BoosterModel.load(dir, threads: 1)
                return "loaded"
            } catch { return "\(error)" }
        }
        func tree(_ json: inout [String: Any], _ change: (inout [String: Any]) -> Void) {
            var learner = json["learner"] as! [String: Any], gb = learner["gradient_booster"] as! [String: Any]
            var model = gb["model"] as! [String: Any], trees = model["trees"] as! [[String: Any]]
            change(&trees[0])
            model["trees"] = trees
            gb["model"] = model
            learner["gradient_booster"] = gb
            json["learner"] = learner
        }
        let child = try edit { json in
            tree(&json) { t in
                var left = t["left_children"] as! [Int]
                left[0] = 1_000_000
                t["left_children"] = left
            }
        }
        #expect(child.contains("node 0 has children 1000000"), "\(child)")
        let loop = try edit { json in
            tree(&json) { t in
                var right = t["right_children"] as! [Int]
                right[0] = 0
                t["right_children"] = right
            }
        }
        #expect(loop.contains("outside the tree"), "\(loop)")
        let feature = try edit { json in
            tree(&json) { t in
                var split = t["split_indices"] as! [Int]
                split[0] = 9
                t["split_indices"] = split
            }
        }
        #expect(feature.contains("splits on feature 9 of 2"), "\(feature)")
        // What XGBoost itself loads without looking: the tree count, the ids, the parents, split types.
        let count = try edit { json in
            var learner = json["learner"] as! [String: Any], gb = learner["gradient_booster"] as! [String: Any]
            var model = gb["model"] as! [String: Any], param = model["gbtree_model_param"] as! [String: Any]
            param["num_trees"] = "40"
            model["gbtree_model_param"] = param
            gb["model"] = model
            learner["gradient_booster"] = gb
            json["learner"] = learner
        }
        #expect(count.contains("does not count its 3 trees"), "\(count)")
        let id = try edit { json in tree(&json) { t in t["id"] = 2 } }
        #expect(id.contains("tree 0 has another id"), "\(id)")
        let parent = try edit { json in
            tree(&json) { t in
                var parents = t["parents"] as! [Int]
                parents[1] = 1_000_000
                t["parents"] = parents
            }
        }
        #expect(parent.contains("node 1 has parent 1000000"), "\(parent)")
        let types = try edit { json in tree(&json) { t in t["split_type"] = [Int]() } }
        #expect(types.contains("split_type"), "\(types)")
        let notJSON = try { () throws -> String in
            try Data("{\"learner\": 3".utf8).write(to: URL(fileURLWithPath: path))
            do { _ = try BoosterModel.load(dir, threads: 1); return "loaded" } catch { return "\(error)" }
        }()
        #expect(notJSON.contains("not XGBoost's JSON model format"))
    }
}

extension SystemRandomNumberGenerator {
    /// SplitMix64: a seeded generator for test data.
    struct Seeded {
        var state: UInt64
        init(_ seed: UInt64) { state = seed }
        mutating func unit() -> Double {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
    }
}
