import Crypto
public import Foundation
import KilnSpec

/// A secret named in a spec, `${env:NAME}` or `${file:path}`, resolved only where it is used. Errors name
/// the reference, never a value.
public struct SecretReference: Sendable, Equatable, CustomStringConvertible {
    public enum Source: Sendable, Equatable {
        case environment(String)
        case file(String)
    }

    public var source: Source
    /// As written in the spec (what messages show).
    public var description: String

    /// nil when `text` is not a reference (a literal where a secret belongs).
    public init?(_ text: String) {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard t.hasPrefix("${"), t.hasSuffix("}") else { return nil }
        let inner = t.dropFirst(2).dropLast()
        if inner.hasPrefix("env:"), !inner.dropFirst(4).isEmpty {
            source = .environment(String(inner.dropFirst(4)))
        } else if inner.hasPrefix("file:"), !inner.dropFirst(5).isEmpty {
            source = .file(String(inner.dropFirst(5)))
        } else {
            return nil
        }
        description = t
    }

    public struct Missing: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The value; a `file:` path resolves against `directory` (the spec file's).
    public func resolve(
        relativeTo directory: String = ".",
        environment: [String: String] = ProcessInfo.processInfo
            .environment
    ) throws -> String {
        switch source {
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw Missing(description: "the secret \(description) is not set (the environment has no \(name))")
            }
            return value
        case .file(let path):
            let full = path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
            if let problem = ReadConfinement.special(full) {
                throw Missing(description: "the secret \(description) is not read: \(problem)")
            }
            guard let data = FileManager.default.contents(atPath: full) else {
                throw Missing(description: "the secret \(description) cannot be read (no file \(full))")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}

/// AES-256-GCM for derived copies of encrypted datasets: a fresh random nonce per file, and the file's
/// identity (its name within its cache entry) bound as associated data, so a sealed file cannot be passed
/// off as another. The format: `KILNENC1`, then nonce, ciphertext and tag (swift-crypto's combined box).
public struct DataCipher: Sendable {
    static let magic = Data("KILNENC1".utf8)
    private let key: SymmetricKey

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// A key given as base64 of 32 bytes (`openssl rand -base64 32`); `name` is how messages call it.
    public init(base64 text: String, name: String) throws {
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32
        else {
            throw Failure(description: "the key \(name) is not 32 bytes in base64 (make one: openssl rand -base64 32)")
        }
        key = SymmetricKey(data: bytes)
    }

    public func seal(_ plaintext: Data, identity: String) throws -> Data {
        let box = try AES.GCM.seal(plaintext, using: key, nonce: AES.GCM.Nonce(), authenticating: Data(identity.utf8))
        guard let combined = box.combined else { throw Failure(description: "AES-GCM gave no sealed box") }
        return Self.magic + combined
    }

    public func open(_ sealed: Data, identity: String) throws -> Data {
        guard sealed.starts(with: Self.magic) else {
            throw Failure(description: "'\(identity)' is not an encrypted kiln file")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed.dropFirst(Self.magic.count))
            return try AES.GCM.open(box, using: key, authenticating: Data(identity.utf8))
        } catch {
            throw Failure(
                description: "'\(identity)' cannot be decrypted: a wrong key, or the file was changed or renamed")
        }
    }
}
