import Foundation

/// The lock a running `kiln run` holds on its workspace (flock on `.kiln/run.lock`), so that two runs
/// never write the same state. The holder's pid and start time are written into the file for the message
/// another run shows. The kernel releases the lock when the process exits, however it exits.
public final class WorkspaceLock {
    private let fd: Int32
    public let path: String

    public struct Held: Error, CustomStringConvertible {
        public var path: String
        public var holder: String

        public var description: String {
            "another kiln run holds the workspace (\(holder.isEmpty ? "lock file \(path)" : holder)); "
                + "wait for it to finish, or pass --wait to queue behind it"
        }
    }

    public struct Failed: Error, CustomStringConvertible {
        public var description: String
    }

    /// Takes the lock; `wait` blocks until the holder exits, else a held lock throws `Held` at once.
    public init(path: String, wait: Bool) throws {
        self.path = path
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failed(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0 {
            let error = errno
            if error == EINTR { continue }
            let holder = Self.holder(fd)
            close(fd)
            if error == EWOULDBLOCK { throw Held(path: path, holder: holder) }
            throw Failed(description: "cannot lock \(path): \(String(cString: strerror(error)))")
        }
        let stamp = "pid \(getpid()), started \(ISO8601DateFormatter().string(from: Date())) by \(Identity.current)\n"
        _ = ftruncate(fd, 0)
        _ = stamp.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    private static func holder(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return "" }
        return String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        _ = ftruncate(fd, 0)
        flock(fd, LOCK_UN)
        close(fd)
    }
}
