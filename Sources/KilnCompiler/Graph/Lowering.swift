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
            guard let written = resource.spec[path: ["encryption", "key"]] else { continue }
            return SealingKey(reference: written.string, directory: resource.directory, span: written.span)
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
            let r = ResourceID(.dataset, name), v = d.resource.spec
            let source = v["source"]?.json ?? .null
            let data = DatasetPayload(d, sealing: sealing)
            unit.add(
                r, .ingest(data),
                config: .object([
                    ("source", source),
                    ("columns", v[path: ["schema", "columns"]]?.json ?? .null),
                    ("governance", v["governance"]?.json ?? .null),
                ]), inputs: [], files: d.sourceFiles,
                provenance: [
                    (["source"], v["source"]), (["columns"], v[path: ["schema", "columns"]]),
                    (["governance"], v["governance"]), ([], v),
                ])
            unit.add(
                r, .check(data), config: .object([("checks", v["checks"]?.json ?? .array([]))]),
                inputs: [NodeID(r, .ingest)], provenance: [(["checks"], v["checks"]), ([], v)])
            unit.add(
                r, .split(data),
                config: .object([
                    ("split", v["split"]?.json ?? .null), ("label", v[path: ["schema", "label"]]?.json ?? .null),
                ]),
                inputs: [NodeID(r, .check)],
                provenance: [(["split"], v["split"]), (["label"], v[path: ["schema", "label"]]), ([], v)])
            return unit.nodes
        }.flatMap { $0 }
        var fingerprints = Dictionary(nodes.map { ($0.id, $0.fingerprint) }, uniquingKeysWith: { a, _ in a })

        let datasetKeys = fingerprints
        nodes += Self.parallelMap(checked.trainings.sorted(by: { $0.nodeName < $1.nodeName }), parallel) { t -> [GraphNode] in
            var unit = Unit(known: datasetKeys, hash: hash)
            guard let dataset = checked.datasets[t.dataset], let model = checked.models[t.model] else { return [] }
            let r = ResourceID(.training, nodeName: t.nodeName)
            // What changes the trained weights; gates, registration and execution policy do not.
            let excluded: Set = ["gates", "register", "matrix", "timeout", "retry", "checkpoint"]
            let training = JSON.object(
                (t.spec.fields ?? []).filter { !excluded.contains($0.name) }.map { ($0.name, $0.value.json) })
            let ds = dataset.resource.spec
            let fit = FitPayload(
                training: TrainingConfig(t), model: ModelConfig(model, inputs: t.inputs, outputs: t.outputs),
                data: DatasetPayload(dataset, sealing: sealing), metrics: t.metrics, retry: t.retry,
                timeout: t.timeout, timeoutSpan: t.spec["timeout"]?.span)
            unit.add(
                r, .fit(fit),
                config: .object([
                    ("training", training), ("model", model.spec.json),
                    (
                        "features",
                        .object([
                            ("label", ds[path: ["schema", "label"]]?.json ?? .null),
                            ("features", ds[path: ["schema", "features"]]?.json ?? .null),
                            ("transforms", ds["transforms"]?.json ?? .array([])),
                            ("columns", .array(dataset.featureColumns.map(JSON.string))),
                        ])
                    ),
                    ("loss", .string(t.loss)), ("metrics", .array(t.metrics.map(JSON.string))),
                    ("inputs", .int(t.inputs)), ("outputs", .int(t.outputs)),
                ]), inputs: [.dataset(t.dataset, .split)],
                provenance: [
                    (["training"], t.spec), (["model"], model.spec),
                    (["features", "label"], ds[path: ["schema", "label"]]),
                    (["features", "features"], ds[path: ["schema", "features"]]),
                    (["features", "transforms"], ds["transforms"]), (["features", "columns"], ds["schema"]),
                    (["loss"], t.spec["loss"]), (["metrics"], t.spec["metrics"]), (["inputs"], model.spec["inputs"]),
                    (["outputs"], model.spec["outputs"]), ([], t.spec),
                ])
            let gates = (t.spec["gates"]?.list ?? []).compactMap { g -> GateSpec? in
                guard let metric = g["metric"]?.string else { return nil }
                return GateSpec(
                    metric: metric, split: g["split"]?.string ?? "test", min: g["min"]?.double, max: g["max"]?.double,
                    compareTo: g["compare_to"]?.string, maxDrop: g["max_drop"]?.double ?? 0, span: g.span)
            }
            unit.add(
                r, .gate(GatePayload(gates: gates, registers: t.registerName)),
                config: .object([("gates", t.spec["gates"]?.json ?? .array([]))]),
                inputs: [NodeID(r, .fit)], provenance: [(["gates"], t.spec["gates"]), ([], t.spec)])
            if let name = t.registerName {
                var register = (t.spec["register"]?.fields ?? []).map { ($0.name, $0.value.json) }
                if !register.contains(where: { $0.0 == "name" }) { register.insert(("name", .string(name)), at: 0) }
                // The spec files of the training, its model and its dataset, as compiled.
                var specs: [String: String] = [:]
                for file in Set([t.resource.file, model.file, dataset.resource.file]) {
                    if let text = sources[file] { specs[DatasetConfig.relative(file, to: workspace.root)] = text }
                }
                let r2 = t.spec["register"]
                let payload = RegisterPayload(
                    model: name, message: r2?["message"]?.string ?? "trained by \(r)", alias: r2?["alias"]?.string,
                    specs: specs)
                unit.add(
                    r, .register(payload), config: .object(register), inputs: [NodeID(r, .gate)],
                    provenance: [([], t.spec["register"] ?? t.spec)])
            }
            return unit.nodes
        }.flatMap { $0 }
        for node in nodes where fingerprints[node.id] == nil { fingerprints[node.id] = node.fingerprint }

        var deployments = Unit(known: fingerprints, hash: hash)
        for d in checked.deployments.sorted(by: { $0.resource.name < $1.resource.name }) {
            let r = ResourceID(.deployment, d.resource.name), v = d.resource.spec
            guard let model = d.spec.model else { continue }
            let names = Set([d.spec.model?.model, d.spec.canary?.model].compactMap { $0 })
            let upstream = checked.trainings.filter { $0.registerName.map(names.contains) ?? false }
                .map { NodeID(ResourceID(.training, nodeName: $0.nodeName), .register) }.sorted()
            let release = ReleasePayload(
                deployment: d.resource.name, model: model, canary: d.spec.canary, environment: d.spec.environment,
                signingRequired: d.signingRequired, trustedKeyFiles: d.trustedKeyFiles, modelSpan: v["model"]?.span,
                canarySpan: v[path: ["canary", "model"]]?.span)
            deployments.add(
                r, .release(release),
                config: .object([
                    ("model", v["model"]?.json ?? .null), ("canary", v["canary"]?.json ?? .null),
                    ("environment", v["environment"]?.json ?? .null), ("signing_required", .bool(d.signingRequired)),
                ]), inputs: upstream, files: d.trustedKeyFiles, provenance: [([], v)])
        }
        return ExecutionGraph(nodes: nodes + deployments.nodes)
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
