import Foundation
public import KilnCompute
public import KilnSpec

/// The compute core's view of a checked Training cell and its Model: plain values. The typed specs carry
/// the schema's defaults and the compiler has checked every name and range, so nothing here supplies a
/// value of its own; every switch is exhaustive.
extension TrainingConfig {
    public init(_ t: CheckedTraining) {
        let typed = t.spec
        let c = typed.optimizer.common
        let (lr, wd) = (Float(c.learningRate), Float(c.weightDecay))
        let optimizer: OptimizerConfig
        switch typed.optimizer {
        case .sgd:
            optimizer = OptimizerConfig(.sgd, learningRate: lr, weightDecay: wd)
        case .momentum(_, let momentum, let nesterov):
            optimizer = OptimizerConfig(
                .momentum, learningRate: lr, weightDecay: wd, momentum: Float(momentum), nesterov: nesterov)
        case .adam(_, let a), .adamw(_, let a):
            optimizer = OptimizerConfig(
                typed.optimizer.isAdamW ? .adamw : .adam, learningRate: lr, weightDecay: wd, beta1: Float(a.beta1),
                beta2: Float(a.beta2), epsilon: Float(a.epsilon))
        }
        let warmup = typed.schedule.warmupEpochs
        let schedule: LearningRateSchedule
        switch typed.schedule.shape {
        case .constant:
            schedule = LearningRateSchedule(.constant, base: lr, warmupEpochs: warmup)
        case .step(let every?, let gamma):
            schedule = LearningRateSchedule(.step, base: lr, warmupEpochs: warmup, stepEpochs: every, gamma: Float(gamma))
        case .step(nil, _):
            preconditionFailure("kiln check refuses a step schedule without step_epochs")
        case .cosine(let floor):
            schedule = LearningRateSchedule(.cosine, base: lr, warmupEpochs: warmup, minLearningRate: Float(floor))
        case .linear:
            preconditionFailure("kiln check refuses the linear schedule outside a transformer's training")
        }
        let loss: Loss.Kind =
            switch t.loss {
            case .auto: preconditionFailure("the compiler resolves 'auto' by the model's task")
            case .crossEntropy: .crossEntropy
            case .binaryCrossEntropy: .binaryCrossEntropy
            case .mse: .mse
            case .huber: .huber
            }
        self.init(
            epochs: typed.epochs, batchSize: typed.batchSize, optimizer: optimizer, schedule: schedule, loss: loss,
            labelSmoothing: Float(typed.labelSmoothing), gradientClip: typed.gradientClip.map(Float.init),
            metrics: t.metrics.compactMap(Metric.init),
            earlyStopping: typed.earlyStopping.map {
                EarlyStopping(monitor: $0.monitor, patience: $0.patience, minDelta: $0.minDelta)
            },
            checkpointEvery: typed.checkpointEvery, seed: UInt64(max(0, typed.seed)), threads: typed.threads)
    }
}

extension ModelConfig {
    /// The Model spec with the widths the compiler inferred for this training.
    public init(_ spec: ModelSpec, inputs: Int, outputs: Int) {
        let task: Task =
            switch spec.task {
            case .classification: .classification
            case .binary: .binary
            case .regression: .regression
            case .tokenClassification: preconditionFailure("token classification is a transformer's")
            }
        let initialisation: Initialisation =
            switch spec.initialisation {
            case .he: .he
            case .xavier: .xavier
            case .zeros: .zeros
            }
        let seed = UInt64(max(0, spec.seed))
        switch spec.architecture {
        case .linear:
            self.init(
                task: task, architecture: .linear, inputs: inputs, outputs: outputs, initialisation: initialisation,
                seed: seed)
        case .transformer:
            preconditionFailure("a transformer is lowered to tokenize and fine-tune nodes, not to a network")
        case .gradientBoosting:
            self.init(task: task, architecture: .gradientBoosting, inputs: inputs, outputs: outputs)
        case .mlp(let m):
            let activation: Activation.Kind =
                switch m.activation {
                case .relu: .relu
                case .gelu: .gelu
                case .tanh: .tanh
                case .sigmoid: .sigmoid
                }
            self.init(
                task: task, architecture: .mlp, inputs: inputs, outputs: outputs, hidden: m.hidden,
                activation: activation, dropout: Float(m.dropout), layerNorm: m.layerNorm,
                initialisation: initialisation, seed: seed)
        }
    }
}

extension BoosterConfig {
    /// A checked training of a gradient_boosting model: its architecture's settings with the Training's
    /// metrics, early stopping, seed and threads.
    public init?(_ t: CheckedTraining) {
        guard case .gradientBoosting(let g) = t.model.architecture else { return nil }
        let config = ModelConfig(t.model, inputs: t.inputs, outputs: t.outputs)
        let typed = t.spec
        self.init(
            task: config.task, classes: t.outputs, trees: g.trees, maxDepth: g.maxDepth, learningRate: g.learningRate,
            subsample: g.subsample, columnSample: g.columnSample, minChildWeight: g.minChildWeight, l1: g.l1, l2: g.l2,
            minSplitLoss: g.minSplitLoss, maxBins: g.maxBins, huber: t.loss == .huber,
            metrics: t.metrics.compactMap(Metric.init),
            earlyStopping: typed.earlyStopping.map {
                TrainingConfig.EarlyStopping(monitor: $0.monitor, patience: $0.patience, minDelta: $0.minDelta)
            }, seed: UInt64(max(0, typed.seed)), threads: typed.threads)
    }
}

extension FineTunePayload {
    /// A checked transformer training: the spec's settings in the compute core's terms.
    public init(
        _ t: CheckedTraining, dataset: CheckedDataset, data: DatasetPayload, pretrained: PretrainedModel,
        weightsSHA256: String
    ) {
        guard case .transformer(let arch) = t.model.architecture else {
            preconditionFailure("only a transformer model is fine-tuned")
        }
        let typed = t.spec
        let c = typed.optimizer.common
        var adam = (beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        switch typed.optimizer {
        case .adam(_, let a), .adamw(_, let a): adam = (a.beta1, a.beta2, a.epsilon)
        case .sgd, .momentum: preconditionFailure("kiln check refuses sgd and momentum for a transformer")
        }
        // Adam with weight decay 0 is AdamW with weight decay 0; Adam's L2 decay is not offered.
        let optimizer = OptimizerConfig(
            .adamw, learningRate: Float(c.learningRate), weightDecay: typed.optimizer.isAdamW ? Float(c.weightDecay) : 0,
            beta1: Float(adam.beta1), beta2: Float(adam.beta2), epsilon: Float(adam.epsilon))
        let pooling: BertFineTuning.Pooling =
            switch arch.pooling {
            case .pooler: .pooler
            case .cls: .cls
            case .mean: .mean
            }
        let tuning = t.model.fineTuning
        var lora: BertFineTuning.LoRA?
        if case .lora(let rank, let alpha, let dropout, let targets) = tuning.method {
            lora = BertFineTuning.LoRA(
                rank: rank, alpha: Float(alpha), dropout: Float(dropout),
                targets: targets.compactMap(BertFineTuning.LoRA.Target.init(rawValue:)))
        }
        let task: BertFineTuning.Task =
            t.model.task == .tokenClassification ? .token(labels: t.outputs) : .sequence(labels: t.outputs, pooling: pooling)
        let settings = BertFineTuning(
            task: task, optimizer: optimizer, warmupSteps: 0, totalSteps: 1,
            decays: typed.schedule.kind == .linear, gradientClip: typed.gradientClip.map(Float.init),
            accumulation: typed.gradientAccumulation, freezeEmbeddings: tuning.freezeEmbeddings,
            frozenLayers: tuning.freezeLayers, lora: lora, hiddenDropout: arch.hiddenDropout.map(Float.init),
            attentionDropout: arch.attentionDropout.map(Float.init), seed: UInt64(max(0, typed.seed)))
        self.init(
            data: data, pretrained: pretrained, weightsSHA256: weightsSHA256, settings: settings,
            maxLength: arch.maxLength, epochs: typed.epochs, batchSize: typed.batchSize,
            warmup: typed.schedule.warmupRatio.map(Warmup.ratio) ?? .epochs(typed.schedule.warmupEpochs),
            classes: dataset.classes ?? dataset.spec.label.flatMap(dataset.spec.column)?.values ?? [],
            textColumn: dataset.textColumns.first ?? dataset.tokenColumns.first ?? "", metrics: t.metrics,
            earlyStopping: typed.earlyStopping.map {
                TrainingConfig.EarlyStopping(monitor: $0.monitor, patience: $0.patience, minDelta: $0.minDelta)
            }, checkpointEvery: typed.checkpointEvery, threads: typed.threads, retry: t.retry, timeout: t.timeout,
            timeoutSpan: typed.span(.timeout))
    }
}

extension CheckedTraining {
    /// Retries after a failed attempt, and the wait before the first (doubling after each).
    public var retry: RetryPolicy { RetryPolicy(max: spec.retry.max, backoff: spec.retry.backoff) }

    /// The longest an attempt may run, in seconds.
    public var timeout: Double? { spec.timeout }
}
