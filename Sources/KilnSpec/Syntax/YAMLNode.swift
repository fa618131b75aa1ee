public import KilnDiagnostics

/// How a scalar was written; decides typing (a quoted `"12"` is never a number).
public enum ScalarStyle: Sendable, Hashable {
    case plain
    case singleQuoted
    case doubleQuoted
    case literal
    case folded

    public var isPlain: Bool { self == .plain }
}

/// One node of the syntax tree. Every node keeps the span it was written at; nodes reached through
/// an alias keep the anchor's span (that is where the text is).
public struct YAMLNode: Sendable {
    public enum Kind: Sendable {
        case scalar(String, ScalarStyle)
        case sequence([YAMLNode])
        case mapping([YAMLEntry])
    }

    public var kind: Kind
    public var span: SourceSpan
    /// Nodes in this subtree after alias expansion, this one included: what the expansion bound counts.
    public var weight: Int

    public init(_ kind: Kind, span: SourceSpan) {
        self.kind = kind
        self.span = span
        switch kind {
        case .scalar: weight = 1
        case .sequence(let items): weight = items.reduce(1) { $0 &+ $1.weight }
        case .mapping(let entries): weight = entries.reduce(1) { $0 &+ $1.key.weight &+ $1.value.weight }
        }
    }

    /// The scalar text, if this is a scalar.
    public var scalar: String? {
        if case .scalar(let s, _) = kind { return s }
        return nil
    }

    public var style: ScalarStyle? {
        if case .scalar(_, let style) = kind { return style }
        return nil
    }

    /// A plain `~`, `null`, or empty scalar: YAML's null.
    public var isNull: Bool {
        if case .scalar(let s, .plain) = kind {
            return s.isEmpty || s == "~" || s == "null" || s == "Null" || s == "NULL"
        }
        return false
    }

    public var entries: [YAMLEntry]? {
        if case .mapping(let e) = kind { return e }
        return nil
    }

    public var items: [YAMLNode]? {
        if case .sequence(let i) = kind { return i }
        return nil
    }

    /// What this node is, in the words a message uses ("a mapping", "the string 'x'").
    public var describedKind: String {
        switch kind {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .scalar(let s, let style):
            if isNull { return "null" }
            let shown = s.count > 40 ? String(s.prefix(37)) + "..." : s
            return style.isPlain ? "'\(shown)'" : "the quoted string \"\(shown)\""
        }
    }
}

/// A key and its value in a mapping.
public struct YAMLEntry: Sendable {
    public var key: YAMLNode
    public var value: YAMLNode

    public init(key: YAMLNode, value: YAMLNode) {
        self.key = key
        self.value = value
    }

    /// The key's text (keys are scalars; the composer rejects any other).
    public var name: String { key.scalar ?? "" }
}

/// One `---` document of a file.
public struct YAMLDocument: Sendable {
    public var root: YAMLNode
    /// 1-based position of the document in its file.
    public var index: Int
}
