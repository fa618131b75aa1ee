public import KilnDiagnostics
public import KilnSpec

/// Compiles a loaded workspace: resolves names, checks semantics, infers shapes, expands matrices and
/// lowers to the execution graph. It is side-effect free: it reads referenced local files (to check
/// that they exist, to compare CSV headers and, when lowering, to hash them) and writes nothing.
public struct Compiler {
    /// Whether to look at referenced files (existence, CSV header). Off for fuzzing and unit tests.
    public var checkFiles = true
    /// Check resources and lower them on every core (the result is the same either way; tests compare).
    public var parallel = true

    public init() {}

    public struct Result: Sendable {
        public var workspace: Workspace
        public var diagnostics: DiagnosticEngine
        /// The checked workspace's datasets, models, trainings (one per matrix cell), deployments, policies.
        public var checked: CheckedWorkspace
    }

    public func compile(_ workspace: Workspace) -> Result {
        var context = CompilerContext(workspace: workspace, checkFiles: checkFiles)
        context.parallel = parallel
        context.run()
        return Result(workspace: workspace, diagnostics: context.diagnostics, checked: context.checked)
    }

    /// Compiles and lowers; the graph is nil when there are errors.
    public func lower(_ workspace: Workspace, hashFiles: Bool = true) -> (Result, ExecutionGraph?) {
        let result = compile(workspace)
        guard !result.diagnostics.hasErrors else { return (result, nil) }
        return (result, Lowering(workspace: workspace, checked: result.checked, hashFiles: hashFiles, parallel: parallel).graph())
    }
}

/// What the checks established, for lowering.
public struct CheckedWorkspace: Sendable {
    public var datasets: [String: CheckedDataset] = [:]
    public var models: [String: Resource] = [:]
    /// Each transformer model's pretrained checkpoint, located and its config read.
    public var pretrained: [String: PretrainedModel] = [:]
    public var trainings: [CheckedTraining] = []
    public var deployments: [CheckedDeployment] = []
    public var policies: [PolicySpec] = []
}

public struct CheckedDataset: Sendable {
    public var resource: Resource
    public var spec: DatasetSpec
    /// Features after transforms, by name, in model input order.
    public var featureColumns: [String]
    /// Model input width after transforms (nil when it could not be inferred); text features not counted.
    public var inputWidth: Int?
    /// Text features (a transformer's input), in order.
    public var textColumns: [String]
    /// Token-sequence features (a token source's tokens column).
    public var tokenColumns: [String] = []
    /// Classes of the label, in index order (category values; false/true for bool).
    public var classes: [String]?
    /// Source files, resolved against the spec's directory.
    public var sourceFiles: [String]
}

public struct CheckedTraining: Sendable {
    public var resource: Resource
    /// The training node's name: `iris-train` or `iris-train[batch_size=16,...]` for a matrix cell.
    public var nodeName: String
    /// The resolved spec of this cell (matrix values substituted).
    public var spec: TrainingSpec
    public var model: ModelSpec
    public var dataset: String
    /// The loss, `auto` resolved by the model's task.
    public var loss: TrainingSpec.Loss
    public var metrics: [String]
    public var inputs: Int
    public var outputs: Int
    public var registerName: String?
    /// The cell's place in the Training's matrix, in the order written (0 without a matrix).
    public var cellIndex = 0
}

public struct CheckedDeployment: Sendable {
    public var resource: Resource
    public var spec: DeploymentSpec
    public var signingRequired: Bool
    public var trustedKeyFiles: [String]
}
