import Crypto
public import Foundation

/// Replaces a pii value by a keyed hash wherever kiln shows sample rows: equal values stay recognisably
/// equal (`pii:3fa24c91`) within a workspace, but the value cannot be read back or guessed from a list of
/// candidates without the key (HMAC-SHA256, swift-crypto).
public struct PIIMasker: Sendable {
    private let key: SymmetricKey

    public init(key: Data) { self.key = SymmetricKey(data: key) }

    public func mask(_ value: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(value.utf8), using: key)
        return "pii:" + ContentHash.hex(mac.prefix(4))
    }

    /// A fresh random key (32 bytes) for a workspace.
    public static func newKey() -> Data { SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) } }
}

/// Where derived copies of a dataset (cache entries, split files) go through when the dataset says
/// `governance.encrypt: true`. The security layer supplies AES-256-GCM; `identity` names the file (its
/// cache key or path) so that a sealed file cannot be passed off as another.
public protocol DerivedDataSealer: Sendable {
    func seal(_ plaintext: Data, identity: String) throws -> Data
    func open(_ sealed: Data, identity: String) throws -> Data
}

/// Writes a dataset's derived copies: atomically (temp file + rename, so a crash never leaves half a file
/// that a later run trusts), and through the sealer when the dataset is encrypted. An encrypted dataset
/// without a sealer is an error before anything is written: no plaintext copy, ever.
public struct DerivedDataStore: Sendable {
    public let directory: String
    public let encrypt: Bool
    public let sealer: (any DerivedDataSealer)?
    /// Write each file through a temporary and a rename. The runner turns it off: it builds a cache entry in
    /// a directory of its own and renames the whole directory into place.
    public let atomic: Bool

    public init(directory: String, encrypt: Bool, sealer: (any DerivedDataSealer)?, atomic: Bool = true) {
        self.directory = directory
        self.encrypt = encrypt
        self.sealer = sealer
        self.atomic = atomic
    }

    private func sealerIfNeeded() throws(DataError) -> (any DerivedDataSealer)? {
        guard encrypt else { return nil }
        guard let sealer else {
            throw DataError(
                .data(.encryptWithoutKey), "the dataset is 'encrypt: true', and no encryption key is available",
                at: nil, help: "set the key the Policy names in 'encryption.key'")
        }
        return sealer
    }

    /// Writes `data` as `name` in the directory and returns its path.
    @discardableResult
    public func write(_ data: Data, name: String) throws(DataError) -> String {
        let sealer = try sealerIfNeeded()
        let path = directory + "/" + name
        do {
            if access(directory, F_OK) != 0 {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            let bytes = try sealer?.seal(data, identity: name) ?? data
            // Data.write(.atomic) writes a temporary file beside the target and renames it.
            if atomic {
                try bytes.write(to: URL(fileURLWithPath: path), options: .atomic)
            } else {
                try Self.writePlain(bytes, to: path)
            }
        } catch let e as DataError {
            throw e
        } catch {
            throw DataError(.data(.io), "cannot write '\(path)': \(error)", at: nil)
        }
        return path
    }

    /// open/write/close, without the fsync Foundation's `Data.write` does even when not atomic.
    private static func writePlain(_ data: Data, to path: String) throws(DataError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw DataError(.data(.io), "cannot create '\(path)': \(String(cString: strerror(errno)))", at: nil)
        }
        defer { close(fd) }
        var failure: Int32 = 0
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count, let base = raw.baseAddress {
                let n = Foundation.write(fd, base + offset, raw.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else {
                    failure = errno
                    return
                }
                offset += n
            }
        }
        if failure != 0 {
            throw DataError(.data(.io), "cannot write '\(path)': \(String(cString: strerror(failure)))", at: nil)
        }
    }

    /// Reads `name` back, opening it when the dataset is encrypted.
    public func read(name: String) throws(DataError) -> Data {
        let sealer = try sealerIfNeeded()
        let path = directory + "/" + name
        do {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            return try sealer?.open(bytes, identity: name) ?? bytes
        } catch {
            throw DataError(
                .data(.io), "cannot read '\(path)': \(error)", at: nil,
                help: encrypt ? "a wrong key, or a file that was changed or renamed, cannot be opened" : nil)
        }
    }
}
