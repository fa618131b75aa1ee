import CGit2
public import Foundation
import KilnDiagnostics

/// Every libgit2 call goes through `check`: a negative result becomes a `GitError` with libgit2's own
/// message and the operation that failed.
public struct GitError: Error, CustomStringConvertible, Sendable {
    public var code: Int32
    public var operation: String
    public var message: String

    public var description: String { "\(operation): \(message) (libgit2 error \(code))" }

    /// The reference moved since it was read (compare-and-swap lost).
    public var isModified: Bool { code == GIT_EMODIFIED.rawValue }
    public var isExists: Bool { code == GIT_EEXISTS.rawValue }
    public var isNotFound: Bool { code == GIT_ENOTFOUND.rawValue }
}

@discardableResult
func check(_ result: Int32, _ operation: @autoclosure () -> String) throws(GitError) -> Int32 {
    guard result < 0 else { return result }
    let message = git_error_last().flatMap { $0.pointee.message.map { String(cString: $0) } } ?? "unknown error"
    throw GitError(code: result, operation: operation(), message: message)
}

/// libgit2 is initialised once per process and never shut down (its global state is reference counted;
/// shutting down while another thread uses it is undefined).
enum LibGit2 {
    static let initialised: Bool = {
        // libgit2 verifies each object's hash when it reads it (GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION is
        // on by default; the option setter is variadic and cannot be called from Swift): a tampered object
        // is an error, not wrong data. A test tampers with one.
        git_libgit2_init()
        return true
    }()
}

/// A git object id, as libgit2 gives it.
public struct ObjectID: Hashable, Sendable, CustomStringConvertible {
    var raw: git_oid

    init(_ raw: git_oid) { self.raw = raw }

    public init?(hex: String) {
        var oid = git_oid()
        guard hex.utf8.count == 40, git_oid_fromstr(&oid, hex) == 0 else { return nil }
        raw = oid
    }

    public var hex: String {
        var copy = raw
        var buffer = [CChar](repeating: 0, count: 41)
        git_oid_fmt(&buffer, &copy)
        buffer[40] = 0
        return String(cString: buffer)
    }

    public var description: String { hex }

    public static func == (a: ObjectID, b: ObjectID) -> Bool {
        var x = a.raw, y = b.raw
        return git_oid_equal(&x, &y) != 0
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(hex) }
}

/// An owned libgit2 object pointer, freed once.
final class Owned {
    let pointer: OpaquePointer
    private let free: (OpaquePointer) -> Void
    init(_ pointer: OpaquePointer, free: @escaping (OpaquePointer) -> Void) {
        self.pointer = pointer
        self.free = free
    }
    deinit { free(pointer) }
}

/// Who wrote a commit, and when (seconds since 1970, UTC offset in minutes).
public struct GitSignature: Sendable, Equatable {
    public var name: String
    public var email: String
    public var time: Int64
    public var offset: Int32

    public init(name: String, email: String, time: Int64, offset: Int32 = 0) {
        self.name = name
        self.email = email
        self.time = time
        self.offset = offset
    }

    /// Why `text` cannot stand in a commit's author line (git's own rules, and no control characters, which
    /// libgit2 writes but cannot read back), nil when it can.
    public static func problem(_ text: String) -> String? {
        if text.utf8.count > 256 { return "it is longer than 256 bytes" }
        if let c = Escaped.firstControl(in: text) {
            return "it holds a control or formatting character (\\u{\(String(c.value, radix: 16))})"
        }
        if let c = text.unicodeScalars.first(where: { $0 == "<" || $0 == ">" }) { return "it holds '\(c)'" }
        if !text.isEmpty && text.allSatisfy(\.isWhitespace) { return "it is only spaces" }
        return nil
    }

    func make() throws(GitError) -> Owned {
        for (what, value) in [("name", name), ("email", email)] {
            if let problem = Self.problem(value) {
                throw GitError(code: -1, operation: "signature", message: "the author's \(what) cannot go into a commit: \(problem)")
            }
        }
        var signature: UnsafeMutablePointer<git_signature>?
        // git requires an email; an identity without one gets a local placeholder.
        let email = email.isEmpty ? "\(name.isEmpty ? "kiln" : name)@localhost" : email
        try check(
            git_signature_new(&signature, name.isEmpty ? "kiln" : name, email, git_time_t(time), offset),
            "signature of \(name)")
        guard let signature else { throw GitError(code: -1, operation: "signature", message: "no signature") }
        return Owned(OpaquePointer(signature)) { git_signature_free(UnsafeMutablePointer($0)) }
    }

    init(_ s: UnsafePointer<git_signature>) {
        name = String(cString: s.pointee.name)
        email = String(cString: s.pointee.email)
        time = Int64(s.pointee.when.time)
        offset = s.pointee.when.offset
    }
}

/// A commit as read back.
public struct GitCommit: Sendable {
    public var id: ObjectID
    public var tree: ObjectID
    public var parents: [ObjectID]
    public var message: String
    public var author: GitSignature
}

/// A tree entry.
public struct GitTreeEntry: Sendable, Equatable {
    /// `unsupported`: a symlink or a submodule, which kiln never writes and refuses to read.
    public enum Kind: Sendable, Equatable { case blob, tree, unsupported }
    public var name: String
    public var id: ObjectID
    public var kind: Kind
}

/// A git repository through libgit2: objects in, objects out, references moved by compare-and-swap.
/// Not shared between threads: each user opens its own.
public final class GitRepository {
    let handle: Owned
    public let path: String

    private init(_ pointer: OpaquePointer, path: String) {
        handle = Owned(pointer) { git_repository_free($0) }
        self.path = path
    }

    var pointer: OpaquePointer { handle.pointer }

    /// Opens the bare repository at `path`, creating it when `create` and it does not exist.
    public static func open(_ path: String, create: Bool) throws(GitError) -> GitRepository {
        _ = LibGit2.initialised
        var repo: OpaquePointer?
        if FileManager.default.fileExists(atPath: path + "/HEAD") || !create {
            try check(git_repository_open_bare(&repo, path), "open the registry at \(path)")
        } else {
            try check(git_repository_init(&repo, path, 1), "create the registry at \(path)")
        }
        guard let repo else { throw GitError(code: -1, operation: "open \(path)", message: "no repository") }
        return GitRepository(repo, path: path)
    }

    // MARK: Objects

    /// Writes a blob, or finds it already there: hashed in memory first, so that recording an unchanged
    /// file costs a hash and a lookup (libgit2's buffer write goes through a temporary file each time).
    public func writeBlob(_ bytes: UnsafeRawBufferPointer) throws(GitError) -> ObjectID {
        var oid = git_oid()
        try check(git_odb_hash(&oid, bytes.baseAddress, bytes.count, GIT_OBJECT_BLOB), "hash a blob")
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, pointer), "open the object database")
        defer { git_odb_free(odb) }
        if git_odb_exists(odb, &oid) != 0 { return ObjectID(oid) }
        try check(git_odb_write(&oid, odb, bytes.baseAddress, bytes.count, GIT_OBJECT_BLOB), "write a blob")
        return ObjectID(oid)
    }

    public func writeBlob(_ data: Data) throws(GitError) -> ObjectID {
        let result = data.withUnsafeBytes { raw in Result { () throws(GitError) in try writeBlob(raw) } }
        return try result.get()
    }

    /// A blob's bytes (its hash verified by libgit2 on read).
    public func readBlob(_ id: ObjectID) throws(GitError) -> Data {
        var blob: OpaquePointer?
        var raw = id.raw
        try check(git_blob_lookup(&blob, pointer, &raw), "read blob \(id)")
        guard let blob else { throw GitError(code: -1, operation: "read blob \(id)", message: "missing") }
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard let bytes = git_blob_rawcontent(blob) else { return Data() }
        return Data(bytes: bytes, count: size)
    }

    /// Writes a tree of the given entries (names unique; sorted by libgit2).
    public func writeTree(_ entries: [GitTreeEntry]) throws(GitError) -> ObjectID {
        var builder: OpaquePointer?
        try check(git_treebuilder_new(&builder, pointer, nil), "start a tree")
        guard let builder else { throw GitError(code: -1, operation: "start a tree", message: "no builder") }
        defer { git_treebuilder_free(builder) }
        for entry in entries {
            var oid = entry.id.raw
            guard entry.kind != .unsupported else {
                throw GitError(code: -1, operation: "add '\(entry.name)' to a tree", message: "not a file or a tree")
            }
            let mode = entry.kind == .tree ? GIT_FILEMODE_TREE : GIT_FILEMODE_BLOB
            try check(git_treebuilder_insert(nil, builder, entry.name, &oid, mode), "add '\(entry.name)' to a tree")
        }
        var oid = git_oid()
        try check(git_treebuilder_write(&oid, builder), "write a tree")
        return ObjectID(oid)
    }

    public func readTree(_ id: ObjectID) throws(GitError) -> [GitTreeEntry] {
        var tree: OpaquePointer?
        var raw = id.raw
        try check(git_tree_lookup(&tree, pointer, &raw), "read tree \(id)")
        guard let tree else { throw GitError(code: -1, operation: "read tree \(id)", message: "missing") }
        defer { git_tree_free(tree) }
        var out: [GitTreeEntry] = []
        for i in 0..<git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, i), let oid = git_tree_entry_id(entry) else { continue }
            let kind: GitTreeEntry.Kind =
                switch git_tree_entry_filemode(entry) {
                case GIT_FILEMODE_TREE: .tree
                case GIT_FILEMODE_BLOB, GIT_FILEMODE_BLOB_EXECUTABLE: .blob
                default: .unsupported
                }
            out.append(
                GitTreeEntry(name: String(cString: git_tree_entry_name(entry)), id: ObjectID(oid.pointee), kind: kind))
        }
        return out
    }

    /// Writes a commit; with `updating`, moves that reference to it only if it still points at the first
    /// parent (or does not exist, for a root commit): compare-and-swap.
    public func commit(
        tree: ObjectID, parents: [ObjectID], message: String, author: GitSignature, updating reference: String?
    ) throws(GitError) -> ObjectID {
        var treePointer: OpaquePointer?
        var rawTree = tree.raw
        try check(git_tree_lookup(&treePointer, pointer, &rawTree), "read tree \(tree)")
        guard let treePointer else { throw GitError(code: -1, operation: "commit", message: "no tree") }
        defer { git_tree_free(treePointer) }
        var parentPointers: [OpaquePointer?] = []
        defer { for p in parentPointers { git_commit_free(p) } }
        for parent in parents {
            var commit: OpaquePointer?
            var raw = parent.raw
            try check(git_commit_lookup(&commit, pointer, &raw), "read commit \(parent)")
            parentPointers.append(commit)
        }
        let signature = try author.make()
        var oid = git_oid()
        let result = parentPointers.withUnsafeMutableBufferPointer { buffer in
            git_commit_create(
                &oid, pointer, nil, UnsafePointer(signature.pointer), UnsafePointer(signature.pointer), "UTF-8",
                message, treePointer, buffer.count, buffer.baseAddress)
        }
        try check(result, "write a commit")
        let id = ObjectID(oid)
        // A ref never moves to an object kiln cannot read back.
        let written = try readCommit(id)
        guard written.author.name == (author.name.isEmpty ? "kiln" : author.name), written.tree == tree else {
            throw GitError(code: -1, operation: "write a commit", message: "the commit does not read back as written")
        }
        if let reference {
            try setReference(reference, to: id, expected: parents.first, message: message)
        }
        return id
    }

    public func readCommit(_ id: ObjectID) throws(GitError) -> GitCommit {
        var commit: OpaquePointer?
        var raw = id.raw
        try check(git_commit_lookup(&commit, pointer, &raw), "read commit \(id)")
        guard let commit else { throw GitError(code: -1, operation: "read commit \(id)", message: "missing") }
        defer { git_commit_free(commit) }
        var parents: [ObjectID] = []
        for i in 0..<git_commit_parentcount(commit) {
            if let p = git_commit_parent_id(commit, i) { parents.append(ObjectID(p.pointee)) }
        }
        guard let tree = git_commit_tree_id(commit), let author = git_commit_author(commit) else {
            throw GitError(code: -1, operation: "read commit \(id)", message: "no tree or author")
        }
        return GitCommit(
            id: id, tree: ObjectID(tree.pointee), parents: parents,
            message: git_commit_message(commit).map { String(cString: $0) } ?? "", author: GitSignature(author))
    }

    // MARK: References

    /// The object a reference points at (peeled through an annotated tag), nil when it does not exist.
    public func reference(_ name: String) throws(GitError) -> ObjectID? {
        var ref: OpaquePointer?
        let result = git_reference_lookup(&ref, pointer, name)
        if result == GIT_ENOTFOUND.rawValue { return nil }
        try check(result, "read reference \(name)")
        guard let ref else { return nil }
        defer { git_reference_free(ref) }
        var object: OpaquePointer?
        try check(git_reference_peel(&object, ref, GIT_OBJECT_COMMIT), "resolve reference \(name)")
        guard let object else { return nil }
        defer { git_object_free(object) }
        guard let oid = git_object_id(object) else { return nil }
        return ObjectID(oid.pointee)
    }

    /// Points `name` at `id` if it currently points at `expected` (nil: it must not exist).
    public func setReference(_ name: String, to id: ObjectID, expected: ObjectID?, message: String) throws(GitError) {
        var ref: OpaquePointer?
        var raw = id.raw
        if var old = expected?.raw {
            try check(
                git_reference_create_matching(&ref, pointer, name, &raw, 1, &old, message), "move \(name)")
        } else {
            try check(git_reference_create(&ref, pointer, name, &raw, 0, message), "create \(name)")
        }
        if let ref { git_reference_free(ref) }
    }

    /// Reference names matching a glob (`refs/kiln/models/*`), with the commits they name (peeled through
    /// annotated tags), sorted by name.
    public func references(matching glob: String) throws(GitError) -> [(name: String, target: ObjectID)] {
        try references(matching: glob) { ref in
            var object: OpaquePointer?
            guard git_reference_peel(&object, ref, GIT_OBJECT_COMMIT) == 0, let object else { return nil }
            defer { git_object_free(object) }
            return git_object_id(object).map { ObjectID($0.pointee) }
        }
    }

    /// Reference names matching a glob, with what `target` reads from each (nil: skipped), sorted by name.
    func references(matching glob: String, target: (OpaquePointer) -> ObjectID?) throws(GitError) -> [(
        name: String, target: ObjectID
    )] {
        var iterator: OpaquePointer?
        try check(git_reference_iterator_glob_new(&iterator, pointer, glob), "list \(glob)")
        guard let iterator else { return [] }
        defer { git_reference_iterator_free(iterator) }
        var out: [(String, ObjectID)] = []
        var ref: OpaquePointer?
        while git_reference_next(&ref, iterator) == 0, let r = ref {
            defer { git_reference_free(r) }
            if let id = target(r) { out.append((String(cString: git_reference_name(r)), id)) }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// Creates an annotated tag `refs/tags/NAME` on a commit; fails with `isExists` when the tag exists.
    public func createTag(_ name: String, on commit: ObjectID, tagger: GitSignature, message: String) throws(GitError) {
        var object: OpaquePointer?
        var raw = commit.raw
        try check(git_object_lookup(&object, pointer, &raw, GIT_OBJECT_COMMIT), "read commit \(commit)")
        guard let object else { return }
        defer { git_object_free(object) }
        let signature = try tagger.make()
        var oid = git_oid()
        try check(
            git_tag_create(&oid, pointer, name, object, UnsafePointer(signature.pointer), message, 0), "tag \(name)")
    }
}

/// The user's git configuration (global and system files, as git reads them).
public enum GitConfig {
    /// `user.name`, when git has one configured.
    public static var userName: String? { string("user.name") }
    /// `user.email`, when git has one configured.
    public static var userEmail: String? { string("user.email") }

    static func string(_ key: String) -> String? {
        _ = LibGit2.initialised
        var config: OpaquePointer?
        guard git_config_open_default(&config) == 0, let config else { return nil }
        defer { git_config_free(config) }
        var buffer = git_buf()
        defer { git_buf_dispose(&buffer) }
        guard git_config_get_string_buf(&buffer, config, key) == 0, let pointer = buffer.ptr else { return nil }
        let value = String(cString: pointer).trimmingCharacters(in: .whitespaces)
        return value.isEmpty ? nil : value
    }
}

/// The git repository a workspace lives in, if any (searched upward, as git does).
public enum WorkspaceGit {
    /// The commit checked out in the repository containing `path`, and whether files differ from it;
    /// nil outside a repository or before its first commit.
    public static func head(of path: String) -> (commit: String, dirty: Bool)? {
        _ = LibGit2.initialised
        var repo: OpaquePointer?
        guard git_repository_open_ext(&repo, path, 0, nil) == 0, let repo else { return nil }
        defer { git_repository_free(repo) }
        var head: OpaquePointer?
        guard git_repository_head(&head, repo) == 0, let head else { return nil }
        defer { git_reference_free(head) }
        guard let oid = git_reference_target(head) else { return nil }
        var options = git_status_options()
        git_status_options_init(&options, UInt32(GIT_STATUS_OPTIONS_VERSION))
        options.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES.rawValue
        var list: OpaquePointer?
        var dirty = false
        if git_status_list_new(&list, repo, &options) == 0, let list {
            dirty = git_status_list_entrycount(list) > 0
            git_status_list_free(list)
        }
        return (ObjectID(oid.pointee).hex, dirty)
    }
}

extension GitRepository {
    /// The first-parent history from `tip`, newest first: the one version walk of the registry (model
    /// histories, alias moves, signatures, spec history). `visit` gets each commit once and returns whether
    /// to go on; a commit seen before ends the walk, so a crafted cycle cannot loop.
    public func walkFirstParents(
        from tip: ObjectID?, limit: Int = .max, _ visit: (ObjectID, GitCommit) throws -> Bool
    ) throws {
        var next = tip
        var seen = Set<ObjectID>()
        while let id = next, seen.count < limit, seen.insert(id).inserted {
            let commit = try readCommit(id)
            guard try visit(id, commit) else { return }
            next = commit.parents.first
        }
    }
}
