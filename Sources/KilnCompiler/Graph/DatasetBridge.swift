import Foundation
public import KilnData
import KilnDiagnostics
import KilnSpec

/// The data layer's plain view of a checked Dataset spec. The compiler has checked names, types and
/// fractions; what could still be wrong here (a multi-byte delimiter) is reported, not guessed.
extension DatasetConfig {
    /// The dataset; a delimiter that is not one byte is reported here.
    public init(_ checked: CheckedDataset) throws(DataError) {
        let payload = DatasetPayload(checked, sealing: nil)
        try payload.checkDelimiter()
        self = payload.dataset
    }
}

extension DatasetSpec {
    /// The columns as the data layer sees them.
    var dataColumns: [ColumnSchema] {
        columns.map { c in
            ColumnSchema(
                c.name, ColumnType(rawValue: c.type.rawValue) ?? .string, nullable: c.nullable, min: c.min, max: c.max,
                values: c.values, pattern: c.pattern, pii: c.pii, ignore: c.ignore)
        }
    }

    /// The transforms as the data layer sees them, in the spec's order.
    var dataTransforms: [TransformSpec] { transforms.map(\.data) }
}

extension DatasetSpec.Transform {
    /// The transform as the data layer sees it.
    var data: TransformSpec {
        let op: TransformSpec.Op
        var strategy = TransformSpec.ImputeStrategy.mean
        var value: String?
        switch operation {
        case .impute(let s, let v):
            op = .impute
            value = v
            switch s {
            case .mean: strategy = .mean
            case .median: strategy = .median
            case .mostFrequent: strategy = .mostFrequent
            case .constant: strategy = .constant
            }
        case .standardize: op = .standardize
        case .minMax: op = .minMax
        case .log: op = .log
        case .oneHot: op = .oneHot
        case .ordinal: op = .ordinal
        case .drop: op = .drop
        }
        return TransformSpec(op, columns: columns, strategy: strategy, value: value, span: span)
    }
}

extension DatasetSpec.Check {
    /// The check as the data layer sees it.
    var data: CheckSpec {
        let columns = columnItems.map(\.name)
        let severity: CheckSpec.Level = self.severity == .warn ? .warn : .error
        switch rule {
        case .notNull: return CheckSpec(.notNull, columns: columns, severity: severity, span: span)
        case .range(_, let min, let max):
            return CheckSpec(.range, columns: columns, min: min, max: max, severity: severity, span: span)
        case .unique: return CheckSpec(.unique, columns: columns, severity: severity, span: span)
        case .rowCount(let min, let max):
            return CheckSpec(
                .rowCount, columns: [], min: min.map(Double.init), max: max.map(Double.init), severity: severity,
                span: span)
        case .classBalance(_, let ratio):
            return CheckSpec(.classBalance, columns: columns, maxRatio: ratio, severity: severity, span: span)
        case .allowedValues(_, let values):
            return CheckSpec(.allowedValues, columns: columns, values: values, severity: severity, span: span)
        case .pattern(_, let pattern):
            return CheckSpec(.pattern, columns: columns, pattern: pattern, severity: severity, span: span)
        case .bio:
            return CheckSpec(.bio, columns: columns, severity: severity, span: span)
        }
    }
}

extension DatasetPayload {
    /// The node payload of a checked dataset (a delimiter that is not one byte is kept, to be reported
    /// when a node reads the data).
    init(_ checked: CheckedDataset, sealing: SealingKey?) {
        let spec = checked.spec
        var delimiter: UInt8?
        var bad: BadDelimiter?
        if let d = spec.delimiter {
            if d.utf8.count == 1, let byte = d.utf8.first {
                delimiter = byte
            } else {
                bad = BadDelimiter(text: d, span: spec.span(.delimiter))
            }
        }
        let path =
            spec.path.hasPrefix("/") || checked.resource.directory.isEmpty
            ? spec.path
            : DatasetConfig.normalized((checked.resource.directory as NSString).appendingPathComponent(spec.path))
        let columns = spec.dataColumns
        let split = spec.split
        let strategy: SplitSpec.Strategy =
            switch split.strategy {
            case .random: .random
            case .stratified: .stratified
            case .group: .group
            case .ordered: .ordered
            }
        var dataset = DatasetConfig(
            name: spec.name,
            source: SourceConfig(
                path: path, format: spec.format.map(SourceFormat.init), header: spec.header,
                delimiter: delimiter, nullValues: spec.nullValues),
            schema: DataSchema(columns: columns, label: spec.label, features: spec.features),
            checks: spec.checks.map(\.data), transforms: spec.dataTransforms,
            split: SplitSpec(
                strategy, by: split.by, train: split.train, validation: split.validation, test: split.test,
                seed: UInt64(max(0, split.seed))),
            encrypt: spec.encrypt)
        var spans: [String: SourceSpan] = [:]
        for c in spec.columns where c.type == .category || c.type == .tags {
            if let span = c.span(.values) { spans[c.name] = span }
        }
        dataset.valuesSpans = spans.isEmpty ? nil : spans
        self.init(dataset: dataset, sealing: spec.encrypt ? sealing : nil, badDelimiter: bad)
    }

    /// A delimiter that is not one byte, as the data layer reports it.
    public func checkDelimiter() throws(DataError) {
        guard let bad = badDelimiter else { return }
        throw DataError(
            .data(.delimiter), "the delimiter '\(bad.text)' is not one byte", at: bad.span,
            help: "use one ASCII character, such as ';' or '|'")
    }
}

extension SourceFormat {
    init(_ format: DatasetSpec.Format) {
        switch format {
        case .csv: self = .csv
        case .tsv: self = .tsv
        case .jsonl: self = .jsonl
        case .conll: self = .conll
        }
    }
}

extension DatasetConfig {

    /// `a/specs/../data/x.csv` → `a/data/x.csv` (lexically: what users wrote, shorter).
    public static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." {
                parts.removeLast()
            } else {
                parts.append(part)
            }
        }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : (joined.isEmpty ? "." : joined)
    }

    /// `path` relative to `root`, both normalized lexically; unchanged when it is not below `root`.
    public static func relative(_ path: String, to root: String) -> String {
        let path = normalized(path), root = normalized(root)
        guard root != "." else { return path }
        let base = root.hasSuffix("/") ? root : root + "/"
        return path.hasPrefix(base) ? String(path.dropFirst(base.count)) : path
    }
}
