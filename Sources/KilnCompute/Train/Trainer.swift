import Foundation

/// How to train, in the spec language's words (Training spec after resolution).
public struct TrainingConfig: Sendable, Codable, Equatable {
    public struct EarlyStopping: Sendable, Codable, Equatable {
        /// `val_loss` or `val_METRIC`.
        public var monitor: String
        public var patience: Int
        public var minDelta: Double

        public init(monitor: String = "val_loss", patience: Int, minDelta: Double = 0) {
            self.monitor = monitor
            self.patience = patience
            self.minDelta = minDelta
        }
    }

    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerConfig
    public var schedule: LearningRateSchedule
    public var loss: Loss.Kind
    public var labelSmoothing: Float
    public var gradientClip: Float?
    public var metrics: [Metric]
    public var earlyStopping: EarlyStopping?
    public var checkpointEvery: Int
    public var seed: UInt64
    /// Compute threads; nil: OpenBLAS's default.
    public var threads: Int?
    /// Classification: a loss weight per class index (`Loss.classWeights`); nil: none.
    public var classWeights: [Float]? = nil

    public init(
        epochs: Int, batchSize: Int, optimizer: OptimizerConfig, schedule: LearningRateSchedule? = nil, loss: Loss.Kind,
        labelSmoothing: Float = 0, gradientClip: Float? = nil, metrics: [Metric] = [],
        earlyStopping: EarlyStopping? = nil,
        checkpointEvery: Int = 10, seed: UInt64 = 0, threads: Int? = nil
    ) {
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.schedule = schedule ?? LearningRateSchedule(.constant, base: optimizer.learningRate)
        self.loss = loss
        self.labelSmoothing = labelSmoothing
        self.gradientClip = gradientClip
        self.metrics = metrics
        self.earlyStopping = earlyStopping
        self.checkpointEvery = checkpointEvery
        self.seed = seed
        self.threads = threads
    }
}

/// One epoch's figures, for progress bars and the run record.
public struct EpochReport: Sendable, Codable {
    public var epoch: Int
    public var trainLoss: Double
    /// `loss` and each metric on the validation split (empty without one).
    public var validation: [String: Double]
    public var learningRate: Float
    public var samplesPerSecond: Double
}

public enum TrainingControl: Sendable {
    case proceed
    /// Stop now, as a killed process would (no final checkpoint): for tests of resumption.
    case abort
    /// Save a checkpoint of this epoch, then stop (a cancelled run: the next one resumes here).
    case checkpointAndStop
}

public struct TrainingResult: Sendable {
    public var history: [EpochReport]
    public var stoppedEarly: Bool
    public var aborted: Bool
    public var resumedFromEpoch: Int?
}

/// Trains a network: seeded shuffling, mini-batches, the schedule, clipping, validation each epoch,
/// early stopping and checkpoints. After the first batch, a step allocates nothing.
public final class Trainer {
    public let network: Network
    public let config: TrainingConfig
    public let optimizer: Optimizer
    private let loss: Loss
    private let blas: BLAS
    private var shuffle: RandomGenerator
    private var batchX: Tensor
    private var batchY: Tensor
    private var order: [Int] = []

    public init(network: Network, config: TrainingConfig, blas: BLAS) throws(ComputeError) {
        guard config.epochs > 0, config.batchSize > 0 else {
            throw .invalidArgument("epochs and batch_size must be positive")
        }
        self.network = network
        self.config = config
        self.blas = blas
        optimizer = Optimizer(config.optimizer, parameters: network.parameters)
        loss = Loss(config.loss, labelSmoothing: config.labelSmoothing, classWeights: config.classWeights)
        shuffle = RandomGenerator(seed: config.seed)
        let targetWidth =
            config.loss == .crossEntropy || config.loss == .binaryCrossEntropy ? 1 : network.config.outputs
        batchX = Tensor(shape: [config.batchSize, network.config.inputs])
        batchY = Tensor(shape: [config.batchSize, targetWidth])
        network.prepare(maxBatch: config.batchSize)
        if let threads = config.threads { blas.threads = threads }
        optimizer.pool = blas.pool
    }

    /// Trains (resuming from `checkpoint` if that file exists), reporting each epoch to `progress`.
    public func fit(
        train: Examples, validation: Examples? = nil, checkpoint: String? = nil,
        progress: (EpochReport) -> TrainingControl = { _ in .proceed }
    ) throws(ComputeError) -> TrainingResult {
        guard train.count > 0 else { throw .invalidArgument("the train split is empty") }
        guard train.features.cols == network.config.inputs else {
            throw .shapeMismatch(
                "train features have \(train.features.cols) columns, the model takes \(network.config.inputs)")
        }
        var state = LoopState()
        var resumed: Int?
        if let checkpoint, FileManager.default.fileExists(atPath: checkpoint) {
            state = try restore(checkpoint)
            resumed = state.epoch
        }
        let stepsPerEpoch = (train.count + config.batchSize - 1) / config.batchSize
        if order.count != train.count { order = Array(0..<train.count) }
        var epoch = state.epoch
        while epoch < config.epochs && !state.stopped {
            let start = DispatchTime.now().uptimeNanoseconds
            // Each epoch's order depends on the generator's state alone (not on the previous order), so a
            // run resumed from a checkpoint sees the same batches.
            for i in order.indices { order[i] = i }
            shuffle.shuffle(&order)
            var total = 0.0
            var lr: Float = 0
            for b in 0..<stepsPerEpoch {
                let begin = b * config.batchSize, end = min(begin + config.batchSize, train.count)
                try gather(train, rows: begin..<end)
                lr = config.schedule.rate(step: optimizer.step, stepsPerEpoch: stepsPerEpoch, epochs: config.epochs)
                total += try step(batchX, batchY, learningRate: lr) * Double(end - begin)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            var report = EpochReport(
                epoch: epoch + 1, trainLoss: total / Double(train.count), validation: [:], learningRate: lr,
                samplesPerSecond: Double(train.count) / max(seconds, 1e-9))
            if let validation, validation.count > 0 {
                report.validation = try evaluate(validation)
            }
            epoch += 1
            state.epoch = epoch
            state.history.append(report)
            updateEarlyStopping(&state, report)
            if let checkpoint, epoch % max(config.checkpointEvery, 1) == 0 || epoch == config.epochs || state.stopped {
                try save(state, to: checkpoint)
            }
            switch progress(report) {
            case .proceed: break
            case .checkpointAndStop:
                if let checkpoint { try save(state, to: checkpoint) }
                return TrainingResult(
                    history: state.history, stoppedEarly: false, aborted: true, resumedFromEpoch: resumed)
            case .abort:
                return TrainingResult(
                    history: state.history, stoppedEarly: false, aborted: true, resumedFromEpoch: resumed)
            }
        }
        return TrainingResult(
            history: state.history, stoppedEarly: state.stopped, aborted: false, resumedFromEpoch: resumed)
    }

    /// One training step on a batch: forward, loss, backward, clipping, update. Returns the batch's mean loss.
    @discardableResult
    public func step(_ x: Tensor, _ y: Tensor, learningRate: Float) throws(ComputeError) -> Double {
        let logits = try network.forward(x, training: true)
        let (value, gradient) = try loss.evaluate(logits, y)
        guard let gradient else { return value }
        try network.backward(gradient)
        if let clip = config.gradientClip { optimizer.clipGradients(maxNorm: clip) }
        optimizer.update(learningRate: learningRate)
        return value
    }

    /// Copies the rows `order[range]` into the batch tensors.
    private func gather(_ data: Examples, rows range: Range<Int>) throws(ComputeError) {
        try batchX.setRows(range.count)
        try batchY.setRows(range.count)
        let fx = data.features.cols, fy = data.targets.cols
        for (i, r) in range.enumerated() {
            let source = order[r]
            (batchX.data + i * fx).update(from: data.features.data + source * fx, count: fx)
            (batchY.data + i * fy).update(from: data.targets.data + source * fy, count: fy)
        }
    }

    // MARK: Evaluation

    /// Loss and the configured metrics on `examples` (inference mode).
    public func evaluate(_ examples: Examples) throws(ComputeError) -> [String: Double] {
        let p = try predict(examples)
        var out = ["loss": p.loss]
        for metric in config.metrics { out[metric.rawValue] = value(of: metric, p, examples) }
        return out
    }

    /// Runs the network over `examples` in batches; loss, classes, scores or values.
    public func predict(_ examples: Examples) throws(ComputeError) -> Predictions {
        var result = Predictions(loss: 0, classes: [], scores: [], values: [])
        let k = network.config.outputs
        var total = 0.0
        var begin = 0
        while begin < examples.count {
            let end = min(begin + config.batchSize, examples.count)
            try batchX.setRows(end - begin)
            try batchY.setRows(end - begin)
            let fx = examples.features.cols, fy = examples.targets.cols
            batchX.data.update(from: examples.features.data + begin * fx, count: (end - begin) * fx)
            batchY.data.update(from: examples.targets.data + begin * fy, count: (end - begin) * fy)
            let logits = try network.forward(batchX, training: false)
            total += try loss.evaluate(logits, batchY, gradient: false).loss * Double(end - begin)
            for r in 0..<(end - begin) {
                let row = logits.data + r * k
                switch network.config.task {
                case .classification:
                    result.classes.append(argmax(row, count: k))
                case .binary:
                    let s = Activation.sigmoid(row[0])
                    result.scores.append(s)
                    result.classes.append(s >= 0.5 ? 1 : 0)
                case .regression:
                    for j in 0..<k { result.values.append(row[j]) }
                }
            }
            begin = end
        }
        result.loss = total / Double(max(examples.count, 1))
        return result
    }

    private func value(of metric: Metric, _ p: Predictions, _ examples: Examples) -> Double {
        let classes = network.config.task == .binary ? 2 : network.config.outputs
        return Metrics.value(of: metric, p, truth: Array(examples.targets.buffer), classes: classes)
    }

    // MARK: Early stopping and checkpoints

    struct LoopState: Codable {
        var epoch = 0
        var best: Double?
        var badEpochs = 0
        var stopped = false
        var history: [EpochReport] = []
    }

    private func updateEarlyStopping(_ state: inout LoopState, _ report: EpochReport) {
        guard let es = config.earlyStopping else { return }
        let key = es.monitor.hasPrefix("val_") ? String(es.monitor.dropFirst(4)) : es.monitor
        guard let value = report.validation[key] else { return }
        let higher = Metric(rawValue: key)?.higherIsBetter ?? false
        let improved = state.best.map { higher ? value > $0 + es.minDelta : value < $0 - es.minDelta } ?? true
        if improved {
            state.best = value
            state.badEpochs = 0
        } else {
            state.badEpochs += 1
            if state.badEpochs >= es.patience { state.stopped = true }
        }
    }

    /// What makes a checkpoint belong to this training: a different configuration must not resume from it.
    private var identity: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let model = (try? encoder.encode(network.config)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let training = (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return model + "|" + training
    }

    static let checkpointFormat = "kiln-checkpoint"
    static let checkpointVersion = "1"

    private func save(_ state: LoopState, to path: String) throws(ComputeError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let loop = (try? encoder.encode(state)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let generators = ([shuffle.state] + network.dropoutStates).map { $0.map(String.init).joined(separator: ",") }
        let metadata = [
            "format": Self.checkpointFormat, "version": Self.checkpointVersion, "identity": identity, "loop": loop,
            "optimizer_step": String(optimizer.step), "generators": generators.joined(separator: ";"),
        ]
        let bytes = SafeTensors.encode(network.namedTensors + optimizer.stateTensors, metadata: metadata)
        try SafeTensors.write(bytes, to: path)
    }

    private func restore(_ path: String) throws(ComputeError) -> LoopState {
        let (entries, metadata) = try SafeTensors.read(path)
        guard metadata["format"] == Self.checkpointFormat else {
            throw .invalidFile(path: path, reason: "not a kiln checkpoint")
        }
        guard metadata["version"] == Self.checkpointVersion else {
            throw .invalidFile(
                path: path,
                reason:
                    "checkpoint version \(metadata["version"] ?? "?"); this kiln reads \(Self.checkpointVersion): delete it to start over"
            )
        }
        guard metadata["identity"] == identity else {
            throw .invalidFile(
                path: path,
                reason:
                    "the checkpoint was written by a different model or training configuration; delete it to start over"
            )
        }
        guard let loopText = metadata["loop"],
            let state = try? JSONDecoder().decode(LoopState.self, from: Data(loopText.utf8)),
            let step = metadata["optimizer_step"].flatMap(Int.init)
        else { throw .invalidFile(path: path, reason: "the checkpoint's loop state is missing or corrupt") }
        try network.load(entries, path: path)
        for (name, tensor) in optimizer.stateTensors {
            guard let e = entries.first(where: { $0.name == name }), e.values.count == tensor.count else {
                throw .invalidFile(path: path, reason: "optimizer state '\(name)' is missing or has the wrong size")
            }
            e.values.withUnsafeBufferPointer {
                if let b = $0.baseAddress { tensor.data.update(from: b, count: e.values.count) }
            }
        }
        optimizer.step = step
        let generators = (metadata["generators"] ?? "").split(separator: ";").map {
            $0.split(separator: ",").compactMap { UInt64($0) }
        }
        guard let first = generators.first, let g = try? RandomGenerator(state: first) else {
            throw .invalidFile(path: path, reason: "the checkpoint's generator state is missing or corrupt")
        }
        shuffle = g
        network.dropoutStates = Array(generators.dropFirst())
        return state
    }
}
