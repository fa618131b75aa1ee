import Foundation
import KilnDiagnostics

/// A directory that files are written into by `RelativePath` only, through file descriptors: each
/// directory below it is opened with `O_NOFOLLOW`, each file is written to a fresh temporary name
/// (`O_EXCL | O_NOFOLLOW`) and renamed over its target, so a symlink already in the target directory,
/// whoever put it there, is never followed (the rename replaces the link itself).
final class ConfinedDirectory {
    let path: String
    private let descriptor: Int32

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens `path`, creating it (and its parents) first when missing. `path` itself is the caller's
    /// choice and may be a symlink; nothing below it is followed.
    init(creating path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open \(path): \(Self.errnoText())") }
        self.path = path
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Writes `data` at `file`, replacing what was there.
    func write(_ data: Data, to file: RelativePath) throws {
        try write(to: file) { fd in
            try data.withUnsafeBytes { raw in try Self.writeAll(fd, raw, file) }
        }
    }

    /// Runs `body` with a descriptor of a new temporary file beside `file`, then renames it over `file`;
    /// if `body` throws, the temporary file is removed and `file` is left as it was.
    func write(to file: RelativePath, _ body: (Int32) throws -> Void) throws {
        let parent = try directory(file.components.dropLast(), creating: true)
        defer { if parent != descriptor { close(parent) } }
        let temporary = ".\(file.name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).partial"
        let fd = openat(parent, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(description: "cannot create \(describe(file)): \(Self.errnoText())") }
        var done = false
        defer {
            if !done { unlinkat(parent, temporary, 0) }
        }
        do {
            try body(fd)
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw Failure(description: "cannot write \(describe(file)): \(Self.errnoText())") }
        guard renameat(parent, temporary, parent, file.name) == 0 else {
            throw Failure(description: "cannot write \(describe(file)): \(Self.errnoText())")
        }
        done = true
    }

    /// The descriptor of a directory below this one, each component opened without following symlinks.
    private func directory(_ components: ArraySlice<String>, creating: Bool) throws -> Int32 {
        var current = descriptor
        for (i, name) in components.enumerated() {
            if creating, mkdirat(current, name, 0o755) != 0, errno != EEXIST {
                let reason = Self.errnoText()
                if current != descriptor { close(current) }
                throw Failure(description: "cannot create \(describe(components.prefix(i + 1))): \(reason)")
            }
            let next = openat(current, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let failure = errno
            if current != descriptor { close(current) }
            guard next >= 0 else {
                let what = describe(components.prefix(i + 1))
                if failure == ELOOP || failure == ENOTDIR {
                    throw Failure(
                        description:
                            "\(what) is a symlink or a file, not a directory: kiln does not write through it (remove it, or choose an empty directory)"
                    )
                }
                throw Failure(description: "cannot open \(what): \(String(cString: strerror(failure)))")
            }
            current = next
        }
        return current
    }

    private func describe(_ file: RelativePath) -> String { describe(file.components[...]) }

    private func describe(_ components: ArraySlice<String>) -> String {
        "\(path)/\(Escaped(components.joined(separator: "/")))"
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ file: RelativePath) throws {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, base + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "cannot write \(Escaped(file.string)): \(errnoText())")
            }
            offset += n
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
