/// The shape of a spec value. One definition of each kind (SpecSchema) drives decoding, the JSON Schema
/// export and the generated reference, so the three can never drift apart.
public indirect enum SchemaType: Sendable {
    /// Any scalar, read as text: `no` and `0755` stay strings; a format adds a check of its own.
    case string(StringFormat? = nil)
    /// Any scalar, read as text, where numbers and booleans are also natural (category values).
    case scalarText
    /// One of fixed words.
    case enumeration([String])
    case integer(min: Int? = nil, max: Int? = nil)
    case number(min: Double? = nil, max: Double? = nil, exclusiveMinimum: Bool = false)
    /// `true` or `false`, nothing else.
    case boolean
    /// `30s`, `10m`, `2h`, `2ms`, combinations like `1h30m`.
    case duration
    /// `512KiB`, `1MiB`, `2GB`, or a number of bytes.
    case size
    /// `10%` or a number 0-100.
    case percentage
    case list(SchemaType, minItems: Int = 0)
    /// An ordered mapping from names to values of one type.
    case map(SchemaType, keyFormat: StringFormat? = nil)
    case object(ObjectSchema)
    /// A mapping whose field `tag` picks one of several shapes (`check: range`, `op: impute`).
    case tagged(tag: String, variants: [TaggedVariant], doc: String)
    /// The first alternative whose node kind fits (a word like `auto`, or a list).
    case oneOf([SchemaType])
    /// A sweep over fields of the enclosing object: dotted paths to lists of values.
    case matrix
}

/// Checked kinds of strings, each with its own message and JSON Schema pattern.
public enum StringFormat: String, Sendable {
    /// A resource name: `^[a-z][a-z0-9-]{0,62}$`.
    case name
    /// An alias or an environment (which is the alias it moves): a name other than `latest` and `vN`, which
    /// name versions in a reference.
    case alias
    /// A registered model version: `NAME@vN`, `NAME@ALIAS` or `NAME@latest`.
    case modelReference
    /// A secret reference: `${env:NAME}` or `${file:path}`; never the secret itself.
    case secretReference
    /// A regular expression (ICU syntax) that must compile.
    case regex
    /// A SHA-256 digest in lower-case hex (64 characters).
    case sha256
    /// A SHA-256 digest, or a secret reference to a file or variable that holds one.
    case sha256OrSecret

    /// The JSON Schema `pattern` of the format.
    public var jsonPattern: String? {
        switch self {
        case .name: return "^[a-z][a-z0-9-]{0,62}$"
        case .alias: return "^(?!latest$)(?!v-?[0-9]+$)[a-z][a-z0-9-]{0,62}$"
        case .modelReference: return "^[a-z][a-z0-9-]{0,62}@([a-z][a-z0-9-]{0,62}|v[1-9][0-9]*)$"
        case .secretReference: return "^\\$\\{(env|file):[^}]+\\}$"
        case .regex: return nil
        case .sha256: return "^[0-9a-f]{64}$"
        case .sha256OrSecret: return "^([0-9a-f]{64}|\\$\\{(env|file):[^}]+\\})$"
        }
    }
}

/// One field of an object.
public struct Field: Sendable {
    public var name: String
    public var type: SchemaType
    public var required: Bool
    public var doc: String
    /// A default filled in when the field is absent (a scalar's YAML text, or `{}` for an object).
    public var defaultText: String?
    /// The value a field that only some variants read (an optimiser's `momentum`) takes when a variant that
    /// reads it leaves it out. Not filled in by decoding (the other variants must not carry it): the typed
    /// resources apply it.
    public var variantDefault: String?

    public init(
        _ name: String, _ type: SchemaType, required: Bool = false, default defaultText: String? = nil,
        whenRead variantDefault: String? = nil, _ doc: String
    ) {
        self.name = name
        self.type = type
        self.required = required
        self.doc = doc
        self.defaultText = defaultText
        self.variantDefault = variantDefault
    }
}

/// A mapping with known fields; unknown fields are errors.
public struct ObjectSchema: Sendable {
    /// The definition's name in the JSON Schema and the reference (`DatasetSource`).
    public var name: String
    public var doc: String
    public var fields: [Field]

    public init(_ name: String, doc: String, _ fields: [Field]) {
        self.name = name
        self.doc = doc
        self.fields = fields
    }

    public func field(_ name: String) -> Field? { fields.first { $0.name == name } }
}

/// One shape of a tagged union.
public struct TaggedVariant: Sendable {
    public var value: String
    public var schema: ObjectSchema

    public init(_ value: String, _ schema: ObjectSchema) {
        self.value = value
        self.schema = schema
    }
}

extension SchemaType {
    /// The type as a message names it: "a number", "one of 'adam', 'sgd'".
    public var expectation: String {
        switch self {
        case .string, .scalarText: return "a string"
        case .enumeration(let words): return "one of " + words.map { "'\($0)'" }.joined(separator: ", ")
        case .integer: return "an integer"
        case .number: return "a number"
        case .boolean: return "true or false"
        case .duration: return "a duration like '30s', '10m' or '2h'"
        case .size: return "a size like '512KiB' or '1MiB'"
        case .percentage: return "a percentage like '10%'"
        case .list: return "a list"
        case .map, .object, .tagged, .matrix: return "a mapping"
        case .oneOf(let alternatives): return alternatives.map(\.expectation).joined(separator: " or ")
        }
    }
}
