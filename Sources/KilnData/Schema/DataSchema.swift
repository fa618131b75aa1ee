/// The data layer's own view of a Dataset spec: plain values, no YAML. The runner (and `kiln data`)
/// build them from the compiler's checked `DatasetSpec`; tests build them directly.

/// How a column's cells are parsed.
public enum ColumnType: String, Sendable, Codable, CaseIterable {
    case float, int, bool, category, string, text
    /// A sentence's tokens and their tags (token classification): each cell a sequence, read from a CoNLL
    /// or tokens/tags jsonl source (`Column.sequence`).
    case tokens, tags

    public var isNumeric: Bool { self == .float || self == .int }
    /// Cells held as text (string, text, and the sequences, joined by `Column.separator`).
    public var isTextual: Bool { self == .string || self == .text || self == .tokens || self == .tags }
}

/// One column of the schema, with the constraints a cell must meet to be read at all.
public struct ColumnSchema: Sendable, Codable, Hashable {
    public var name: String
    public var type: ColumnType
    public var nullable: Bool
    public var min: Double?
    public var max: Double?
    /// Category values, in order: a category label's class index is its position here.
    public var values: [String]
    /// A regular expression every value of a string column matches (whole value).
    public var pattern: String?
    public var pii: Bool
    public var ignore: Bool

    public init(
        _ name: String, _ type: ColumnType, nullable: Bool = false, min: Double? = nil, max: Double? = nil,
        values: [String] = [], pattern: String? = nil, pii: Bool = false, ignore: Bool = false
    ) {
        self.name = name
        self.type = type
        self.nullable = nullable
        self.min = min
        self.max = max
        self.values = values
        self.pattern = pattern
        self.pii = pii
        self.ignore = ignore
    }
}

/// The typed columns, the label and the features of a dataset.
public struct DataSchema: Sendable, Codable, Hashable {
    /// In the order the spec declares them (a file's own order may differ when it has a header).
    public var columns: [ColumnSchema]
    public var label: String?
    /// nil means `auto`: every column but the label, pii and ignored ones.
    public var features: [String]?

    public init(columns: [ColumnSchema], label: String? = nil, features: [String]? = nil) {
        self.columns = columns
        self.label = label
        self.features = features
    }

    public func column(_ name: String) -> ColumnSchema? { columns.first { $0.name == name } }

    /// The feature columns, before transforms: the explicit list, or every column but the label, pii and
    /// ignored ones.
    public var featureNames: [String] {
        features ?? columns.filter { $0.name != label && !$0.pii && !$0.ignore }.map(\.name)
    }
}

/// File formats the readers know.
public enum SourceFormat: String, Sendable, Codable, CaseIterable {
    case csv, tsv, jsonl
    /// `token<TAB>tag` lines, a blank line between sentences (a schema with a tokens column).
    case conll

    /// The format a path's extension implies (`.csv`, `.tsv`/`.tab`, `.jsonl`/`.ndjson`), nil otherwise.
    public init?(extensionOf path: String) {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let dot = name.lastIndex(of: ".") else { return nil }
        switch name[name.index(after: dot)...].lowercased() {
        case "csv": self = .csv
        case "tsv", "tab": self = .tsv
        case "jsonl", "ndjson": self = .jsonl
        case "conll": self = .conll
        default: return nil
        }
    }
}

/// Where a dataset's rows come from.
public struct SourceConfig: Sendable, Codable, Hashable {
    /// A file or a glob (`*`, `?`, `[…]` within one path component); absolute, or relative to the
    /// current directory (the caller resolves spec-relative paths).
    public var path: String
    /// nil: from the extension of the files.
    public var format: SourceFormat?
    /// csv/tsv: the first record names the columns.
    public var header: Bool
    /// csv/tsv: one byte; nil: `,` for csv, a tab for tsv.
    public var delimiter: UInt8?
    /// csv/tsv: unquoted cells that mean missing besides the empty cell (`NA`, `N/A`); nil: none.
    public var nullValues: [String]?

    public init(
        path: String, format: SourceFormat? = nil, header: Bool = true, delimiter: UInt8? = nil,
        nullValues: [String]? = nil
    ) {
        self.path = path
        self.format = format
        self.header = header
        self.delimiter = delimiter
        self.nullValues = nullValues.flatMap { $0.filter { !$0.isEmpty }.isEmpty ? nil : $0.filter { !$0.isEmpty } }
    }
}
