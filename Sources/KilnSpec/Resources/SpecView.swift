public import KilnDiagnostics

/// A place in a resource's spec, named by a typed key rather than a string: what a diagnostic points
/// at, what a node's provenance quotes, and what its canonical config copies. The raw value is the
/// dotted path as the spec writes it (`schema.label`), and it is read only here, in KilnSpec.
public protocol SpecPart: RawRepresentable, Sendable where RawValue == String {}

extension SpecPart {
    var components: [String] { rawValue.split(separator: ".").map(String.init) }

    /// The field's own name, as messages quote it (`momentum` for `optimizer.momentum`).
    public var field: String { components.last ?? rawValue }
}

/// A typed view of a decoded spec value: its fields are decoded into Swift values once, and the parts
/// that later stages quote (for positions, provenance and node configs) are named by `Part`.
public protocol SpecView: Sendable {
    associatedtype Part: SpecPart
    /// The decoded value the view was built from.
    var raw: SpecValue { get }
}

extension SpecView {
    /// The value written (or defaulted) at a part, if present.
    public subscript(_ part: Part) -> SpecValue? {
        // Walked along the dotted path without splitting it into an array: parts are read per node.
        let path = part.rawValue
        var current: SpecValue? = raw
        var start = path.startIndex
        while let value = current {
            let end = path[start...].firstIndex(of: ".") ?? path.endIndex
            current = value.field(path[start..<end])
            guard end < path.endIndex else { break }
            start = path.index(after: end)
        }
        return current
    }

    /// Where a part's value is written.
    public func span(_ part: Part) -> SourceSpan? { self[part]?.span }

    /// Where a part's key is written (its value's span when it has none).
    public func keySpan(_ part: Part) -> SourceSpan? { self[part].map { $0.keySpan ?? $0.span } }

    /// Whether the user wrote the part (not absent, not filled in from the schema's default).
    public func writes(_ part: Part) -> Bool { self[part].map { !$0.isDefault } ?? false }

    /// The part as JSON, `null` when absent (the canonical node config quotes spec parts as written).
    public func json(_ part: Part) -> JSON { self[part]?.json ?? .null }
}

/// Reads the fields of one object of the spec with the schema's defaults: the decoder has filled in
/// every field that has a default, and a field only some variants read (`Field.variantDefault`) gets
/// it here, from the same schema definition. No other stage supplies a default.
struct FieldReader {
    let value: SpecValue?
    let schema: ObjectSchema

    init(_ value: SpecValue?, _ schema: ObjectSchema) {
        self.value = value
        self.schema = schema
    }

    subscript(_ name: String) -> SpecValue? { value?[name] }

    func text(_ name: String) -> String { value?[name]?.string ?? SchemaDefault.text(schema, name) }
    func number(_ name: String) -> Double { value?[name]?.double ?? SchemaDefault.number(schema, name) }
    func integer(_ name: String) -> Int { value?[name]?.int ?? Int(SchemaDefault.number(schema, name)) }
    func flag(_ name: String) -> Bool { value?[name]?.bool ?? (SchemaDefault.text(schema, name) == "true") }

    /// An enumeration's case; the schema has checked the text, so only its default can stand in.
    func choice<E: RawRepresentable>(_ name: String, _: E.Type = E.self) -> E where E.RawValue == String {
        guard let e = E(rawValue: text(name)) ?? E(rawValue: SchemaDefault.text(schema, name)) else {
            preconditionFailure("'\(name)' of '\(schema.name)' is not one of its cases")
        }
        return e
    }

    func optionalText(_ name: String) -> String? { value?[name]?.string }
    func optionalNumber(_ name: String) -> Double? { value?[name]?.double }
    func optionalInteger(_ name: String) -> Int? { value?[name]?.int }
    func strings(_ name: String) -> [String]? { value?[name]?.list.map { $0.compactMap { $0.string ?? $0.text } } }

    /// A list of words, or its default as the schema writes it (`[query, value]`).
    func words(_ name: String) -> [String] {
        strings(name)
            ?? SchemaDefault.text(schema, name).trimmingCharacters(in: ["[", "]"]).split(separator: ",").map {
                $0.trimmingCharacters(in: .whitespaces)
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

    /// A number, a duration (seconds), a size (bytes) or a percentage (a fraction), as the schema writes it.
    static func number(_ schema: ObjectSchema, _ name: String) -> Double {
        let t = text(schema, name)
        guard let value = Double(t) ?? ScalarParsing.duration(t) ?? ScalarParsing.size(t).map(Double.init)
            ?? ScalarParsing.percentage(t)
        else {
            preconditionFailure("the default of '\(name)' in '\(schema.name)' is not a number")
        }
        return value
    }
}
