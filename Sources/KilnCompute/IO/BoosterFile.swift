public import Foundation

/// booster.json read as hostile before XGBoost parses it: XGBoost checks a model's syntax but walks its
/// trees as written, so a crafted child index or feature index would read outside its arrays at the first
/// prediction. Every tree must be well-formed (children after their parent, so no cycles; split features
/// within the model's inputs; numeric splits only) and the model must be the one the card describes.
public enum BoosterFile {
    static let maxNodesPerTree = 1 << 22

    public static func problem(_ data: Data, card: ModelCard, rounds: Int) -> String? {
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let learner = root["learner"] as? [String: Any]
        else { return "it is not XGBoost's JSON model format" }
        guard let param = learner["learner_model_param"] as? [String: Any],
            let features = (param["num_feature"] as? String).flatMap({ Int($0) }),
            let numClass = (param["num_class"] as? String).flatMap({ Int($0) })
        else { return "it has no learner_model_param with num_feature and num_class" }
        if let base = param["base_score"] {
            guard let text = base as? String, let value = Double(text), value.isFinite else {
                return "its base_score is not a finite number"
            }
        }
        let task = card.model.task
        guard features == card.model.inputs else {
            return "it reads \(features) features; the card's model reads \(card.model.inputs)"
        }
        guard numClass == (task == .classification ? card.model.outputs : 0) else {
            return "it has \(numClass) classes; the card's model has \(card.model.outputs) outputs"
        }
        let objective = (learner["objective"] as? [String: Any])?["name"] as? String ?? ""
        let objectives: Set<String> =
            switch task {
            case .binary: ["binary:logistic"]
            case .classification: ["multi:softprob"]
            case .regression: ["reg:squarederror", "reg:pseudohubererror"]
            }
        guard objectives.contains(objective) else { return "its objective '\(objective)' is not a \(task.rawValue) model's" }
        guard let booster = learner["gradient_booster"] as? [String: Any], booster["name"] as? String == "gbtree",
            let model = booster["model"] as? [String: Any], let trees = model["trees"] as? [Any],
            let info = model["tree_info"] as? [Any]
        else { return "it is not a gbtree model with trees and tree_info" }
        let perRound = task == .classification ? card.model.outputs : 1
        guard trees.count == rounds * perRound, info.count == trees.count else {
            return "it holds \(trees.count) trees; the card's \(rounds) rounds make \(rounds * perRound)"
        }
        // XGBoost loads trees by these counts and ids without checking them against the arrays.
        guard let treeParam = model["gbtree_model_param"] as? [String: Any],
            (treeParam["num_trees"] as? String).flatMap({ Int($0) }) == trees.count,
            (treeParam["num_parallel_tree"] as? String).map({ $0 == "1" }) ?? true
        else { return "its gbtree_model_param does not count its \(trees.count) trees" }
        for (k, group) in info.enumerated() {
            guard let g = group as? Int, g >= 0, g < perRound else { return "tree \(k) belongs to no output" }
        }
        for (k, tree) in trees.enumerated() {
            guard let tree = tree as? [String: Any] else { return "tree \(k) is not an object" }
            guard (tree["id"] as? NSNumber)?.intValue == k else { return "tree \(k) has another id" }
            if let problem = self.problem(tree: tree, features: features) { return "tree \(k): \(problem)" }
        }
        return nil
    }

    private static func problem(tree: [String: Any], features: Int) -> String? {
        func ints(_ key: String) -> [Int]? {
            (tree[key] as? [Any])?.compactMap { ($0 as? NSNumber).map(\.intValue) }
        }
        guard let param = tree["tree_param"] as? [String: Any], let n = (param["num_nodes"] as? String).flatMap({ Int($0) }),
            n >= 1, n <= maxNodesPerTree
        else { return "no node count within 1…\(maxNodesPerTree)" }
        guard let left = ints("left_children"), let right = ints("right_children"), let split = ints("split_indices"),
            let parents = ints("parents"), let conditions = tree["split_conditions"] as? [Any],
            let defaults = tree["default_left"] as? [Any], let base = tree["base_weights"] as? [Any],
            [left.count, right.count, split.count, parents.count, conditions.count, defaults.count, base.count]
                .allSatisfy({ $0 == n })
        else { return "its node arrays are missing or not \(n) long" }
        if let types = tree["split_type"] {
            guard let t = types as? [Any], t.count == n, t.allSatisfy({ ($0 as? NSNumber)?.intValue == 0 }) else {
                return "its split_type is not \(n) numeric splits (kiln's models make no categorical ones)"
            }
        }
        for key in ["categories", "categories_nodes", "categories_segments", "categories_sizes"] {
            if let c = tree[key], (c as? [Any])?.isEmpty != true {
                return "it has categorical splits ('\(key)'), which kiln's models never make"
            }
        }
        for i in 0..<n {
            let (l, r) = (left[i], right[i])
            if l == -1 && r == -1 { continue }
            guard l > i, l < n, r > i, r < n, l != r else { return "node \(i) has children \(l) and \(r) outside the tree" }
            guard split[i] >= 0, split[i] < features else { return "node \(i) splits on feature \(split[i]) of \(features)" }
        }
        // The root's parent is a sentinel XGBoost never follows; every other node's is a node before it
        // whose child it is.
        for i in 1..<max(n, 1) {
            let p = parents[i]
            guard p >= 0, p < i, left[p] == i || right[p] == i else { return "node \(i) has parent \(p), not its own" }
        }
        return nil
    }
}
