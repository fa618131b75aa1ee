public import KilnDiagnostics

// The runtime stage's diagnostic ids, sorted: the only place they are written (docs/cli.md lists them).

/// `run.*`: running nodes.
public enum RunDiagnostic: String, CaseIterable, Sendable {
    case cache = "run.cache"
    case cancelled = "run.cancelled"
    case contractFailed = "run.contract-failed"
    case data = "run.data"
    case encryptionKey = "run.encryption-key"
    case exec = "run.exec"
    case gateFailed = "run.gate-failed"
    case gateNoValue = "run.gate-no-value"
    case `internal` = "run.internal"
    case io = "run.io"
    case lockNotWritten = "run.lock-not-written"
    case permissionDenied = "run.permission-denied"
    case pretrained = "run.pretrained"
    case registry = "run.registry"
    case selection = "run.selection"
    case signatureRequired = "run.signature-required"
    case text = "run.text"
    case timeout = "run.timeout"
    case training = "run.training"
    case unresolvedModel = "run.unresolved-model"
    case widthMismatch = "run.width-mismatch"
}

extension DiagnosticID {
    public static func run(_ d: RunDiagnostic) -> DiagnosticID { DiagnosticID(catalog: d.rawValue) }
}
