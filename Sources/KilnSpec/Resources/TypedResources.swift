public import KilnDiagnostics

/// Typed views of decoded resources: the vocabulary the compiler and the runner work in. Each is
/// built from a `SpecValue` the schema already checked, so construction cannot fail; the underlying
/// value stays reachable (`raw`) for positions.

/// A column of a Dataset's schema.
public struct ColumnSpec: Sendable {
    public enum ColumnType: String, Sendable { case float, int, bool, category, string, text }

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
        self.name = name
        type = v["type"]?.string.flatMap(ColumnType.init) ?? .string
        nullable = v["nullable"]?.bool ?? false
        min = v["min"]?.double
        max = v["max"]?.double
        values = v["values"]?.strings ?? []
        pattern = v["pattern"]?.string
        pii = v["pii"]?.bool ?? false
        ignore = v["ignore"]?.bool ?? false
        raw = v
    }
}

public struct DatasetSpec: Sendable {
    public var name: String
    public var path: String
    public var format: String?
    public var header: Bool
    public var delimiter: String?
    public var columns: [ColumnSpec]
    public var label: String?
    /// nil means `auto`.
    public var features: [String]?
    public var checks: [SpecValue]
    public var transforms: [SpecValue]
    public var split: SpecValue
    public var encrypt: Bool
    public var classification: String
    public var raw: SpecValue

    public init(_ resource: Resource) {
        let v = resource.spec
        name = resource.name
        path = v[path: ["source", "path"]]?.string ?? ""
        format = v[path: ["source", "format"]]?.string
        header = v[path: ["source", "header"]]?.bool ?? true
        delimiter = v[path: ["source", "delimiter"]]?.string
        columns = (v[path: ["schema", "columns"]]?.fields ?? []).map { ColumnSpec(name: $0.name, $0.value) }
        label = v[path: ["schema", "label"]]?.string
        let f = v[path: ["schema", "features"]]
        features = f?.list != nil ? f?.strings : nil
        checks = v["checks"]?.list ?? []
        transforms = v["transforms"]?.list ?? []
        split = v["split"] ?? SpecValue(.object([]), span: resource.span)
        encrypt = v[path: ["governance", "encrypt"]]?.bool ?? false
        classification = v[path: ["governance", "classification"]]?.string ?? "internal"
        raw = v
    }

    public func column(_ name: String) -> ColumnSpec? { columns.first { $0.name == name } }

    /// The fraction of rows in a split (`train`, `validation`, `test`).
    public func fraction(_ split: String) -> Double { self.split[split]?.double ?? 0 }
}

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
}

public struct ModelSpec: Sendable {
    public var name: String
    public var task: ModelTask
    public var architecture: ArchitectureSpec
    public var raw: SpecValue

    /// The hidden widths (an mlp's; none for other architectures).
    public var hidden: [Int] {
        if case .mlp(let m) = architecture { return m.hidden }
        return []
    }

    /// Built from the schema-checked spec, defaults filled in (the decoder applies the schema's).
    public init(_ resource: Resource) {
        let v = resource.spec
        name = resource.name
        task = v["task"]?.string.flatMap(ModelTask.init) ?? .classification
        let a = v["architecture"]
        switch a?["type"]?.string {
        case "mlp":
            architecture = .mlp(
                ArchitectureSpec.MLP(
                    hidden: a?["hidden"]?.list?.compactMap(\.int) ?? [],
                    activation: a?["activation"]?.string.flatMap(ArchitectureSpec.MLP.Activation.init) ?? .relu,
                    dropout: a?["dropout"]?.double ?? 0, layerNorm: a?["normalization"]?.string == "layernorm"))
        default:
            architecture = .linear
        }
        raw = v
    }
}

/// A Training's optimiser with the hyper-parameters its algorithm reads (the schema's defaults applied).
public enum OptimizerSpec: Sendable {
    case sgd(Common)
    case momentum(Common, momentum: Double, nesterov: Bool)
    case adam(Common, Adam)
    case adamw(Common, Adam)

    public struct Common: Sendable {
        public var learningRate: Double
        public var weightDecay: Double
    }

    public struct Adam: Sendable {
        public var beta1: Double
        public var beta2: Double
        public var epsilon: Double
    }

    init(_ o: SpecValue?) {
        let common = Common(
            learningRate: o?["learning_rate"]?.double ?? SchemaDefault.number(SpecSchema.optimizer, "learning_rate"),
            weightDecay: o?["weight_decay"]?.double ?? SchemaDefault.number(SpecSchema.optimizer, "weight_decay"))
        func adam() -> Adam {
            Adam(
                beta1: o?["beta1"]?.double ?? SchemaDefault.number(SpecSchema.optimizer, "beta1"),
                beta2: o?["beta2"]?.double ?? SchemaDefault.number(SpecSchema.optimizer, "beta2"),
                epsilon: o?["epsilon"]?.double ?? SchemaDefault.number(SpecSchema.optimizer, "epsilon"))
        }
        switch o?["type"]?.string ?? SchemaDefault.text(SpecSchema.optimizer, "type") {
        case "sgd": self = .sgd(common)
        case "momentum":
            self = .momentum(
                common, momentum: o?["momentum"]?.double ?? SchemaDefault.number(SpecSchema.optimizer, "momentum"),
                nesterov: o?["nesterov"]?.bool ?? (SchemaDefault.text(SpecSchema.optimizer, "nesterov") == "true"))
        case "adamw": self = .adamw(common, adam())
        default: self = .adam(common, adam())
        }
    }

    public var isAdamW: Bool {
        if case .adamw = self { return true }
        return false
    }

    public var common: Common {
        switch self {
        case .sgd(let c), .momentum(let c, _, _), .adam(let c, _), .adamw(let c, _): return c
        }
    }
}

/// A Training's learning-rate schedule (the schema's defaults applied).
public struct ScheduleSpec: Sendable {
    public enum Shape: Sendable {
        case constant
        case step(every: Int, gamma: Double)
        case cosine(minLearningRate: Double)
    }

    public var shape: Shape
    public var warmupEpochs: Int

    init(_ s: SpecValue?) {
        warmupEpochs = s?["warmup_epochs"]?.int ?? Int(SchemaDefault.number(SpecSchema.schedule, "warmup_epochs"))
        switch s?["type"]?.string ?? SchemaDefault.text(SpecSchema.schedule, "type") {
        case "step":
            // `kiln check` refuses a step schedule without step_epochs.
            shape = .step(
                every: s?["step_epochs"]?.int ?? 1,
                gamma: s?["gamma"]?.double ?? SchemaDefault.number(SpecSchema.schedule, "gamma"))
        case "cosine":
            shape = .cosine(
                minLearningRate: s?["min_learning_rate"]?.double
                    ?? SchemaDefault.number(SpecSchema.schedule, "min_learning_rate"))
        default:
            shape = .constant
        }
    }
}

/// A field's default as the schema writes it (the one place defaults live).
enum SchemaDefault {
    static func text(_ schema: ObjectSchema, _ name: String) -> String {
        guard let field = schema.field(name), let text = field.defaultText ?? field.variantDefault else {
            preconditionFailure("the schema '\(schema.name)' gives '\(name)' no default")
        }
        return text
    }

    static func number(_ schema: ObjectSchema, _ name: String) -> Double {
        guard let value = Double(text(schema, name)) else {
            preconditionFailure("the default of '\(name)' in '\(schema.name)' is not a number")
        }
        return value
    }
}

public struct TrainingSpec: Sendable {
    public var name: String
    public var model: String
    public var dataset: String
    public var loss: String
    /// nil: the task's default metrics.
    public var metrics: [String]?
    public var gates: [SpecValue]
    public var register: SpecValue?
    public var matrix: [SpecField]
    public var optimizer: OptimizerSpec
    public var schedule: ScheduleSpec
    public var raw: SpecValue

    public init(name: String, _ v: SpecValue) {
        self.name = name
        model = v["model"]?.string ?? ""
        dataset = v["dataset"]?.string ?? ""
        loss = v["loss"]?.string ?? "auto"
        metrics = v["metrics"].map(\.strings)
        gates = v["gates"]?.list ?? []
        register = v["register"]
        matrix = v["matrix"]?.fields ?? []
        optimizer = OptimizerSpec(v["optimizer"])
        schedule = ScheduleSpec(v["schedule"])
        raw = v
    }
}

public struct DeploymentSpec: Sendable {
    public var name: String
    public var model: ModelReference?
    public var canary: ModelReference?
    public var environment: String
    public var auth: String
    public var raw: SpecValue

    public init(_ resource: Resource) {
        let v = resource.spec
        name = resource.name
        model = v["model"]?.string.flatMap(ModelReference.init)
        canary = v[path: ["canary", "model"]]?.string.flatMap(ModelReference.init)
        environment = v["environment"]?.string ?? "default"
        auth = v["auth"]?.string ?? "required"
        raw = v
    }
}

/// The names kiln accepts for models, resources and aliases, wherever they come from (a spec, the command
/// line, a pulled registry's reference names): they become git reference names and Policy patterns.
public enum ModelNames {
    /// A lower-case letter, then lower-case letters, digits and '-', at most 63 characters.
    public static func isName(_ s: String) -> Bool {
        let u = Array(s.utf8)
        guard (1...63).contains(u.count), u[0] >= 97 && u[0] <= 122 else { return false }
        return u.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
    }

    /// What makes a registration message unfit for a version's commit: a line starting with `Kiln-` (kiln's
    /// own trailers follow the message and would be forged), or a control or formatting character (tabs
    /// and line breaks aside). The compiler says it at `kiln check`; the registry refuses it again.
    public enum MessageProblem: Sendable { case trailer, control }

    public static func messageProblem(_ message: String) -> MessageProblem? {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.contains(where: { $0.hasPrefix("Kiln-") }) { return .trailer }
        if Escaped.firstControl(in: message, allowing: [9, 10]) != nil { return .control }
        return nil
    }

    /// A loopback address: plain HTTP with tokens is allowed there only.
    public static func isLoopback(_ host: String) -> Bool {
        host == "127.0.0.1" || host == "::1" || host == "localhost" || host.hasPrefix("127.")
    }

    /// A name that is not `latest` nor `v` and digits (with or without '-'): those name versions.
    public static func isAlias(_ s: String) -> Bool {
        guard isName(s), s != "latest" else { return false }
        let rest = s.dropFirst().drop { $0 == "-" }
        return !(s.hasPrefix("v") && !rest.isEmpty && rest.allSatisfy(\.isNumber))
    }
}

/// `NAME@vN`, `NAME@ALIAS` or `NAME@latest`.
public struct ModelReference: Sendable, Hashable, CustomStringConvertible {
    public enum Target: Sendable, Hashable {
        case version(Int)
        case alias(String)
        case latest
    }

    public var model: String
    public var target: Target

    /// nil unless the model is a name and the target is `latest`, `vN` (N ≥ 1, as written by kiln: no
    /// leading zeros) or an alias (`ModelNames.isAlias`): `@v0`, `@v-1` and `@v01` name nothing.
    public init?(_ text: String) {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, ModelNames.isName(String(parts[0])) else { return nil }
        model = String(parts[0])
        let ref = String(parts[1])
        if ref == "latest" {
            target = .latest
        } else if ref.hasPrefix("v"), let n = Int(ref.dropFirst()), n > 0, "v\(n)" == ref {
            target = .version(n)
        } else if ModelNames.isAlias(ref) {
            target = .alias(ref)
        } else {
            return nil
        }
    }

    public var description: String {
        switch target {
        case .version(let n): return "\(model)@v\(n)"
        case .alias(let a): return "\(model)@\(a)"
        case .latest: return "\(model)@latest"
        }
    }
}

extension ModelReference: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let reference = ModelReference(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a model reference: \(text)"))
        }
        self = reference
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

public struct PolicySpec: Sendable {
    public struct Rule: Sendable {
        public var actions: [String]
        public var on: String
        public var environments: [String]?
        public var raw: SpecValue
    }

    public struct Principal: Sendable {
        public var name: String
        public var roles: [String]
        public var tokenSHA256: String?
        /// SHA-256 (hex) of the DER of the principal's client certificate (mutual TLS).
        public var certificateSHA256: String?
        public var raw: SpecValue
    }

    public struct DataRule: Sendable {
        public var deny: [String]
        public var allow: [String]
        public var on: String
        public var pii: Bool?
        public var classification: String?
        public var raw: SpecValue
    }

    public var name: String
    public var principals: [Principal]
    public var roles: [(name: String, rules: [Rule], raw: SpecValue)]
    public var data: [DataRule]
    public var signingRequiredFor: [String]
    public var trustedKeys: [SpecValue]
    public var raw: SpecValue

    public init(_ resource: Resource) {
        let v = resource.spec
        name = resource.name
        principals = (v["principals"]?.list ?? []).map {
            Principal(
                name: $0["name"]?.string ?? "", roles: $0["roles"]?.strings ?? [],
                tokenSHA256: $0["token_sha256"]?.string, certificateSHA256: $0["certificate_sha256"]?.string, raw: $0)
        }
        roles = (v["roles"]?.fields ?? []).map { field in
            let rules = (field.value.list ?? []).map {
                Rule(
                    actions: $0["allow"]?.strings ?? [], on: $0["on"]?.string ?? "",
                    environments: $0["environments"]?.strings, raw: $0)
            }
            return (field.name, rules, field.value)
        }
        data = (v["data"]?.list ?? []).map {
            DataRule(
                deny: $0["deny"]?.strings ?? [], allow: $0["allow"]?.strings ?? [], on: $0["on"]?.string ?? "",
                pii: $0[path: ["where", "pii"]]?.bool, classification: $0[path: ["where", "classification"]]?.string,
                raw: $0)
        }
        signingRequiredFor = v[path: ["signing", "required_for"]]?.strings ?? []
        trustedKeys = v[path: ["signing", "trusted_keys"]]?.list ?? []
        raw = v
    }

    /// Environments this Policy names: rules scoped to them or signing required for them.
    public var protectedEnvironments: Set<String> {
        var result = Set(signingRequiredFor)
        for role in roles { for rule in role.rules { result.formUnion(rule.environments ?? []) } }
        return result
    }
}

/// Glob matching of `KIND/NAME` patterns: `*` matches any run of characters, `?` one.
public func globMatches(_ pattern: String, _ text: String) -> Bool {
    let p = Array(pattern.unicodeScalars), t = Array(text.unicodeScalars)
    var pi = 0, ti = 0, star = -1, mark = 0
    while ti < t.count {
        if pi < p.count && (p[pi] == "?" || p[pi] == t[ti]) {
            pi += 1
            ti += 1
        } else if pi < p.count && p[pi] == "*" {
            star = pi
            mark = ti
            pi += 1
        } else if star >= 0 {
            pi = star + 1
            mark += 1
            ti = mark
        } else {
            return false
        }
    }
    while pi < p.count && p[pi] == "*" { pi += 1 }
    return pi == p.count
}
