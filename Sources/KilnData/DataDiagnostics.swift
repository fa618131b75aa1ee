public import KilnDiagnostics

// The data stage's diagnostic ids, sorted: the only place they are written (docs/cli.md lists them).

/// `data.*`: data files, contracts, splits and transforms.
public enum DataDiagnostic: String, CaseIterable, Sendable {
    case bio = "data.bio"
    case cacheCorrupt = "data.cache-corrupt"
    case cardPreprocessing = "data.card-preprocessing"
    case category = "data.category"
    case checkColumn = "data.check-column"
    case checkAllowedValues = "data.check.allowed_values"
    case checkBIO = "data.check.bio"
    case checkClassBalance = "data.check.class_balance"
    case checkNotNull = "data.check.not_null"
    case checkPattern = "data.check.pattern"
    case checkRange = "data.check.range"
    case checkRowCount = "data.check.row_count"
    case checkUnique = "data.check.unique"
    case delimiter = "data.delimiter"
    case empty = "data.empty"
    case emptySplit = "data.empty-split"
    case encoding = "data.encoding"
    case encryptWithoutKey = "data.encrypt-without-key"
    case examples = "data.examples"
    case featureRange = "data.feature-range"
    case globEmpty = "data.glob-empty"
    case header = "data.header"
    case impute = "data.impute"
    case inferLabel = "data.infer-label"
    case io = "data.io"
    case json = "data.json"
    case missingFile = "data.missing-file"
    case noLabel = "data.no-label"
    case null = "data.null"
    case nullFeature = "data.null-feature"
    case nullLabel = "data.null-label"
    case parse = "data.parse"
    case pattern = "data.pattern"
    case ragged = "data.ragged"
    case range = "data.range"
    case recordTooLong = "data.record-too-long"
    case splitColumn = "data.split-column"
    case textAfterQuote = "data.text-after-quote"
    case tooManyColumns = "data.too-many-columns"
    case tooManyErrors = "data.too-many-errors"
    case transformColumn = "data.transform-column"
    case transformType = "data.transform-type"
    case unbalancedQuote = "data.unbalanced-quote"
}

extension DiagnosticID {
    public static func data(_ d: DataDiagnostic) -> DiagnosticID { DiagnosticID(catalog: d.rawValue) }
}

extension DataDiagnostic {
    /// A failed contract check of this kind.
    public static func failed(_ kind: CheckSpec.Kind) -> DataDiagnostic {
        switch kind {
        case .notNull: return .checkNotNull
        case .range: return .checkRange
        case .unique: return .checkUnique
        case .rowCount: return .checkRowCount
        case .classBalance: return .checkClassBalance
        case .allowedValues: return .checkAllowedValues
        case .pattern: return .checkPattern
        case .bio: return .checkBIO
        }
    }
}
