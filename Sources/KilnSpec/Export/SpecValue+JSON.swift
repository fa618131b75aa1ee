extension SpecValue {
    /// The value as JSON: canonical (field order as resolved), units normalised (seconds, bytes, fractions).
    public var json: JSON {
        switch kind {
        case .null: return .null
        case .string(let s): return .string(s)
        case .integer(let i): return .int(i)
        case .number(let d), .duration(let d), .percentage(let d): return .double(d)
        case .size(let b): return .int(b)
        case .bool(let b): return .bool(b)
        case .list(let items): return .array(items.map(\.json))
        case .object(let fields): return .object(fields.map { ($0.name, $0.value.json) })
        }
    }
}
