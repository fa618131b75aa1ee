import Foundation

/// Evaluation metrics over predictions, as scikit-learn defines them.
public enum Metric: String, Sendable, Codable, CaseIterable {
    case accuracy
    case precisionMacro = "precision_macro"
    case recallMacro = "recall_macro"
    case f1Macro = "f1_macro"
    case rocAUC = "roc_auc"
    case rmse, mae, r2

    /// Whether a larger value is better (early stopping's direction).
    public var higherIsBetter: Bool { ![.rmse, .mae].contains(self) }
}

public enum Metrics {
    /// One metric of predictions against the targets (class indices, or values for regression).
    public static func value(of metric: Metric, _ p: Predictions, truth truthValues: [Float], classes: Int) -> Double {
        // Class indices for the class metrics only (a regression's targets may be any float: 1e19 is not an Int).
        var truth: [Int] { truthValues.map { $0.isFinite && abs($0) < 1e9 ? Int($0) : -1 } }
        switch metric {
        case .accuracy: return accuracy(truth: truth, predicted: p.classes)
        case .precisionMacro: return macro(truth: truth, predicted: p.classes, classes: classes).precision
        case .recallMacro: return macro(truth: truth, predicted: p.classes, classes: classes).recall
        case .f1Macro: return macro(truth: truth, predicted: p.classes, classes: classes).f1
        case .rocAUC: return rocAUC(truth: truth, scores: p.scores)
        case .rmse: return rmse(truth: truthValues, predicted: p.values)
        case .mae: return mae(truth: truthValues, predicted: p.values)
        case .r2: return r2(truth: truthValues, predicted: p.values)
        }
    }

    /// Predictions in the metrics' forms from a model's outputs, `rows` × `width` values: class
    /// probabilities (classification), the positive class's probability (binary, width 1) or the values
    /// (regression); `loss` is the mean cross-entropy, log loss, or squared error (huber: Huber's, δ = 1)
    /// against `truth`, with probabilities clamped to [1e-7, 1 - 1e-7].
    public static func predictions(
        _ outputs: [Float], rows: Int, task: ModelConfig.Task, truth: [Float], huber: Bool = false
    ) -> Predictions {
        var p = Predictions(loss: 0, classes: [], scores: [], values: [])
        guard rows > 0 else { return p }
        let width = outputs.count / rows
        var total = 0.0
        for r in 0..<rows {
            let row = outputs[(r * width)..<((r + 1) * width)]
            switch task {
            case .classification:
                var best = row.startIndex
                for j in row.indices where row[j] > row[best] { best = j }
                p.classes.append(best - row.startIndex)
                let y = Int(truth[r])
                let q = y >= 0 && y < width ? Double(row[row.startIndex + y]) : 0
                total -= Foundation.log(Swift.min(Swift.max(q, 1e-7), 1 - 1e-7))
            case .binary:
                let s = row[row.startIndex]
                p.scores.append(s)
                p.classes.append(s >= 0.5 ? 1 : 0)
                let q = Swift.min(Swift.max(Double(s), 1e-7), 1 - 1e-7)
                total -= truth[r] >= 0.5 ? Foundation.log(q) : Foundation.log(1 - q)
            case .regression:
                for (j, v) in row.enumerated() {
                    p.values.append(v)
                    let d = Double(v) - Double(truth[r * width + j])
                    total += huber ? (Swift.abs(d) <= 1 ? 0.5 * d * d : Swift.abs(d) - 0.5) : d * d
                }
            }
        }
        p.loss = total / Double(task == .regression ? rows * width : rows)
        return p
    }

    /// confusion[t][p]: rows of true classes, columns of predicted classes.
    public static func confusion(truth: [Int], predicted: [Int], classes: Int) -> [[Int]] {
        var m = [[Int]](repeating: [Int](repeating: 0, count: classes), count: classes)
        for (t, p) in zip(truth, predicted) where t >= 0 && t < classes && p >= 0 && p < classes { m[t][p] += 1 }
        return m
    }

    public static func accuracy(truth: [Int], predicted: [Int]) -> Double {
        guard !truth.isEmpty else { return 0 }
        return Double(zip(truth, predicted).count { $0 == $1 }) / Double(truth.count)
    }

    /// Macro averages over classes that occur in the truth or the predictions (scikit-learn's labels);
    /// a class with no predicted (or no true) samples counts 0 for precision (recall), as `zero_division=0`.
    public static func macro(truth: [Int], predicted: [Int], classes: Int) -> (
        precision: Double, recall: Double, f1: Double
    ) {
        let m = confusion(truth: truth, predicted: predicted, classes: classes)
        var p = 0.0, r = 0.0, f = 0.0, n = 0
        for c in 0..<classes {
            let tp = Double(m[c][c])
            let predictedC = Double((0..<classes).reduce(0) { $0 + m[$1][c] })
            let trueC = Double(m[c].reduce(0, +))
            guard predictedC + trueC > 0 else { continue }
            n += 1
            let precision = predictedC > 0 ? tp / predictedC : 0
            let recall = trueC > 0 ? tp / trueC : 0
            p += precision
            r += recall
            f += precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        }
        let d = Double(max(n, 1))
        return (p / d, r / d, f / d)
    }

    /// Area under the ROC curve of scores for the positive class (ties averaged: the Mann–Whitney U).
    public static func rocAUC(truth: [Int], scores: [Float]) -> Double {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var ranks = [Double](repeating: 0, count: scores.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && scores[order[j + 1]] == scores[order[i]] { j += 1 }
            let rank = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = rank }
            i = j + 1
        }
        let positives = truth.count { $0 == 1 }, negatives = truth.count - positives
        guard positives > 0 && negatives > 0 else { return 0.5 }
        let sum = zip(truth, ranks).reduce(0.0) { $0 + ($1.0 == 1 ? $1.1 : 0) }
        return (sum - Double(positives * (positives + 1)) / 2) / Double(positives * negatives)
    }

    public static func rmse(truth: [Float], predicted: [Float]) -> Double { mse(truth, predicted).squareRoot() }

    public static func mae(truth: [Float], predicted: [Float]) -> Double {
        guard !truth.isEmpty else { return 0 }
        return zip(truth, predicted).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(truth.count)
    }

    public static func r2(truth: [Float], predicted: [Float]) -> Double {
        guard !truth.isEmpty else { return 0 }
        let mean = truth.reduce(0.0) { $0 + Double($1) } / Double(truth.count)
        let total = truth.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) }
        let residual = mse(truth, predicted) * Double(truth.count)
        return total > 0 ? 1 - residual / total : 0
    }

    static func mse(_ a: [Float], _ b: [Float]) -> Double {
        guard !a.isEmpty else { return 0 }
        return zip(a, b).reduce(0.0) { $0 + (Double($1.0) - Double($1.1)) * (Double($1.0) - Double($1.1)) }
            / Double(a.count)
    }
}
