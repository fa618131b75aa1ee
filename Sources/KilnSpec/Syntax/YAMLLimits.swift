/// Bounds the front end enforces so that no input can hang or exhaust the machine.
public struct YAMLLimits: Sendable {
    /// Largest spec file read, in bytes.
    public var maxFileBytes: Int = 4 << 20
    /// Deepest nesting of mappings and lists.
    public var maxDepth: Int = 64
    /// Most nodes in one file after aliases are expanded (alias bombs stop here).
    public var maxExpandedNodes: Int = 250_000

    public init() {}
    public static let `default` = YAMLLimits()
}
