import KilnDiagnostics
public import Foundation
public import KilnSpec

/// What the register node hands the registry: an artifact and the records that explain it.
public struct Registration: Sendable {
    public var model: String
    /// A directory holding `model.safetensors` and `card.json`.
    public var artifact: String
    /// JSON documents stored beside the artifact: `params.json`, `metrics.json`, `lineage.json`.
    public var records: [String: Data]
    /// Spec files that produced the version: path relative to the workspace → bytes.
    public var specs: [String: Data]
    public var message: String
    public var alias: String?
    public var author: String
    /// The training node that produced it.
    public var source: String
    /// The register node's key: registering the same key again returns the version it made (a run killed
    /// after registering but before caching the node must not make a second version).
    public var key: String

    public init(
        model: String, artifact: String, records: [String: Data], specs: [String: Data], message: String,
        alias: String?, author: String, source: String, key: String = ""
    ) {
        self.model = model
        self.artifact = artifact
        self.records = records
        self.specs = specs
        self.message = message
        self.alias = alias
        self.author = author
        self.source = source
        self.key = key
    }
}

/// A registered version.
public struct RegisteredVersion: Sendable, Codable, Equatable {
    public var model: String
    public var version: Int
    /// Where its files can be read.
    public var location: String
    /// Final metrics by split (`test` → `accuracy` → 0.97), for gates that compare with it.
    public var metrics: [String: [String: Double]]

    public init(model: String, version: Int, location: String, metrics: [String: [String: Double]]) {
        self.model = model
        self.version = version
        self.location = location
        self.metrics = metrics
    }

    public var reference: String { "\(model)@v\(version)" }
}

/// The narrow interface the runner's register, gate and release nodes use; `GitRegistry` (libgit2)
/// implements it.
public protocol ModelRegistry: Sendable {
    /// Stores a new version; the number is allocated atomically, so concurrent registrations get
    /// different numbers. Moves `alias` to it when given.
    func register(_ registration: Registration) throws -> RegisteredVersion
    /// The version a reference names; nil when the alias or version does not exist (yet).
    func resolve(_ reference: ModelReference) throws -> RegisteredVersion?
    /// Points `alias` of `model` at `version`, keeping the alias's history. `action` is what the move is
    /// (`alias`, `promote`, `rollback`, `deploy`), for the audit log the registry's witness writes.
    func setAlias(_ alias: String, model: String, version: Int, author: String, reason: String, action: String) throws
    /// Every file of a version with its SHA-256 (what a signature covers).
    func fileDigests(_ reference: ModelReference) throws -> (version: Int, files: [String: String])
    /// The signature stored beside a version; nil when it is unsigned.
    func signature(model: String, version: Int) throws -> Data?
}

extension ModelRegistry {
    /// Every signature stored for a version, newest first.
    public func signatures(model: String, version: Int) throws -> [Data] {
        try signature(model: model, version: version).map { [$0] } ?? []
    }

    public func setAlias(_ alias: String, model: String, version: Int, author: String, reason: String) throws {
        try setAlias(alias, model: model, version: version, author: author, reason: reason, action: "alias")
    }
}

/// What is about to change in a registry, told to its witness before the reference moves.
public enum RegistryEvent: Sendable, Equatable {
    /// Version `version` of `model` is about to be registered (and `alias` moved to it).
    case register(model: String, version: Int, alias: String?, source: String, author: String)
    /// `alias` of `model` is about to point at `version`.
    case aliasMove(model: String, alias: String, version: Int, author: String, reason: String, action: String)
}

/// Called before every reference move a registry makes for kiln (registering, moving an alias, taking an
/// alias move in a pull). It writes the audit line; what it returns (the audit log's head) goes into the
/// commit as `Kiln-Audit-Head:`, so a registry witnesses the log. A throw refuses the move: nothing
/// happens that the log does not hold.
public typealias RegistryWitness = @Sendable (RegistryEvent) throws -> String?

/// Why the registry refused or failed, by kind: a caller tells the user's mistake (a name that names
/// nothing, a value that cannot be recorded) from damage it must not paper over.
public enum RegistryError: Error, CustomStringConvertible, Equatable {
    /// A reference that names no registered version (`iris-mlp@v9`, `iris-mlp@staging`).
    case notRegistered(String)
    /// An alias without an earlier version to roll back to.
    case noEarlierVersion(model: String, alias: String)
    /// A value that cannot go into the registry: the user's to change.
    case unrecordable(Unrecordable)
    /// An artifact directory without a file a version needs.
    case incompleteArtifact(directory: String, missing: String)
    /// Objects or references that are not what kiln writes: a damaged or crafted registry (the message
    /// says which and how).
    case damaged(String)
    /// A reference other writers kept moving: the move was given up.
    case contended(String)

    public enum Unrecordable: Sendable, Equatable {
        case modelName(String)
        case alias(String)
        case author(String, problem: String)
        /// A line of the message starts with `Kiln-` (kiln's own trailers follow the message).
        case messageTrailer
        case messageControl
        case reason
    }

    public var description: String {
        switch self {
        case .notRegistered(let reference): return "\(reference) names no registered version"
        case .noEarlierVersion(let model, let alias): return "\(model)@\(alias) has no earlier version to roll back to"
        case .unrecordable(.modelName(let name)):
            return "'\(Escaped(name))' cannot be a model name: use a-z, 0-9 and '-', starting with a letter"
        case .unrecordable(.alias(let alias)):
            return
                "'\(Escaped(alias))' cannot be an alias: use a-z, 0-9 and '-', starting with a letter; 'latest' and 'vN' name versions"
        case .unrecordable(.author(let author, let problem)):
            return "the author '\(Escaped(author))' cannot be recorded: \(problem)"
        case .unrecordable(.messageTrailer):
            return "the registration message has a line starting with 'Kiln-', which kiln keeps for its own trailers"
        case .unrecordable(.messageControl): return "the registration message holds a control or formatting character"
        case .unrecordable(.reason):
            return "the reason must be one line of at most 4,096 bytes without control or formatting characters"
        case .incompleteArtifact(let directory, let missing): return "\(directory) has no \(missing)"
        case .damaged(let message), .contended(let message): return message
        }
    }
}
