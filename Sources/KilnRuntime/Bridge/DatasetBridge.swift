import Foundation
public import KilnCompiler
public import KilnData
import KilnSpec

/// The data layer's plain view of a checked Dataset spec. The compiler has checked names, types and
/// fractions; what could still be wrong here (a multi-byte delimiter) is reported, not guessed.
extension DatasetConfig {
    public init(_ checked: CheckedDataset) throws(DataError) {
        let spec = checked.spec
        let v = spec.raw
        var delimiter: UInt8?
        if let d = spec.delimiter {
            guard d.utf8.count == 1, let byte = d.utf8.first else {
                throw DataError(
                    "data.delimiter", "the delimiter '\(d)' is not one byte",
                    at: v[path: ["source", "delimiter"]]?.span, help: "use one ASCII character, such as ';' or '|'")
            }
            delimiter = byte
        }
        let path =
            spec.path.hasPrefix("/") || checked.resource.directory.isEmpty
            ? spec.path
            : Self.normalized((checked.resource.directory as NSString).appendingPathComponent(spec.path))
        let columns = spec.columns.map { c in
            ColumnSchema(
                c.name, ColumnType(rawValue: c.type.rawValue) ?? .string, nullable: c.nullable, min: c.min, max: c.max,
                values: c.values, pattern: c.pattern, pii: c.pii, ignore: c.ignore)
        }
        let checks: [CheckSpec] = spec.checks.compactMap { c in
            guard let kind = c["check"]?.string.flatMap(CheckSpec.Kind.init) else { return nil }
            let columns = c["columns"]?.strings ?? (c["column"]?.string.map { [$0] } ?? [])
            return CheckSpec(
                kind, columns: columns, min: c["min"]?.double, max: c["max"]?.double, maxRatio: c["max_ratio"]?.double,
                values: c["values"]?.list?.compactMap { $0.string ?? $0.text }, pattern: c["pattern"]?.string,
                severity: c["severity"]?.string == "warn" ? .warn : .error, span: c.span)
        }
        let transforms: [TransformSpec] = spec.transforms.compactMap { t in
            guard let op = t["op"]?.string.flatMap(TransformSpec.Op.init) else { return nil }
            return TransformSpec(
                op, columns: t["columns"]?.list != nil ? t["columns"]?.strings : nil,
                strategy: t["strategy"]?.string.flatMap(TransformSpec.ImputeStrategy.init) ?? .mean,
                value: t["value"].flatMap { $0.string ?? $0.text }, span: t.span)
        }
        let split = spec.split
        self.init(
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
    }

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
}
