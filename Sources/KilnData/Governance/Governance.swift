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

    public init(directory: String, encrypt: Bool, sealer: (any DerivedDataSealer)?) {
        self.directory = directory
        self.encrypt = encrypt
        self.sealer = sealer
    }

    private func sealerIfNeeded() throws(DataError) -> (any DerivedDataSealer)? {
        guard encrypt else { return nil }
        guard let sealer else {
            throw DataError(
                "data.encrypt-without-key", "the dataset is 'encrypt: true', and no encryption key is available",
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
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let bytes = try sealer?.seal(data, identity: name) ?? data
            // Data.write(.atomic) writes a temporary file beside the target and renames it.
            try bytes.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch let e as DataError {
            throw e
        } catch {
            throw DataError("data.io", "cannot write '\(path)': \(error)", at: nil)
        }
        return path
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
                "data.io", "cannot read '\(path)': \(error)", at: nil,
                help: encrypt ? "a wrong key, or a file that was changed or renamed, cannot be opened" : nil)
        }
    }
}
