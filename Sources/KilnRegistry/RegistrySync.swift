import CGit2
import Foundation
import KilnCompute
import KilnDiagnostics
import KilnSpec

/// What `kiln push` / `kiln pull` did.
public struct SyncReport: Sendable {
    /// References created or moved forward (`refs/kiln/models/iris-mlp`, …).
    public var updated: [String] = []
    /// References already the same on both sides.
    public var unchanged = 0
    /// References whose histories diverged (someone else registered or moved an alias meanwhile), with
    /// what to do; nothing was overwritten.
    public var conflicts: [String] = []
    /// References not taken because what they name is unsafe or damaged (a crafted tree, a version that is
    /// not one, a name kiln does not use) or because moving the alias was not allowed, with the reason.
    public var refused: [String] = []
    /// Aliases the pull moved: the caller audits each like any other alias move.
    public var aliasMoves: [AliasMoveRecord] = []

    public struct AliasMoveRecord: Sendable, Equatable {
        public var model: String
        public var alias: String
        public var from: Int?
        public var to: Int

        public init(model: String, alias: String, from: Int?, to: Int) {
            self.model = model
            self.alias = alias
            self.from = from
            self.to = to
        }
    }
}

/// The kinds of reference kiln keeps, parsed from a name: anything else in a registry is not kiln's.
enum RegistryReference: Equatable {
    case model(String)
    case alias(model: String, alias: String)
    case signature(model: String, version: Int)
    case specs
    case tag(model: String, version: Int)

    init?(_ name: String) {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        func version(_ s: String) -> Int? {
            guard s.hasPrefix("v"), let n = Int(s.dropFirst()), n > 0, "v\(n)" == s else { return nil }
            return n
        }
        switch parts.count {
        case 3 where parts[0] == "refs" && parts[1] == "kiln" && parts[2] == "specs":
            self = .specs
        case 4 where parts[0] == "refs" && parts[1] == "kiln" && parts[2] == "models" && ModelNames.isName(parts[3]):
            self = .model(parts[3])
        case 5 where parts[0] == "refs" && parts[1] == "kiln" && parts[2] == "aliases" && ModelNames.isName(parts[3])
            && ModelNames.isAlias(parts[4]):
            self = .alias(model: parts[3], alias: parts[4])
        case 5 where parts[0] == "refs" && parts[1] == "kiln" && parts[2] == "signatures"
            && ModelNames.isName(parts[3]):
            guard let n = version(parts[4]) else { return nil }
            self = .signature(model: parts[3], version: n)
        case 5 where parts[0] == "refs" && parts[1] == "tags" && parts[2] == "kiln" && ModelNames.isName(parts[3]):
            guard let n = version(parts[4]) else { return nil }
            self = .tag(model: parts[3], version: n)
        default:
            return nil
        }
    }
}

extension GitRegistry {
    static let syncedPatterns = ["refs/kiln/*", "refs/tags/kiln/*"]

    /// A local path that is not a repository yet becomes an empty bare one (the first push to a share).
    private func prepare(_ remote: String) throws {
        // URLs (https://, ssh://, file://) and scp-like `host:path` are left to the transport.
        let local = !remote.contains("://") && !(remote.contains(":") && !remote.hasPrefix("/"))
        guard local else { return }
        if !FileManager.default.fileExists(atPath: remote) {
            _ = try GitRepository.open(remote, create: true)
        }
    }

    /// Pushes every model history, alias and version tag, never forced. A reference the remote refuses
    /// (its history moved: someone else registered meanwhile) is fetched and reported; run `kiln pull`.
    public func push(to remote: String) throws -> SyncReport {
        try prepare(remote)
        return try withRepository { repo in
            var local: [(name: String, target: ObjectID)] = []
            for pattern in Self.syncedPatterns { local += try repo.rawReferences(matching: pattern) }
            guard !local.isEmpty else { return SyncReport() }
            var refused: [String: String]
            do {
                refused = try repo.push(to: remote, refspecs: local.map { "\($0.name):\($0.name)" })
            } catch {
                // The local transport refuses the whole push when one reference is not a fast-forward: find
                // which by fetching the remote's, report those, and push the rest.
                guard (error as? GitError)?.code == GIT_ENONFASTFORWARD.rawValue else { throw error }
                let staging = "refs/kiln-outgoing/"
                try repo.fetch(
                    from: remote,
                    refspecs: ["+refs/kiln/*:\(staging)kiln/*", "+refs/tags/kiln/*:\(staging)tags/kiln/*"])
                let theirs = Dictionary(
                    try repo.rawReferences(matching: staging + "*").map {
                        ("refs/" + $0.name.dropFirst(staging.count), $0.target)
                    },
                    uniquingKeysWith: { x, _ in x })
                for name in theirs.keys { try? repo.removeReference(staging + name.dropFirst("refs/".count)) }
                refused = [:]
                for ref in local {
                    guard let remoteTarget = theirs[ref.name], remoteTarget != ref.target else { continue }
                    let forward = try !ref.name.hasPrefix("refs/tags/") && repo.descends(ref.target, from: remoteTarget)
                    if !forward { refused[ref.name] = "not a fast-forward" }
                }
                let rest = local.filter { refused[$0.name] == nil }
                if !rest.isEmpty { _ = try repo.push(to: remote, refspecs: rest.map { "\($0.name):\($0.name)" }) }
            }
            var report = SyncReport()
            for ref in local {
                if let reason = refused[ref.name] {
                    report.conflicts.append(
                        "\(ref.name): the remote refused it (\(reason)): its history moved since you last pulled; run `kiln pull`, then push again"
                    )
                } else {
                    report.updated.append(ref.name)
                }
            }
            return report
        }
    }

    /// Fetches the remote's histories, aliases and tags and takes what moved forward: new models, new
    /// versions on top of the local ones, alias moves. A history that diverged is reported, not merged.
    ///
    /// What arrives is hostile until checked: every reference must be one kiln keeps, every new version's
    /// tree must pass the checks a checkout makes, aliases and tags must name versions of their model, and
    /// each alias move must be allowed by `authorize` (model, alias, version: nil, or why it is denied).
    /// A reference that fails is refused and not taken; the rest are.
    public func pull(
        from remote: String, authorize: (String, String, Int) -> String? = { _, _, _ in nil }
    ) throws -> SyncReport {
        try withRepository { repo in
            let staging = "refs/kiln-incoming/"
            try repo.fetch(
                from: remote, refspecs: ["+refs/kiln/*:\(staging)kiln/*", "+refs/tags/kiln/*:\(staging)tags/kiln/*"])
            var report = SyncReport()
            let incoming = try repo.rawReferences(matching: staging + "*")
            defer { for ref in incoming { try? repo.removeReference(ref.name) } }
            // Histories first, then the aliases and tags that name their versions (checked against the
            // histories as taken here).
            func rank(_ name: String) -> Int {
                switch RegistryReference("refs/" + name.dropFirst(staging.count)) {
                case .model?: 0
                case .signature?, .specs?: 1
                case .alias?: 2
                case .tag?: 3
                case nil: 4
                }
            }
            let ordered = incoming.sorted { (rank($0.name), $0.name) < (rank($1.name), $1.name) }
            for ref in ordered {
                let target = "refs/" + ref.name.dropFirst(staging.count)
                let local = try repo.rawReference(target)
                if local != ref.target {
                    if let reason = try refusal(target, ref.target, local: local, repo) {
                        report.refused.append("\(Escaped(target)): \(reason)")
                        continue
                    }
                    if case .alias(let model, let alias)? = RegistryReference(target) {
                        let to = try aliasInfo(ref.target, repo).version
                        if let denied = authorize(model, alias, to) {
                            report.refused.append("\(target): \(denied)")
                            continue
                        }
                        let from = try local.map { try aliasInfo($0, repo).version }
                        let forward = try local.map { try repo.descends(ref.target, from: $0) } ?? true
                        if forward {
                            // Witnessed (audited) before the alias moves here; a refused witness refuses it.
                            do {
                                _ = try witness?(
                                    .aliasMove(
                                        model: model, alias: alias, version: to, author: "", reason: "kiln pull",
                                        action: "promote"))
                            } catch {
                                report.refused.append("\(target): \(error)")
                                continue
                            }
                            report.aliasMoves.append(.init(model: model, alias: alias, from: from, to: to))
                        }
                    }
                }
                guard let local else {
                    if target.hasPrefix("refs/tags/") {
                        try repo.forceReference(target, to: ref.target)
                    } else {
                        try repo.setReference(target, to: ref.target, expected: nil, message: "kiln pull")
                    }
                    report.updated.append(target)
                    continue
                }
                if local == ref.target {
                    report.unchanged += 1
                } else if target.hasPrefix("refs/tags/") {
                    report.conflicts.append(
                        "\(target) names another version here than on the remote: the same number was registered on both sides"
                    )
                } else if try repo.descends(ref.target, from: local) {
                    try repo.setReference(target, to: ref.target, expected: local, message: "kiln pull")
                    report.updated.append(target)
                } else if try repo.descends(local, from: ref.target) {
                    report.unchanged += 1  // ahead of the remote: push to share it
                } else {
                    report.conflicts.append(
                        "\(target) diverged: versions were registered (or the alias moved) both here and on the remote; nothing was overwritten"
                    )
                }
            }
            return report
        }
    }

    /// Why an incoming reference must not be taken, nil when it may. `id` is what the remote has, `local`
    /// what this registry has (nil: a new reference).
    private func refusal(_ name: String, _ id: ObjectID, local: ObjectID?, _ repo: GitRepository) throws -> String? {
        guard let kind = RegistryReference(name) else {
            return "not a reference kiln keeps (refs/kiln/models/NAME, aliases/NAME/ALIAS, signatures/NAME/vN, specs, refs/tags/kiln/NAME/vN)"
        }
        do {
            switch kind {
            case .model(let model):
                // Every version new here, down to the first one this registry has.
                var known = Set<ObjectID>()
                try repo.walkFirstParents(from: local) { id, _ in known.insert(id).inserted }
                var joint: ObjectID?
                var expected: Int?
                var problem: String?
                try repo.walkFirstParents(from: id) { commit, c in
                    if known.contains(commit) {
                        joint = commit
                        return false
                    }
                    let number = try version(of: commit, repo)
                    if let expected, number != expected {
                        problem = "its history numbers v\(number) where v\(expected) should be"
                        return false
                    }
                    try checkVersion(commit, model: model, number: number, repo)
                    guard number > 1 || c.parents.isEmpty else {
                        problem = "v1 has a parent"
                        return false
                    }
                    expected = number - 1
                    return true
                }
                if let problem { return problem }
                // Where the new versions join this registry's history, the numbers must meet too (v5 on v2).
                if let joint, let expected, try version(of: joint, repo) != expected {
                    return "its history numbers v\(expected + 1) on top of v\(try version(of: joint, repo))"
                }
            case .alias(let model, let alias):
                let info = try aliasInfo(id, repo)
                guard info.model == model, info.alias == alias, let commit = ObjectID(hex: info.commit) else {
                    return "its alias.json names another model or alias, or no commit"
                }
                guard try version(of: commit, repo) == info.version else {
                    return "it names v\(info.version), but its commit is another version"
                }
                guard try isTaken(commit, model: model, repo) else {
                    return "it names \(model)@v\(info.version), which is not in \(model)'s history here"
                }
            case .signature:
                guard try repo.readTree(try repo.readCommit(id).tree).contains(where: {
                    $0.name == "signature.json" && $0.kind == .blob
                })
                else { return "it holds no signature.json" }
            case .specs:
                func walk(_ tree: ObjectID, _ prefix: RelativePath?, _ depth: Int) throws {
                    guard depth < 32 else { throw RegistryError.damaged("its tree is nested more than 32 levels deep") }
                    for entry in try repo.readTree(tree) {
                        let path = try prefix.map { try $0.appending(entry.name) } ?? RelativePath(component: entry.name)
                        switch entry.kind {
                        case .tree: try walk(entry.id, path, depth + 1)
                        case .blob: continue
                        case .unsupported: throw RegistryError.damaged("'\(path)' is a symlink or a submodule")
                        }
                    }
                }
                try walk(try repo.readCommit(id).tree, nil, 0)
            case .tag(let model, let number):
                let commit = try repo.peelToCommit(id)
                guard try version(of: commit, repo) == number else { return "it tags a commit that is not v\(number)" }
                guard try isTaken(commit, model: model, repo) else {
                    return "it tags \(model)@v\(number), which is not in \(model)'s history here"
                }
            }
        } catch {
            return "\(error)"
        }
        return nil
    }

    /// Whether `commit` is in the model's history as this registry has it (after the pull took histories).
    private func isTaken(_ commit: ObjectID, model: String, _ repo: GitRepository) throws -> Bool {
        guard let tip = try repo.rawReference(Self.modelRef(model)) else { return false }
        return try repo.descends(tip, from: commit)
    }

    /// A commit is version `number` of `model`: its index says so, and its tree passes a checkout's checks.
    private func checkVersion(_ commit: ObjectID, model: String, number: Int, _ repo: GitRepository) throws {
        let what = "\(model)@v\(number)"
        guard let entry = try repo.readTree(try repo.readCommit(commit).tree).first(where: { $0.name == "kiln.json" }),
            let info = try? JSONDecoder().decode(VersionInfo.self, from: try repo.readBlob(entry.id)),
            info.model == model, info.version == number
        else { throw RegistryError.damaged("\(what) is damaged or crafted: its kiln.json does not say it is \(what)") }
        let contents = try contents(of: commit, what, repo)
        // Its card, and a booster's trees, as a checkout's reader will check them: a version that no
        // kiln could load is not taken (nor released, nor aliased).
        guard let card = contents.files.first(where: { $0.path.string == Artifact.cardFile }) else {
            throw RegistryError.damaged("\(what) is damaged or crafted: it has no card.json")
        }
        let decoded: ModelCard
        do { decoded = try Artifact.decodeCard(try repo.readBlob(card.id), path: "card.json") } catch {
            throw RegistryError.damaged("\(what) is damaged or crafted: \(error)")
        }
        if let problem = decoded.problem {
            throw RegistryError.damaged("\(what) is damaged or crafted: its card: \(problem)")
        }
        if let section = decoded.booster {
            guard let trees = contents.files.first(where: { $0.path.string == BoosterCard.file }) else {
                throw RegistryError.damaged("\(what) is damaged or crafted: a booster's card without booster.json")
            }
            if let problem = BoosterFile.problem(try repo.readBlob(trees.id), card: decoded, rounds: section.rounds) {
                throw RegistryError.damaged("\(what) is damaged or crafted: booster.json: \(problem)")
            }
        }
    }
}
