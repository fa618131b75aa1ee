public import KilnDiagnostics

/// A spec value after decoding by the schema: typed, positioned, defaults filled in.
public struct SpecValue: Sendable {
    public indirect enum Kind: Sendable {
        case null
        case string(String)
        case integer(Int)
        case number(Double)
        case bool(Bool)
        /// Seconds.
        case duration(Double)
        /// Bytes.
        case size(Int)
        /// A fraction: `10%` is 0.1.
        case percentage(Double)
        case list([SpecValue])
        /// Ordered fields; names are unique (the composer rejects duplicate keys).
        case object([SpecField])
    }

    public var kind: Kind
    /// Where the value is written (for a default: the mapping that lacks the field).
    public var span: SourceSpan
    /// Where its key is written, if it is a mapping's value.
    public var keySpan: SourceSpan?
    /// The value's own text as written, for scalars (matrix cell names, messages).
    public var text: String?
    /// True when the value was filled in from the schema's default, not written by the user.
    public var isDefault = false

    public init(_ kind: Kind, span: SourceSpan, keySpan: SourceSpan? = nil, text: String? = nil) {
        self.kind = kind
        self.span = span
        self.keySpan = keySpan
        self.text = text
    }

    /// The field's value, if this is an object that has it.
    public subscript(_ name: String) -> SpecValue? {
        guard case .object(let fields) = kind else { return nil }
        return fields.first { $0.name == name }?.value
    }

    /// The field's value, if this is an object that has it (a name that is part of a longer text).
    public func field(_ name: Substring) -> SpecValue? {
        guard case .object(let fields) = kind else { return nil }
        return fields.first { $0.name == name }?.value
    }

    /// The value at a dotted path (`optimizer.learning_rate`).
    public subscript(path path: [String]) -> SpecValue? {
        var current: SpecValue? = self
        for part in path { current = current?[part] }
        return current
    }

    /// The value as deep along a path of field names and list indices (`["hidden", "1"]`) as the spec
    /// goes: where a config path's value was written, or its nearest written parent.
    public func deepest(along path: ArraySlice<String>) -> SpecValue {
        var value = self
        for part in path {
            guard let next = value[part] ?? Int(part).flatMap({ i in value.list.flatMap { i < $0.count ? $0[i] : nil } })
            else { break }
            value = next
        }
        return value
    }

    public var string: String? {
        if case .string(let s) = kind { return s }
        return nil
    }

    public var int: Int? {
        if case .integer(let i) = kind { return i }
        return nil
    }

    /// A number, whether written as an integer or not.
    public var double: Double? {
        switch kind {
        case .integer(let i): return Double(i)
        case .number(let d), .duration(let d), .percentage(let d): return d
        case .size(let s): return Double(s)
        default: return nil
        }
    }

    public var bool: Bool? {
        if case .bool(let b) = kind { return b }
        return nil
    }

    public var list: [SpecValue]? {
        if case .list(let l) = kind { return l }
        return nil
    }

    public var fields: [SpecField]? {
        if case .object(let f) = kind { return f }
        return nil
    }

    /// The strings of a list of strings (non-strings skipped).
    public var strings: [String] { list?.compactMap(\.string) ?? [] }

    /// A copy with the value at `path` replaced (objects on the way must exist).
    public func setting(_ path: ArraySlice<String>, to value: SpecValue) -> SpecValue? {
        guard let head = path.first else { return value }
        guard case .object(var fields) = kind, let i = fields.firstIndex(where: { $0.name == head }) else {
            return nil
        }
        guard var replaced = fields[i].value.setting(path.dropFirst(), to: value) else { return nil }
        replaced.keySpan = fields[i].value.keySpan
        fields[i].value = replaced
        var copy = self
        copy.kind = .object(fields)
        return copy
    }

    /// A copy with a new field appended (for matrix values of fields that were absent).
    public func adding(_ name: String, _ value: SpecValue) -> SpecValue {
        guard case .object(var fields) = kind else { return self }
        fields.append(SpecField(name: name, value: value))
        var copy = self
        copy.kind = .object(fields)
        return copy
    }
}

/// A named value inside an object.
public struct SpecField: Sendable {
    public var name: String
    public var value: SpecValue

    public init(name: String, value: SpecValue) {
        self.name = name
        self.value = value
    }
}
