/// A diagnostic's stable id (`spec.duplicate-key`): tools and docs key on it. Each stage lists its ids in
/// one catalog file, as an enumeration (`SpecDiagnostic`, `CompilerDiagnostic`, `DataDiagnostic`,
/// `RunDiagnostic`, ...), and code names them through it (`.spec(.duplicateKey)`): an id is never written
/// as a string, nothing compares id strings, and a test holds the catalogs and docs/cli.md's table equal.
public struct DiagnosticID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    public let rawValue: String
    /// The diagnostic's quoted source line is not shown (it holds a secret).
    public let redactsSource: Bool

    /// For the catalogs' conversions only.
    public init(catalog rawValue: String, redactsSource: Bool = false) {
        self.rawValue = rawValue
        self.redactsSource = redactsSource
    }

    public var description: String { rawValue }
    /// `spec` of `spec.duplicate-key`.
    public var stage: Substring { rawValue.prefix { $0 != "." } }

    public static func == (a: DiagnosticID, b: DiagnosticID) -> Bool { a.rawValue == b.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
    public static func < (a: DiagnosticID, b: DiagnosticID) -> Bool { a.rawValue < b.rawValue }

    private enum CodingKeys: String, CodingKey { case id, redactsSource = "redacts_source" }

    /// A plain string, or `{"id": …, "redacts_source": true}` for an id whose source line is not shown (a
    /// diagnostic that comes back from `kiln exec-node` keeps it).
    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            self.init(catalog: text)
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(catalog: try c.decode(String.self, forKey: .id), redactsSource: try c.decode(Bool.self, forKey: .redactsSource))
    }

    public func encode(to encoder: any Encoder) throws {
        if redactsSource {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(rawValue, forKey: .id)
            try c.encode(true, forKey: .redactsSource)
        } else {
            var c = encoder.singleValueContainer()
            try c.encode(rawValue)
        }
    }
}
