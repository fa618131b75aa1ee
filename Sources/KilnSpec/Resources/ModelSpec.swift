import KilnDiagnostics

/// What a Model predicts.
public enum ModelTask: String, Sendable, CaseIterable {
    case classification, binary, regression
}

/// A Model's architecture with its configuration: a case per architecture, so that every switch over it
/// is exhaustive and adding one makes the compiler point at each place to touch (docs/architecture.md,
/// "Adding an architecture").
public enum ArchitectureSpec: Sendable {
    /// One dense layer.
    case linear
    /// Dense layers with an activation between them.
    case mlp(MLP)

    public struct MLP: Sendable {
        public enum Activation: String, Sendable, CaseIterable { case relu, gelu, tanh, sigmoid }
        public var hidden: [Int]
        public var activation: Activation
        public var dropout: Double
        public var layerNorm: Bool
    }

    /// The `type` as the spec writes it.
    public var name: String {
        switch self {
        case .linear: return "linear"
        case .mlp: return "mlp"
        }
    }

    init(_ v: SpecValue?) {
        let f = FieldReader(v, SpecSchema.architecture)
        switch f.optionalText("type") {
        case "mlp":
            self = .mlp(
                MLP(
                    hidden: v?["hidden"]?.list?.compactMap(\.int) ?? [], activation: f.choice("activation"),
                    dropout: f.number("dropout"), layerNorm: f.text("normalization") == "layernorm"))
        default:
            self = .linear
        }
    }
}

public struct ModelSpec: SpecView {
    public enum Part: String, SpecPart {
        case task, architecture, inputs, outputs, initScheme = "init.scheme"
        case hidden = "architecture.hidden", activation = "architecture.activation"
        case dropout = "architecture.dropout", normalization = "architecture.normalization"
    }

    /// A width: inferred (`auto`) or declared.
    public enum Width: Sendable, Equatable {
        case auto
        case declared(Int)
    }

    public enum Initialisation: String, Sendable { case he, xavier, zeros }

    public var name: String
    public var task: ModelTask
    public var architecture: ArchitectureSpec
    public var inputs: Width
    public var outputs: Width
    public var initialisation: Initialisation
    public var seed: Int
    public var raw: SpecValue

    /// The hidden widths (an mlp's; none for other architectures).
    public var hidden: [Int] {
        if case .mlp(let m) = architecture { return m.hidden }
        return []
    }

    /// Built from the schema-checked spec, defaults filled in (the decoder applies the schema's).
    public init(_ resource: Resource) {
        let v = resource.spec
        let f = FieldReader(v, SpecSchema.model)
        let initialisation = FieldReader(v["init"], SpecSchema.initialisation)
        name = resource.name
        task = f.choice("task")
        architecture = ArchitectureSpec(v["architecture"])
        inputs = v["inputs"]?.int.map(Width.declared) ?? .auto
        outputs = v["outputs"]?.int.map(Width.declared) ?? .auto
        self.initialisation = initialisation.choice("scheme")
        seed = initialisation.integer("seed")
        raw = v
    }
}
