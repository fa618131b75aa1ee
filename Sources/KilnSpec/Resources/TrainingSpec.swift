public import KilnDiagnostics

/// A Training's optimiser with the hyper-parameters its algorithm reads (the schema's defaults applied).
public enum OptimizerSpec: Sendable {
    case sgd(Common)
    case momentum(Common, momentum: Double, nesterov: Bool)
    case adam(Common, Adam)
    case adamw(Common, Adam)

    public struct Common: Sendable {
        public var learningRate: Double
        public var weightDecay: Double
    }

    public struct Adam: Sendable {
        public var beta1: Double
        public var beta2: Double
        public var epsilon: Double
    }

    /// The algorithms, as the spec names them.
    public enum Algorithm: String, Sendable, CaseIterable { case sgd, momentum, adam, adamw }

    init(_ o: SpecValue?) {
        let f = FieldReader(o, SpecSchema.optimizer)
        let common = Common(learningRate: f.number("learning_rate"), weightDecay: f.number("weight_decay"))
        let adam = { Adam(beta1: f.number("beta1"), beta2: f.number("beta2"), epsilon: f.number("epsilon")) }
        switch f.choice("type", Algorithm.self) {
        case .sgd: self = .sgd(common)
        case .momentum: self = .momentum(common, momentum: f.number("momentum"), nesterov: f.flag("nesterov"))
        case .adam: self = .adam(common, adam())
        case .adamw: self = .adamw(common, adam())
        }
    }

    public var algorithm: Algorithm {
        switch self {
        case .sgd: return .sgd
        case .momentum: return .momentum
        case .adam: return .adam
        case .adamw: return .adamw
        }
    }

    public var isAdamW: Bool { algorithm == .adamw }

    public var common: Common {
        switch self {
        case .sgd(let c), .momentum(let c, _, _), .adam(let c, _), .adamw(let c, _): return c
        }
    }
}

/// A Training's learning-rate schedule (the schema's defaults applied).
public struct ScheduleSpec: Sendable {
    public enum Shape: Sendable {
        case constant
        /// every: nil when `step_epochs` is missing (`kiln check` refuses that).
        case step(every: Int?, gamma: Double)
        case cosine(minLearningRate: Double)
        /// Linear decay to 0 at the last optimiser step (after the warm-up).
        case linear
    }

    /// The shapes, as the spec names them.
    public enum Kind: String, Sendable, CaseIterable { case constant, step, cosine, linear }

    public var shape: Shape
    public var warmupEpochs: Int
    /// A fraction of the optimiser steps; nil: `warmupEpochs` counts.
    public var warmupRatio: Double?

    public var kind: Kind {
        switch shape {
        case .constant: return .constant
        case .step: return .step
        case .cosine: return .cosine
        case .linear: return .linear
        }
    }

    init(_ s: SpecValue?) {
        let f = FieldReader(s, SpecSchema.schedule)
        warmupEpochs = f.integer("warmup_epochs")
        warmupRatio = f.optionalNumber("warmup_ratio")
        switch f.choice("type", Kind.self) {
        case .constant: shape = .constant
        case .step: shape = .step(every: f.optionalInteger("step_epochs"), gamma: f.number("gamma"))
        case .cosine: shape = .cosine(minLearningRate: f.number("min_learning_rate"))
        case .linear: shape = .linear
        }
    }
}

public struct TrainingSpec: SpecView {
    public enum Part: String, SpecPart {
        case model, dataset, loss, metrics, gates, register, timeout, matrix, optimizer, schedule, retry, checkpoint
        case select, selectMetric = "select.metric", selectSplit = "select.split", classWeights = "class_weights"
        case labelSmoothing = "label_smoothing", earlyStopping = "early_stopping"
        case monitor = "early_stopping.monitor", registerMessage = "register.message"
        case momentum = "optimizer.momentum", nesterov = "optimizer.nesterov", beta1 = "optimizer.beta1"
        case beta2 = "optimizer.beta2", epsilon = "optimizer.epsilon"
        case stepEpochs = "schedule.step_epochs", gamma = "schedule.gamma"
        case minLearningRate = "schedule.min_learning_rate", warmupRatio = "schedule.warmup_ratio"
        case warmupEpochs = "schedule.warmup_epochs", scheduleType = "schedule.type"
        case gradientAccumulation = "gradient_accumulation", gradientClip = "gradient_clip"
        case epochs, batchSize = "batch_size", seed, threads
    }

    public enum Loss: String, Sendable, CaseIterable {
        case auto, crossEntropy = "cross_entropy", binaryCrossEntropy = "binary_cross_entropy", mse, huber
    }

    /// Stop when a monitored value stops improving.
    public struct EarlyStop: Sendable {
        public var monitor: String
        public var patience: Int
        public var minDelta: Double
    }

    /// Retries of a failed attempt and the wait before the first (doubling after each).
    public struct Retry: Sendable {
        public var max: Int
        public var backoff: Double
    }

    /// Loss weights per class.
    public enum ClassWeights: Sendable {
        case balanced
        case by([(label: String, weight: Double)])
    }

    /// A sweep's choice of the cell its alias moves to.
    public struct Select: Sendable {
        public var metric: String
        public var split: DatasetSpec.Split.Name
        /// nil: by the metric (larger is better but for loss, rmse and mae).
        public var higherIsBetter: Bool?
    }

    /// What to register on success.
    public struct Register: Sendable {
        /// nil: the model's name.
        public var name: String?
        public var alias: String?
        public var message: String?
    }

    /// A quality gate.
    public struct Gate: SpecView {
        public enum Part: String, SpecPart { case metric, split, min, max, compareTo = "compare_to", maxDrop = "max_drop" }

        public var metric: String
        public var split: DatasetSpec.Split.Name
        public var min: Double?
        public var max: Double?
        /// An alias of the registered model to compare with.
        public var compareTo: String?
        /// With `compareTo`: the largest allowed drop.
        public var maxDrop: Double
        public var raw: SpecValue
        public var span: SourceSpan { raw.span }

        init(_ v: SpecValue) {
            let f = FieldReader(v, SpecSchema.gate)
            metric = f.optionalText("metric") ?? ""
            split = f.choice("split")
            min = f.optionalNumber("min")
            max = f.optionalNumber("max")
            compareTo = f.optionalText("compare_to")
            maxDrop = f.number("max_drop")
            raw = v
        }
    }

    public var name: String
    public var model: String
    public var dataset: String
    public var epochs: Int
    public var batchSize: Int
    public var loss: Loss
    public var labelSmoothing: Double
    public var gradientClip: Double?
    public var gradientAccumulation: Int
    /// nil: the task's default metrics.
    public var metrics: [String]?
    /// The metrics as listed, each where it is written.
    public var metricItems: [(name: String, span: SourceSpan)]
    public var earlyStopping: EarlyStop?
    public var checkpointEvery: Int
    public var seed: Int
    public var threads: Int?
    /// Seconds.
    public var timeout: Double?
    public var retry: Retry
    public var gates: [Gate]
    public var register: Register?
    public var matrix: [SpecField]
    public var select: Select?
    public var classWeights: ClassWeights?
    public var optimizer: OptimizerSpec
    public var schedule: ScheduleSpec
    public var raw: SpecValue

    public init(name: String, _ v: SpecValue) {
        let f = FieldReader(v, SpecSchema.training)
        self.name = name
        model = f.optionalText("model") ?? ""
        dataset = f.optionalText("dataset") ?? ""
        epochs = f.integer("epochs")
        batchSize = f.integer("batch_size")
        loss = f.choice("loss")
        labelSmoothing = f.number("label_smoothing")
        gradientClip = f.optionalNumber("gradient_clip")
        gradientAccumulation = f.integer("gradient_accumulation")
        metrics = v["metrics"].map(\.strings)
        metricItems = (v["metrics"]?.list ?? []).compactMap { item in item.string.map { ($0, item.span) } }
        earlyStopping = v["early_stopping"].map {
            let e = FieldReader($0, SpecSchema.earlyStopping)
            return EarlyStop(monitor: e.text("monitor"), patience: e.optionalInteger("patience") ?? 1, minDelta: e.number("min_delta"))
        }
        checkpointEvery = FieldReader(v["checkpoint"], SpecSchema.checkpoint).integer("every_epochs")
        seed = f.integer("seed")
        threads = f.optionalInteger("threads")
        timeout = f.optionalNumber("timeout")
        let retry = FieldReader(v["retry"], SpecSchema.retry)
        self.retry = Retry(max: retry.integer("max"), backoff: retry.number("backoff"))
        gates = (v["gates"]?.list ?? []).map(Gate.init)
        register = v["register"].map {
            let r = FieldReader($0, SpecSchema.register)
            return Register(name: r.optionalText("name"), alias: r.optionalText("alias"), message: r.optionalText("message"))
        }
        matrix = v["matrix"]?.fields ?? []
        select = v["select"].map {
            let r = FieldReader($0, SpecSchema.select)
            let mode = r.text("mode")
            return Select(
                metric: r.optionalText("metric") ?? "loss", split: r.choice("split"),
                higherIsBetter: mode == "max" ? true : (mode == "min" ? false : nil))
        }
        if let w = v["class_weights"] {
            classWeights =
                w.string == "balanced" ? .balanced : .by((w.fields ?? []).map { ($0.name, $0.value.double ?? 1) })
        }
        optimizer = OptimizerSpec(v["optimizer"])
        schedule = ScheduleSpec(v["schedule"])
        raw = v
    }

    /// A message with `{path}` replaced by the text of the spec's field at the dotted path (a matrix
    /// cell's value); the paths that name no field are returned, and left as written.
    public func expand(_ template: String) -> (text: String, unknown: [String]) {
        var out = "", unknown: [String] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            let path = String(rest[rest.index(after: open)..<close])
            if let value = raw[path: path.split(separator: ".").map(String.init)], let text = value.text ?? Optional(value.json.serialized()) {
                out += text
            } else {
                unknown.append(path)
                out += rest[open...close]
            }
            rest = rest[rest.index(after: close)...]
        }
        return (out + rest, unknown)
    }

    /// The spec's fields as JSON, without some (the canonical config of what changes the trained weights).
    public func json(omitting parts: Set<Part>) -> JSON {
        let names = Set(parts.map(\.rawValue))
        return .object((raw.fields ?? []).filter { !names.contains($0.name) }.map { ($0.name, $0.value.json) })
    }

    /// One cell of a matrix: its node name, its spec (matrix values set), and the matrix keys whose parent
    /// object the Training does not declare (they could not be set).
    public struct Cell: Sendable {
        /// Its place in the order written (the first axis outermost, values as listed).
        public var index: Int
        public var nodeName: String
        public var spec: TrainingSpec
        public var unsetKeys: [SpecField]
    }

    /// The Cartesian product of the matrix (keys sorted), each cell's spec with its values set. Without a
    /// matrix, the one spec as it is, named after the resource.
    public func cells() -> [Cell] {
        guard !matrix.isEmpty else { return [Cell(index: 0, nodeName: name, spec: self, unsetKeys: [])] }
        // Cells in the order written; their names list the keys sorted, so that a name does not change
        // when the matrix's keys are reordered.
        var combinations: [[(String, SpecValue)]] = [[]]
        for axis in matrix {
            let values = axis.value.list ?? []
            combinations = combinations.flatMap { cell in values.map { cell + [(axis.name, $0)] } }
        }
        let unset = matrix.filter { axis in
            let parts = axis.name.split(separator: ".").map(String.init)
            return parts.count > 1 && raw[path: Array(parts.dropLast())] == nil
        }
        return combinations.enumerated().map { index, cell in
            var spec = raw
            for (path, value) in cell {
                let parts = path.split(separator: ".").map(String.init)
                if let updated = spec.setting(parts[...], to: value) {
                    spec = updated
                } else if parts.count == 1 {
                    spec = spec.adding(parts[0], value)
                } else if let parent = spec[path: Array(parts.dropLast())],
                    let updated = spec.setting(parts.dropLast()[...], to: parent.adding(parts.last ?? "", value))
                {
                    spec = updated
                }
            }
            let nodeName =
                name + "[" + cell.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1.text ?? "")" }.joined(separator: ",") + "]"
            return Cell(index: index, nodeName: nodeName, spec: TrainingSpec(name: name, spec), unsetKeys: unset)
        }
    }
}
