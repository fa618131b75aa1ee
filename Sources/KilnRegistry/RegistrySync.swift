import CGit2
import Foundation

/// What `kiln push` / `kiln pull` did.
public struct SyncReport: Sendable {
    /// References created or moved forward (`refs/kiln/models/iris-mlp`, …).
    public var updated: [String] = []
    /// References already the same on both sides.
    public var unchanged = 0
    /// References whose histories diverged (someone else registered or moved an alias meanwhile), with
    /// what to do; nothing was overwritten.
    public var conflicts: [String] = []
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
    public func pull(from remote: String) throws -> SyncReport {
        try withRepository { repo in
            let staging = "refs/kiln-incoming/"
            try repo.fetch(
                from: remote, refspecs: ["+refs/kiln/*:\(staging)kiln/*", "+refs/tags/kiln/*:\(staging)tags/kiln/*"])
            var report = SyncReport()
            let incoming = try repo.rawReferences(matching: staging + "*")
            defer { for ref in incoming { try? repo.removeReference(ref.name) } }
            // Histories and aliases first, then the tags that index them.
            let ordered = incoming.sorted {
                ($0.name.contains("/tags/") ? 1 : 0, $0.name) < ($1.name.contains("/tags/") ? 1 : 0, $1.name)
            }
            for ref in ordered {
                let target = "refs/" + ref.name.dropFirst(staging.count)
                guard let local = try repo.rawReference(target) else {
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
}
