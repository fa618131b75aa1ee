public import KilnDiagnostics

// The spec stage's diagnostic ids, sorted: the only place they are written (docs/cli.md lists them).

/// `spec.*`: the spec language: YAML syntax, the resource envelope, the schema.
public enum SpecDiagnostic: String, CaseIterable, Sendable {
    case aliasExpansion = "spec.alias-expansion"
    case complexKey = "spec.complex-key"
    case duplicateKey = "spec.duplicate-key"
    case durationTooLong = "spec.duration-too-long"
    case emptyList = "spec.empty-list"
    case fileTooLarge = "spec.file-too-large"
    case inlineSecret = "spec.inline-secret"
    case invalidDigest = "spec.invalid-digest"
    case invalidMerge = "spec.invalid-merge"
    case invalidName = "spec.invalid-name"
    case invalidReference = "spec.invalid-reference"
    case invalidRegex = "spec.invalid-regex"
    case invalidValue = "spec.invalid-value"
    case matrixTooLarge = "spec.matrix-too-large"
    case missingField = "spec.missing-field"
    case nestingTooDeep = "spec.nesting-too-deep"
    case outOfRange = "spec.out-of-range"
    case reservedAlias = "spec.reserved-alias"
    case syntax = "spec.syntax"
    case tab = "spec.tab"
    case typeMismatch = "spec.type-mismatch"
    case undefinedAlias = "spec.undefined-alias"
    case unknownApiVersion = "spec.unknown-api-version"
    case unknownField = "spec.unknown-field"
    case unknownKind = "spec.unknown-kind"
    case unknownMatrixKey = "spec.unknown-matrix-key"
    case unsupportedTag = "spec.unsupported-tag"
}

/// `workspace.*`: finding and reading spec files.
public enum WorkspaceDiagnostic: String, CaseIterable, Sendable {
    case empty = "workspace.empty"
    case notAResource = "workspace.not-a-resource"
    case notFound = "workspace.not-found"
    case unreadable = "workspace.unreadable"
}

extension DiagnosticID {
    public static func spec(_ d: SpecDiagnostic) -> DiagnosticID { DiagnosticID(catalog: d.rawValue, redactsSource: d == .inlineSecret) }
    public static func workspace(_ d: WorkspaceDiagnostic) -> DiagnosticID { DiagnosticID(catalog: d.rawValue) }
}
