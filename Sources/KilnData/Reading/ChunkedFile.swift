#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import KilnDiagnostics

/// A file read in large chunks into one reusable buffer: the unconsumed tail of the last chunk moves to
/// the front before the next read, so a record never needs more memory than its own length (plus a chunk).
final class ChunkedFile {
    let path: String
    private let fd: CInt
    private(set) var buffer: UnsafeMutableRawBufferPointer
    /// Valid bytes in `buffer`.
    private(set) var filled = 0
    private(set) var atEOF = false
    /// Bytes of the file before `buffer[0]`.
    private(set) var offset = 0

    init(path: String, chunk: Int = 1 << 20) throws(DataError) {
        self.path = path
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            throw DataError(
                "data.missing-file", "cannot read '\(path)': \(reason)", at: nil,
                help: "check 'source.path'; relative paths start at the spec file's directory")
        }
        guard info.st_mode & S_IFMT != S_IFDIR else {
            throw DataError(
                "data.missing-file", "'\(path)' is a directory, not a data file", at: nil,
                help: "name a file, or a glob such as '\(path)/*.csv'")
        }
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DataError("data.missing-file", "cannot open '\(path)': \(String(cString: strerror(errno)))", at: nil)
        }
        buffer = .allocate(byteCount: chunk, alignment: 64)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// Drops the first `consumed` bytes, keeps the rest at the front, and reads more. Returns false at the
    /// end of the file (nothing more was read). Grows the buffer when it is full of one unfinished record.
    func refill(consumed: Int) throws(DataError) -> Bool {
        if consumed > 0 {
            let rest = filled - consumed
            if rest > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + consumed, byteCount: rest) }
            filled = rest
            offset += consumed
        }
        if atEOF { return false }
        if filled == buffer.count {
            guard buffer.count < DataLimits.maxRecordBytes else {
                throw DataError(
                    "data.record-too-long",
                    "a record longer than \(DataLimits.maxRecordBytes >> 20) MiB starts at byte \(offset)",
                    at: .fileStart(path),
                    help: "an unbalanced quote makes the rest of a file one field; check the quotes near that point")
            }
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 64)
            bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: filled)
            buffer.deallocate()
            buffer = bigger
        }
        while true {
            let n = read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw DataError("data.io", "cannot read '\(path)': \(String(cString: strerror(errno)))", at: nil)
            }
            if n == 0 {
                atEOF = true
                return false
            }
            filled += n
            return true
        }
    }
}
