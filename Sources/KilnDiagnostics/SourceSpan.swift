/// A position in a source file: 1-based line and column (in Unicode scalars), 0-based scalar offset.
/// Stored in 32 bits each (clamped): every decoded spec value carries two spans, and a workspace of
/// thousands of specs holds millions of them.
public struct SourceLocation: Hashable, Comparable, Sendable, Codable {
    private var storedLine: UInt32
    private var storedColumn: UInt32
    private var storedOffset: UInt32

    public var line: Int {
        get { Int(storedLine) }
        set { storedLine = UInt32(clamping: newValue) }
    }

    public var column: Int {
        get { Int(storedColumn) }
        set { storedColumn = UInt32(clamping: newValue) }
    }

    public var offset: Int {
        get { Int(storedOffset) }
        set { storedOffset = UInt32(clamping: newValue) }
    }

    public init(line: Int, column: Int, offset: Int = 0) {
        storedLine = UInt32(clamping: line)
        storedColumn = UInt32(clamping: column)
        storedOffset = UInt32(clamping: offset)
    }

    private enum CodingKeys: String, CodingKey { case line, column, offset }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            line: try c.decode(Int.self, forKey: .line), column: try c.decode(Int.self, forKey: .column),
            offset: try c.decode(Int.self, forKey: .offset))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(line, forKey: .line)
        try c.encode(column, forKey: .column)
        try c.encode(offset, forKey: .offset)
    }

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// The region of a file a syntax node or a diagnostic covers; `end` is exclusive.
public struct SourceSpan: Hashable, Sendable, Codable {
    public var file: String
    public var start: SourceLocation
    public var end: SourceLocation

    public init(file: String, start: SourceLocation, end: SourceLocation) {
        self.file = file
        self.start = start
        self.end = end
    }

    /// A span covering a whole file's first position, for problems that concern the file itself.
    public static func fileStart(_ file: String) -> SourceSpan {
        let origin = SourceLocation(line: 1, column: 1, offset: 0)
        return SourceSpan(file: file, start: origin, end: origin)
    }
}

extension SourceSpan: CustomStringConvertible {
    public var description: String { "\(file):\(start.line):\(start.column)" }
}
