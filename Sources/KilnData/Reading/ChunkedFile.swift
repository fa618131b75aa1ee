#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Crypto
import KilnDiagnostics

/// A file read in large chunks into one reusable buffer: the unconsumed tail of the last chunk moves to
/// the front before the next read, so a record never needs more memory than its own length (plus a chunk).
final class ChunkedFile {
    let path: String
    private let fd: CInt
    /// The buffer: `capacity` bytes, of which the first `filled` are valid.
    private(set) var bytes: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// Valid bytes in `bytes`.
    private(set) var filled = 0
    private(set) var atEOF = false
    /// Bytes of the file before `bytes[0]`.
    private(set) var offset = 0

    /// SHA-256 of every byte read, when asked for: the hash of exactly the bytes that were parsed.
    private var hasher: SHA256?
    private var bytesRead = 0

    init(path: String, chunk: Int = 1 << 20, hashing: Bool = false) throws(DataError) {
        self.path = path
        hasher = hashing ? SHA256() : nil
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            throw DataError(
                .data(.missingFile), "cannot read '\(path)': \(reason)", at: nil,
                help: "check 'source.path'; relative paths start at the spec file's directory")
        }
        guard info.st_mode & S_IFMT != S_IFDIR else {
            throw DataError(
                .data(.missingFile), "'\(path)' is a directory, not a data file", at: nil,
                help: "name a file, or a glob such as '\(path)/*.csv'")
        }
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DataError(.data(.missingFile), "cannot open '\(path)': \(String(cString: strerror(errno)))", at: nil)
        }
        // A small file gets a buffer of its size (it grows when a file turns out longer).
        let sized = min(chunk, max(4096, Int(info.st_size) + 1))
        bytes = Self.allocate(sized)
        capacity = sized
    }

    /// Bytes after the buffer's capacity that are always readable (zeros): parsers read a word at a time.
    static let padding = 32

    private static func allocate(_ n: Int) -> UnsafeMutablePointer<UInt8> {
        let p = UnsafeMutablePointer<UInt8>.allocate(capacity: n + padding)
        p.initialize(repeating: 0, count: n + padding)
        return p
    }

    /// The file's digest, once it has been read to the end with hashing on.
    var digest: ContentHash.FileDigest? {
        guard atEOF, let hasher else { return nil }
        return ContentHash.FileDigest(sha256: ContentHash.hex(hasher.finalize()), bytes: bytesRead)
    }

    deinit {
        close(fd)
        bytes.deallocate()
    }

    /// Drops the first `consumed` bytes, keeps the rest at the front, and reads more. Returns false at the
    /// end of the file (nothing more was read). Grows the buffer when it is full of one unfinished record.
    func refill(consumed: Int) throws(DataError) -> Bool {
        if consumed > 0 {
            let rest = filled - consumed
            if rest > 0 { bytes.update(from: bytes + consumed, count: rest) }
            filled = rest
            offset += consumed
        }
        if atEOF { return false }
        if filled == capacity {
            guard capacity < DataLimits.maxRecordBytes else {
                throw DataError(
                    .data(.recordTooLong),
                    "a record longer than \(DataLimits.maxRecordBytes >> 20) MiB starts at byte \(offset)",
                    at: .fileStart(path),
                    help: "an unbalanced quote makes the rest of a file one field; check the quotes near that point")
            }
            let bigger = Self.allocate(capacity * 2)
            bigger.update(from: bytes, count: filled)
            bytes.deallocate()
            bytes = bigger
            capacity *= 2
        }
        while true {
            let n = read(fd, bytes + filled, capacity - filled)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw DataError(.data(.io), "cannot read '\(path)': \(String(cString: strerror(errno)))", at: nil)
            }
            if n == 0 {
                atEOF = true
                return false
            }
            hasher?.update(bufferPointer: UnsafeRawBufferPointer(start: bytes + filled, count: n))
            bytesRead += n
            filled += n
            return true
        }
    }
}
