import Foundation
import KilnCompiler
import KilnCompute
import KilnData
import KilnRegistry
import KilnSecurity
import KilnDiagnostics
import KilnSpec
import Synchronization

/// Runs one node: reads its inputs from the cache (verified), writes its outputs into `outputs`.
/// Per kind:
/// - ingest: the files read by the schema → `table.bin` (TableCodec), `sources.json` (hashes, rows)
/// - check: the contract → `report.json`; an error-severity failure fails the node
/// - split: the split → `split.json` (row indices and their hash)
/// - fit: transforms fitted on the train split, the network trained (resuming from its checkpoint) and
///   evaluated → `model/` (safetensors + card), `metrics.json`, `params.json`, `lineage.json`
/// - gate: the Training's gates against the fit's metrics → `gates.json`; a failed gate fails the node
/// - register: a new version in the registry → `registered.json`
/// - release: the Deployment's version resolved, the environment's alias moved → `release.json`
struct NodeExecutor: Sendable {
    let compiled: Compiler.Result
    let graph: ExecutionGraph
    let cache: Cache
    let paths: WorkspacePaths
    let registry: any ModelRegistry
    let reporter: any RunReporter
    let cancellation: CancellationFlag
    let tables: TableMemo
    let computeThreads: Int
    /// The pii mask key, read (or created) once per run.
    let maskKey = Once<Data>()
    /// The encrypted datasets' sealer, resolved once, when the first one is read or written.
    let sealing = Once<Result<PolicySealer, NodeFailure>>()

    /// The sealer when the dataset is encrypted (nil otherwise); a missing or bad key fails the node.
    func sealer(_ encrypt: Bool) throws(NodeFailure) -> (any DerivedDataSealer)? {
        guard encrypt else { return nil }
        return try sealing.value { PolicySealer.fromPolicy(compiled) }.get()
    }

    func execute(_ node: GraphNode, outputs: String, attempt: Int) throws(NodeFailure) -> NodeOutput {
        switch node.kind {
        case .ingest: return try ingest(node, outputs)
        case .check: return try check(node, outputs)
        case .split: return try split(node, outputs)
        case .fit: return try fit(node, outputs)
        case .gate: return try gate(node, outputs)
        case .register: return try register(node, outputs)
        case .release: return try release(node, outputs)
        }
    }

    // MARK: Datasets

    private func datasetName(_ node: GraphNode) -> String {
        String(node.resource.dropFirst("dataset/".count))
    }

    private func datasetConfig(_ name: String) throws(NodeFailure) -> DatasetConfig {
        guard let checked = compiled.checked.datasets[name] else {
            throw NodeFailure("run.internal", "no checked dataset '\(name)'")
        }
        do { return try DatasetConfig(checked) } catch { throw NodeFailure(error.diagnostics) }
    }

    private func ingest(_ node: GraphNode, _ outputs: String) throws(NodeFailure) -> NodeOutput {
        let config = try datasetConfig(datasetName(node))
        var ingested: IngestedDataset
        do { ingested = try IngestedDataset.read(config) } catch { throw NodeFailure(error.diagnostics) }
        tables.store(node.fingerprint, ingested.table)
        // On disk, file paths are relative to the workspace, so that outputs (and their hashes in kiln.lock)
        // do not depend on the directory kiln was started from.
        for i in ingested.table.origins.files.indices {
            ingested.table.origins.files[i].path = relative(ingested.table.origins.files[i].path)
        }
        for i in ingested.sources.indices { ingested.sources[i].path = relative(ingested.sources[i].path) }
        // Derived copies of an encrypted dataset go through the security layer's sealer; without one,
        // the store refuses before writing anything.
        let store = DerivedDataStore(
            directory: outputs, encrypt: config.encrypt, sealer: try sealer(config.encrypt), atomic: false)
        do {
            try store.write(TableCodec.encode(ingested.table), name: "table.bin")
            try store.write(ContentHash.canonicalJSON(ingested.sources), name: "sources.json")
        } catch { throw NodeFailure(error.diagnostics) }
        let files = ingested.sources.count
        return NodeOutput(
            summary: "\(ingested.table.rowCount) rows from \(files) file\(files == 1 ? "" : "s")",
            metrics: ["rows": Double(ingested.table.rowCount)])
    }

    /// The dataset as its ingest node left it (from this run's memory, or the cache, verified).
    private func ingested(_ name: String) throws(NodeFailure) -> IngestedDataset {
        let config = try datasetConfig(name)
        guard let node = graph.node("dataset/\(name):ingest") else {
            throw NodeFailure("run.internal", "no ingest node for '\(name)'")
        }
        let key = node.fingerprint
        let store = DerivedDataStore(
            directory: cache.outputs(key), encrypt: config.encrypt, sealer: try sealer(config.encrypt))
        do {
            _ = try cache.read(key, "sources.json")  // verifies the hash
            let sourcesData = try store.read(name: "sources.json")
            var sources = try JSONDecoder().decode([Lineage.Source].self, from: sourcesData)
            for i in sources.indices { sources[i].path = local(sources[i].path) }
            if let table = tables.table(key) {
                return IngestedDataset(config: config, table: table, sources: sources)
            }
            _ = try cache.read(key, "table.bin")  // verifies the hash
            var table = try TableCodec.decode(
                try store.read(name: "table.bin"), path: cache.outputs(key) + "/table.bin")
            for i in table.origins.files.indices { table.origins.files[i].path = local(table.origins.files[i].path) }
            tables.store(key, table)
            return IngestedDataset(config: config, table: table, sources: sources)
        } catch let e as DataError {
            throw NodeFailure(e.diagnostics)
        } catch {
            throw NodeFailure("run.cache", "\(error)")
        }
    }

    private func check(_ node: GraphNode, _ outputs: String) throws(NodeFailure) -> NodeOutput {
        var data = try ingested(datasetName(node))
        do { try data.check(masker: PIIMasker(key: maskKey.value { paths.piiMaskKey() })) } catch {
            throw NodeFailure(error.diagnostics)
        }
        let report = data.report
        var portable = report
        for r in portable.results.indices {
            if let file = portable.results[r].check.span?.file { portable.results[r].check.span?.file = relative(file) }
            for e in portable.results[r].examples.indices {
                portable.results[r].examples[e].file = relative(portable.results[r].examples[e].file)
            }
        }
        // The report quotes cells (a failed check's examples): of an encrypted dataset, it is sealed too.
        let store = DerivedDataStore(
            directory: outputs, encrypt: data.config.encrypt, sealer: try sealer(data.config.encrypt), atomic: false)
        do { try store.write(ContentHash.canonicalJSON(portable), name: "report.json") } catch {
            throw NodeFailure(error.diagnostics)
        }
        let failedErrors = report.results.filter { !$0.passed && $0.check.severity == .error }
        let warnings = report.results.filter { !$0.passed && $0.check.severity == .warn }
        if !failedErrors.isEmpty {
            var diagnostics = report.diagnostics
            diagnostics.append(
                Diagnostic(
                    "run.contract-failed", .error,
                    "the data contract of dataset '\(data.config.name)' failed (\(failedErrors.count) of \(report.results.count) checks); nothing trains on it",
                    at: nil))
            throw NodeFailure(diagnostics)
        }
        let passed = report.results.count { $0.passed }
        return NodeOutput(
            summary: "\(passed) of \(report.results.count) checks passed"
                + (warnings.isEmpty ? "" : ", \(warnings.count) warning\(warnings.count == 1 ? "" : "s")"),
            warnings: report.diagnostics.filter { $0.severity != .error })
    }

    private func split(_ node: GraphNode, _ outputs: String) throws(NodeFailure) -> NodeOutput {
        let data = try ingested(datasetName(node))
        let indices: SplitIndices
        do {
            indices = try Splitter.split(data.table, data.config.split, label: data.config.schema.label)
        } catch { throw NodeFailure(error.diagnostics) }
        try write(
            ContentHash.canonicalJSON(SplitRecord(indices: indices, sha256: indices.sha256)), outputs, "split.json")
        return NodeOutput(
            summary:
                "train \(indices.train.count) · validation \(indices.validation.count) · test \(indices.test.count)")
    }

    struct SplitRecord: Codable {
        var indices: SplitIndices
        var sha256: String
    }

    private func splitIndices(_ dataset: String) throws(NodeFailure) -> SplitIndices {
        guard let key = graph.node("dataset/\(dataset):split")?.fingerprint else {
            throw NodeFailure("run.internal", "no split node for '\(dataset)'")
        }
        do {
            return try JSONDecoder().decode(SplitRecord.self, from: try cache.read(key, "split.json")).indices
        } catch { throw NodeFailure("run.cache", "\(error)") }
    }

    // MARK: Training

    private func training(_ node: GraphNode) throws(NodeFailure) -> CheckedTraining {
        let name = String(node.resource.dropFirst("training/".count))
        guard let t = compiled.checked.trainings.first(where: { $0.nodeName == name }) else {
            throw NodeFailure("run.internal", "no checked training '\(name)'")
        }
        return t
    }

    private func fit(_ node: GraphNode, _ outputs: String) throws(NodeFailure) -> NodeOutput {
        let t = try training(node)
        guard let modelResource = compiled.checked.models[t.model] else {
            throw NodeFailure("run.internal", "no checked model '\(t.model)'")
        }
        var data = try ingested(t.dataset)
        if let checkKey = graph.node("dataset/\(t.dataset):check")?.fingerprint {
            // Verified by its hash, then opened (sealed when the dataset is encrypted).
            let store = DerivedDataStore(
                directory: cache.outputs(checkKey), encrypt: data.config.encrypt, sealer: try sealer(data.config.encrypt))
            if (try? cache.read(checkKey, "report.json")) != nil,
                let report = try? JSONDecoder().decode(ContractReport.self, from: store.read(name: "report.json"))
            {
                data.report = report
            }
        }
        let prepared: PreparedDataset
        let train: Examples, validation: Examples, test: Examples
        do {
            prepared = try data.prepare(split: try splitIndices(t.dataset))
            let table = data.table
            train = try prepared.preprocessor.examples(table, rows: prepared.split.train)
            validation = try prepared.preprocessor.examples(table, rows: prepared.split.validation)
            test = try prepared.preprocessor.examples(table, rows: prepared.split.test)
        } catch let e as DataError {
            throw NodeFailure(e.diagnostics)
        } catch {
            throw NodeFailure("run.data", "\(error)")
        }
        guard prepared.preprocessor.width == t.inputs else {
            throw NodeFailure(
                "run.width-mismatch",
                "the data has \(prepared.preprocessor.width) features after transforms; the model was compiled for \(t.inputs)",
                help: "run `kiln check`: the dataset's spec and its files disagree")
        }
        let modelConfig = ModelConfig(modelResource, inputs: t.inputs, outputs: t.outputs)
        let config = TrainingConfig(t, threads: computeThreads)
        let work = paths.work + "/" + node.fingerprint
        let checkpoint = work + "/checkpoint.safetensors"
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        } catch { throw NodeFailure("run.io", "cannot create \(work): \(error)") }

        let deadline = t.timeout.map { Date().addingTimeInterval($0) }
        let timedOut = Flag()
        let result: TrainingResult
        let trainer: Trainer
        do {
            let blas = try BLAS.get()
            (trainer, result) = try trainResuming(
                modelConfig, config, blas: blas, train: train, validation: validation, checkpoint: checkpoint
            ) { report, resumed in
                let perEpoch = Double(train.count) / max(report.samplesPerSecond, 1e-9)
                reporter.report(
                    .epoch(
                        node: node.id,
                        progress: EpochProgress(
                            epoch: report.epoch, epochs: config.epochs, trainLoss: report.trainLoss,
                            validation: report.validation, samplesPerSecond: report.samplesPerSecond,
                            learningRate: Double(report.learningRate),
                            eta: perEpoch * Double(config.epochs - report.epoch), resumedFrom: resumed)))
                if cancellation.isCancelled { return .checkpointAndStop }
                if let deadline, Date() > deadline {
                    timedOut.set()
                    return .checkpointAndStop
                }
                return .proceed
            }
        } catch {
            throw NodeFailure("run.training", "\(error)", retriable: true)
        }
        if timedOut.isSet, let timeout = t.timeout {
            throw NodeFailure(
                [
                    Diagnostic(
                        "run.timeout", .error,
                        "the training ran past its timeout of \(Format.seconds(timeout)) (epoch \(result.history.last?.epoch ?? 0) of \(config.epochs)); its checkpoint is kept",
                        at: t.spec["timeout"]?.span,
                        help: "raise 'timeout', or run again: the training resumes from its checkpoint")
                ], retriable: true)
        }
        if result.aborted {
            throw NodeFailure("run.cancelled", "cancelled; the checkpoint is kept and the next run resumes")
        }

        // Evaluate on every split that has rows.
        var final: [String: [String: Double]] = [:]
        do {
            for (name, examples) in [("train", train), ("validation", validation), ("test", test)]
            where examples.count > 0 {
                final[name] = try trainer.evaluate(examples)
            }
        } catch { throw NodeFailure("run.training", "evaluation failed: \(error)") }

        let classes = prepared.preprocessor.label?.classes ?? []
        let labels = modelConfig.task == .regression ? [data.config.schema.label ?? "value"] : classes
        let headline = final["test"] ?? final["validation"] ?? final["train"] ?? [:]
        let card = ModelCard(
            model: modelConfig, inputColumns: prepared.preprocessor.outputColumns,
            preprocessing: prepared.preprocessor.cardValue, labels: labels, metrics: headline)
        do {
            try Artifact.save(trainer.network, card: card, to: outputs + "/model")
        } catch { throw NodeFailure("run.io", "\(error)") }
        let metrics = TrainingMetrics(
            final: final,
            history: result.history.map {
                .init(
                    epoch: $0.epoch, trainLoss: $0.trainLoss, validation: $0.validation,
                    learningRate: Double($0.learningRate))
            }, epochsRun: result.history.last?.epoch ?? 0, stoppedEarly: result.stoppedEarly)
        var lineage = prepared.lineage
        for i in lineage.sources.indices { lineage.sources[i].path = relative(lineage.sources[i].path) }
        try write(ContentHash.canonicalJSON(metrics), outputs, "metrics.json")
        try write(Data(node.config.serialized(pretty: true).utf8), outputs, "params.json")
        try write(
            ContentHash.canonicalJSON(FitLineage(data: lineage, training: node.id, key: node.fingerprint)),
            outputs, "lineage.json")

        var summary = "\(metrics.epochsRun) epochs"
        if result.stoppedEarly { summary += " (stopped early)" }
        if let resumed = result.resumedFromEpoch { summary += ", resumed at epoch \(resumed)" }
        let split = final["test"] != nil ? "test" : (final["validation"] != nil ? "validation" : "train")
        for metric in t.metrics.prefix(2) {
            if let v = final[split]?[metric] { summary += ", \(split) \(metric) \(String(format: "%.4f", v))" }
        }
        var flat: [String: Double] = [:]
        for (s, values) in final { for (m, v) in values { flat["\(s)_\(m)"] = v } }
        return NodeOutput(summary: summary, metrics: flat)
    }

    struct FitLineage: Codable {
        var data: Lineage
        var training: String
        var key: String
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

    private func fitMetrics(_ node: GraphNode) throws(NodeFailure) -> TrainingMetrics {
        let fitID = node.resource + ":fit"
        guard let key = graph.node(fitID)?.fingerprint else {
            throw NodeFailure("run.internal", "no fit node for \(node.id)")
        }
        do {
            return try JSONDecoder().decode(TrainingMetrics.self, from: try cache.read(key, "metrics.json"))
        } catch { throw NodeFailure("run.cache", "\(error)") }
    }

    // MARK: Gates, registration, release

    private func gate(_ node: GraphNode, _ outputs: String) throws(NodeFailure) -> NodeOutput {
        let t = try training(node)
        let metrics = try fitMetrics(node)
        var failures: [Diagnostic] = []
        var results: [[String: String]] = []
        for g in t.spec["gates"]?.list ?? [] {
            guard let metric = g["metric"]?.string else { continue }
            let split = g["split"]?.string ?? "test"
            guard let value = metrics.final[split]?[metric] else {
                failures.append(
                    Diagnostic(
                        "run.gate-no-value", .error, "the gate's metric \(metric) has no value on the \(split) split",
                        at: g.span, help: "the \(split) split may be empty: give it a fraction in the dataset's split"))
                continue
            }
            let shown = String(format: "%.4f", value)
            if let min = g["min"]?.double, value < min {
                failures.append(
                    Diagnostic(
                        "run.gate-failed", .error,
                        "gate failed: \(metric) on \(split) is \(shown), below the minimum \(min.formatted)",
                        at: g.span))
            }
            if let max = g["max"]?.double, value > max {
                failures.append(
                    Diagnostic(
                        "run.gate-failed", .error,
                        "gate failed: \(metric) on \(split) is \(shown), above the maximum \(max.formatted)",
                        at: g.span))
            }
            if let alias = g["compare_to"]?.string, let registered = t.registerName {
                let maxDrop = g["max_drop"]?.double ?? 0
                let reference = ModelReference("\(registered)@\(alias)")
                let baseline: RegisteredVersion?
                do { baseline = try reference.flatMap { r in try registry.resolve(r) } } catch {
                    throw NodeFailure("run.registry", "\(error)", at: g.span)
                }
                if let baseline, let old = baseline.metrics[split]?[metric] {
                    let higher = Metric(rawValue: metric)?.higherIsBetter ?? false
                    let drop = higher ? old - value : value - old
                    if drop > maxDrop {
                        failures.append(
                            Diagnostic(
                                "run.gate-failed", .error,
                                "gate failed: \(metric) on \(split) is \(shown), \(String(format: "%.4f", drop)) worse than \(baseline.reference) (\(alias)) at \(String(format: "%.4f", old)); the most allowed is \(maxDrop.formatted)",
                                at: g.span))
                    }
                    results.append(["metric": metric, "split": split, "value": shown, "compare_to": baseline.reference])
                    continue
                }
                results.append([
                    "metric": metric, "split": split, "value": shown, "note": "no \(registered)@\(alias) yet",
                ])
                continue
            }
            results.append(["metric": metric, "split": split, "value": shown])
        }
        guard failures.isEmpty else { throw NodeFailure(failures) }
        try write(ContentHash.canonicalJSON(results), outputs, "gates.json")
        let count = t.spec["gates"]?.list?.count ?? 0
        return NodeOutput(summary: count == 0 ? "no gates" : "\(count) gate\(count == 1 ? "" : "s") passed")
    }

    private func register(_ node: GraphNode, _ outputs: String) throws(NodeFailure) -> NodeOutput {
        let t = try training(node)
        guard let name = t.registerName, let fitKey = graph.node(node.resource + ":fit")?.fingerprint else {
            throw NodeFailure("run.internal", "nothing to register for \(node.id)")
        }
        do { try cache.verify(fitKey) } catch { throw NodeFailure("run.cache", "\(error)") }
        let fitOutputs = cache.outputs(fitKey)
        var records: [String: Data] = [:]
        for file in ["metrics.json", "params.json", "lineage.json"] {
            records[file] = FileManager.default.contents(atPath: fitOutputs + "/" + file)
        }
        // The registry's lineage also says which workspace commit made the version, and with which kiln
        // (not the cache's: its outputs must not change with every commit of the workspace).
        if let data = records["lineage.json"],
            var lineage = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        {
            lineage["kiln"] = KilnVersion.string
            if let head = WorkspaceGit.head(of: paths.root) {
                lineage["workspace_commit"] = head.commit
                lineage["workspace_dirty"] = head.dirty
            }
            records["lineage.json"] = try? JSONSerialization.data(
                withJSONObject: lineage, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        }
        // The spec files of the training, its model and its dataset, relative to the workspace.
        var specs: [String: Data] = [:]
        let files = [
            t.resource.file, compiled.checked.models[t.model]?.file,
            compiled.checked.datasets[t.dataset]?.resource.file,
        ]
        for file in Set(files.compactMap { $0 }) {
            guard let text = compiled.workspace.sources[file] else { continue }
            specs[relative(file)] = Data(text.utf8)
        }
        let r = t.spec["register"]
        let registration = Registration(
            model: name, artifact: fitOutputs + "/model", records: records, specs: specs,
            message: r?["message"]?.string ?? "trained by \(node.resource)", alias: r?["alias"]?.string,
            author: Identity.current, source: node.resource, key: node.fingerprint)
        let version: RegisteredVersion
        do { version = try registry.register(registration) } catch {
            throw NodeFailure("run.registry", "registering \(name) failed: \(error)", retriable: true)
        }
        // The model and the number only: the commit id holds the registration time, and outputs must not.
        try write(
            ContentHash.canonicalJSON(["model": version.model, "version": String(version.version)]), outputs,
            "registered.json")
        return NodeOutput(
            summary: "\(version.reference)" + (registration.alias.map { " (\($0))" } ?? "")
                + " at \(DatasetConfig.normalized(version.location))")
    }

    private func release(_ node: GraphNode, _ outputs: String) throws(NodeFailure) -> NodeOutput {
        let name = String(node.resource.dropFirst("deployment/".count))
        guard let d = compiled.checked.deployments.first(where: { $0.resource.name == name }),
            let reference = d.spec.model
        else { throw NodeFailure("run.internal", "no checked deployment '\(name)'") }
        let spans = (model: d.resource.spec["model"]?.span, canary: d.resource.spec[path: ["canary", "model"]]?.span)
        func resolve(_ ref: ModelReference, _ span: SourceSpan?) throws(NodeFailure) -> RegisteredVersion {
            let found: RegisteredVersion?
            do { found = try registry.resolve(ref) } catch { throw NodeFailure("run.registry", "\(error)", at: span) }
            guard let found else {
                throw NodeFailure(
                    "run.unresolved-model", "\(ref) names no registered version", at: span,
                    help: "register one first (a Training with 'register:'), or name an existing version")
            }
            return found
        }
        let primary = try resolve(reference, spans.model)
        var canary: RegisteredVersion?
        if let c = d.spec.canary { canary = try resolve(c, spans.canary) }
        if d.signingRequired {
            // The environment takes only versions signed by a trusted key, unchanged since signing.
            for version in [primary] + (canary.map { [$0] } ?? []) {
                do {
                    guard let reference = ModelReference(version.reference) else { continue }
                    let (number, files) = try registry.fileDigests(reference)
                    try ModelSigning.verifyAny(
                        try registry.signatures(model: version.model, version: number), model: version.model,
                        version: number, files: files, trustedKeyFiles: d.trustedKeyFiles)
                } catch {
                    throw NodeFailure(
                        "run.signature-required",
                        "environment '\(d.spec.environment)' requires a signed version: \(error)", at: spans.model,
                        help:
                            "sign it with `kiln sign \(version.reference) --key KEY` (a key whose .pub is in trusted_keys)"
                    )
                }
            }
        }
        do {
            try registry.setAlias(
                d.spec.environment, model: primary.model, version: primary.version, author: Identity.current,
                reason: "release \(node.resource)", action: "deploy")
        } catch { throw NodeFailure("run.registry", "\(error)") }
        var record = ["model": primary.reference, "environment": d.spec.environment]
        if let canary { record["canary"] = canary.reference }
        try write(ContentHash.canonicalJSON(record), outputs, "release.json")
        return NodeOutput(
            summary: "\(d.spec.environment) → \(primary.reference)" + (canary.map { ", canary \($0.reference)" } ?? ""))
    }

    // MARK: Helpers

    private func write(_ data: Data, _ directory: String, _ name: String) throws(NodeFailure) {
        do { try FileWriter.write(data, to: directory + "/" + name) } catch {
            throw NodeFailure("run.io", "cannot write \(name): \(error)")
        }
    }

    private func relative(_ path: String) -> String { paths.relative(path) }
    private func local(_ path: String) -> String { paths.local(path) }
}

/// A value computed at most once, from any thread.
final class Once<T: Sendable>: Sendable {
    private let stored = Mutex<T?>(nil)
    func value(_ make: () -> T) -> T {
        stored.withLock { v in
            if let v { return v }
            let made = make()
            v = made
            return made
        }
    }
}

/// Tables read in this run, by ingest key, so that check, split and fit decode a table once.
final class TableMemo: Sendable {
    private let tables = Mutex<[String: Table]>([:])
    func table(_ key: String) -> Table? { tables.withLock { $0[key] } }
    func store(_ key: String, _ table: Table) { tables.withLock { $0[key] = table } }
}

extension Double {
    fileprivate var formatted: String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}

/// A flag set from a training's progress callback.
final class Flag {
    private(set) var isSet = false
    func set() { isSet = true }
}

final class Box<T> {
    var value: T
    init(_ value: T) { self.value = value }
}
