import Foundation
import KilnCompiler
import KilnData
import KilnDiagnostics
import KilnSecurity
import KilnSpec

extension ExecutorEnvironment {
    /// The sealer when the dataset is encrypted (nil otherwise); a missing or bad key fails the node.
    func sealer(_ data: DatasetPayload) throws(NodeFailure) -> (any DerivedDataSealer)? {
        guard data.dataset.encrypt else { return nil }
        return try sealing.value { PolicySealer.resolve(data.sealing) }.get()
    }

    /// The dataset as its ingest node left it (from this run's memory, or the cache, verified).
    func ingested(_ data: DatasetPayload, key: String) throws(NodeFailure) -> IngestedDataset {
        let config = data.dataset
        let store = DerivedDataStore(directory: cache.outputs(key), encrypt: config.encrypt, sealer: try sealer(data))
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
            tables.store(key, table, read: true)
            return IngestedDataset(config: config, table: table, sources: sources)
        } catch let e as DataError {
            throw NodeFailure(e.diagnostics)
        } catch {
            throw .infrastructure(.run(.cache), "the ingested data of dataset '\(config.name)' cannot be read", error)
        }
    }

    /// The ingested dataset of a job whose upstream holds the dataset's ingest node.
    func ingested(_ data: DatasetPayload, for job: NodeJob) throws(NodeFailure) -> IngestedDataset {
        try ingested(data, key: job.key(of: .dataset(data.dataset.name, .ingest)))
    }

    /// The ingested dataset with its contract's report, as its check node left it (the report verified by
    /// its hash, then opened: sealed when the dataset is encrypted).
    func checked(_ data: DatasetPayload, for job: NodeJob) throws(NodeFailure) -> IngestedDataset {
        var ingested = try ingested(data, for: job)
        let dataset = data.dataset
        let key = try job.key(of: .dataset(dataset.name, .check))
        let store = DerivedDataStore(directory: cache.outputs(key), encrypt: dataset.encrypt, sealer: try sealer(data))
        do {
            _ = try cache.read(key, "report.json")
            ingested.report = try JSONDecoder().decode(ContractReport.self, from: store.read(name: "report.json"))
        } catch {
            throw .infrastructure(.run(.cache), "the contract report of dataset '\(dataset.name)' cannot be read", error)
        }
        return ingested
    }

    /// The row indices the dataset's split node wrote.
    func split(_ data: DatasetPayload, for job: NodeJob) throws(NodeFailure) -> SplitIndices {
        let key = try job.key(of: .dataset(data.dataset.name, .split))
        do {
            return try JSONDecoder().decode(SplitRecord.self, from: try cache.read(key, "split.json")).indices
        } catch { throw .infrastructure(.run(.cache), "the split of dataset '\(data.dataset.name)' cannot be read", error) }
    }
}

/// ingest: the files read by the schema → `table.bin` (TableCodec), `sources.json` (hashes, rows).
struct IngestExecutor: KindExecutor {
    let environment: ExecutorEnvironment

    func run(_ data: DatasetPayload, _ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput {
        let e = environment
        do { try data.checkDelimiter() } catch { throw NodeFailure(error.diagnostics) }
        var ingested: IngestedDataset
        do { ingested = try IngestedDataset.read(data.dataset) } catch { throw NodeFailure(error.diagnostics) }
        e.tables.store(job.key, ingested.table)
        // On disk, file paths are relative to the workspace, so that outputs (and their hashes in kiln.lock)
        // do not depend on the directory kiln was started from.
        for i in ingested.table.origins.files.indices {
            ingested.table.origins.files[i].path = e.relative(ingested.table.origins.files[i].path)
        }
        for i in ingested.sources.indices { ingested.sources[i].path = e.relative(ingested.sources[i].path) }
        // Derived copies of an encrypted dataset go through the security layer's sealer; without one,
        // the store refuses before writing anything.
        let store = DerivedDataStore(
            directory: context.outputs, encrypt: data.dataset.encrypt, sealer: try e.sealer(data), atomic: false)
        do {
            try store.write(TableCodec.encode(ingested.table), name: "table.bin")
            try store.write(ContentHash.canonicalJSON(ingested.sources), name: "sources.json")
        } catch { throw NodeFailure(error.diagnostics, cause: .infrastructure) }
        let files = ingested.sources.count
        return NodeOutput(
            summary: "\(ingested.table.rowCount) rows from \(files) file\(files == 1 ? "" : "s")",
            metrics: ["rows": Double(ingested.table.rowCount)])
    }
}

/// check: the contract → `report.json`; an error-severity failure fails the node.
struct CheckExecutor: KindExecutor {
    let environment: ExecutorEnvironment

    func run(_ payload: DatasetPayload, _ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput
    {
        let e = environment
        var data = try e.ingested(payload, for: job)
        do { try data.check(masker: PIIMasker(key: e.maskKey.value { e.paths.piiMaskKey() })) } catch {
            throw NodeFailure(error.diagnostics)
        }
        let report = data.report
        var portable = report
        for r in portable.results.indices {
            if let file = portable.results[r].check.span?.file {
                portable.results[r].check.span?.file = e.relative(file)
            }
            for x in portable.results[r].examples.indices {
                portable.results[r].examples[x].file = e.relative(portable.results[r].examples[x].file)
            }
        }
        // The report quotes cells (a failed check's examples): of an encrypted dataset, it is sealed too.
        let store = DerivedDataStore(
            directory: context.outputs, encrypt: payload.dataset.encrypt, sealer: try e.sealer(payload), atomic: false)
        do { try store.write(ContentHash.canonicalJSON(portable), name: "report.json") } catch {
            throw NodeFailure(error.diagnostics, cause: .infrastructure)
        }
        let failedErrors = report.results.filter { !$0.passed && $0.check.severity == .error }
        let warnings = report.results.filter { !$0.passed && $0.check.severity == .warn }
        if !failedErrors.isEmpty {
            var diagnostics = report.diagnostics
            diagnostics.append(
                Diagnostic(
                    .run(.contractFailed), .error,
                    "the data contract of dataset '\(payload.dataset.name)' failed (\(failedErrors.count) of \(report.results.count) checks); nothing trains on it",
                    at: nil))
            throw NodeFailure(diagnostics)
        }
        let passed = report.results.count { $0.passed }
        return NodeOutput(
            summary: "\(passed) of \(report.results.count) checks passed"
                + (warnings.isEmpty ? "" : ", \(warnings.count) warning\(warnings.count == 1 ? "" : "s")"),
            warnings: report.diagnostics.filter { $0.severity != .error })
    }
}

/// The row indices of each part of a split (`split.json` of a split node).
struct SplitRecord: Codable {
    var indices: SplitIndices
    var sha256: String
}

/// split: the split → `split.json` (row indices and their hash).
struct SplitExecutor: KindExecutor {
    let environment: ExecutorEnvironment

    func run(_ payload: DatasetPayload, _ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput
    {
        let data = try environment.ingested(payload, for: job)
        let indices: SplitIndices
        do {
            indices = try Splitter.split(data.table, payload.dataset.split, label: payload.dataset.schema.label)
        } catch { throw NodeFailure(error.diagnostics) }
        try write(
            ContentHash.canonicalJSON(SplitRecord(indices: indices, sha256: indices.sha256)), context.outputs,
            "split.json")
        return NodeOutput(
            summary:
                "train \(indices.train.count) · validation \(indices.validation.count) · test \(indices.test.count)")
    }
}
