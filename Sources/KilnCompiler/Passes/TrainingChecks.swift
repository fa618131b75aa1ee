import KilnDiagnostics
import KilnSpec

extension CompilerContext {
    /// Checks a Training once per matrix cell (the matrix may change the model, the loss, anything).
    mutating func checkTraining(_ resource: Resource) {
        let base = TrainingSpec(name: resource.name, resource.spec)
        for (cellName, spec) in expandMatrix(resource, base) {
            checkTrainingCell(resource, TrainingSpec(name: resource.name, spec), nodeName: cellName)
        }
    }

    /// The Cartesian product of the matrix (keys sorted), each cell's spec with its values set.
    /// Without a matrix, the one spec as it is.
    func expandMatrix(_ resource: Resource, _ base: TrainingSpec) -> [(String, SpecValue)] {
        guard !base.matrix.isEmpty else { return [(resource.name, resource.spec)] }
        let axes = base.matrix.sorted { $0.name < $1.name }
        var cells: [([(String, SpecValue)])] = [[]]
        for axis in axes {
            let values = axis.value.list ?? []
            cells = cells.flatMap { cell in values.map { cell + [(axis.name, $0)] } }
        }
        return cells.compactMap { cell in
            var spec = resource.spec
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
            let name = resource.name + "[" + cell.map { "\($0.0)=\($0.1.text ?? "")" }.joined(separator: ",") + "]"
            return (name, spec)
        }
    }

    private mutating func checkTrainingCell(_ resource: Resource, _ spec: TrainingSpec, nodeName: String) {
        let v = spec.raw
        let isCell = nodeName != resource.name
        var ok = true

        // A matrix key whose parent object is absent could not be set: say so once per key.
        if isCell {
            for axis in spec.matrix {
                let parts = axis.name.split(separator: ".").map(String.init)
                if parts.count > 1, v[path: Array(parts.dropLast())] == nil {
                    diagnostics.error(
                        .compiler(.matrixMissingParent),
                        "matrix key '\(axis.name)' sets a field of '\(parts.dropLast().joined(separator: "."))', which this Training does not declare",
                        at: axis.value.keySpan ?? axis.value.span, help: "declare '\(parts[0]):' in the Training")
                    ok = false
                }
            }
        }

        let modelValue = v["model"], datasetValue = v["dataset"]
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
        guard ok, let model, let dataset, let modelResource = checked.models[spec.model] else { return }

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
        let taskSpan = modelResource.spec["task"]?.span
        var outputs: Int?
        switch task {
        case .classification:
            if let classes = dataset.classes {
                outputs = classes.count
            } else {
                labelMismatch(
                    label, task: task, expected: "a category (or bool) column", at: datasetValue?.span,
                    taskSpan: taskSpan)
            }
        case .binary:
            if label.type == .bool || (label.type == .category && label.values.count == 2) {
                outputs = 1
            } else {
                labelMismatch(
                    label, task: task, expected: "a bool column or a category with two values", at: datasetValue?.span,
                    taskSpan: taskSpan)
            }
        case .regression:
            if label.isNumeric {
                outputs = 1
            } else {
                labelMismatch(
                    label, task: task, expected: "a float or int column", at: datasetValue?.span, taskSpan: taskSpan)
            }
        }

        // Loss and metrics by task.
        let lossValue = v["loss"]
        let allowedLosses: [String] =
            switch task {
            case .classification: ["cross_entropy"]
            case .binary: ["binary_cross_entropy"]
            case .regression: ["mse", "huber"]
            }
        var loss = spec.loss
        if loss == "auto" {
            loss = allowedLosses[0]
        } else if !allowedLosses.contains(loss) {
            diagnostics.error(
                .compiler(.taskLossMismatch),
                "loss '\(loss)' does not fit the '\(task.rawValue)' task of model '\(model.name)'",
                at: lossValue?.span, notes: [DiagnosticNote("the task is set here", at: taskSpan)],
                help: "use " + allowedLosses.map { "'\($0)'" }.joined(separator: " or ") + ", or 'auto'")
        }
        if let smoothing = v["label_smoothing"], !smoothing.isDefault, (smoothing.double ?? 0) > 0,
            loss != "cross_entropy"
        {
            diagnostics.error(
                .compiler(.labelSmoothing), "'label_smoothing' applies to the cross_entropy loss, not '\(loss)'",
                at: smoothing.keySpan ?? smoothing.span)
        }
        let taskMetrics = task == .regression ? SpecSchema.regressionMetrics : SpecSchema.classificationMetrics
        let metrics = spec.metrics ?? (task == .regression ? ["rmse", "r2"] : ["accuracy", "f1_macro"])
        for item in v["metrics"]?.list ?? [] {
            guard let m = item.string, !taskMetrics.contains(m) else { continue }
            diagnostics.error(
                .compiler(.taskMetricMismatch),
                "metric '\(m)' does not fit the '\(task.rawValue)' task of model '\(model.name)'",
                at: item.span, notes: [DiagnosticNote("the task is set here", at: taskSpan)],
                help: "metrics for \(task): " + taskMetrics.joined(separator: ", "))
        }

        // Gates name computed metrics, on splits that have rows.
        for gate in spec.gates {
            let metricValue = gate["metric"]
            if let m = metricValue?.string, m != "loss", !metrics.contains(m) {
                diagnostics.error(
                    .compiler(.gateUnknownMetric), "gate on '\(m)', which this Training does not compute",
                    at: metricValue?.span,
                    notes: v["metrics"].map { [DiagnosticNote("the computed metrics are listed here", at: $0.span)] }
                        ?? [],
                    help: "add '\(m)' to 'metrics', or gate on one of: " + (metrics + ["loss"]).joined(separator: ", "))
            }
            let split = gate["split"]?.string ?? "test"
            if dataset.spec.fraction(split) <= 0 {
                diagnostics.error(
                    .compiler(.gateEmptySplit),
                    "gate on the '\(split)' split, which dataset '\(dataset.spec.name)' leaves empty",
                    at: gate["split"]?.span ?? gate.span,
                    notes: [
                        DiagnosticNote(
                            "the split is defined here", at: dataset.spec.split.keySpan ?? dataset.spec.split.span)
                    ],
                    help: "give the '\(split)' split a fraction, or gate on another split")
            }
            let hasBound = gate["min"] != nil || gate["max"] != nil || gate["compare_to"] != nil
            if !hasBound {
                diagnostics.error(
                    .compiler(.gateNoCondition), "a gate needs 'min', 'max' or 'compare_to'", at: gate.span,
                    help: "add 'min: 0.9' (or 'max', or 'compare_to: production' with 'max_drop')")
            }
            if gate["max_drop"] != nil && gate["compare_to"] == nil {
                diagnostics.error(
                    .compiler(.gateNoCondition), "'max_drop' needs 'compare_to': the alias to compare with",
                    at: gate["max_drop"]?.keySpan ?? gate.span)
            }
            if let min = gate["min"]?.double, let max = gate["max"]?.double, min > max {
                diagnostics.error(
                    .compiler(.gateBounds), "gate 'min' is greater than 'max'", at: gate["min"]?.span ?? gate.span)
            }
        }

        // Early stopping watches a validation value.
        if let es = v["early_stopping"], let monitor = es["monitor"] {
            let name = monitor.string ?? ""
            let watched = name.hasPrefix("val_") ? String(name.dropFirst(4)) : nil
            if watched == nil || !(watched == "loss" || metrics.contains(watched ?? "")) {
                diagnostics.error(
                    .compiler(.unknownMonitor),
                    "early stopping monitors '\(name)', which this Training does not compute",
                    at: monitor.span, help: "monitor 'val_loss' or 'val_' + one of: " + metrics.joined(separator: ", "))
            } else if dataset.spec.fraction("validation") <= 0 {
                diagnostics.warning(
                    .compiler(.monitorWithoutValidation),
                    "early stopping monitors '\(name)', but dataset '\(dataset.spec.name)' has no validation split",
                    at: monitor.isDefault ? (es.keySpan ?? es.span) : monitor.span,
                    notes: [
                        DiagnosticNote(
                            "the split is defined here", at: dataset.spec.split.keySpan ?? dataset.spec.split.span)
                    ],
                    help: "without validation rows early stopping cannot trigger; give 'validation' a fraction")
            }
        }

        // Optimiser fields that the chosen optimiser does not read.
        let optimizer = v["optimizer"]
        let type = optimizer?["type"]?.string ?? "adam"
        let reads: [(String, [String])] = [
            ("momentum", ["momentum"]), ("nesterov", ["momentum"]),
            ("beta1", ["adam", "adamw"]), ("beta2", ["adam", "adamw"]), ("epsilon", ["adam", "adamw"]),
        ]
        for (field, users) in reads where !users.contains(type) {
            if let f = optimizer?[field] {
                diagnostics.error(
                    .compiler(.optimizerField), "'\(field)' does not apply to optimizer '\(type)'",
                    at: f.keySpan ?? f.span,
                    help: "remove it, or use " + users.map { "'\($0)'" }.joined(separator: " or "))
            }
        }
        let schedule = v["schedule"]
        let scheduleType = schedule?["type"]?.string ?? "constant"
        if scheduleType == "step" && schedule?["step_epochs"] == nil {
            diagnostics.error(
                .compiler(.scheduleField), "a 'step' schedule needs 'step_epochs'", at: schedule?.span,
                help: "add 'step_epochs: 30'")
        }
        for (field, owner) in [("step_epochs", "step"), ("gamma", "step"), ("min_learning_rate", "cosine")]
        where scheduleType != owner {
            if let f = schedule?[field] {
                diagnostics.error(
                    .compiler(.scheduleField), "'\(field)' applies to the '\(owner)' schedule, not '\(scheduleType)'",
                    at: f.keySpan ?? f.span)
            }
        }

        // Shapes: the dataset's features after transforms give the input width, the label the output width.
        var inputs = dataset.inputWidth
        if let declared = modelResource.spec["inputs"], let n = declared.int, let inferred = dataset.inputWidth,
            n != inferred
        {
            diagnostics.error(
                .compiler(.shapeMismatch),
                "model '\(model.name)' declares \(n) inputs, but dataset '\(dataset.spec.name)' gives \(inferred) features after transforms",
                at: declared.span,
                notes: [
                    DiagnosticNote(
                        "the features are \(dataset.featureColumns.joined(separator: ", "))",
                        at: dataset.resource.spec[path: ["schema", "features"]].map {
                            $0.isDefault
                                ? dataset.resource.spec[path: ["schema", "columns"]]?.keySpan ?? $0.span : $0.span
                        }),
                    DiagnosticNote("used together here", at: datasetValue?.span),
                ],
                help: "write 'inputs: auto', or 'inputs: \(inferred)'")
            inputs = nil
        }
        if let declared = modelResource.spec["outputs"], let n = declared.int, let inferred = outputs, n != inferred {
            diagnostics.error(
                .compiler(.shapeMismatch),
                "model '\(model.name)' declares \(n) outputs, but the '\(task)' task on label '\(labelName)' needs \(inferred)",
                at: declared.span,
                notes: [
                    DiagnosticNote("the label is declared here", at: label.span),
                    DiagnosticNote("used together here", at: datasetValue?.span),
                ],
                help: "write 'outputs: auto', or 'outputs: \(inferred)'")
            outputs = nil
        }

        // What the registry would refuse after training is refused here, before it.
        if let message = v[path: ["register", "message"]], let text = message.string {
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
        let register = spec.register
        checked.trainings.append(
            CheckedTraining(
                resource: resource, nodeName: nodeName, spec: v, model: model.name, dataset: dataset.spec.name,
                loss: loss,
                metrics: metrics, inputs: inputs, outputs: outputs,
                registerName: register.map { $0["name"]?.string ?? model.name }))
    }

    private mutating func labelMismatch(
        _ label: ColumnSpec, task: ModelTask, expected: String, at span: SourceSpan?, taskSpan: SourceSpan?
    ) {
        diagnostics.error(
            .compiler(.taskLabelMismatch),
            "the '\(task)' task needs \(expected) as its label, and '\(label.name)' is \(label.type.rawValue)",
            at: span,
            notes: [
                DiagnosticNote("the task is set here", at: taskSpan),
                DiagnosticNote("the label's type is declared here", at: label.raw["type"]?.span ?? label.span),
            ])
    }
}
