import CGit2
import Crypto
public import Foundation
import KilnCompute
import KilnDiagnostics
public import KilnSpec

/// The registry as a git repository (bare, `.kiln/registry` by default), through libgit2:
///
/// - a version is a commit on `refs/kiln/models/NAME`, its parent the previous version; its tree holds
///   `card.json`, `params.json`, `metrics.json`, `lineage.json`, `kiln.json` (model, version, source),
///   `weights/` (WeightStore: manifest, header, chunks) and `specs/` (the spec files that produced it);
/// - its number N is one more than its parent's, fixed by moving the ref with compare-and-swap: two
///   concurrent registrations both succeed, with different numbers; `refs/tags/kiln/NAME/vN` (annotated)
///   indexes it;
/// - an alias is `refs/kiln/aliases/NAME/ALIAS`, a chain of commits whose `alias.json` names the version:
///   every move is a commit (who, when, why), so the history is never lost.
///
/// Objects are written before a ref moves, so a process killed at any point leaves either the old state
/// or the new one (and perhaps unreferenced objects, which git ignores).
public final class GitRegistry: ModelRegistry, @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var repository: GitRepository?

    /// Told of every reference move before it happens (the audit log); nil: nobody is told.
    public let witness: RegistryWitness?

    public init(path: String, witness: RegistryWitness? = nil) {
        self.path = path
        self.witness = witness
    }

    /// The witness's head as a commit trailer, or nothing.
    func witnessed(_ event: RegistryEvent) throws -> String {
        guard let head = try witness?(event) else { return "" }
        return "Kiln-Audit-Head: \(head)\n"
    }

    /// The repository, opened (or created) on first use.
    func repo() throws -> GitRepository {
        if let repository { return repository }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let r = try GitRepository.open(path, create: true)
        repository = r
        return r
    }

    static func modelRef(_ model: String) -> String { "refs/kiln/models/\(model)" }
    static func aliasRef(_ model: String, _ alias: String) -> String { "refs/kiln/aliases/\(model)/\(alias)" }
    static func tagName(_ model: String, _ version: Int) -> String { "kiln/\(model)/v\(version)" }

    struct VersionInfo: Codable {
        var model: String
        var version: Int
        var source: String
        var kiln: String
        var key: String?
    }

    struct AliasInfo: Codable {
        var model: String
        var alias: String
        var version: Int
        var commit: String
    }

    // MARK: Register

    public func register(_ r: Registration) throws -> RegisteredVersion {
        try Self.checkRecordable(r)
        lock.lock()
        defer { lock.unlock() }
        let repo = try repo()
        if !r.key.isEmpty, let existing = try version(withKey: r.key, model: r.model, repo) {
            if let alias = r.alias,
                try ModelReference("\(r.model)@\(alias)").flatMap({ try locate($0, repo) })?.0 != existing.0
            {
                let author = GitSignature(name: r.author, email: "", time: Int64(Date().timeIntervalSince1970))
                try moveAlias(
                    alias, model: r.model, version: existing.0, commit: existing.1, author: author,
                    reason: "registered by \(r.source)", action: "promote", repo)
            }
            return try registered(r.model, existing.0, existing.1, repo)
        }
        var entries: [GitTreeEntry] = []
        for (name, data) in r.records.sorted(by: { $0.key < $1.key }) {
            entries.append(GitTreeEntry(name: name, id: try repo.writeBlob(data), kind: .blob))
        }
        guard let card = FileManager.default.contents(atPath: r.artifact + "/card.json") else {
            throw RegistryError.incompleteArtifact(directory: r.artifact, missing: "card.json")
        }
        entries.append(GitTreeEntry(name: "card.json", id: try repo.writeBlob(card), kind: .blob))
        // A booster's trees, in XGBoost's JSON (a text blob: git's deltas store a retrained one cheaply).
        if let trees = FileManager.default.contents(atPath: r.artifact + "/" + BoosterCard.file) {
            entries.append(GitTreeEntry(name: BoosterCard.file, id: try repo.writeBlob(trees), kind: .blob))
        }
        let (_, weights) = try WeightStore.write(r.artifact + "/model.safetensors", into: repo)
        entries.append(GitTreeEntry(name: "weights", id: weights, kind: .tree))
        entries.append(GitTreeEntry(name: "specs", id: try writeDirectory(r.specs, repo), kind: .tree))
        // A transformer's encoder config and tokenizer files (FineTunedBert's layout), by name.
        var transformer: [String: Data] = [:]
        for name in FineTunedBert.tokenizerFiles {
            let path = r.artifact + "/" + FineTunedBert.folder + "/" + name
            if let data = FileManager.default.contents(atPath: path) { transformer[name] = data }
        }
        if !transformer.isEmpty {
            entries.append(GitTreeEntry(name: FineTunedBert.folder, id: try writeDirectory(transformer, repo), kind: .tree))
        }
        let author = GitSignature(name: r.author, email: "", time: Int64(Date().timeIntervalSince1970))

        // Allocate the number by moving the model's ref with compare-and-swap; lose, re-read, retry.
        return try Self.movingReference(
            failing: "could not register \(r.model): the model's history kept moving (100 attempts)"
        ) {
            let tip = try repo.reference(Self.modelRef(r.model))
            let number = try tip.map { try version(of: $0, repo) + 1 } ?? 1
            let info = VersionInfo(
                model: r.model, version: number, source: r.source, kiln: KilnVersion.string,
                key: r.key.isEmpty ? nil : r.key)
            let tree = try repo.writeTree(
                entries + [GitTreeEntry(name: "kiln.json", id: try repo.writeBlob(try Self.json(info)), kind: .blob)])
            let anchor = try witnessed(
                .register(model: r.model, version: number, alias: r.alias, source: r.source, author: r.author))
            let message =
                r.message + "\n\nKiln-Model: \(r.model)\nKiln-Version: \(number)\nKiln-Source: \(r.source)\n\(anchor)"
            let commit = try repo.commit(
                tree: tree, parents: tip.map { [$0] } ?? [], message: message, author: author,
                updating: Self.modelRef(r.model))
            try tag(r.model, number, commit, author, repo)
            if let alias = r.alias {
                try moveAlias(
                    alias, model: r.model, version: number, commit: commit, author: author,
                    reason: "registered by \(r.source)", action: "promote", repo)
            }
            return try registered(r.model, number, commit, repo)
        }
    }

    /// Everything of a registration that goes into a commit, a ref or a tag is checked before anything is
    /// written: a name git and kiln can both read back, no forged `Kiln-` trailer in the message.
    static func checkRecordable(_ r: Registration) throws {
        guard ModelNames.isName(r.model) else {
            throw RegistryError.unrecordable(.modelName(r.model))
        }
        if let alias = r.alias { try checkAlias(alias) }
        if let problem = GitSignature.problem(r.author) {
            throw RegistryError.unrecordable(.author(r.author, problem: problem))
        }
        switch ModelNames.messageProblem(r.message) {
        case .trailer?:
            throw RegistryError.unrecordable(.messageTrailer)
        case .control?:
            throw RegistryError.unrecordable(.messageControl)
        case nil:
            break
        }
    }

    static func checkAlias(_ alias: String) throws {
        guard ModelNames.isAlias(alias) else {
            throw RegistryError.unrecordable(.alias(alias))
        }
    }

    static func checkReason(_ reason: String) throws {
        guard Escaped.firstControl(in: reason) == nil, reason.utf8.count <= 4096
        else {
            throw RegistryError.unrecordable(.reason)
        }
    }

    /// The version (number, commit) an earlier registration with this key made, among the latest 100.
    private func version(withKey key: String, model: String, _ repo: GitRepository) throws -> (Int, ObjectID)? {
        var found: (Int, ObjectID)?
        try repo.walkFirstParents(from: try repo.reference(Self.modelRef(model)), limit: 100) { id, commit in
            if let entry = try repo.readTree(commit.tree).first(where: { $0.name == "kiln.json" }),
                let info = try? JSONDecoder().decode(VersionInfo.self, from: try repo.readBlob(entry.id)),
                info.key == key
            {
                found = (info.version, id)
                return false
            }
            return true
        }
        return found
    }

    private func tag(_ model: String, _ number: Int, _ commit: ObjectID, _ author: GitSignature, _ repo: GitRepository)
        throws
    {
        do {
            try repo.createTag(
                Self.tagName(model, number), on: commit, tagger: author, message: "\(model) v\(number)\n")
        } catch {
            // Already there: only acceptable when it names this very commit (a repaired index).
            guard error.isExists, try repo.reference("refs/tags/" + Self.tagName(model, number)) == commit else {
                throw error
            }
        }
    }

    private func writeDirectory(_ files: [String: Data], _ repo: GitRepository) throws -> ObjectID {
        var blobs: [GitTreeEntry] = []
        var children: [String: [String: Data]] = [:]
        for (path, data) in files {
            let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
            if parts.count == 2 {
                children[parts[0], default: [:]][parts[1]] = data
            } else if let name = parts.first, name != "." && name != ".." {
                blobs.append(GitTreeEntry(name: name, id: try repo.writeBlob(data), kind: .blob))
            }
        }
        for (name, sub) in children where name != "." && name != ".." {
            blobs.append(GitTreeEntry(name: name, id: try writeDirectory(sub, repo), kind: .tree))
        }
        return try repo.writeTree(blobs)
    }

    // MARK: Resolve

    public func resolve(_ reference: ModelReference) throws -> RegisteredVersion? {
        lock.lock()
        defer { lock.unlock() }
        let repo = try repo()
        guard let (number, commit) = try locate(reference, repo) else { return nil }
        return try registered(reference.model, number, commit, repo)
    }

    /// The version number and commit a reference names.
    func locate(_ reference: ModelReference, _ repo: GitRepository) throws -> (Int, ObjectID)? {
        switch reference.target {
        case .latest:
            guard let tip = try repo.reference(Self.modelRef(reference.model)) else { return nil }
            return (try version(of: tip, repo), tip)
        case .version(let n):
            guard let tip = try repo.reference(Self.modelRef(reference.model)) else { return nil }
            if let tagged = try repo.reference("refs/tags/" + Self.tagName(reference.model, n)) {
                // The tag is an index, never the truth: it must name that version in the model's history (a
                // moved tag once served v1's weights as v2).
                guard try version(of: tagged, repo) == n, try repo.descends(tip, from: tagged) else {
                    throw RegistryError.damaged(
                        "\(reference)'s tag names a commit that is not \(reference) in \(reference.model)'s history: the registry is damaged or crafted")
                }
                return (n, tagged)
            }
            // A process killed between the ref and the tag: walk the history.
            var found: ObjectID?
            var expected: Int?
            try repo.walkFirstParents(from: tip) { id, _ in
                let v = try version(of: id, repo)
                if let expected, v != expected { throw Self.brokenHistory(reference.model, v, expected) }
                if v == n { found = id }
                expected = v - 1
                return v > n
            }
            return found.map { (n, $0) }
        case .alias(let alias):
            guard let head = try repo.reference(Self.aliasRef(reference.model, alias)) else { return nil }
            let info = try aliasInfo(head, repo)
            guard let commit = ObjectID(hex: info.commit), info.model == reference.model, info.alias == alias else {
                throw RegistryError.damaged("alias \(reference) is damaged")
            }
            // The alias is an index too: it must name that version in the model's history.
            guard let tip = try repo.reference(Self.modelRef(reference.model)), try repo.descends(tip, from: commit),
                try version(of: commit, repo) == info.version
            else {
                throw RegistryError.damaged(
                    "alias \(reference) names a commit that is not v\(info.version) of \(reference.model)'s history: the registry is damaged or crafted")
            }
            return (info.version, commit)
        }
    }

    /// A history whose numbers do not go one by one.
    static func brokenHistory(_ model: String, _ found: Int, _ expected: Int) -> RegistryError {
        .damaged(
            "\(model)'s history numbers v\(found) where v\(expected) should be: the registry is damaged or crafted (kiln numbers versions one by one)")
    }

    /// The number in the commit's one `Kiln-Version:` trailer; two trailers, or none, is not a version.
    func version(of commit: ObjectID, _ repo: GitRepository) throws -> Int {
        let message = try repo.readCommit(commit).message
        let trailers = message.split(separator: "\n").filter { $0.hasPrefix("Kiln-Version: ") }
        if trailers.count == 1, let n = Int(trailers[0].dropFirst("Kiln-Version: ".count)), n > 0,
            "Kiln-Version: \(n)" == trailers[0]
        {
            return n
        }
        if trailers.count > 1 {
            throw RegistryError.damaged("commit \(commit.hex.prefix(12)) has \(trailers.count) Kiln-Version trailers: it is crafted")
        }
        throw RegistryError.damaged("commit \(commit.hex.prefix(12)) is not a kiln model version")
    }

    func aliasInfo(_ commit: ObjectID, _ repo: GitRepository) throws -> AliasInfo {
        let tree = try repo.readTree(try repo.readCommit(commit).tree)
        guard let entry = tree.first(where: { $0.name == "alias.json" }) else {
            throw RegistryError.damaged("alias commit \(commit.hex.prefix(12)) has no alias.json")
        }
        return try JSONDecoder().decode(AliasInfo.self, from: try repo.readBlob(entry.id))
    }

    private func registered(_ model: String, _ number: Int, _ commit: ObjectID, _ repo: GitRepository) throws
        -> RegisteredVersion
    {
        // JSONDecoder, not JSONSerialization: on Linux the latter rounds about half of all doubles to a
        // neighbour, and a gate comparing a value with itself (`max_drop: 0`) would then fail.
        struct Final: Decodable { var final: [String: [String: Double]] }
        var metrics: [String: [String: Double]] = [:]
        let tree = try repo.readTree(try repo.readCommit(commit).tree)
        if let entry = tree.first(where: { $0.name == "metrics.json" }),
            let final = try? JSONDecoder().decode(Final.self, from: try repo.readBlob(entry.id)).final
        {
            metrics = final
        }
        return RegisteredVersion(
            model: model, version: number, location: "\(path) (commit \(commit.hex.prefix(12)))", metrics: metrics)
    }

    // MARK: Aliases

    public func setAlias(
        _ alias: String, model: String, version: Int, author: String, reason: String, action: String
    ) throws {
        try Self.checkAlias(alias)
        try Self.checkReason(reason)
        lock.lock()
        defer { lock.unlock() }
        let repo = try repo()
        guard let reference = ModelReference("\(model)@v\(version)"), let (_, commit) = try locate(reference, repo)
        else {
            throw RegistryError.notRegistered("\(model)@v\(version)")
        }
        let signature = GitSignature(name: author, email: "", time: Int64(Date().timeIntervalSince1970))
        try moveAlias(
            alias, model: model, version: version, commit: commit, author: signature, reason: reason, action: action,
            repo)
    }

    private func moveAlias(
        _ alias: String, model: String, version: Int, commit: ObjectID, author: GitSignature, reason: String,
        action: String, _ repo: GitRepository
    ) throws {
        let info = AliasInfo(model: model, alias: alias, version: version, commit: commit.hex)
        let tree = try repo.writeTree([
            GitTreeEntry(name: "alias.json", id: try repo.writeBlob(try Self.json(info)), kind: .blob)
        ])
        let anchor = try witnessed(
            .aliasMove(model: model, alias: alias, version: version, author: author.name, reason: reason, action: action))
        try Self.movingReference(failing: "could not move \(model)@\(alias): it kept moving (100 attempts)") {
            let head = try repo.reference(Self.aliasRef(model, alias))
            _ = try repo.commit(
                tree: tree, parents: head.map { [$0] } ?? [],
                message: "\(alias) → v\(version): \(reason)\n" + (anchor.isEmpty ? "" : "\n\(anchor)"),
                author: author, updating: Self.aliasRef(model, alias))
        }
    }

    /// Another writer moved the ref (or holds its lock file) between our read and our write.
    static func lostRace(_ error: any Error) -> Bool {
        guard let e = error as? GitError else { return false }
        return e.isModified || e.isExists || e.code == GIT_ELOCKED.rawValue
    }

    /// The one compare-and-swap loop of every reference move: `move` reads the reference, builds on what
    /// it found and moves it expecting that; when another writer moved it in between (`lostRace`), it runs
    /// again after a short random wait, at most 100 times, then fails with `failing`.
    static func movingReference<T>(failing: @autoclosure () -> String, _ move: () throws -> T) throws -> T {
        for _ in 0..<100 {
            do { return try move() } catch {
                guard lostRace(error) else { throw error }
                usleep(UInt32.random(in: 1000...5000))
            }
        }
        throw RegistryError.contended(failing())
    }

    // MARK: Reading versions

    /// Writes a version's files into `directory`: `model.safetensors` (reassembled, byte-identical to what
    /// was registered, verified), `card.json`, the records, and `specs/`. The version's tree is checked
    /// whole before anything is written (`contents`), and files are written through `ConfinedDirectory`,
    /// which follows no symlink already in the target.
    @discardableResult
    public func checkout(_ reference: ModelReference, to directory: String) throws -> RegisteredVersion {
        lock.lock()
        defer { lock.unlock() }
        let repo = try repo()
        guard let (number, commit) = try locate(reference, repo) else {
            throw RegistryError.notRegistered(reference.description)
        }
        let contents = try self.contents(of: commit, "\(reference.model)@v\(number)", repo)
        let target = try ConfinedDirectory(creating: directory)
        for file in contents.files {
            try target.write(try repo.readBlob(file.id), to: file.path)
        }
        try target.write(to: Self.weightsFile) { fd in
            try WeightStore.read(contents.weights, from: repo, into: fd)
        }
        return try registered(reference.model, number, commit, repo)
    }

    static let weightsFile = RelativePath(checked: ["model.safetensors"])

    /// What a version's tree holds, checked: every path safe (`RelativePath`), only files and folders,
    /// one weights manifest that is well-formed, no two entries writing the same file. A tree that breaks
    /// any of this (a crafted or damaged version, say from a pulled registry) is refused, naming the entry.
    struct VersionContents {
        /// Every file a checkout writes but the weights (`kiln.json` is kiln's own index, not written).
        var files: [(path: RelativePath, id: ObjectID)]
        var weights: WeightStore.Manifest
    }

    /// The top level of a version's tree: kiln's records, its index, the weights and the spec files.
    static let versionLayout: Set<String> = [
        "card.json", "params.json", "metrics.json", "lineage.json", "kiln.json", "weights", "specs",
        FineTunedBert.folder, BoosterCard.file,
    ]

    func contents(of commit: ObjectID, _ what: String, _ repo: GitRepository) throws -> VersionContents {
        var files: [(path: RelativePath, id: ObjectID)] = []
        var weights: WeightStore.Manifest?
        var seen: Set<RelativePath> = [Self.weightsFile]
        func refuse(_ reason: String) -> RegistryError {
            .damaged("\(what) is damaged or crafted: \(reason); nothing was written or taken")
        }
        func walk(_ tree: ObjectID, _ prefix: RelativePath?, depth: Int) throws {
            guard depth < 32 else { throw refuse("its tree is nested more than 32 levels deep") }
            var names = Set<String>()
            for entry in try repo.readTree(tree) {
                let path: RelativePath
                do {
                    path = try prefix.map { try $0.appending(entry.name) } ?? RelativePath(component: entry.name)
                } catch {
                    throw refuse("\(error)")
                }
                guard names.insert(entry.name).inserted else { throw refuse("it holds '\(path)' twice") }
                // A version holds what kiln writes and nothing else: a `.git` (any case) written by a
                // checkout would be a repository whose config runs commands for the next `git status`.
                if prefix == nil && !Self.versionLayout.contains(entry.name) {
                    throw refuse("its tree has '\(path)' at the top, which is not part of a kiln version")
                }
                if path.components.contains(where: { $0.lowercased().hasPrefix(".git") }) {
                    throw refuse("'\(path)' is a git control file, which a version never holds")
                }
                switch (path.string, entry.kind) {
                case ("weights", .tree):
                    guard let m = try repo.readTree(entry.id).first(where: { $0.name == "manifest.json" && $0.kind == .blob })
                    else { throw refuse("its weights have no manifest") }
                    let manifest: WeightStore.Manifest
                    do {
                        manifest = try JSONDecoder().decode(WeightStore.Manifest.self, from: try repo.readBlob(m.id))
                    } catch {
                        throw refuse("its weights manifest cannot be read (\(error))")
                    }
                    if let problem = manifest.problem { throw refuse("its weights manifest \(problem)") }
                    weights = manifest
                case ("kiln.json", .blob):
                    continue
                case (_, .tree):
                    try walk(entry.id, path, depth: depth + 1)
                case (_, .blob):
                    guard seen.insert(path).inserted else { throw refuse("it holds '\(path)' twice") }
                    files.append((path, entry.id))
                case (_, .unsupported):
                    throw refuse("'\(path)' is a symlink or a submodule, which a version never holds")
                }
            }
        }
        try walk(try repo.readCommit(commit).tree, nil, depth: 0)
        guard let weights else { throw refuse("it has no weights") }
        return VersionContents(files: files.sorted { $0.path < $1.path }, weights: weights)
    }

    /// A file of a version's tree by path (`weights/manifest.json`), nil when absent.
    public func blob(_ reference: ModelReference, path: String) throws -> Data? {
        lock.lock()
        defer { lock.unlock() }
        let repo = try repo()
        guard let (_, commit) = try locate(reference, repo) else { return nil }
        var tree = try repo.readCommit(commit).tree
        let parts = path.split(separator: "/").map(String.init)
        for (i, part) in parts.enumerated() {
            guard let entry = try repo.readTree(tree).first(where: { $0.name == part }) else { return nil }
            if i == parts.count - 1 { return entry.kind == .blob ? try repo.readBlob(entry.id) : nil }
            tree = entry.id
        }
        return nil
    }

    // MARK: Signatures

    static func signatureRef(_ model: String, _ version: Int) -> String { "refs/kiln/signatures/\(model)/v\(version)" }

    /// Every file a checkout of the version writes, with its SHA-256 (the weights by the hash of the
    /// reassembled file, which reading verifies chunk by chunk): what a signature covers.
    public func fileDigests(_ reference: ModelReference) throws -> (version: Int, files: [String: String]) {
        lock.lock()
        defer { lock.unlock() }
        let repo = try repo()
        guard let (number, commit) = try locate(reference, repo) else {
            throw RegistryError.notRegistered(reference.description)
        }
        let contents = try self.contents(of: commit, "\(reference.model)@v\(number)", repo)
        // Recomputed from the objects, never taken from the manifest: reassembly throws if they differ.
        try WeightStore.stream(contents.weights, from: repo) { _ in }
        var files = [Self.weightsFile.string: contents.weights.sha256]
        for file in contents.files {
            files[file.path.string] = WeightStore.hex(SHA256.hash(data: try repo.readBlob(file.id)))
        }
        return (number, files)
    }

    /// The signature stored beside a version, if any: `signature.json` of the tip of its ref.
    public func signature(model: String, version: Int) throws -> Data? {
        try withRepository { repo in
            guard let id = try repo.reference(Self.signatureRef(model, version)) else { return nil }
            guard
                let entry = try repo.readTree(try repo.readCommit(id).tree).first(where: { $0.name == "signature.json" }
                )
            else { throw RegistryError.damaged("the signature commit of \(model)@v\(version) holds no signature.json") }
            return try repo.readBlob(entry.id)
        }
    }

    /// Every signature stored for a version, newest first (at most 100): a newer signature by an untrusted
    /// key must not hide an older trusted one (anyone can add one, and a pull brings them).
    public func signatures(model: String, version: Int) throws -> [Data] {
        try withRepository { repo in
            var out: [Data] = []
            try repo.walkFirstParents(from: try repo.reference(Self.signatureRef(model, version)), limit: 100) {
                _, commit in
                if let entry = try repo.readTree(commit.tree).first(where: { $0.name == "signature.json" && $0.kind == .blob }) {
                    out.append(try repo.readBlob(entry.id))
                }
                return true
            }
            return out
        }
    }

    /// Stores a version's signature as a commit on `refs/kiln/signatures/NAME/vN` (a new signature is a new
    /// commit on top: signing history is kept, and push/pull carry it like the other refs).
    public func storeSignature(_ data: Data, model: String, version: Int, author: String) throws {
        try withRepository { repo in
            let tree = try repo.writeTree([
                GitTreeEntry(name: "signature.json", id: try repo.writeBlob(data), kind: .blob)
            ])
            let name = Self.signatureRef(model, version)
            let signer = GitSignature(name: author, email: "", time: Int64(Date().timeIntervalSince1970))
            try Self.movingReference(
                failing: "could not store the signature of \(model)@v\(version): its ref kept moving"
            ) {
                let head = try repo.reference(name)
                _ = try repo.commit(
                    tree: tree, parents: head.map { [$0] } ?? [], message: "sign \(model)@v\(version)\n",
                    author: signer, updating: name)
            }
        }
    }

    // MARK: Spec history

    static let specsRef = "refs/kiln/specs"

    /// Commits the workspace's spec files on `refs/kiln/specs` when they differ from its last commit, so
    /// spec history exists even in a workspace that is not a git repository. Returns the commit id when
    /// one was made.
    @discardableResult
    public func recordSpecs(_ files: [String: Data], author: String, message: String) throws -> String? {
        try withRepository { repo in
            let tree = try writeDirectory(files, repo)
            return try Self.movingReference(failing: "could not record the specs: refs/kiln/specs kept moving") {
                let tip = try repo.reference(Self.specsRef)
                if let tip, try repo.readCommit(tip).tree == tree { return nil }
                let signature = GitSignature(
                    name: author, email: GitConfig.userEmail ?? "", time: Int64(Date().timeIntervalSince1970))
                return try repo.commit(
                    tree: tree, parents: tip.map { [$0] } ?? [], message: message + "\n", author: signature,
                    updating: Self.specsRef
                ).hex
            }
        }
    }

    /// The spec history, newest first: commit, author, time, message, and the files' paths.
    public func specHistory(limit: Int = .max) throws -> [(commit: String, author: String, time: Date, message: String)]
    {
        try withRepository { repo in
            var out: [(String, String, Date, String)] = []
            try repo.walkFirstParents(from: try repo.reference(Self.specsRef), limit: limit) { id, c in
                out.append(
                    (
                        id.hex, c.author.name, Date(timeIntervalSince1970: TimeInterval(c.author.time)),
                        c.message.trimmingCharacters(in: .whitespacesAndNewlines)
                    ))
                return true
            }
            return out
        }
    }

    /// A version as `kiln log` shows it.
    public struct VersionSummary: Sendable {
        public var version: Int
        public var commit: String
        public var author: String
        public var time: Date
        public var message: String
        public var metrics: [String: [String: Double]]
        public var source: String
    }

    /// Registered model names, sorted.
    public func models() throws -> [String] {
        lock.lock()
        defer { lock.unlock() }
        guard FileManager.default.fileExists(atPath: path + "/HEAD") else { return [] }
        let repo = try repo()
        // A model's ref that does not lead to a readable version is damage, not an absent model.
        return try repo.rawReferences(matching: "refs/kiln/models/*").map { ref in
            let name = String(ref.name.dropFirst("refs/kiln/models/".count))
            do { _ = try version(of: ref.target, repo) } catch {
                throw RegistryError.damaged(
                    "\(Escaped(ref.name)) points at \(ref.target.hex.prefix(12)), which is not a readable kiln version (\(error)): the registry is damaged")
            }
            return name
        }
    }

    /// A model's versions, newest first (at most `limit`).
    public func log(_ model: String, limit: Int = .max) throws -> [VersionSummary] {
        lock.lock()
        defer { lock.unlock() }
        let repo = try repo()
        var out: [VersionSummary] = []
        try repo.walkFirstParents(from: try repo.reference(Self.modelRef(model)), limit: limit) { id, commit in
            let number = try version(of: id, repo)
            if let last = out.last, number != last.version - 1 { throw Self.brokenHistory(model, number, last.version - 1) }
            if commit.parents.isEmpty && number != 1 { throw Self.brokenHistory(model, number, 1) }
            var source = ""
            var lines: [Substring] = []
            for line in commit.message.split(separator: "\n", omittingEmptySubsequences: false) {
                if line.hasPrefix("Kiln-Version: ") {
                    continue  // the number comes from version(of:), which checks it
                } else if line.hasPrefix("Kiln-Source: ") {
                    source = String(line.dropFirst(13))
                } else if !line.hasPrefix("Kiln-") {
                    lines.append(line)
                }
            }
            out.append(
                VersionSummary(
                    version: number, commit: id.hex, author: commit.author.name,
                    time: Date(timeIntervalSince1970: TimeInterval(commit.author.time)),
                    message: lines.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines),
                    metrics: try registered(model, number, id, repo).metrics, source: source))
            return true
        }
        return out
    }

    /// A model's aliases and the versions they name, sorted by alias.
    public func aliases(_ model: String) throws -> [(alias: String, version: Int)] {
        lock.lock()
        defer { lock.unlock() }
        let repo = try repo()
        let prefix = "refs/kiln/aliases/\(model)/"
        return try repo.references(matching: prefix + "*").map { ref in
            (String(ref.name.dropFirst(prefix.count)), try aliasInfo(ref.target, repo).version)
        }
    }

    /// Paths of the files below `directory` in a version's tree (the tree checked as a checkout checks it).
    public func paths(_ reference: ModelReference, under directory: String) throws -> [String] {
        try withRepository { repo in
            guard let (number, commit) = try locate(reference, repo) else { return [] }
            let prefix = directory.hasSuffix("/") ? directory : directory + "/"
            return try contents(of: commit, "\(reference.model)@v\(number)", repo).files.compactMap {
                $0.path.string.hasPrefix(prefix) ? String($0.path.string.dropFirst(prefix.count)) : nil
            }
        }
    }

    /// Runs `body` with the repository, under the registry's lock.
    func withRepository<T>(_ body: (GitRepository) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(try repo())
    }

    /// One move of an alias.
    public struct AliasMove: Sendable, Equatable {
        public var version: Int
        public var author: String
        public var time: Date
        public var reason: String
    }

    /// An alias's moves, newest first.
    public func history(of alias: String, model: String) throws -> [AliasMove] {
        lock.lock()
        defer { lock.unlock() }
        let repo = try repo()
        var out: [AliasMove] = []
        try repo.walkFirstParents(from: try repo.reference(Self.aliasRef(model, alias))) { id, commit in
            let info = try aliasInfo(id, repo)
            let subject = commit.message.split(separator: "\n", maxSplits: 1).first ?? ""
            let reason =
                subject.split(separator: ":", maxSplits: 1).last.map {
                    $0.trimmingCharacters(in: .whitespacesAndNewlines)
                } ?? ""
            out.append(
                AliasMove(
                    version: info.version, author: commit.author.name,
                    time: Date(timeIntervalSince1970: TimeInterval(commit.author.time)), reason: reason))
            return true
        }
        return out
    }

    /// An audit head a commit recorded (`Kiln-Audit-Head: HEAD LOG`).
    public struct AuditAnchor: Sendable {
        public var what: String
        public var commit: String
        public var head: String
        public var log: String
    }

    /// Every audit anchor in the model histories and alias histories.
    public func auditAnchors() throws -> [AuditAnchor] {
        guard FileManager.default.fileExists(atPath: path + "/HEAD") else { return [] }
        return try withRepository { repo in
            var out: [AuditAnchor] = []
            var seen = Set<ObjectID>()
            for pattern in ["refs/kiln/models/*", "refs/kiln/aliases/*"] {
                for ref in try repo.rawReferences(matching: pattern) {
                    try repo.walkFirstParents(from: ref.target) { id, commit in
                        // Histories share commits (an alias's and its model's): each is read once.
                        guard seen.insert(id).inserted else { return false }
                        for line in commit.message.split(separator: "\n") where line.hasPrefix("Kiln-Audit-Head: ") {
                            let parts = line.dropFirst("Kiln-Audit-Head: ".count).split(separator: " ")
                            guard parts.count == 2 else { continue }
                            out.append(
                                AuditAnchor(
                                    what: "\(ref.name.dropFirst("refs/kiln/".count))",
                                    commit: id.hex, head: String(parts[0]), log: String(parts[1])))
                        }
                        return true
                    }
                }
            }
            return out
        }
    }

    /// Moves `alias` back to the version it pointed at before its last move (a new move: history is kept).
    @discardableResult
    public func rollback(_ alias: String, model: String, author: String, reason: String) throws -> Int {
        let moves = try history(of: alias, model: model)
        guard moves.count >= 2 else {
            throw RegistryError.noEarlierVersion(model: model, alias: alias)
        }
        let previous = moves[1].version
        try setAlias(
            alias, model: model, version: previous, author: author, reason: "rollback: \(reason)", action: "rollback")
        return previous
    }

    static func json(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}
