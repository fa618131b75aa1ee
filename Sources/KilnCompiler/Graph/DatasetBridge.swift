import Foundation
public import KilnData
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

    /// The transforms as the data layer sees them, each with its index in the spec's list.
    var dataTransforms: [(index: Int, transform: TransformSpec)] {
        transforms.enumerated().compactMap { i, t in
            guard let op = t["op"]?.string.flatMap(TransformSpec.Op.init) else { return nil }
            return (
                i,
                TransformSpec(
                    op, columns: t["columns"]?.list != nil ? t["columns"]?.strings : nil,
                    strategy: t["strategy"]?.string.flatMap(TransformSpec.ImputeStrategy.init) ?? .mean,
                    value: t["value"].flatMap { $0.string ?? $0.text }, span: t.span)
            )
        }
    }
}

extension DatasetPayload {
    /// The node payload of a checked dataset (a delimiter that is not one byte is kept, to be reported
    /// when a node reads the data).
    init(_ checked: CheckedDataset, sealing: SealingKey?) {
        let spec = checked.spec
        let v = spec.raw
        var delimiter: UInt8?
        var bad: BadDelimiter?
        if let d = spec.delimiter {
            if d.utf8.count == 1, let byte = d.utf8.first {
                delimiter = byte
            } else {
                bad = BadDelimiter(text: d, span: v[path: ["source", "delimiter"]]?.span)
            }
        }
        let path =
            spec.path.hasPrefix("/") || checked.resource.directory.isEmpty
            ? spec.path
            : DatasetConfig.normalized((checked.resource.directory as NSString).appendingPathComponent(spec.path))
        let columns = spec.dataColumns
        let checks: [CheckSpec] = spec.checks.compactMap { c in
            guard let kind = c["check"]?.string.flatMap(CheckSpec.Kind.init) else { return nil }
            let columns = c["columns"]?.strings ?? (c["column"]?.string.map { [$0] } ?? [])
            return CheckSpec(
                kind, columns: columns, min: c["min"]?.double, max: c["max"]?.double, maxRatio: c["max_ratio"]?.double,
                values: c["values"]?.list?.compactMap { $0.string ?? $0.text }, pattern: c["pattern"]?.string,
                severity: c["severity"]?.string == "warn" ? .warn : .error, span: c.span)
        }
        let transforms = spec.dataTransforms.map(\.transform)
        let split = spec.split
        let dataset = DatasetConfig(
            name: spec.name,
            source: SourceConfig(
                path: path, format: spec.format.flatMap { SourceFormat(rawValue: $0) }, header: spec.header,
                delimiter: delimiter),
            schema: DataSchema(columns: columns, label: spec.label, features: spec.features),
            checks: checks, transforms: transforms,
            split: SplitSpec(
                split["strategy"]?.string.flatMap(SplitSpec.Strategy.init) ?? .random, by: split["by"]?.string,
                train: spec.fraction("train"), validation: spec.fraction("validation"), test: spec.fraction("test"),
                seed: UInt64(max(0, split["seed"]?.int ?? 0))),
            encrypt: spec.encrypt)
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
