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

extension CheckedTraining {
    /// Retries after a failed attempt, and the wait before the first (doubling after each).
    public var retry: RetryPolicy { RetryPolicy(max: spec.retry.max, backoff: spec.retry.backoff) }

    /// The longest an attempt may run, in seconds.
    public var timeout: Double? { spec.timeout }
}
