import KilnDiagnostics
import KilnSpec

extension CompilerContext {
    /// Checks a Training once per matrix cell (the matrix may change the model, the loss, anything).
    mutating func checkTraining(_ resource: Resource) {
        let training = TrainingSpec(name: resource.name, resource.spec)
        for cell in training.cells() {
            let before = checked.trainings.count
            checkTrainingCell(resource, cell)
            if checked.trainings.count > before { checked.trainings[checked.trainings.count - 1].cellIndex = cell.index }
        }
        checkSelection(training)
    }

    /// binary's positive class and threshold, and class weights: on the tasks that have classes, naming them.
    private mutating func checkClasses(_ spec: TrainingSpec, _ model: ModelSpec, _ label: ColumnSpec, classes: [String]) {
        for part in [ModelSpec.Part.positiveClass, .threshold] where model.writes(part) && model.task != .binary {
            diagnostics.error(
                .compiler(.binaryField), "'\(part.rawValue)' applies to a 'binary' task; model '\(model.name)' is '\(model.task.rawValue)'",
                at: model.keySpan(part), help: "remove '\(part.rawValue)'")
        }
        if model.task == .binary, let positive = model.positiveClass, !classes.contains(positive) {
            diagnostics.error(
                .compiler(.binaryField), "'positive_class' is '\(positive)', which is not a value of the label '\(label.name)'",
                at: model.span(.positiveClass),
                notes: [DiagnosticNote("the label's values are declared here", at: label.span(.values) ?? label.span)],
                help: DidYouMean.help(for: positive, among: classes))
        }
        guard let weights = spec.classWeights, let at = spec[.classWeights] else { return }
        guard model.task == .classification || model.task == .binary else {
            diagnostics.error(
                .compiler(.binaryField), "'class_weights' weigh the classes of a classification; model '\(model.name)' is '\(model.task.rawValue)'",
                at: at.keySpan ?? at.span, help: "remove 'class_weights'")
            return
        }
        if case .by(let named) = weights {
            for (name, field) in zip(named.map(\.label), at.fields ?? []) where !classes.contains(name) {
                diagnostics.error(
                    .compiler(.binaryField), "'class_weights' names '\(name)', which is not a value of the label '\(label.name)'",
                    at: field.value.keySpan ?? field.value.span, help: DidYouMean.help(for: name, among: classes))
            }
        }
    }

    /// A sweep's `select`: it chooses among the cells of a matrix by a validation metric the cells compute,
    /// for an alias to move.
    private mutating func checkSelection(_ spec: TrainingSpec) {
        guard let select = spec.select, let at = spec[.select] else { return }
        let key = at.keySpan ?? at.span
        if spec.matrix.isEmpty {
            diagnostics.error(
                .compiler(.selectField), "'select' chooses among the cells of a 'matrix', and this Training has none",
                at: key, help: "add a 'matrix', or remove 'select'")
        }
        if spec.register?.alias == nil {
            diagnostics.error(
                .compiler(.selectField), "'select' chooses the cell an alias moves to, and 'register' names no alias",
                at: key, help: "add 'register: {alias: staging}'")
        }
        if select.split == .test {
            diagnostics.error(
                .compiler(.selectField),
                "choosing a cell by its test split makes the test score an optimistic estimate of the chosen model",
                at: spec.span(.selectSplit), help: "write 'split: validation' (and give the dataset a validation split)")
        }
        for cell in checked.trainings where cell.resource.name == spec.name && cell.nodeName != spec.name {
            if select.metric != "loss" && !cell.metrics.contains(select.metric) {
                diagnostics.error(
                    .compiler(.selectField), "'select' is by '\(select.metric)', which cell \(cell.nodeName) does not compute",
                    at: spec.span(.selectMetric), help: "add '\(select.metric)' to the Training's 'metrics'")
                break
            }
            if let dataset = checked.datasets[cell.dataset], dataset.spec.split.validation == 0 {
                diagnostics.error(
                    .compiler(.selectField),
                    "'select' measures the cells on the validation split, and dataset '\(cell.dataset)' has none",
                    at: spec.span(.selectMetric), help: "give the dataset's split a validation share ('validation: 0.1')")
                break
            }
        }
    }

    private mutating func checkTrainingCell(_ resource: Resource, _ cell: TrainingSpec.Cell) {
        let spec = cell.spec, nodeName = cell.nodeName
        var ok = true

        // A matrix key whose parent object is absent could not be set: say so once per key.
        for axis in cell.unsetKeys {
            let parent = axis.name.split(separator: ".").dropLast().joined(separator: ".")
            diagnostics.error(
                .compiler(.matrixMissingParent),
                "matrix key '\(axis.name)' sets a field of '\(parent)', which this Training does not declare",
                at: axis.value.keySpan ?? axis.value.span,
                help: "declare '\(axis.name.split(separator: ".")[0]):' in the Training")
            ok = false
        }

        let modelValue = spec[.model], datasetValue = spec[.dataset]
        let model = checked.models[spec.model].map(ModelSpec.init)
        let dataset = checked.datasets[spec.dataset]
        if let modelValue, model == nil {
            if byName[.model]?[spec.model] == nil {
                unknownReference(.model, spec.model, at: modelValue.span, from: "model")
            }
            ok = false
        }
        if let datasetValue, dataset == nil {
            if byName[.dataset]?[spec.dataset] == nil {
                unknownReference(.dataset, spec.dataset, at: datasetValue.span, from: "dataset")
            }
            ok = false
        }
        if model != nil { used.insert("model/\(spec.model)") }
        if dataset != nil { used.insert("dataset/\(spec.dataset)") }
        guard ok, let model, let dataset else { return }

        // The dataset must be labelled, with a label that fits the task.
        let task = model.task
        guard let labelName = dataset.spec.label, let label = dataset.spec.column(labelName) else {
            diagnostics.error(
                .compiler(.noLabel), "dataset '\(dataset.spec.name)' has no label to train on", at: datasetValue?.span,
                notes: [
                    DiagnosticNote("dataset '\(dataset.spec.name)' is defined here", at: dataset.resource.nameSpan)
                ],
                help: "add 'label:' to the dataset's schema")
            return
        }
        let taskSpan = model.span(.task)
        var outputs: Int?
        switch task {
        case .classification:
            if let classes = dataset.classes {
                outputs = classes.count
            } else {
                labelMismatch(
                    label, task: task, expected: "a category (or bool) column", at: datasetValue?.span,
                    taskSpan: taskSpan, help: Self.numbersAsClasses(label))
            }
        case .binary:
            if label.type == .bool || (label.type == .category && label.values.count == 2) {
                outputs = 1
            } else {
                labelMismatch(
                    label, task: task, expected: "a bool column or a category with two values", at: datasetValue?.span,
                    taskSpan: taskSpan,
                    help: label.type == .category
                        ? "a label of \(label.values.count) classes is a 'classification' task (a softmax over them): write 'task: classification'"
                        : Self.numbersAsClasses(label))
            }
        case .regression:
            if label.isNumeric {
                outputs = 1
            } else {
                labelMismatch(
                    label, task: task, expected: "a float or int column", at: datasetValue?.span, taskSpan: taskSpan,
                    help: label.type == .category || label.type == .bool
                        ? "a \(label.type.rawValue) label is predicted by 'task: classification' (or 'binary' for two values)" : nil)
            }
        case .tokenClassification:
            if label.type == .tags {
                outputs = label.values.count
            } else {
                labelMismatch(
                    label, task: task, expected: "a tags column (a tag per token, from a conll or tokens/tags source)",
                    at: datasetValue?.span, taskSpan: taskSpan)
            }
        }

        checkClasses(spec, model, label, classes: dataset.classes ?? [])

        // Loss and metrics by task.
        let allowedLosses: [TrainingSpec.Loss] =
            switch task {
            case .classification, .tokenClassification: [.crossEntropy]
            case .binary: [.binaryCrossEntropy]
            case .regression: [.mse, .huber]
            }
        var loss = spec.loss
        if loss == .auto {
            loss = allowedLosses[0]
        } else if !allowedLosses.contains(loss) {
            diagnostics.error(
                .compiler(.taskLossMismatch),
                "loss '\(loss.rawValue)' does not fit the '\(task.rawValue)' task of model '\(model.name)'",
                at: spec.span(.loss), notes: [DiagnosticNote("the task is set here", at: taskSpan)],
                help: "use " + allowedLosses.map { "'\($0.rawValue)'" }.joined(separator: " or ") + ", or 'auto'")
        }
        if spec.writes(.labelSmoothing), spec.labelSmoothing > 0, loss != .crossEntropy {
            diagnostics.error(
                .compiler(.labelSmoothing), "'label_smoothing' applies to the cross_entropy loss, not '\(loss.rawValue)'",
                at: spec.keySpan(.labelSmoothing))
        }
        let taskMetrics: [String], defaultMetrics: [String]
        switch task {
        case .regression: (taskMetrics, defaultMetrics) = (SpecSchema.regressionMetrics, ["rmse", "r2"])
        case .classification, .binary: (taskMetrics, defaultMetrics) = (SpecSchema.classificationMetrics, ["accuracy", "f1_macro"])
        case .tokenClassification:
            (taskMetrics, defaultMetrics) = (SpecSchema.entityMetrics, ["entity_f1", "entity_precision", "entity_recall"])
        }
        let metrics = spec.metrics ?? defaultMetrics
        for (m, span) in spec.metricItems where !taskMetrics.contains(m) {
            diagnostics.error(
                .compiler(.taskMetricMismatch),
                "metric '\(m)' does not fit the '\(task.rawValue)' task of model '\(model.name)'",
                at: span, notes: [DiagnosticNote("the task is set here", at: taskSpan)],
                help: "metrics for \(task.rawValue): " + taskMetrics.joined(separator: ", "))
        }

        // Gates name computed metrics, on splits that have rows.
        for gate in spec.gates {
            if gate.metric != "loss", !metrics.contains(gate.metric) {
                diagnostics.error(
                    .compiler(.gateUnknownMetric), "gate on '\(gate.metric)', which this Training does not compute",
                    at: gate.span(.metric),
                    notes: spec[.metrics].map { [DiagnosticNote("the computed metrics are listed here", at: $0.span)] }
                        ?? [],
                    help: "add '\(gate.metric)' to 'metrics', or gate on one of: "
                        + (metrics + ["loss"]).joined(separator: ", "))
            }
            if dataset.spec.split.fraction(gate.split) <= 0 {
                diagnostics.error(
                    .compiler(.gateEmptySplit),
                    "gate on the '\(gate.split.rawValue)' split, which dataset '\(dataset.spec.name)' leaves empty",
                    at: gate.span(.split) ?? gate.span,
                    notes: [DiagnosticNote("the split is defined here", at: dataset.spec.split.span)],
                    help: "give the '\(gate.split.rawValue)' split a fraction, or gate on another split")
            }
            if gate.min == nil && gate.max == nil && gate.compareTo == nil {
                diagnostics.error(
                    .compiler(.gateNoCondition), "a gate needs 'min', 'max' or 'compare_to'", at: gate.span,
                    help: "add 'min: 0.9' (or 'max', or 'compare_to: production' with 'max_drop')")
            }
            if gate.writes(.maxDrop) && gate.compareTo == nil {
                diagnostics.error(
                    .compiler(.gateNoCondition), "'max_drop' needs 'compare_to': the alias to compare with",
                    at: gate[.maxDrop]?.keySpan ?? gate.span)
            }
            if let min = gate.min, let max = gate.max, min > max {
                diagnostics.error(
                    .compiler(.gateBounds), "gate 'min' is greater than 'max'", at: gate.span(.min) ?? gate.span)
            }
            // Scores between 0 and 1 (r2 at most 1): a bound past 1 is a percentage, and the gate can never pass.
            let fractions: Set<String> = [
                "accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "entity_f1", "entity_precision",
                "entity_recall", "token_accuracy", "r2",
            ]
            if fractions.contains(gate.metric) {
                for (part, bound) in [(TrainingSpec.Gate.Part.min, gate.min), (.max, gate.max)] {
                    guard let bound, bound > 1 else { continue }
                    let never = part == .min ? "can never pass" : "always passes"
                    diagnostics.warning(
                        .compiler(.gateBounds),
                        "'\(gate.metric)' is a fraction, at most 1: '\(part.rawValue): \(bound.diagnosticText)' \(never)",
                        at: gate.span(part) ?? gate.span,
                        help: bound <= 100 ? "write '\(part.rawValue): \((bound / 100).diagnosticText)' for \(bound.diagnosticText) %" : nil)
                }
            }
        }

        // Early stopping watches a validation value.
        if let early = spec.earlyStopping, let monitor = spec[.monitor] {
            let name = early.monitor
            let watched = name.hasPrefix("val_") ? String(name.dropFirst(4)) : nil
            if watched == nil || !(watched == "loss" || metrics.contains(watched ?? "")) {
                diagnostics.error(
                    .compiler(.unknownMonitor),
                    "early stopping monitors '\(name)', which this Training does not compute",
                    at: monitor.span, help: "monitor 'val_loss' or 'val_' + one of: " + metrics.joined(separator: ", "))
            } else if dataset.spec.split.validation <= 0 {
                diagnostics.warning(
                    .compiler(.monitorWithoutValidation),
                    "early stopping monitors '\(name)', but dataset '\(dataset.spec.name)' has no validation split",
                    at: monitor.isDefault ? spec.keySpan(.earlyStopping) : monitor.span,
                    notes: [DiagnosticNote("the split is defined here", at: dataset.spec.split.span)],
                    help: "without validation rows early stopping cannot trigger; give 'validation' a fraction")
            }
        }

        // Optimiser fields that the chosen optimiser does not read.
        let algorithm = spec.optimizer.algorithm
        let reads: [(TrainingSpec.Part, [OptimizerSpec.Algorithm])] = [
            (.momentum, [.momentum]), (.nesterov, [.momentum]),
            (.beta1, [.adam, .adamw]), (.beta2, [.adam, .adamw]), (.epsilon, [.adam, .adamw]),
        ]
        for (part, users) in reads where !users.contains(algorithm) {
            if let f = spec[part] {
                let field = part.field
                diagnostics.error(
                    .compiler(.optimizerField), "'\(field)' does not apply to optimizer '\(algorithm.rawValue)'",
                    at: f.keySpan ?? f.span,
                    help: "remove it, or use " + users.map { "'\($0.rawValue)'" }.joined(separator: " or "))
            }
        }
        let scheduleKind = spec.schedule.kind
        if case .step(nil, _) = spec.schedule.shape {
            diagnostics.error(
                .compiler(.scheduleField), "a 'step' schedule needs 'step_epochs'", at: spec.span(.schedule),
                help: "add 'step_epochs: 30'")
        }
        let owners: [(TrainingSpec.Part, ScheduleSpec.Kind)] = [
            (.stepEpochs, .step), (.gamma, .step), (.minLearningRate, .cosine),
        ]
        for (part, owner) in owners where scheduleKind != owner {
            if let f = spec[part] {
                let field = part.field
                diagnostics.error(
                    .compiler(.scheduleField),
                    "'\(field)' applies to the '\(owner.rawValue)' schedule, not '\(scheduleKind.rawValue)'",
                    at: f.keySpan ?? f.span)
            }
        }

        if case .transformer = model.architecture {
            guard checkTransformerTraining(spec, model, dataset, datasetValue: datasetValue), let outputs else { return }
            checked.trainings.append(
                CheckedTraining(
                    resource: resource, nodeName: nodeName, spec: spec, model: model, dataset: dataset.spec.name,
                    loss: loss, metrics: metrics, inputs: 1, outputs: outputs,
                    registerName: spec.register.map { $0.name ?? model.name }))
            return
        }
        // What only a transformer's training reads.
        let transformerOnly: [TrainingSpec.Part] = [.warmupRatio, .gradientAccumulation]
        for part in transformerOnly where spec.writes(part) {
            diagnostics.error(
                .compiler(.transformerTraining),
                "'\(part.field)' applies to a transformer's training, and model '\(model.name)' is '\(model.architecture.name)'",
                at: spec.keySpan(part), help: "remove '\(part.field)'")
        }
        if case .gradientBoosting = model.architecture { checkBoosterTraining(spec, model) }
        if scheduleKind == .linear {
            diagnostics.error(
                .compiler(.scheduleField),
                "the 'linear' schedule is for transformers; model '\(model.name)' is '\(model.architecture.name)'",
                at: spec.span(.scheduleType), help: "use 'constant', 'step' or 'cosine'")
        }
        // A text or tokens feature is read by a transformer only.
        for text in dataset.textColumns + dataset.tokenColumns {
            diagnostics.error(
                .compiler(.unusableFeature),
                "\(dataset.tokenColumns.contains(text) ? "tokens" : "text") column '\(text)' cannot be a feature of model '\(model.name)', which is '\(model.architecture.name)'",
                at: dataset.spec.column(text)?.span ?? datasetValue?.span,
                notes: [DiagnosticNote("used together here", at: datasetValue?.span)],
                help: "mark it 'ignore: true', drop it with {op: drop, columns: [\(text)]}, or train a transformer on it")
        }
        if !dataset.textColumns.isEmpty || !dataset.tokenColumns.isEmpty { return }

        // Shapes: the dataset's features after transforms give the input width, the label the output width.
        var inputs = dataset.inputWidth
        if case .declared(let n) = model.inputs, let declared = model[.inputs], let inferred = dataset.inputWidth,
            n != inferred
        {
            diagnostics.error(
                .compiler(.shapeMismatch),
                "model '\(model.name)' declares \(n) inputs, but dataset '\(dataset.spec.name)' gives \(inferred) features after transforms",
                at: declared.span,
                notes: [
                    DiagnosticNote(
                        "the features are \(dataset.featureColumns.joined(separator: ", "))",
                        at: dataset.spec[.features].map {
                            $0.isDefault ? dataset.spec[.columns]?.keySpan ?? $0.span : $0.span
                        }),
                    DiagnosticNote("used together here", at: datasetValue?.span),
                ],
                help: "write 'inputs: auto', or 'inputs: \(inferred)'")
            inputs = nil
        }
        if case .declared(let n) = model.outputs, let declared = model[.outputs], let inferred = outputs, n != inferred {
            diagnostics.error(
                .compiler(.shapeMismatch),
                "model '\(model.name)' declares \(n) outputs, but the '\(task.rawValue)' task on label '\(labelName)' needs \(inferred)",
                at: declared.span,
                notes: [
                    DiagnosticNote("the label is declared here", at: label.span),
                    DiagnosticNote("used together here", at: datasetValue?.span),
                ],
                help: "write 'outputs: auto', or 'outputs: \(inferred)'")
            outputs = nil
        }

        // What the registry would refuse after training is refused here, before it.
        if let message = spec[.registerMessage], let text = spec.register?.message {
            for path in spec.expand(text).unknown {
                diagnostics.error(
                    .compiler(.registerMessage), "'{\(path)}' in 'register.message' names no field of this Training",
                    at: message.span, help: "name a field by its dotted path, as the matrix does: '{optimizer.learning_rate}'")
                break
            }
        }
        if let message = spec[.registerMessage], let text = spec.register?.message {
            switch ModelNames.messageProblem(text) {
            case .trailer?:
                diagnostics.error(
                    .compiler(.registerMessage), "a line of 'register.message' starts with 'Kiln-', which kiln keeps for its own trailers",
                    at: message.span)
            case .control?:
                diagnostics.error(
                    .compiler(.registerMessage), "'register.message' holds a control or formatting character", at: message.span)
            case nil:
                break
            }
        }
        guard let inputs, let outputs else { return }
        checked.trainings.append(
            CheckedTraining(
                resource: resource, nodeName: nodeName, spec: spec, model: model, dataset: dataset.spec.name,
                loss: loss, metrics: metrics, inputs: inputs, outputs: outputs,
                registerName: spec.register.map { $0.name ?? model.name }))
    }

    /// A booster trains by its architecture's settings: the Training's optimisation fields do not apply.
    /// Written anyway they are an error, or a warning in a sweep over `model` (they apply to its networks).
    private mutating func checkBoosterTraining(_ spec: TrainingSpec, _ model: ModelSpec) {
        let sweepsModels = spec.matrix.contains { $0.name == "model" }
        let unread: [(TrainingSpec.Part, String)] = [
            (.optimizer, "the booster's 'learning_rate' is in the Model's architecture"),
            (.schedule, "a booster's learning rate is constant"),
            (.epochs, "a booster's rounds are the Model's 'architecture.trees'"),
            (.batchSize, "a booster sees the whole train split each round"),
            (.gradientClip, "a booster has no gradients to clip"),
            (.labelSmoothing, "a booster's objective has no label smoothing"),
            (.checkpoint, "a booster trains in one go; a cancelled one starts over"),
        ]
        for (part, why) in unread where spec.writes(part) {
            let message = "'\(part.field)' does not apply to model '\(model.name)', which is 'gradient_boosting': \(why)"
            if sweepsModels {
                diagnostics.warning(
                    .compiler(.boosterTraining), message + " (the sweep's other models read it)", at: spec.keySpan(part))
            } else {
                diagnostics.error(.compiler(.boosterTraining), message, at: spec.keySpan(part), help: "remove '\(part.field)'")
            }
        }
    }

    /// What a transformer needs of its training and its data; true when it can be lowered.
    private mutating func checkTransformerTraining(
        _ spec: TrainingSpec, _ model: ModelSpec, _ dataset: CheckedDataset, datasetValue: SpecValue?
    ) -> Bool {
        var ok = true
        func error(_ message: String, at span: SourceSpan?, help: String? = nil, notes: [DiagnosticNote] = []) {
            diagnostics.error(.compiler(.transformerTraining), message, at: span, notes: notes, help: help)
            ok = false
        }
        if model.task == .tokenClassification, dataset.tokenColumns.count != 1 || !dataset.featureColumns.isEmpty
            || !dataset.textColumns.isEmpty
        {
            error(
                "token classification reads a token source's tokens column; dataset '\(dataset.spec.name)' gives \(dataset.tokenColumns.isEmpty ? "none" : "other features too")",
                at: datasetValue?.span, help: "train on a dataset with 'format: conll' (or tokens/tags jsonl)")
        }
        if model.task == .classification, !dataset.tokenColumns.isEmpty {
            error(
                "dataset '\(dataset.spec.name)' is a token source: its model's task is 'token_classification'",
                at: datasetValue?.span, help: "write 'task: token_classification' in model '\(model.name)'")
        }
        if model.task == .classification, dataset.tokenColumns.isEmpty {
            let numeric = dataset.featureColumns
            if dataset.textColumns.count != 1 || !numeric.isEmpty {
                let found =
                    dataset.textColumns.isEmpty
                    ? "none" : dataset.textColumns.map { "'\($0)'" }.joined(separator: ", ")
                error(
                    "a transformer classifies one text column; dataset '\(dataset.spec.name)' gives text columns \(found)"
                        + (numeric.isEmpty ? "" : " and other features (\(numeric.joined(separator: ", ")))"),
                    at: datasetValue?.span,
                    help: "list the one text column in 'features', or mark the others 'ignore: true'",
                    notes: [
                        DiagnosticNote(
                            "the features are chosen here",
                            at: dataset.spec[.features].map { $0.isDefault ? dataset.spec[.columns]?.keySpan ?? $0.span : $0.span })
                    ])
            }
        }
        if spec.labelSmoothing > 0 {
            error("'label_smoothing' is not supported for a transformer", at: spec.keySpan(.labelSmoothing), help: "remove it")
        }
        switch spec.optimizer.algorithm {
        case .adam, .adamw: break
        case .sgd, .momentum:
            error(
                "a transformer fine-tunes with 'adamw' (or 'adam'), not '\(spec.optimizer.algorithm.rawValue)'",
                at: spec.span(.optimizer), help: "write 'optimizer: {type: adamw, learning_rate: 5e-5, weight_decay: 0.01}'")
        }
        switch spec.schedule.kind {
        case .constant, .linear: break
        case .step, .cosine:
            error(
                "a transformer's schedule is 'linear' (warm-up, then linear decay) or 'constant', not '\(spec.schedule.kind.rawValue)'",
                at: spec.span(.scheduleType), help: "write 'schedule: {type: linear, warmup_ratio: 0.1}'")
        }
        if spec.writes(.warmupRatio), spec.writes(.warmupEpochs) {
            error(
                "'warmup_ratio' and 'warmup_epochs' both set the warm-up", at: spec.keySpan(.warmupRatio),
                help: "keep one of them")
        }
        if spec.batchSize % spec.gradientAccumulation != 0 {
            error(
                "'batch_size' \(spec.batchSize) is not a multiple of 'gradient_accumulation' \(spec.gradientAccumulation)",
                at: spec.span(.batchSize) ?? spec.keySpan(.gradientAccumulation),
                help: "each micro-batch is batch_size / gradient_accumulation rows")
        } else if spec.batchSize / spec.gradientAccumulation > 4096 {
            error(
                "micro-batches of \(spec.batchSize / spec.gradientAccumulation) sequences: a transformer takes at most 4,096 at once",
                at: spec.span(.batchSize), help: "raise 'gradient_accumulation'")
        }
        if let (_, span) = spec.metricItems.first(where: { $0.name == "roc_auc" }), dataset.classes?.count != 2 {
            error("'roc_auc' is computed for two classes; this label has \(dataset.classes?.count ?? 0)", at: span)
        }
        for gate in spec.gates where gate.split == .train && gate.metric != "loss" {
            error(
                "a transformer's training is evaluated on its validation and test splits; the train split reports its loss only",
                at: gate.span(.split) ?? gate.span, help: "gate on 'validation' or 'test', or on the train 'loss'")
        }
        if checked.pretrained[model.name] == nil, checkFiles { ok = false }
        return ok
    }

    /// The help for a numeric label under a classifying task: declare its numbers as classes.
    static func numbersAsClasses(_ label: ColumnSpec) -> String? {
        guard label.type == .int else { return nil }
        return "an int label is a number to a model: to read its values as classes, declare it '{type: category, values: [\"0\", \"1\"]}' (or '{type: bool}' for 0/1)"
    }

    private mutating func labelMismatch(
        _ label: ColumnSpec, task: ModelTask, expected: String, at span: SourceSpan?, taskSpan: SourceSpan?,
        help: String? = nil
    ) {
        diagnostics.error(
            .compiler(.taskLabelMismatch),
            "the '\(task.rawValue)' task needs \(expected) as its label, and '\(label.name)' is \(label.type.rawValue)",
            at: span,
            notes: [
                DiagnosticNote("the task is set here", at: taskSpan),
                DiagnosticNote("the label's type is declared here", at: label.span(.type) ?? label.span),
            ], help: help)
    }
}
