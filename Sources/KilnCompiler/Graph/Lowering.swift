import Dispatch
import Foundation
import Synchronization
import KilnCompute
import KilnData
import KilnSpec

/// Lowers a checked workspace to the execution graph of spec-language.md:
/// dataset ingest → check → split; training fit → gate → register; deployment release.
struct Lowering {
    let workspace: Workspace
    let checked: CheckedWorkspace
    let hashFiles: Bool
    var parallel = true

    /// The Policy's `encryption.key` (the first Policy that names one), for encrypted datasets' nodes.
    private var sealing: SealingKey? {
        for resource in workspace.resources where resource.kind == .policy {
            guard let written = PolicySpec(resource).encryptionKey else { continue }
            return SealingKey(reference: written.text, directory: resource.directory, span: written.span)
        }
        return nil
    }

    func graph() -> ExecutionGraph {
        let sealing = self.sealing
        let sources = workspace.sources
        // Datasets often share a file: hash each once, from any thread.
        let known = Mutex<[String: String]>([:])
        let hashFiles = self.hashFiles
        let hash: @Sendable (String) -> String = { path in
            guard hashFiles else { return "unhashed" }
            if let h = known.withLock({ $0[path] }) { return h }
            let h = Fingerprint.file(path) ?? "missing"
            known.withLock { $0[path] = h }
            return h
        }

        // Datasets, then trainings (which need the datasets' keys), each resource on its own and on every
        // core, joined in order; then deployments.
        var nodes = Self.parallelMap(checked.datasets.keys.sorted(), parallel) { name -> [GraphNode] in
            var unit = Unit(known: [:], hash: hash)
            guard let d = checked.datasets[name] else { return [] }
            let r = ResourceID(.dataset, name), spec = d.spec, v = spec.raw
            let data = DatasetPayload(d, sealing: sealing)
            unit.add(
                r, .ingest(data),
                config: .object([
                    ("source", spec.json(.source)), ("columns", spec.json(.columns)),
                    ("governance", spec.json(.governance)),
                ]), inputs: [], files: d.sourceFiles,
                provenance: [
                    (["source"], spec[.source]), (["columns"], spec[.columns]), (["governance"], spec[.governance]),
                    ([], v),
                ])
            unit.add(
                r, .check(data), config: .object([("checks", spec[.checks]?.json ?? .array([]))]),
                inputs: [NodeID(r, .ingest)], provenance: [(["checks"], spec[.checks]), ([], v)])
            unit.add(
                r, .split(data), config: .object([("split", spec.json(.split)), ("label", spec.json(.label))]),
                inputs: [NodeID(r, .check)], provenance: [(["split"], spec[.split]), (["label"], spec[.label]), ([], v)])
            return unit.nodes
        }.flatMap { $0 }
        var fingerprints = Dictionary(nodes.map { ($0.id, $0.fingerprint) }, uniquingKeysWith: { a, _ in a })

        let datasetKeys = fingerprints
        // A Training's cells in the order written: their registrations are made in graph order.
        let trainings = checked.trainings.sorted {
            ($0.resource.name, $0.cellIndex) < ($1.resource.name, $1.cellIndex)
        }
        let cellsOf = Dictionary(grouping: trainings, by: \.resource.name)
        nodes += Self.parallelMap(trainings, parallel) { t -> [GraphNode] in
            var unit = Unit(known: datasetKeys, hash: hash)
            guard let dataset = checked.datasets[t.dataset] else { return [] }
            let r = ResourceID(.training, nodeName: t.nodeName)
            let spec = t.spec, model = t.model, ds = dataset.spec
            // What changes the trained weights; gates, registration and execution policy do not.
            let training = spec.json(omitting: [.gates, .register, .matrix, .timeout, .retry, .checkpoint])
            if case .transformer(let arch) = model.architecture {
                // Without its checkpoint read (a compile that does not look at files) there is nothing to lower.
                guard let pretrained = checked.pretrained[model.name] else { return [] }
                let data = DatasetPayload(dataset, sealing: sealing)
                let tagsTokens = model.task == .tokenClassification
                let text = (tagsTokens ? dataset.tokenColumns.first : dataset.textColumns.first) ?? ""
                unit.add(
                    r, .tokenize(
                        TokenizePayload(
                            data: data, textColumn: text, vocabularyFile: pretrained.vocabularyFile,
                            tokenizerConfigFile: pretrained.tokenizerFiles.count > 1 ? pretrained.tokenizerConfigFile : nil,
                            maxLength: arch.maxLength, tagsTokens: tagsTokens)),
                    config: .object([
                        ("text", .string(text)), ("label", ds.json(.label)), ("max_length", .int(arch.maxLength)),
                        ("tokenizer", .string("bert-wordpiece")), ("task", .string(model.task.rawValue)),
                    ]), inputs: [.dataset(t.dataset, .split)], files: pretrained.tokenizerFiles,
                    provenance: [(["max_length"], model[.maxLength]), (["label"], ds[.label]), ([], model.raw)])
                // The weights' hash is remembered by size and modification time: `kiln check` does not read them.
                let weights = hashFiles ? pretrained.weightsHash() ?? "missing" : "unhashed"
                let fine = FineTunePayload(t, dataset: dataset, data: data, pretrained: pretrained, weightsSHA256: weights)
                unit.add(
                    r, .fineTune(fine),
                    config: .object([
                        ("training", training), ("model", model.raw.json),
                        ("pretrained", .object([("config", .string(hash(pretrained.configFile))), ("weights", .string(weights))])),
                        ("classes", .array(fine.classes.map(JSON.string))), ("loss", .string(t.loss.rawValue)),
                        ("metrics", .array(t.metrics.map(JSON.string))),
                    ]), inputs: [NodeID(r, .tokenize)],
                    provenance: [
                        (["training"], spec.raw), (["model"], model.raw), (["pretrained"], model[.pretrained]),
                        (["classes"], ds[.schema]), (["loss"], spec[.loss]), (["metrics"], spec[.metrics]), ([], spec.raw),
                    ])
                unit.addGateAndRegister(
                    r, t, model: model, dataset: dataset, sources: sources, root: workspace.root,
                    sweep: cellsOf[t.resource.name] ?? [])
                return unit.nodes
            }
            var fit = FitPayload(
                training: TrainingConfig(t), model: ModelConfig(model, inputs: t.inputs, outputs: t.outputs),
                data: DatasetPayload(dataset, sealing: sealing), metrics: t.metrics, retry: t.retry,
                timeout: t.timeout, timeoutSpan: spec.span(.timeout), booster: BoosterConfig(t))
            fit.gated = spec.gates.map { FitPayload.GatedValue(metric: $0.metric, split: $0.split.rawValue) }
            if model.task == .binary {
                fit.positiveClass = model.positiveClass
                fit.threshold = model.threshold
            }
            switch spec.classWeights {
            case .balanced?: fit.classWeights = .balanced
            case .by(let named)?:
                fit.classWeights = .by(Dictionary(named.map { ($0.label, $0.weight) }, uniquingKeysWith: { _, b in b }))
            case nil: break
            }
            unit.add(
                r, .fit(fit),
                config: .object([
                    ("training", training), ("model", model.raw.json),
                    (
                        "features",
                        .object([
                            ("label", ds.json(.label)), ("features", ds.json(.features)),
                            ("transforms", ds[.transforms]?.json ?? .array([])),
                            ("columns", .array(dataset.featureColumns.map(JSON.string))),
                        ])
                    ),
                    ("loss", .string(t.loss.rawValue)), ("metrics", .array(t.metrics.map(JSON.string))),
                    ("inputs", .int(t.inputs)), ("outputs", .int(t.outputs)),
                ]), inputs: [.dataset(t.dataset, .split)],
                provenance: [
                    (["training"], spec.raw), (["model"], model.raw), (["features", "label"], ds[.label]),
                    (["features", "features"], ds[.features]), (["features", "transforms"], ds[.transforms]),
                    (["features", "columns"], ds[.schema]), (["loss"], spec[.loss]), (["metrics"], spec[.metrics]),
                    (["inputs"], model[.inputs]), (["outputs"], model[.outputs]), ([], spec.raw),
                ])
            unit.addGateAndRegister(
                r, t, model: model, dataset: dataset, sources: sources, root: workspace.root,
                sweep: cellsOf[t.resource.name] ?? [])
            return unit.nodes
        }.flatMap { $0 }
        for node in nodes where fingerprints[node.id] == nil { fingerprints[node.id] = node.fingerprint }
        return ExecutionGraph(nodes: nodes + deploymentNodes(fingerprints, hash))
    }

    private func deploymentNodes(_ fingerprints: [NodeID: String], _ hash: @escaping @Sendable (String) -> String) -> [GraphNode] {
        var deployments = Unit(known: fingerprints, hash: hash)
        for d in checked.deployments.sorted(by: { $0.resource.name < $1.resource.name }) {
            let r = ResourceID(.deployment, d.resource.name), spec = d.spec
            guard let model = d.spec.model else { continue }
            let names = Set([d.spec.model?.model, d.spec.canary?.model].compactMap { $0 })
            let upstream = checked.trainings.filter { $0.registerName.map(names.contains) ?? false }
                .map { NodeID(ResourceID(.training, nodeName: $0.nodeName), .register) }.sorted()
            let release = ReleasePayload(
                deployment: d.resource.name, model: model, canary: d.spec.canary, environment: d.spec.environment,
                signingRequired: d.signingRequired, trustedKeyFiles: d.trustedKeyFiles, modelSpan: spec.span(.model),
                canarySpan: spec.span(.canaryModel))
            deployments.add(
                r, .release(release),
                config: .object([
                    ("model", spec.json(.model)), ("canary", spec.json(.canary)),
                    ("environment", spec.json(.environment)), ("signing_required", .bool(d.signingRequired)),
                ]), inputs: upstream, files: d.trustedKeyFiles, provenance: [([], spec.raw)])
        }
        return deployments.nodes
    }

    /// The nodes of one resource, in order; `known` has the keys of the resources lowered before it.
    struct Unit {
        var nodes: [GraphNode] = []
        var local: [NodeID: String] = [:]
        let known: [NodeID: String]
        let hash: @Sendable (String) -> String

        init(known: [NodeID: String], hash: @escaping @Sendable (String) -> String) {
            self.known = known
            self.hash = hash
        }

        mutating func add(
            _ resource: ResourceID, _ payload: NodePayload, config: JSON, inputs: [NodeID],
            files: [String] = [], provenance: [([String], SpecValue?)] = []
        ) {
            let id = NodeID(resource, payload.kind)
            let hashed = files.map { (path: $0, sha256: hash($0)) }
            let fp = Fingerprint.node(
                kind: payload.kind, config: config, files: hashed,
                inputs: inputs.map { local[$0] ?? known[$0] ?? $0.description })
            local[id] = fp
            nodes.append(
                GraphNode(
                    id: id, inputs: inputs, config: config, payload: payload, files: hashed,
                    fingerprint: fp, provenance: provenance.compactMap { p in p.1.map { (path: p.0, value: $0) } }))
        }
    }

    /// `transform` of each item, in chunks on every core; the results in the items' order.
    static func parallelMap<T, R: Sendable>(_ items: [T], _ parallel: Bool, _ transform: @Sendable (T) -> R) -> [R]
    where T: Sendable {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        guard parallel, cores > 1, items.count >= 64 else { return items.map(transform) }
        let size = (items.count + cores * 4 - 1) / (cores * 4)
        let starts = Array(stride(from: 0, to: items.count, by: size))
        let done = Mutex<[[R]]>(Array(repeating: [], count: starts.count))
        DispatchQueue.concurrentPerform(iterations: starts.count) { i in
            let part = items[starts[i]..<min(starts[i] + size, items.count)].map(transform)
            done.withLock { $0[i] = part }
        }
        return done.withLock { $0 }.flatMap { $0 }
    }
}

extension Lowering.Unit {
    /// A training's gate and, when it registers, its register node (after its fit, whatever the kind).
    mutating func addGateAndRegister(
        _ r: ResourceID, _ t: CheckedTraining, model: ModelSpec, dataset: CheckedDataset, sources: [String: String],
        root: String, sweep: [CheckedTraining]
    ) {
        let spec = t.spec
        let gates = spec.gates.map { g in
            GateSpec(
                metric: g.metric, split: g.split.rawValue, min: g.min, max: g.max, compareTo: g.compareTo,
                maxDrop: g.maxDrop, span: g.span)
        }
        add(
            r, .gate(GatePayload(gates: gates, registers: t.registerName)),
            config: .object([("gates", spec[.gates]?.json ?? .array([]))]),
            inputs: [NodeID(r, .fit)], provenance: [(["gates"], spec[.gates]), ([], spec.raw)])
        if let name = t.registerName {
            var register = (spec[.register]?.fields ?? []).map { ($0.name, $0.value.json) }
            if !register.contains(where: { $0.0 == "name" }) { register.insert(("name", .string(name)), at: 0) }
            // The spec files of the training, its model and its dataset, as compiled.
            var specs: [String: String] = [:]
            for file in Set([t.resource.file, model.raw.span.file, dataset.resource.file]) {
                if let text = sources[file] { specs[DatasetConfig.relative(file, to: root)] = text }
            }
            // A sweep that selects: every cell waits for every cell's fit, and only the best moves the alias.
            var selection: RegisterPayload.Selection?
            if let select = spec.select, sweep.count > 1 {
                selection = RegisterPayload.Selection(
                    metric: select.metric, split: select.split.rawValue,
                    higherIsBetter: select.higherIsBetter ?? (Metric(rawValue: select.metric)?.higherIsBetter ?? false),
                    cells: sweep.map { NodeID(ResourceID(.training, nodeName: $0.nodeName), .fit) },
                    gates: sweep.map { cell in
                        cell.spec.gates.map { g in
                            GateSpec(
                                metric: g.metric, split: g.split.rawValue, min: g.min, max: g.max, compareTo: g.compareTo,
                                maxDrop: g.maxDrop, span: g.span)
                        }
                    })
                register.append(("select", spec[.select]?.json ?? .null))
            }
            let payload = RegisterPayload(
                model: name, message: spec.register?.message.map { spec.expand($0).text } ?? "trained by \(r)",
                alias: spec.register?.alias, specs: specs, selection: selection)
            add(
                r, .register(payload), config: .object(register),
                inputs: [NodeID(r, .gate)] + (selection?.cells.filter { $0 != NodeID(r, .fit) } ?? []),
                provenance: [([], spec[.register] ?? spec.raw)])
        }
    }
}
