public import Crypto
public import Foundation
import KilnSpec

/// Signed model versions, in the spirit of OpenSSF model signing: the signature covers a canonical manifest
/// of every file of the version (path and SHA-256, sorted by path), signed with Ed25519. Verification
/// recomputes the manifest from the registry's bytes, so a file changed after signing is named, and checks
/// the signature against the trusted public keys.
public enum ModelSigning {
    /// What is signed: every file of one version.
    public struct Manifest: Codable, Equatable, Sendable {
        public struct File: Codable, Equatable, Sendable {
            public var path: String
            public var sha256: String
        }

        public var format = "kiln-signing-manifest"
        public var version = 1
        public var model: String
        public var modelVersion: Int
        public var files: [File]

        enum CodingKeys: String, CodingKey {
            case format, version, model, files
            case modelVersion = "model_version"
        }

        public init(model: String, version: Int, files: [String: String]) {
            self.model = model
            modelVersion = version
            self.files = files.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                .map { File(path: $0.key, sha256: $0.value) }
        }

        /// The bytes signed: JSON with sorted keys, no spaces.
        public var canonical: Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? encoder.encode(self)) ?? Data()
        }
    }

    /// A signature as stored beside the version (`refs/kiln/signatures/NAME/vN`).
    public struct Signature: Codable, Equatable, Sendable {
        public var format = "kiln-signature"
        public var manifest: Manifest
        /// Ed25519 over `manifest.canonical`, base64.
        public var signature: String
        /// The signer's public key, base64 (raw 32 bytes); trust comes from `trusted_keys`, not from this.
        public var publicKey: String
        public var signer: String
        public var time: String

        enum CodingKeys: String, CodingKey {
            case format, manifest, signature, signer, time
            case publicKey = "public_key"
        }
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    // MARK: Keys

    public static let privateHeader = "kiln ed25519 private key"
    public static let publicHeader = "kiln ed25519 public key"

    /// A new key pair written as `PREFIX.key` (mode 0600) and `PREFIX.pub`; refuses to overwrite.
    public static func generateKeys(prefix: String) throws -> (privatePath: String, publicPath: String) {
        let key = Curve25519.Signing.PrivateKey()
        let privatePath = prefix + ".key", publicPath = prefix + ".pub"
        for path in [privatePath, publicPath] where FileManager.default.fileExists(atPath: path) {
            throw Failure("\(path) exists; kiln does not overwrite keys (remove it, or pick another name)")
        }
        // Foundation's deletingLastPathComponent traps on a bare name here: split by hand.
        let directory = prefix.lastIndex(of: "/").map { String(prefix[..<$0]) } ?? ""
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let privateText = "\(privateHeader)\n\(key.rawRepresentation.base64EncodedString())\n"
        guard
            FileManager.default.createFile(
                atPath: privatePath, contents: Data(privateText.utf8), attributes: [.posixPermissions: 0o600])
        else { throw Failure("cannot write \(privatePath)") }
        let publicText = "\(publicHeader)\n\(key.publicKey.rawRepresentation.base64EncodedString())\n"
        try Data(publicText.utf8).write(to: URL(fileURLWithPath: publicPath))
        return (privatePath, publicPath)
    }

    public static func loadPrivateKey(_ path: String) throws -> Curve25519.Signing.PrivateKey {
        let bytes = try keyBytes(path, header: privateHeader)
        do { return try Curve25519.Signing.PrivateKey(rawRepresentation: bytes) } catch {
            throw Failure("\(path): not an Ed25519 private key")
        }
    }

    public static func loadPublicKey(_ path: String) throws -> Curve25519.Signing.PublicKey {
        let bytes = try keyBytes(path, header: publicHeader)
        do { return try Curve25519.Signing.PublicKey(rawRepresentation: bytes) } catch {
            throw Failure("\(path): not an Ed25519 public key")
        }
    }

    /// A warning when a private key can be read by others than its owner (mode bits beyond 0600).
    public static func permissionWarning(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & 0o077 != 0 else { return nil }
        return "the private key \(path) can be read by others (mode \(String(info.st_mode & 0o777, radix: 8))); run: chmod 600 \(path)"
    }

    private static func keyBytes(_ path: String, header: String) throws -> Data {
        if let problem = ReadConfinement.special(path) { throw Failure("the key \(path) is not read: \(problem)") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure("cannot read the key \(path)")
        }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        guard lines.count == 2, lines[0] == header, let bytes = Data(base64Encoded: lines[1]), bytes.count == 32 else {
            throw Failure("\(path) is not a \(header) (make one with `kiln keygen`)")
        }
        return bytes
    }

    /// A key's short fingerprint, for messages: the first 16 hex digits of SHA-256 of the raw key.
    public static func fingerprint(_ key: Curve25519.Signing.PublicKey) -> String {
        SHA256.hash(data: key.rawRepresentation).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    // MARK: Signing and verifying

    /// `verify` from what the registry stores: the signature's JSON (nil: unsigned), the version's file
    /// digests now, and the trusted keys' files.
    @discardableResult
    public static func verifyStored(
        _ stored: Data?, model: String, version: Int, files: [String: String], trustedKeyFiles: [String]
    ) throws -> String {
        let signature: Signature?
        if let stored {
            do { signature = try JSONDecoder().decode(Signature.self, from: stored) } catch {
                throw Failure("the signature stored for \(model)@v\(version) is damaged: \(error)")
            }
        } else {
            signature = nil
        }
        guard !trustedKeyFiles.isEmpty else {
            throw Failure("no trusted_keys to verify \(model)@v\(version) against (the Policy's signing.trusted_keys)")
        }
        let keys = try trustedKeyFiles.map(loadPublicKey)
        return try verify(signature, current: Manifest(model: model, version: version, files: files), trusted: keys)
    }

    /// The version verifies when any of its stored signatures (newest first) verifies against a trusted
    /// key; otherwise the newest one's failure is thrown. Returns the trusted key's fingerprint.
    public static func verifyAny(
        _ stored: [Data], model: String, version: Int, files: [String: String], trustedKeyFiles: [String]
    ) throws -> String {
        guard let newest = stored.first else {
            return try verifyStored(nil, model: model, version: version, files: files, trustedKeyFiles: trustedKeyFiles)
        }
        for data in stored {
            if let fingerprint = try? verifyStored(
                data, model: model, version: version, files: files, trustedKeyFiles: trustedKeyFiles)
            {
                return fingerprint
            }
        }
        return try verifyStored(newest, model: model, version: version, files: files, trustedKeyFiles: trustedKeyFiles)
    }

    public static func sign(
        _ manifest: Manifest, key: Curve25519.Signing.PrivateKey, signer: String, now: Date = Date()
    ) throws -> Signature {
        let signature = try key.signature(for: manifest.canonical)
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return Signature(
            manifest: manifest, signature: signature.base64EncodedString(),
            publicKey: key.publicKey.rawRepresentation.base64EncodedString(), signer: signer,
            time: formatter.string(from: now))
    }

    /// Checks a version's signature against its files now and the trusted keys; returns the trusted key's
    /// fingerprint. The failure says which: unsigned, changed since signing (naming the files), signed by
    /// a key not trusted, or a signature that does not verify.
    @discardableResult
    public static func verify(
        _ signature: Signature?, current: Manifest, trusted: [Curve25519.Signing.PublicKey]
    ) throws -> String {
        let name = "\(current.model)@v\(current.modelVersion)"
        guard let signature else {
            throw Failure("\(name) is not signed (sign it with `kiln sign \(name) --key KEY`)")
        }
        guard signature.manifest.model == current.model, signature.manifest.modelVersion == current.modelVersion else {
            throw Failure(
                "the signature stored for \(name) is for \(signature.manifest.model)@v\(signature.manifest.modelVersion)"
            )
        }
        if signature.manifest.files != current.files {
            let signed = Dictionary(
                signature.manifest.files.map { ($0.path, $0.sha256) }, uniquingKeysWith: { a, _ in a })
            let now = Dictionary(current.files.map { ($0.path, $0.sha256) }, uniquingKeysWith: { a, _ in a })
            let changed = Set(signed.keys).union(now.keys).filter { signed[$0] != now[$0] }.sorted()
            throw Failure(
                "\(name) changed after it was signed: \(changed.prefix(5).joined(separator: ", "))\(changed.count > 5 ? ", …" : "")"
            )
        }
        guard let keyBytes = Data(base64Encoded: signature.publicKey),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: keyBytes),
            let bytes = Data(base64Encoded: signature.signature)
        else { throw Failure("the signature stored for \(name) is damaged") }
        guard trusted.contains(where: { $0.rawRepresentation == key.rawRepresentation }) else {
            throw Failure(
                "\(name) is signed by key \(fingerprint(key)) (\(signature.signer)), which is not in the Policy's trusted_keys"
            )
        }
        guard key.isValidSignature(bytes, for: signature.manifest.canonical) else {
            throw Failure("the signature of \(name) does not verify: the signature or its manifest was altered")
        }
        return fingerprint(key)
    }
}
