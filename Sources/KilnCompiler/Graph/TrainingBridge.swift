import Foundation
public import KilnCompute
public import KilnSpec

/// The compute core's view of a checked Training cell and its Model: plain values, defaults applied.
/// The compiler has checked every name and range; an enumeration kiln does not know falls back to the
/// schema's default only where the schema has one.
extension TrainingConfig {
    public init(_ t: CheckedTraining) {
        let v = t.spec
        let typed = TrainingSpec(name: t.resource.name, v)
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
        case .step(let every, let gamma):
            schedule = LearningRateSchedule(.step, base: lr, warmupEpochs: warmup, stepEpochs: every, gamma: Float(gamma))
        case .cosine(let floor):
            schedule = LearningRateSchedule(.cosine, base: lr, warmupEpochs: warmup, minLearningRate: Float(floor))
        }
        let early = v["early_stopping"].flatMap { e -> EarlyStopping? in
            guard let patience = e["patience"]?.int else { return nil }
            return EarlyStopping(
                monitor: e["monitor"]?.string ?? "val_loss", patience: patience, minDelta: e["min_delta"]?.double ?? 0)
        }
        self.init(
            epochs: v["epochs"]?.int ?? 100, batchSize: v["batch_size"]?.int ?? 32, optimizer: optimizer,
            schedule: schedule, loss: Loss.Kind(rawValue: t.loss) ?? .crossEntropy,
            labelSmoothing: Float(v["label_smoothing"]?.double ?? 0),
            gradientClip: v["gradient_clip"]?.double.map(Float.init), metrics: t.metrics.compactMap(Metric.init),
            earlyStopping: early, checkpointEvery: v[path: ["checkpoint", "every_epochs"]]?.int ?? 10,
            seed: UInt64(max(0, v["seed"]?.int ?? 0)), threads: v["threads"]?.int)
    }
}

extension ModelConfig {
    /// The Model spec with the widths the compiler inferred for this training.
    public init(_ model: Resource, inputs: Int, outputs: Int) {
        let spec = ModelSpec(model)
        let v = model.spec
        let task: Task =
            switch spec.task {
            case .classification: .classification
            case .binary: .binary
            case .regression: .regression
            }
        let initialisation = v[path: ["init", "scheme"]]?.string.flatMap(Initialisation.init) ?? .he
        let seed = UInt64(max(0, v[path: ["init", "seed"]]?.int ?? 0))
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
    public var retry: RetryPolicy {
        RetryPolicy(max: spec[path: ["retry", "max"]]?.int ?? 0, backoff: spec[path: ["retry", "backoff"]]?.double ?? 1)
    }

    /// The longest an attempt may run, in seconds.
    public var timeout: Double? { spec["timeout"]?.double }
}
