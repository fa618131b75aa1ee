import Foundation
public import KilnCompute

/// One round's report: the train loss, `loss` and every metric on the validation split.
public struct RoundReport: Sendable {
    public var round: Int
    public var trainLoss: Double
    public var validation: [String: Double]
    public var samplesPerSecond: Double
}

/// What a boosting run ended with: the model (the best round's trees when early stopping chose one),
/// the history of every round trained, and how it stopped.
public struct BoosterResult {
    public var booster: Booster
    public var history: [RoundReport]
    public var roundsTrained: Int
    public var rounds: Int
    public var stoppedEarly: Bool
    public var cancelled: Bool
}

/// Gradient-boosted trees on examples through XGBoost: a round at a time, so that progress is reported,
/// a cancellation stops between rounds, and early stopping watches a kiln metric of the validation split.
public enum BoosterTraining {
    /// `progress` is called after each round; returning false stops (cancelled, or past a deadline).
    public static func fit(
        _ config: BoosterConfig, threads: Int, train: Examples, validation: Examples?,
        progress: (RoundReport) -> Bool
    ) throws(BoosterError) -> BoosterResult {
        guard train.count > 0 else { throw BoosterError("the train split is empty") }
        let dtrain = try DMatrix(train)
        if let w = config.classWeights {
            try dtrain.setWeights(train.targets.buffer.map { y in Int(y) >= 0 && Int(y) < w.count ? w[Int(y)] : 1 })
        }
        var dvalid: DMatrix?
        if let validation, validation.count > 0 { dvalid = try DMatrix(validation) }
        let booster = try Booster(caching: [dtrain] + (dvalid.map { [$0] } ?? []))
        for (name, value) in config.parameters(threads: threads) { try booster.set(name, value) }

        let trainTruth = Array(train.targets.buffer), validTruth = validation.map { Array($0.targets.buffer) } ?? []
        let monitor = config.earlyStopping.map { es -> (key: String, higher: Bool) in
            let key = es.monitor.hasPrefix("val_") ? String(es.monitor.dropFirst(4)) : es.monitor
            return (key, Metric(rawValue: key)?.higherIsBetter ?? false)
        }
        var history: [RoundReport] = []
        var best: (value: Double, round: Int)?
        var stale = 0, stoppedEarly = false, cancelled = false
        var outputs: [Float] = []
        for round in 0..<config.trees {
            let start = Date()
            try booster.update(round: round, dtrain)
            let seconds = max(Date().timeIntervalSince(start), 1e-9)
            outputs.removeAll(keepingCapacity: true)
            try booster.predict(dtrain, into: &outputs)
            let trainLoss = Metrics.predictions(
                outputs, rows: train.count, task: config.task, truth: trainTruth, huber: config.huber
            ).loss
            var scores: [String: Double] = [:]
            if let dvalid, let validation {
                outputs.removeAll(keepingCapacity: true)
                try booster.predict(dvalid, into: &outputs)
                scores = evaluate(outputs, validation.count, validTruth, config)
            }
            let report = RoundReport(
                round: round + 1, trainLoss: trainLoss, validation: scores,
                samplesPerSecond: Double(train.count) / seconds)
            history.append(report)
            if let es = config.earlyStopping, let monitor, let value = scores[monitor.key] {
                let improved = best.map { monitor.higher ? value > $0.value + es.minDelta : value < $0.value - es.minDelta } ?? true
                if improved {
                    best = (value, round + 1)
                    stale = 0
                } else {
                    stale += 1
                }
            }
            if !progress(report) {
                cancelled = true
                break
            }
            if let es = config.earlyStopping, stale >= es.patience {
                stoppedEarly = true
                break
            }
        }
        let trained = history.count
        // With early stopping the best round's trees are kept, whether or not it stopped (as XGBoost's
        // scikit-learn interface predicts with best_iteration).
        let kept = config.earlyStopping != nil && !cancelled ? (best?.round ?? trained) : trained
        let model = kept < trained ? try booster.prefix(kept) : booster
        return BoosterResult(
            booster: model, history: history, roundsTrained: trained, rounds: kept, stoppedEarly: stoppedEarly,
            cancelled: cancelled)
    }

    /// `loss` and the config's metrics of `rows` predictions against `truth`.
    public static func evaluate(_ outputs: [Float], _ rows: Int, _ truth: [Float], _ config: BoosterConfig) -> [String: Double] {
        let p = Metrics.predictions(outputs, rows: rows, task: config.task, truth: truth, huber: config.huber)
        var out = ["loss": p.loss]
        let classes = config.task == .binary ? 2 : config.classes
        for metric in config.metrics { out[metric.rawValue] = Metrics.value(of: metric, p, truth: truth, classes: classes) }
        return out
    }

    /// `loss` and metrics of a booster over examples.
    public static func evaluate(_ booster: Booster, _ examples: Examples, _ config: BoosterConfig) throws(BoosterError)
        -> [String: Double]
    {
        let outputs = try BoosterPredictor(booster, task: config.task, classes: config.classes).predict(examples.features)
        return evaluate(outputs, examples.count, Array(examples.targets.buffer), config)
    }
}
