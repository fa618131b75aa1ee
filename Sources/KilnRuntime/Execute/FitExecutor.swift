import Foundation
import KilnCompiler
import KilnCompute
import KilnData
import KilnDiagnostics
import KilnSpec

/// fit: transforms fitted on the train split, the network trained (resuming from its checkpoint) or the
/// booster boosted, and evaluated → `model/` (safetensors + card, and XGBoost's booster.json for trees),
/// `metrics.json`, `params.json`, `lineage.json`.
struct FitExecutor: KindExecutor {
    let environment: ExecutorEnvironment

    struct FitLineage: Codable {
        var data: Lineage
        var training: String
        var key: String
    }

    func run(_ fit: FitPayload, _ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput {
        let e = environment
        let dataset = fit.data.dataset
        let data = try e.checked(fit.data, for: job)
        let indices = try e.split(fit.data, for: job)
        var prepared: PreparedDataset
        let train: Examples, validation: Examples, test: Examples
        do {
            prepared = try data.prepare(split: indices)
            // Trees take a missing value as it is (NaN): each split learns which way it goes.
            if fit.booster != nil { prepared.preprocessor.missingAsNaN = true }
            prepared.preprocessor.nullValues = dataset.source.nullValues
            if let positive = fit.positiveClass { prepared.preprocessor.makePositive(positive) }
            let table = data.table
            train = try prepared.preprocessor.examples(table, rows: prepared.split.train)
            validation = try prepared.preprocessor.examples(table, rows: prepared.split.validation)
            test = try prepared.preprocessor.examples(table, rows: prepared.split.test)
        } catch let failure as NodeFailure {
            throw failure
        } catch let error as DataError {
            throw NodeFailure(error.diagnostics)
        } catch {
            throw .infrastructure(.run(.data), "the data cannot be prepared", error)
        }
        let modelConfig = fit.model
        guard prepared.preprocessor.width == modelConfig.inputs else {
            throw NodeFailure(
                .run(.widthMismatch),
                "the data has \(prepared.preprocessor.width) features after transforms; the model was compiled for \(modelConfig.inputs)",
                help: "run `kiln check`: the dataset's spec and its files disagree")
        }
        let classes = prepared.preprocessor.label?.classes ?? []
        let labels = modelConfig.task == .regression ? [dataset.schema.label ?? "value"] : classes
        let threshold = fit.threshold.flatMap { $0 == 0.5 ? nil : $0 }
        let card = { (headline: [String: Double]) in
            var card = ModelCard(
                model: modelConfig, inputColumns: prepared.preprocessor.outputColumns,
                preprocessing: prepared.preprocessor.cardValue, labels: labels, metrics: headline)
            card.threshold = threshold
            return card
        }
        let weights = Self.classWeights(fit.classWeights, classes: classes, train: train)
        let trained: Trained
        if var booster = fit.booster {
            booster.classWeights = weights
            trained = try boost(
                booster, fit, job, context, threads: fit.training.threads ?? e.computeThreads,
                splits: [("train", train), ("validation", validation), ("test", test)],
                label: prepared.preprocessor.label, card: card)
        } else {
            trained = try trainNetwork(
                fit, job, context, train: train, validation: validation, test: test,
                label: prepared.preprocessor.label, weights: weights, threshold: threshold, card: card)
        }
        let metrics = TrainingMetrics(
            final: trained.final, history: trained.history, epochsRun: trained.history.last?.epoch ?? 0,
            stoppedEarly: trained.stoppedEarly)
        var lineage = prepared.lineage
        for i in lineage.sources.indices { lineage.sources[i].path = e.relative(lineage.sources[i].path) }
        try writeTrainingRecords(metrics, lineage: lineage, job, context)

        var summary = trained.summary
        let final = trained.final
        let split = final["test"] != nil ? "test" : (final["validation"] != nil ? "validation" : "train")
        var shown = fit.metrics.prefix(2).map { (metric: $0, split: split) }
        for g in fit.gated ?? [] where !shown.contains(where: { $0 == (g.metric, g.split) }) {
            shown.append((g.metric, g.split))
        }
        for (metric, split) in shown {
            if let v = final[split]?[metric] { summary += ", \(split) \(metric) \(String(format: "%.4f", v))" }
        }
        var flat: [String: Double] = [:]
        for (s, values) in final { for (m, v) in values { flat["\(s)_\(m)"] = v } }
        return NodeOutput(summary: summary, metrics: flat)
    }

    /// What a training gave the rest of the fit: each split's loss and metrics, the history, and the summary's start.
    struct Trained {
        var final: [String: [String: Double]]
        var history: [TrainingMetrics.Epoch]
        var stoppedEarly: Bool
        var summary: String
    }

    /// A regression on a transformed target: its metrics recomputed from `outputs` (the model's, on the
    /// training scale) and the targets, both mapped back to the label's scale; the loss stays the one
    /// trained on.
    static func rescore(
        _ values: inout [String: Double], _ outputs: [Float], _ examples: Examples, _ label: Preprocessor.Label,
        _ metrics: [Metric], task: ModelConfig.Task
    ) {
        let truth = examples.targets.buffer.map(label.original)
        let p = Metrics.predictions(outputs.map(label.original), rows: examples.count, task: task, truth: truth)
        for metric in metrics { values[metric.rawValue] = Metrics.value(of: metric, p, truth: truth, classes: 1) }
    }

    /// A model whose evaluation is not finite (a target past Float's range, a diverged network) fails the
    /// fit here, with what to do, before anything is saved: no card or gate could hold its metrics.
    static func checkFinite(_ final: [String: [String: Double]], task: ModelConfig.Task, label: String?) throws(NodeFailure) {
        for split in ["train", "validation", "test"] {
            guard let (metric, _) = final[split]?.sorted(by: { $0.key < $1.key }).first(where: { !$0.value.isFinite })
            else { continue }
            throw NodeFailure(
                .run(.training), "the trained model's \(metric) on the \(split) split is not finite",
                help: task == .regression
                    ? "the label's values may be too large for 32-bit floats or far from the features' scale: add {op: standardize, columns: [\(label ?? "label")]} (or log)"
                    : "the training diverged: lower the learning rate, or standardize the features")
        }
    }

    /// A binary model with a decision threshold other than 0.5: its class metrics recomputed from the
    /// positive class's probabilities (`scores`) thresholded there (roc_auc and the loss do not change).
    static func rescore(
        _ values: inout [String: Double], scores: [Float], _ examples: Examples, threshold: Double, _ metrics: [Metric]
    ) {
        let truth = Array(examples.targets.buffer)
        let p = Predictions(loss: 0, classes: scores.map { Double($0) >= threshold ? 1 : 0 }, scores: scores, values: [])
        for metric in metrics where metric != .rocAUC {
            values[metric.rawValue] = Metrics.value(of: metric, p, truth: truth, classes: 2)
        }
    }

    /// Loss weights by class index from the spec's names (1 for a class not named), or balanced by the
    /// train split's counts (n / (classes × count)); nil without class weights.
    static func classWeights(_ spec: FitPayload.ClassWeights?, classes: [String], train: Examples) -> [Float]? {
        guard let spec, !classes.isEmpty else { return nil }
        switch spec {
        case .by(let named):
            return classes.map { Float(named[$0] ?? 1) }
        case .balanced:
            var counts = [Int](repeating: 0, count: classes.count)
            for y in train.targets.buffer where Int(y) >= 0 && Int(y) < counts.count { counts[Int(y)] += 1 }
            let n = Float(train.count), k = Float(classes.count)
            return counts.map { $0 > 0 ? n / (k * Float($0)) : 1 }
        }
    }

    /// The network trained (resuming from its checkpoint), evaluated and saved to `outputs/model`.
    private func trainNetwork(
        _ fit: FitPayload, _ job: NodeJob, _ context: ExecutionContext, train: Examples, validation: Examples,
        test: Examples, label: Preprocessor.Label?, weights: [Float]?, threshold: Double?,
        card: ([String: Double]) -> ModelCard
    ) throws(NodeFailure) -> Trained {
        let e = environment
        let modelConfig = fit.model
        var config = fit.training
        config.threads = config.threads ?? e.computeThreads
        config.classWeights = weights
        let work = e.paths.work + "/" + job.key
        let checkpoint = work + "/checkpoint.safetensors"
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        } catch { throw .infrastructure(.run(.io), "cannot create \(work)", error) }

        // The timeout counts from here, the training's start (as before the runner passed deadlines): the
        // data's reading and preparation, and a node process's start, do not count.
        let deadline = fit.timeout.map { Date().addingTimeInterval($0) } ?? context.deadline
        let timedOut = Flag()
        let result: TrainingResult
        let trainer: Trainer
        do {
            let blas = try BLAS.get()
            (trainer, result) = try trainResuming(
                modelConfig, config, blas: blas, train: train, validation: validation, checkpoint: checkpoint
            ) { report, resumed in
                let perEpoch = Double(train.count) / max(report.samplesPerSecond, 1e-9)
                context.report(
                    .epoch(
                        node: job.id.description,
                        progress: EpochProgress(
                            epoch: report.epoch, epochs: config.epochs, trainLoss: report.trainLoss,
                            validation: report.validation, samplesPerSecond: report.samplesPerSecond,
                            learningRate: Double(report.learningRate),
                            eta: perEpoch * Double(config.epochs - report.epoch), resumedFrom: resumed)))
                if context.cancellation.isCancelled { return .checkpointAndStop }
                if let deadline, Date() > deadline {
                    timedOut.set()
                    return .checkpointAndStop
                }
                return .proceed
            }
        } catch {
            throw .infrastructure(.run(.training), "the training failed", error, retriable: true)
        }
        if timedOut.isSet, let timeout = fit.timeout {
            throw NodeFailure(
                [
                    Diagnostic(
                        .run(.timeout), .error,
                        "the training ran past its timeout of \(Format.seconds(timeout)) (epoch \(result.history.last?.epoch ?? 0) of \(config.epochs)); its checkpoint is kept",
                        at: fit.timeoutSpan,
                        help: "raise 'timeout', or run again: the training resumes from its checkpoint")
                ], cause: .timeout, retriable: true)
        }
        if result.aborted {
            throw .cancelled("cancelled; the checkpoint is kept and the next run resumes")
        }

        // Evaluate on every split that has rows (a scaled target's metrics on the label's own scale).
        var final: [String: [String: Double]] = [:]
        do {
            for (name, examples) in [("train", train), ("validation", validation), ("test", test)]
            where examples.count > 0 {
                final[name] = try trainer.evaluate(examples)
                if let label, label.steps != nil {
                    let p = try trainer.predict(examples)
                    Self.rescore(&final[name, default: [:]], p.values, examples, label, config.metrics, task: modelConfig.task)
                }
                if let threshold {
                    let p = try trainer.predict(examples)
                    Self.rescore(&final[name, default: [:]], scores: p.scores, examples, threshold: threshold, config.metrics)
                }
            }
        } catch { throw .infrastructure(.run(.training), "evaluation failed", error) }

        try Self.checkFinite(final, task: modelConfig.task, label: label?.column)
        let headline = final["test"] ?? final["validation"] ?? final["train"] ?? [:]
        do {
            try Artifact.save(trainer.network, card: card(headline), to: context.outputs + "/model")
        } catch { throw .infrastructure(.run(.io), "the model cannot be saved", error) }
        var summary = "\(result.history.last?.epoch ?? 0) epochs"
        if result.stoppedEarly { summary += " (stopped early)" }
        if let resumed = result.resumedFromEpoch { summary += ", resumed at epoch \(resumed)" }
        return Trained(
            final: final,
            history: result.history.map {
                .init(
                    epoch: $0.epoch, trainLoss: $0.trainLoss, validation: $0.validation,
                    learningRate: Double($0.learningRate))
            }, stoppedEarly: result.stoppedEarly, summary: summary)
    }

    /// Trains, resuming from `checkpoint` when there is one; a checkpoint this configuration cannot
    /// use (another kiln's format, a different thread count) is set aside and training starts over.
    private func trainResuming(
        _ model: ModelConfig, _ config: TrainingConfig, blas: BLAS, train: Examples, validation: Examples,
        checkpoint: String, progress: @escaping (EpochReport, Int?) -> TrainingControl
    ) throws -> (Trainer, TrainingResult) {
        for _ in 0..<2 {
            let network = try Network(model, blas: blas)
            let trainer = try Trainer(network: network, config: config, blas: blas)
            let resumed = Box<Int?>(nil), first = Flag()
            do {
                let result = try trainer.fit(
                    train: train, validation: validation.count > 0 ? validation : nil, checkpoint: checkpoint
                ) { report in
                    if !first.isSet {
                        first.set()
                        resumed.value = report.epoch > 1 ? report.epoch - 1 : nil
                    }
                    return progress(report, resumed.value)
                }
                return (trainer, result)
            } catch {
                guard case .invalidFile(let path, _) = error, path == checkpoint else { throw error }
                try? FileManager.default.moveItem(atPath: checkpoint, toPath: checkpoint + ".unusable")
            }
        }
        throw ComputeError.invalidFile(path: checkpoint, reason: "the checkpoint could not be used")
    }
}
