public import KilnDiagnostics

/// A column of a Dataset's schema.
public struct ColumnSpec: SpecView {
    public enum ColumnType: String, Sendable { case float, int, bool, category, string, text, tokens, tags }
    public enum Part: String, SpecPart { case type, min, max, values, pattern, pii }

    public var name: String
    public var type: ColumnType
    public var nullable: Bool
    public var min: Double?
    public var max: Double?
    public var values: [String]
    public var pattern: String?
    public var pii: Bool
    public var ignore: Bool
    public var raw: SpecValue

    public var isNumeric: Bool { type == .float || type == .int }
    /// Where the column's name is written.
    public var span: SourceSpan { raw.keySpan ?? raw.span }

    init(name: String, _ v: SpecValue) {
        let f = FieldReader(v, SpecSchema.column)
        self.name = name
        type = f.choice("type")
        nullable = f.flag("nullable")
        min = f.optionalNumber("min")
        max = f.optionalNumber("max")
        values = f.strings("values") ?? []
        pattern = f.optionalText("pattern")
        pii = f.flag("pii")
        ignore = f.flag("ignore")
        raw = v
    }
}

public struct DatasetSpec: SpecView {
    public enum Part: String, SpecPart {
        case source, path = "source.path", delimiter = "source.delimiter", format = "source.format"
        case nullValues = "source.null_values"
        case schema, columns = "schema.columns", label = "schema.label", features = "schema.features"
        case checks, transforms, split, governance, encrypt = "governance.encrypt"
    }

    public enum Format: String, Sendable { case csv, tsv, jsonl, conll }
    public enum Classification: String, Sendable { case `public`, `internal`, confidential, restricted }

    public var name: String
    public var path: String
    /// nil: from the file's extension.
    public var format: Format?
    public var header: Bool
    public var delimiter: String?
    /// Cells read as missing besides the empty one.
    public var nullValues: [String]
    public var columns: [ColumnSpec]
    public var label: String?
    /// nil means `auto`.
    public var features: [String]?
    /// The features as listed, each where it is written (nil for `auto`).
    public var featureItems: [(name: String, span: SourceSpan)]?
    public var checks: [Check]
    public var transforms: [Transform]
    public var split: Split
    public var encrypt: Bool
    public var classification: Classification
    public var raw: SpecValue

    public init(_ resource: Resource) {
        let v = resource.spec
        let source = FieldReader(v["source"], SpecSchema.source)
        let schema = FieldReader(v["schema"], SpecSchema.datasetSchema)
        let governance = FieldReader(v["governance"], SpecSchema.governance)
        name = resource.name
        path = source.optionalText("path") ?? ""
        format = source.optionalText("format").flatMap(Format.init)
        header = source.flag("header")
        delimiter = source.optionalText("delimiter")
        nullValues = v["source"]?["null_values"]?.strings ?? []
        columns = (schema["columns"]?.fields ?? []).map { ColumnSpec(name: $0.name, $0.value) }
        label = schema.optionalText("label")
        let listed = schema["features"]?.list
        featureItems = listed.map { $0.compactMap { item in item.string.map { ($0, item.span) } } }
        features = featureItems?.map(\.name)
        checks = (v["checks"]?.list ?? []).compactMap(Check.init)
        transforms = (v["transforms"]?.list ?? []).compactMap(Transform.init)
        split = Split(v["split"] ?? SpecValue(.object([]), span: resource.span))
        encrypt = governance.flag("encrypt")
        classification = governance.choice("classification")
        raw = v
    }

    public func column(_ name: String) -> ColumnSpec? { columns.first { $0.name == name } }

    /// A data contract check (`checks:`): a case per check with what it reads.
    public struct Check: SpecView {
        public enum Rule: Sendable {
            case notNull(columns: [String])
            case range(column: String, min: Double?, max: Double?)
            case unique(columns: [String])
            case rowCount(min: Int?, max: Int?)
            /// nil column: the label.
            case classBalance(column: String?, maxRatio: Double)
            /// nil values: the column's schema `values`.
            case allowedValues(column: String, values: [String]?)
            case pattern(column: String, pattern: String)
            /// nil column: the label.
            case bio(column: String?)
        }

        public enum Severity: String, Sendable { case error, warn }
        public enum Part: String, SpecPart { case check, column, columns, min, max, values }

        public var rule: Rule
        public var severity: Severity
        /// The columns the check names, each where it is written.
        public var columnItems: [(name: String, span: SourceSpan)]
        public var raw: SpecValue
        public var span: SourceSpan { raw.span }

        init?(_ v: SpecValue) {
            guard let kind = v["check"]?.string, let variant = SpecSchema.checkVariants.first(where: { $0.value == kind })
            else { return nil }
            let f = FieldReader(v, variant.schema)
            let items = v["columns"]?.list ?? v["column"].map { [$0] } ?? []
            columnItems = items.compactMap { item in item.string.map { ($0, item.span) } }
            let column = columnItems.first?.name ?? ""
            switch kind {
            case "not_null": rule = .notNull(columns: columnItems.map(\.name))
            case "range": rule = .range(column: column, min: f.optionalNumber("min"), max: f.optionalNumber("max"))
            case "unique": rule = .unique(columns: columnItems.map(\.name))
            case "row_count": rule = .rowCount(min: f.optionalInteger("min"), max: f.optionalInteger("max"))
            case "class_balance":
                rule = .classBalance(column: f.optionalText("column"), maxRatio: f.optionalNumber("max_ratio") ?? 1)
            case "allowed_values": rule = .allowedValues(column: column, values: f.strings("values"))
            case "pattern": rule = .pattern(column: column, pattern: f.optionalText("pattern") ?? "")
            case "bio": rule = .bio(column: f.optionalText("column"))
            default: return nil
            }
            severity = f.choice("severity")
            raw = v
        }
    }

    /// A feature transform (`transforms:`): a case per operation with what it reads.
    public struct Transform: SpecView {
        public enum Operation: Sendable {
            case impute(Strategy, value: String?)
            case standardize, minMax, log, oneHot, ordinal, drop
        }

        public enum Strategy: String, Sendable {
            case mean, median, mostFrequent = "most_frequent", constant
        }

        public enum Part: String, SpecPart { case op, columns, strategy, value }

        public var operation: Operation
        /// nil: `auto`.
        public var columns: [String]?
        /// The columns as listed, each where it is written (empty for `auto`).
        public var columnSpans: [SourceSpan]
        public var raw: SpecValue
        public var span: SourceSpan { raw.span }

        /// The operation as the spec writes it (`one_hot`).
        public var op: String { raw["op"]?.string ?? "" }

        init?(_ v: SpecValue) {
            guard let op = v["op"]?.string, let variant = SpecSchema.transformVariants.first(where: { $0.value == op })
            else { return nil }
            let f = FieldReader(v, variant.schema)
            let listed = v["columns"]?.list
            columns = listed.map { $0.compactMap(\.string) }
            columnSpans = listed?.map(\.span) ?? []
            switch op {
            case "impute": operation = .impute(f.choice("strategy"), value: v["value"].flatMap { $0.string ?? $0.text })
            case "standardize": operation = .standardize
            case "min_max": operation = .minMax
            case "log": operation = .log
            case "one_hot": operation = .oneHot
            case "ordinal": operation = .ordinal
            case "drop": operation = .drop
            default: return nil
            }
            raw = v
        }
    }

    /// How rows are divided (`split:`).
    public struct Split: SpecView {
        public enum Strategy: String, Sendable { case random, stratified, group, ordered }
        public enum Part: String, SpecPart { case strategy, by, train, validation, test }

        public var strategy: Strategy
        public var by: String?
        public var train: Double
        public var validation: Double
        public var test: Double
        public var seed: Int
        public var raw: SpecValue
        /// Where the split is declared (its key, or the dataset when it is the default).
        public var span: SourceSpan { raw.keySpan ?? raw.span }

        init(_ v: SpecValue) {
            let f = FieldReader(v, SpecSchema.split)
            strategy = f.choice("strategy")
            by = f.optionalText("by")
            train = f.number("train")
            validation = f.number("validation")
            test = f.number("test")
            seed = f.integer("seed")
            raw = v
        }

        public enum Name: String, Sendable, CaseIterable { case train, validation, test }

        /// The fraction of rows in a split.
        public func fraction(_ name: Name) -> Double {
            switch name {
            case .train: return train
            case .validation: return validation
            case .test: return test
            }
        }
    }
}
