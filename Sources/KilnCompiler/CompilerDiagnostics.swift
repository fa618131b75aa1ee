public import KilnDiagnostics

// The compiler stage's diagnostic ids, sorted: the only place they are written (docs/cli.md lists them).

/// `compiler.*`: names, references, shapes and semantics checked by `kiln check`.
public enum CompilerDiagnostic: String, CaseIterable, Sendable {
    case binaryField = "compiler.binary-field"
    case boosterOnlyField = "compiler.booster-only-field"
    case boosterTraining = "compiler.booster-training"
    case canarySameVersion = "compiler.canary-same-version"
    case checkBounds = "compiler.check-bounds"
    case checkColumn = "compiler.check-column"
    case checkIgnoredColumn = "compiler.check-ignored-column"
    case checkType = "compiler.check-type"
    case checkValues = "compiler.check-values"
    case columnBounds = "compiler.column-bounds"
    case columnPattern = "compiler.column-pattern"
    case columnValues = "compiler.column-values"
    case duplicateFeature = "compiler.duplicate-feature"
    case duplicateName = "compiler.duplicate-name"
    case emptyTrainSplit = "compiler.empty-train-split"
    case fineTuning = "compiler.fine-tuning"
    case gateBounds = "compiler.gate-bounds"
    case gateEmptySplit = "compiler.gate-empty-split"
    case gateNoCondition = "compiler.gate-no-condition"
    case gateUnknownMetric = "compiler.gate-unknown-metric"
    case headerMismatch = "compiler.header-mismatch"
    case imputeValue = "compiler.impute-value"
    case labelClasses = "compiler.label-classes"
    case labelFlags = "compiler.label-flags"
    case labelIsFeature = "compiler.label-is-feature"
    case labelSmoothing = "compiler.label-smoothing"
    case matrixMissingParent = "compiler.matrix-missing-parent"
    case missingFile = "compiler.missing-file"
    case missingHidden = "compiler.missing-hidden"
    case mlpOnlyField = "compiler.mlp-only-field"
    case monitorWithoutValidation = "compiler.monitor-without-validation"
    case noFeatures = "compiler.no-features"
    case noLabel = "compiler.no-label"
    case optimizerField = "compiler.optimizer-field"
    case pretrained = "compiler.pretrained"
    case readRefused = "compiler.read-refused"
    case registerMessage = "compiler.register-message"
    case scheduleField = "compiler.schedule-field"
    case selectField = "compiler.select"
    case shapeMismatch = "compiler.shape-mismatch"
    case splitByUnused = "compiler.split-by-unused"
    case splitColumn = "compiler.split-column"
    case splitSum = "compiler.split-sum"
    case taskLabelMismatch = "compiler.task-label-mismatch"
    case taskLossMismatch = "compiler.task-loss-mismatch"
    case taskMetricMismatch = "compiler.task-metric-mismatch"
    case tokenSource = "compiler.token-source"
    case transformLabel = "compiler.transform-label"
    case transformNotFeature = "compiler.transform-not-feature"
    case transformTwice = "compiler.transform-twice"
    case transformType = "compiler.transform-type"
    case transformerOnlyField = "compiler.transformer-only-field"
    case transformerTask = "compiler.transformer-task"
    case transformerTraining = "compiler.transformer-training"
    case undeclaredColumns = "compiler.undeclared-columns"
    case unencodedFeature = "compiler.unencoded-feature"
    case unknownColumn = "compiler.unknown-column"
    case unknownFormat = "compiler.unknown-format"
    case unknownModel = "compiler.unknown-model"
    case unknownMonitor = "compiler.unknown-monitor"
    case unknownReference = "compiler.unknown-reference"
    case unusableFeature = "compiler.unusable-feature"
    case unusedResource = "compiler.unused-resource"
    case zerosInit = "compiler.zeros-init"
}

/// `deployment.*`: Deployments, checked at compile time.
public enum DeploymentDiagnostic: String, CaseIterable, Sendable {
    case plainHTTPExposed = "deployment.plain-http-exposed"
}

/// `policy.*`: Policies, checked at compile time.
public enum PolicyDiagnostic: String, CaseIterable, Sendable {
    case actionKind = "policy.action-kind"
    case auditOutside = "policy.audit-outside"
    case authNoneProtected = "policy.auth-none-protected"
    case duplicatePrincipal = "policy.duplicate-principal"
    case emptyRule = "policy.empty-rule"
    case encryptWithoutKey = "policy.encrypt-without-key"
    case invalidPattern = "policy.invalid-pattern"
    case latestCanaryProtected = "policy.latest-canary-protected"
    case noPrincipals = "policy.no-principals"
    case noTrustedKeys = "policy.no-trusted-keys"
    case piiAsFeature = "policy.pii-as-feature"
    case unknownKind = "policy.unknown-kind"
    case unknownRole = "policy.unknown-role"
}

extension DiagnosticID {
    public static func compiler(_ d: CompilerDiagnostic) -> DiagnosticID { DiagnosticID(catalog: d.rawValue) }
    public static func deployment(_ d: DeploymentDiagnostic) -> DiagnosticID { DiagnosticID(catalog: d.rawValue) }
    public static func policy(_ d: PolicyDiagnostic) -> DiagnosticID { DiagnosticID(catalog: d.rawValue) }
}
