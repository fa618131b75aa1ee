import CGit2
import Foundation

/// Pushes and fetches over libgit2's transports (a local path, `file://`, ssh, https).
extension GitRepository {
    /// The object a reference points at, not peeled (a tag reference gives the tag object).
    func rawReference(_ name: String) throws(GitError) -> ObjectID? {
        var oid = git_oid()
        let result = git_reference_name_to_id(&oid, pointer, name)
        if result == GIT_ENOTFOUND.rawValue { return nil }
        try check(result, "read reference \(name)")
        return ObjectID(oid)
    }

    /// Reference names matching a glob with their unpeeled targets (a tag reference gives the tag object).
    func rawReferences(matching glob: String) throws(GitError) -> [(name: String, target: ObjectID)] {
        try references(matching: glob) { ref in git_reference_target(ref).map { ObjectID($0.pointee) } }
    }

    /// The commit an object is or tags (through annotated tags).
    func peelToCommit(_ id: ObjectID) throws(GitError) -> ObjectID {
        var object: OpaquePointer?
        var raw = id.raw
        try check(git_object_lookup(&object, pointer, &raw, GIT_OBJECT_ANY), "read object \(id)")
        guard let object else { throw GitError(code: -1, operation: "read object \(id)", message: "missing") }
        defer { git_object_free(object) }
        var peeled: OpaquePointer?
        try check(git_object_peel(&peeled, object, GIT_OBJECT_COMMIT), "resolve object \(id) to a commit")
        guard let peeled, let oid = git_object_id(peeled) else {
            throw GitError(code: -1, operation: "resolve object \(id)", message: "missing")
        }
        defer { git_object_free(peeled) }
        return ObjectID(oid.pointee)
    }

    func removeReference(_ name: String) throws(GitError) {
        let result = git_reference_remove(pointer, name)
        if result == GIT_ENOTFOUND.rawValue { return }
        try check(result, "remove \(name)")
    }

    /// Creates or moves a reference without a compare (for refs kiln owns alone, like a fetch's staging area).
    func forceReference(_ name: String, to id: ObjectID) throws(GitError) {
        var ref: OpaquePointer?
        var raw = id.raw
        try check(git_reference_create(&ref, pointer, name, &raw, 1, "kiln pull"), "write \(name)")
        if let ref { git_reference_free(ref) }
    }

    /// Whether `commit` descends from `ancestor` (or is it).
    func descends(_ commit: ObjectID, from ancestor: ObjectID) throws(GitError) -> Bool {
        if commit == ancestor { return true }
        var a = commit.raw, b = ancestor.raw
        return try check(git_graph_descendant_of(pointer, &a, &b), "compare histories") == 1
    }

    final class Rejections {
        var byReference: [String: String] = [:]
    }

    /// Pushes `refspecs` (explicit: libgit2 rejects globs in push); returns the references the remote
    /// refused, with its reason (a non-fast-forward: someone else moved them).
    func push(to url: String, refspecs: [String]) throws(GitError) -> [String: String] {
        var remote: OpaquePointer?
        try check(git_remote_create_anonymous(&remote, pointer, url), "open remote \(url)")
        guard let remote else { return [:] }
        defer { git_remote_free(remote) }
        var options = git_push_options()
        try check(git_push_options_init(&options, UInt32(GIT_PUSH_OPTIONS_VERSION)), "push options")
        let rejections = Rejections()
        options.callbacks.payload = Unmanaged.passUnretained(rejections).toOpaque()
        options.callbacks.push_update_reference = { name, status, payload in
            guard let name, let status, let payload else { return 0 }
            Unmanaged<Rejections>.fromOpaque(payload).takeUnretainedValue().byReference[String(cString: name)] =
                String(cString: status)
            return 0
        }
        try withStrings(refspecs) { array throws(GitError) in
            var a = array
            try check(git_remote_push(remote, &a, &options), "push to \(url)")
        }
        return rejections.byReference
    }

    /// Fetches `refspecs` (globs allowed) from `url`.
    func fetch(from url: String, refspecs: [String]) throws(GitError) {
        var remote: OpaquePointer?
        try check(git_remote_create_anonymous(&remote, pointer, url), "open remote \(url)")
        guard let remote else { return }
        defer { git_remote_free(remote) }
        var options = git_fetch_options()
        try check(git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION)), "fetch options")
        options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE
        try withStrings(refspecs) { array throws(GitError) in
            var a = array
            try check(git_remote_fetch(remote, &a, &options, "kiln pull"), "fetch from \(url)")
        }
    }

    private func withStrings(_ strings: [String], _ body: (git_strarray) throws(GitError) -> Void) throws(GitError) {
        let copies = strings.map { strdup($0) }
        defer { for c in copies { free(c) } }
        var pointers = copies
        try pointers.withUnsafeMutableBufferPointer { buffer throws(GitError) in
            try body(git_strarray(strings: buffer.baseAddress, count: buffer.count))
        }
    }
}
