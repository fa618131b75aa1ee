import Foundation
import KilnCompiler
import KilnCompute
import KilnData
import KilnDiagnostics
import KilnRegistry
import KilnSecurity
import KilnSpec

/// gate: the Training's gates against the fit's metrics → `gates.json`; a failed gate fails the node.
struct GateExecutor: KindExecutor {
    let environment: ExecutorEnvironment

    func run(_ payload: GatePayload, _ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput {
        let fitKey = try job.key(of: job.id.sibling(.fit))
        let metrics: TrainingMetrics
        do {
            metrics = try JSONDecoder().decode(
                TrainingMetrics.self, from: try environment.cache.read(fitKey, "metrics.json"))
        } catch { throw .infrastructure(.run(.cache), "the training's metrics cannot be read", error) }
        var failures: [Diagnostic] = []
        var results: [[String: String]] = []
        for g in payload.gates {
            let (metric, split) = (g.metric, g.split)
            guard let value = metrics.final[split]?[metric] else {
                failures.append(
                    Diagnostic(
                        .run(.gateNoValue), .error, "the gate's metric \(metric) has no value on the \(split) split",
                        at: g.span, help: "the \(split) split may be empty: give it a fraction in the dataset's split"))
                continue
            }
            let shown = String(format: "%.4f", value)
            if let min = g.min, value < min {
                failures.append(
                    Diagnostic(
                        .run(.gateFailed), .error,
                        "gate failed: \(metric) on \(split) is \(shown), below the minimum \(min.formatted)",
                        at: g.span))
            }
            if let max = g.max, value > max {
                failures.append(
                    Diagnostic(
                        .run(.gateFailed), .error,
                        "gate failed: \(metric) on \(split) is \(shown), above the maximum \(max.formatted)",
                        at: g.span))
            }
            if let alias = g.compareTo, let registered = payload.registers {
                let reference = ModelReference("\(registered)@\(alias)")
                let baseline: RegisteredVersion?
                do { baseline = try reference.flatMap { r in try environment.registry.resolve(r) } } catch {
                    throw NodeFailure(
                        .run(.registry), "\(registered)@\(alias) cannot be read: \(error)", at: g.span,
                        cause: .infrastructure)
                }
                if let baseline, let old = baseline.metrics[split]?[metric] {
                    let higher = Metric(rawValue: metric)?.higherIsBetter ?? (metric != "loss")
                    let drop = higher ? old - value : value - old
                    if drop > g.maxDrop {
                        failures.append(
                            Diagnostic(
                                .run(.gateFailed), .error,
                                "gate failed: \(metric) on \(split) is \(shown), \(String(format: "%.4f", drop)) worse than \(baseline.reference) (\(alias)) at \(String(format: "%.4f", old)); the most allowed is \(g.maxDrop.formatted)",
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
        try write(ContentHash.canonicalJSON(results), context.outputs, "gates.json")
        let count = payload.gates.count
        return NodeOutput(summary: count == 0 ? "no gates" : "\(count) gate\(count == 1 ? "" : "s") passed")
    }
}

/// register: a new version in the registry → `registered.json`.
struct RegisterExecutor: KindExecutor {
    let environment: ExecutorEnvironment

    func run(_ payload: RegisterPayload, _ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure)
        -> NodeOutput
    {
        let e = environment
        let fitKey = try job.key(of: job.id.sibling(.fit))
        do { try e.cache.verify(fitKey) } catch {
            throw .infrastructure(.run(.cache), "the trained model in the cache is damaged", error)
        }
        let fitOutputs = e.cache.outputs(fitKey)
        var records: [String: Data] = [:]
        for file in ["metrics.json", "params.json", "lineage.json"] {
            records[file] = FileManager.default.contents(atPath: fitOutputs + "/" + file)
        }
        // The registry's lineage also says which workspace commit made the version, and with which kiln
        // (not the cache's: its outputs must not change with every commit of the workspace).
        // Through kiln's JSON, which keeps every number as written (the fitted means and scales).
        if let data = records["lineage.json"],
            case .object(var lineage)? = try? JSON.parse(String(decoding: data, as: UTF8.self))
        {
            var extra: [(String, JSON)] = [("kiln", .string(KilnVersion.string))]
            if let head = WorkspaceGit.head(of: e.paths.root) {
                extra += [("workspace_commit", .string(head.commit)), ("workspace_dirty", .bool(head.dirty))]
            }
            lineage.removeAll { field in extra.contains { $0.0 == field.0 } }
            lineage = (lineage + extra).sorted { $0.0 < $1.0 }
            records["lineage.json"] = Data(JSON.object(lineage).serialized(pretty: true).utf8)
        }
        var alias = payload.alias
        var passedOver: String?
        if let selection = payload.selection, alias != nil {
            let (best, own) = try self.best(selection, job)
            if best.cell != job.id.sibling(.fit) {
                alias = nil
                passedOver =
                    "not \(payload.alias ?? ""): the sweep's best by \(selection.split) \(selection.metric) is \(best.cell.resource) (\(String(format: "%.4f", best.value)); this cell \(String(format: "%.4f", own)))"
            }
        }
        let registration = Registration(
            model: payload.model, artifact: fitOutputs + "/model", records: records,
            specs: payload.specs.mapValues { Data($0.utf8) }, message: payload.message, alias: alias,
            author: Identity.current, source: job.id.resource.description, key: job.key)
        let version: RegisteredVersion
        do { version = try e.registry.register(registration) } catch {
            throw .infrastructure(.run(.registry), "registering \(payload.model) failed", error, retriable: true)
        }
        // The model and the number only: the commit id holds the registration time, and outputs must not.
        try write(
            ContentHash.canonicalJSON(["model": version.model, "version": String(version.version)]), context.outputs,
            "registered.json")
        let location = DatasetConfig.normalized(version.location)
        let reference = ModelReference(version.reference) ?? ModelReference("\(payload.model)@v\(version.version)")
        return NodeOutput(
            summary: "\(version.reference)" + (registration.alias.map { " (\($0))" } ?? "") + " at \(location)"
                + (passedOver.map { "; \($0)" } ?? ""),
            registered: reference.map { .init(version: $0, alias: registration.alias, location: location) })
    }

    /// The sweep's best cell by the selection's metric (the first written among equals), read from each
    /// cell's metrics.json in the cache.
    private func best(_ selection: RegisterPayload.Selection, _ job: NodeJob) throws(NodeFailure)
        -> (best: (cell: NodeID, value: Double), own: Double)
    {
        var best: (cell: NodeID, value: Double)?, own = Double.nan
        for (index, cell) in selection.cells.enumerated() {
            let key = try job.key(of: cell)
            let metrics: TrainingMetrics
            do {
                metrics = try JSONDecoder().decode(TrainingMetrics.self, from: try environment.cache.read(key, "metrics.json"))
            } catch {
                throw .infrastructure(.run(.cache), "the metrics of \(cell) cannot be read from the cache", error)
            }
            guard let value = metrics.final[selection.split]?[selection.metric], value.isFinite else {
                throw NodeFailure(
                    .run(.selection), "\(cell.resource) has no \(selection.split) \(selection.metric) to choose by",
                    help: "give the dataset a validation split, and the Training the metric")
            }
            if cell == job.id.sibling(.fit) { own = value }
            // A cell that fails a min/max gate is never registered: it cannot hold the alias.
            let gates = index < selection.gates.count ? selection.gates[index] : []
            let fails = gates.contains { g in
                guard let v = metrics.final[g.split]?[g.metric] else { return true }
                return (g.min.map { v < $0 } ?? false) || (g.max.map { v > $0 } ?? false)
            }
            if fails { continue }
            if let b = best, selection.higherIsBetter ? value <= b.value : value >= b.value { continue }
            best = (cell, value)
        }
        guard let best else { throw NodeFailure(.run(.selection), "the sweep has no cells to choose from") }
        return (best, own)
    }
}

/// release: the Deployment's version resolved, the environment's alias moved → `release.json`.
struct ReleaseExecutor: KindExecutor {
    let environment: ExecutorEnvironment

    func run(_ d: ReleasePayload, _ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput {
        let registry = environment.registry
        func resolve(_ ref: ModelReference, _ span: SourceSpan?) throws(NodeFailure) -> RegisteredVersion {
            let found: RegisteredVersion?
            do { found = try registry.resolve(ref) } catch {
                throw NodeFailure(.run(.registry), "\(ref) cannot be read: \(error)", at: span, cause: .infrastructure)
            }
            guard let found else {
                throw NodeFailure(
                    .run(.unresolvedModel), "\(ref) names no registered version", at: span,
                    help: "register one first (a Training with 'register:'), or name an existing version")
            }
            return found
        }
        let primary = try resolve(d.model, d.modelSpan)
        var canary: RegisteredVersion?
        if let c = d.canary { canary = try resolve(c, d.canarySpan) }
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
                        .run(.signatureRequired),
                        "environment '\(d.environment)' requires a signed version: \(error)", at: d.modelSpan,
                        help:
                            "sign it with `kiln sign \(version.reference) --key KEY` (a key whose .pub is in trusted_keys)"
                    )
                }
            }
        }
        do {
            try registry.setAlias(
                d.environment, model: primary.model, version: primary.version, author: Identity.current,
                reason: "release \(job.id.resource)", action: "deploy")
        } catch {
            throw NodeFailure(
                .run(.registry), "\(d.environment) cannot be moved to \(primary.reference): \(error)",
                cause: .infrastructure)
        }
        var record = ["model": primary.reference, "environment": d.environment]
        if let canary { record["canary"] = canary.reference }
        try write(ContentHash.canonicalJSON(record), context.outputs, "release.json")
        let released = ModelReference(primary.reference).map {
            NodeOutput.Released(
                environment: d.environment, model: $0, canary: canary.flatMap { ModelReference($0.reference) })
        }
        return NodeOutput(
            summary: "\(d.environment) → \(primary.reference)" + (canary.map { ", canary \($0.reference)" } ?? ""),
            released: released)
    }
}

extension Double {
    fileprivate var formatted: String { self == rounded() && abs(self) < 1e15 ? String(Int(self)) : String(self) }
}
