/// A position in a source file: 1-based line and column (in Unicode scalars), 0-based scalar offset.
public struct SourceLocation: Hashable, Comparable, Sendable, Codable {
    public var line: Int
    public var column: Int
    public var offset: Int

    public init(line: Int, column: Int, offset: Int = 0) {
        self.line = line
        self.column = column
        self.offset = offset
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
