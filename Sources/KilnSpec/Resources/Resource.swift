public import KilnDiagnostics

/// One decoded document: a resource of one of the five kinds.
public struct Resource: Sendable {
    public var kind: ResourceKind
    public var name: String
    /// Where `metadata.name` is written: duplicates and references point here.
    public var nameSpan: SourceSpan
    /// The whole document.
    public var span: SourceSpan
    public var metadata: SpecValue
    /// The decoded `spec`, defaults filled in.
    public var spec: SpecValue
    /// The directory of the file that declares it: relative paths resolve against it.
    public var directory: String

    /// `training/iris-train`: the form Policy patterns and graph node ids use.
    public var id: String { "\(kind.word)/\(name)" }
    public var file: String { span.file }
}
