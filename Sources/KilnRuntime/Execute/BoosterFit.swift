import Foundation
import KilnBoost
import KilnCompiler
import KilnCompute
import KilnData
import KilnDiagnostics

extension FitExecutor {
    /// A gradient_boosting model: XGBoost a round at a time (progress per round, a cancellation or the
    /// timeout between rounds, early stopping on the validation split), evaluated on every split and
    /// saved with its feature importance. A cancelled booster keeps nothing: the next run starts over.
    func boost(
        _ config: BoosterConfig, _ fit: FitPayload, _ job: NodeJob, _ context: ExecutionContext, threads: Int,
        splits: [(name: String, examples: Examples)], label: Preprocessor.Label?,
        card: ([String: Double]) -> ModelCard
    ) throws(NodeFailure) -> Trained {
        let train = splits[0].examples, validation = splits[1].examples
        let deadline = fit.timeout.map { Date().addingTimeInterval($0) } ?? context.deadline
        let started = Date()
        var timedOut = false
        let result: BoosterResult
        do {
            result = try BoosterTraining.fit(
                config, threads: threads, train: train, validation: validation.count > 0 ? validation : nil
            ) { report in
                let perRound = Date().timeIntervalSince(started) / Double(report.round)
                context.report(
                    .epoch(
                        node: job.id.description,
                        progress: EpochProgress(
                            epoch: report.round, epochs: config.trees, trainLoss: report.trainLoss,
                            validation: report.validation, samplesPerSecond: report.samplesPerSecond,
                            learningRate: config.learningRate, eta: perRound * Double(config.trees - report.round),
                            resumedFrom: nil, unit: "round")))
                if context.cancellation.isCancelled { return false }
                if let deadline, Date() > deadline {
                    timedOut = true
                    return false
                }
                return true
            }
        } catch {
            throw .infrastructure(.run(.training), "the booster's training failed", error, retriable: true)
        }
        if timedOut {
            let limit = fit.timeout.map { "its timeout of \(Format.seconds($0))" } ?? "the run's deadline"
            throw NodeFailure(
                [
                    Diagnostic(
                        .run(.timeout), .error,
                        "the booster ran past \(limit) (round \(result.roundsTrained) of \(config.trees))",
                        at: fit.timeoutSpan, help: "raise 'timeout', or lower 'architecture.trees'")
                ], cause: .timeout, retriable: true)
        }
        if result.cancelled { throw .cancelled("cancelled after round \(result.roundsTrained); a booster starts over") }

        var final: [String: [String: Double]] = [:]
        var model = card([:])
        do {
            let predictor = try BoosterPredictor(result.booster, task: config.task, classes: config.classes)
            for (name, examples) in splits where examples.count > 0 {
                let outputs = try predictor.predict(examples.features)
                final[name] = BoosterTraining.evaluate(outputs, examples.count, Array(examples.targets.buffer), config)
                if let label, label.steps != nil {
                    Self.rescore(&final[name, default: [:]], outputs, examples, label, config.metrics, task: config.task)
                }
                if config.task == .binary, let t = fit.threshold, t != 0.5 {
                    Self.rescore(&final[name, default: [:]], scores: outputs, examples, threshold: t, config.metrics)
                }
            }
            try Self.checkFinite(final, task: config.task, label: label?.column)
            model = card(final["test"] ?? final["validation"] ?? final["train"] ?? [:])
            let (gain, splits) = try result.booster.importance(features: fit.model.inputs)
            model.booster = BoosterCard(
                library: xgboostLibrary, rounds: result.rounds, roundsTrained: result.roundsTrained,
                parameters: Dictionary(
                    config.parameters(threads: threads).map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
                gain: gain, splits: splits)
        } catch let failure as NodeFailure {
            throw failure
        } catch { throw .infrastructure(.run(.training), "the booster's evaluation failed", error) }
        do {
            try BoosterModel.save(result.booster, card: model, to: context.outputs + "/model")
        } catch { throw .infrastructure(.run(.io), "the booster cannot be saved", error) }
        var summary = "\(result.rounds) rounds"
        if result.rounds < result.roundsTrained { summary += " (best of \(result.roundsTrained))" }
        if result.stoppedEarly { summary += " (stopped early)" }
        return Trained(
            final: final,
            history: result.history.map {
                .init(epoch: $0.round, trainLoss: $0.trainLoss, validation: $0.validation, learningRate: config.learningRate)
            }, stoppedEarly: result.stoppedEarly, summary: summary)
    }
}
