public import KilnDiagnostics

/// Everything the data layer needs to know about one Dataset: the spec's content as plain values.
public struct DatasetConfig: Sendable, Codable, Hashable {
    public var name: String
    public var source: SourceConfig
    public var schema: DataSchema
    public var checks: [CheckSpec]
    public var transforms: [TransformSpec]
    public var split: SplitSpec
    public var encrypt: Bool
    /// Where each category column's `values:` is written in its spec (a cell outside them points there).
    public var valuesSpans: [String: SourceSpan]? = nil

    public init(
        name: String, source: SourceConfig, schema: DataSchema, checks: [CheckSpec] = [],
        transforms: [TransformSpec] = [], split: SplitSpec = SplitSpec(), encrypt: Bool = false
    ) {
        self.name = name
        self.source = source
        self.schema = schema
        self.checks = checks
        self.transforms = transforms
        self.split = split
        self.encrypt = encrypt
    }

    /// SHA-256 of the schema's canonical JSON: the columns, their types and constraints, label, features.
    public var schemaSHA256: String { ContentHash.canonical(schema) }
}

/// Where a model's data came from, and what was done to it: stored by the runner with every run and by
/// the registry with every model version (`lineage.json`).
public struct Lineage: Sendable, Codable, Equatable {
    public struct Source: Sendable, Codable, Equatable {
        public var path: String
        public var sha256: String
        public var bytes: Int
        public var rows: Int
    }

    public struct Split: Sendable, Codable, Equatable {
        public var spec: SplitSpec
        public var train: Int
        public var validation: Int
        public var test: Int
        public var indicesSHA256: String
    }

    public struct Check: Sendable, Codable, Equatable {
        public var check: String
        public var columns: [String]
        public var severity: String
        public var passed: Bool
        public var failedRows: Int
    }

    public var dataset: String
    public var sources: [Source]
    public var schemaSHA256: String
    public var rows: Int
    public var checks: [Check]
    public var split: Split?
    /// SHA-256 of the fitted preprocessing's canonical JSON, and the value itself.
    public var preprocessingSHA256: String?
    public var preprocessing: Preprocessor?
}

/// A dataset read, hashed and checked: the output of the ingest and check stages.
public struct IngestedDataset: Sendable {
    public var config: DatasetConfig
    public var table: Table
    public var sources: [Lineage.Source]
    public var report: ContractReport

    /// Reads the files, hashes them, and runs the contract. A failing error-severity check is not thrown
    /// here: `report.failed` says so, and the caller must not use the data.
    public static func load(_ config: DatasetConfig, masker: PIIMasker? = nil, keep: Set<String>? = nil)
        throws(DataError) -> IngestedDataset
    {
        var ingested = try read(config, keep: keep)
        try ingested.check(masker: masker)
        return ingested
    }

    /// Reads and hashes the files (the runner's ingest stage); the contract is not run yet.
    public static func read(_ config: DatasetConfig, keep: Set<String>? = nil) throws(DataError) -> IngestedDataset {
        if let tokens = config.schema.columns.first(where: { $0.type == .tokens }) {
            let table = try readTokens(config, tokens: tokens)
            return IngestedDataset(config: config, table: table, sources: try sources(of: table))
        }
        var reader = TableReader(source: config.source, schema: config.schema, keep: keep)
        reader.valuesSpans = config.valuesSpans ?? [:]
        reader.hashSources = true
        let table = try reader.read()
        return IngestedDataset(config: config, table: table, sources: try sources(of: table))
    }

    /// A token source (CoNLL, or jsonl with the tokens and tags columns' names as keys): a row per
    /// sentence, its tokens and tags as sequences; BIO consistency is the contract's `bio` check.
    static func readTokens(_ config: DatasetConfig, tokens: ColumnSchema) throws(DataError) -> Table {
        guard let tags = config.schema.columns.first(where: { $0.type == .tags }) else {
            throw DataError(.data(.header), "a tokens column needs a tags column beside it", at: nil)
        }
        var out: Table?
        for file in try TableReader.files(config.source) {
            let format = config.source.format ?? SourceFormat(extensionOf: file) ?? .conll
            let sentences: TokenSentences
            switch format {
            case .jsonl:
                sentences = try TokenLabelReader.readJSONLines(
                    path: file, tags: tags.values, bio: nil, keys: (tokens.name, tags.name)).sentences
            case .conll, .csv, .tsv:
                sentences = try TokenLabelReader.readCoNLL(path: file, tags: tags.values, bio: nil).sentences
            }
            let table = try sentences.table(tokens: tokens, tags: tags, file: file, digest: try ContentHash.file(file))
            if out == nil { out = table } else { out?.append(table) }
        }
        guard let out else { throw DataError(.data(.globEmpty), "no files match '\(config.source.path)'", at: nil) }
        return out
    }

    /// A table read before (the runner's cache), with its sources as recorded then.
    public init(config: DatasetConfig, table: Table, sources: [Lineage.Source], report: ContractReport? = nil) {
        self.config = config
        self.table = table
        self.sources = sources
        self.report = report ?? ContractReport(results: [])
    }

    /// Runs the contract (the runner's check stage), replacing `report`.
    public mutating func check(masker: PIIMasker? = nil) throws(DataError) {
        report = try ContractChecker(schema: config.schema, masker: masker).run(config.checks, on: table)
    }

    static func sources(of table: Table) throws(DataError) -> [Lineage.Source] {
        var sources: [Lineage.Source] = []
        for (i, file) in table.origins.files.enumerated() {
            // Hashed while read: the hash covers exactly the bytes parsed, in one pass over the file.
            let digest: ContentHash.FileDigest
            if let hashed = file.digest { digest = hashed } else { digest = try ContentHash.file(file.path) }
            let next = i + 1 < table.origins.files.count ? table.origins.files[i + 1].firstRow : table.rowCount
            sources.append(
                .init(path: file.path, sha256: digest.sha256, bytes: digest.bytes, rows: next - file.firstRow))
        }
        return sources
    }

    /// The split, and the preprocessing fitted on its train rows.
    public func prepare() throws(DataError) -> PreparedDataset {
        try prepare(split: try Splitter.split(table, config.split, label: config.schema.label))
    }

    /// The preprocessing fitted on the train rows of a split made before (the runner's split stage).
    /// What a model trained on `split` of this data records of it (no preprocessing: a caller that fits
    /// one adds it).
    public func lineage(split: SplitIndices) -> Lineage {
        Lineage(
            dataset: config.name, sources: sources, schemaSHA256: config.schemaSHA256, rows: table.rowCount,
            checks: report.results.map {
                .init(
                    check: $0.check.kind.rawValue, columns: $0.check.columns, severity: $0.check.severity.rawValue,
                    passed: $0.passed, failedRows: $0.failedRows)
            },
            split: .init(
                spec: config.split, train: split.train.count, validation: split.validation.count,
                test: split.test.count, indicesSHA256: split.sha256),
            preprocessingSHA256: nil, preprocessing: nil)
    }

    public func prepare(split: SplitIndices) throws(DataError) -> PreparedDataset {
        guard !split.train.isEmpty else {
            throw DataError(.data(.emptySplit), "the train split of '\(config.name)' has no rows", at: nil)
        }
        let preprocessor = try Preprocessor.fit(
            schema: config.schema, transforms: config.transforms, table: table, rows: split.train)
        return PreparedDataset(ingested: self, split: split, preprocessor: preprocessor)
    }
}

/// A dataset split, with its fitted preprocessing: ready to give examples to training.
public struct PreparedDataset: Sendable {
    public var ingested: IngestedDataset
    public var split: SplitIndices
    public var preprocessor: Preprocessor

    public var lineage: Lineage {
        var lineage = ingested.lineage(split: split)
        lineage.preprocessingSHA256 = ContentHash.canonical(preprocessor)
        lineage.preprocessing = preprocessor
        return lineage
    }
}
