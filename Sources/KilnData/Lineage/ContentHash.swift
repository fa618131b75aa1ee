#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import Crypto
public import Foundation

/// SHA-256 content hashes (swift-crypto: BoringSSL's assembly, SHA extensions where the CPU has them).
public enum ContentHash {
    /// A file's digest and size.
    public struct FileDigest: Sendable, Codable, Hashable {
        public var sha256: String
        public var bytes: Int
    }

    /// Streams the file through SHA-256 in 1 MiB reads: memory stays constant whatever the file's size.
    public static func file(_ path: String) throws(DataError) -> FileDigest {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw DataError(.data(.missingFile), "cannot read '\(path)': \(String(cString: strerror(errno)))", at: nil)
        }
        defer { close(fd) }
        #if os(Linux)
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        #endif
        // A small file gets a buffer of its size, not a whole chunk (thousands of datasets are hashed at
        // every `kiln status`).
        var info = stat()
        let size = fstat(fd, &info) == 0 ? Int(info.st_size) : 1 << 20
        let chunk = min(1 << 20, max(4096, size + 1))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var hasher = SHA256()
        var total = 0
        while true {
            let n = read(fd, buffer.baseAddress, chunk)
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else {
                throw DataError(.data(.io), "cannot read '\(path)': \(String(cString: strerror(errno)))", at: nil)
            }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += n
        }
        return FileDigest(sha256: hex(hasher.finalize()), bytes: total)
    }

    /// The digest of bytes in memory.
    public static func bytes(_ data: some DataProtocol) -> String { hex(SHA256.hash(data: data)) }

    /// The digest of a value's canonical JSON (sorted keys, no spaces): equal values, equal hashes.
    public static func canonical(_ value: some Encodable) -> String {
        bytes(canonicalJSON(value))
    }

    /// Sorted keys, no whitespace, no escaped slashes: the same value always gives the same bytes.
    public static func canonicalJSON(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Non-finite numbers cannot occur in fitted parameters; encode them as strings rather than fail.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return (try? encoder.encode(value)) ?? Data()
    }

    /// Lower-case hex of a digest.
    public static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
