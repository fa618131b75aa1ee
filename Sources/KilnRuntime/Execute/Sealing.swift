import Foundation
import KilnCompiler
import KilnData
import KilnSecurity
import KilnSpec

/// The data layer's sealer for encrypted datasets, on the security layer's AES-256-GCM.
struct PolicySealer: DerivedDataSealer {
    let cipher: DataCipher

    func seal(_ plaintext: Data, identity: String) throws -> Data { try cipher.seal(plaintext, identity: identity) }
    func open(_ sealed: Data, identity: String) throws -> Data { try cipher.open(sealed, identity: identity) }

    /// The Policy's `encryption.key`, resolved now (the point of use): a reference to the environment or a
    /// file, never a literal. Failures name the reference, never a value.
    static func resolve(_ key: SealingKey?) -> Result<PolicySealer, NodeFailure> {
        guard let key else {
            return .failure(
                NodeFailure(
                    .run(.encryptionKey), "an encrypted dataset needs a Policy with 'encryption: {key: ${env:NAME}}'"))
        }
        guard let text = key.reference, let reference = SecretReference(text) else {
            return .failure(
                NodeFailure(
                    .run(.encryptionKey), "the encryption key must be a secret reference, not a value",
                    at: key.span, help: "write key: ${env:KILN_DATA_KEY} or key: ${file:path/to/key}"))
        }
        do {
            let value = try reference.resolve(relativeTo: key.directory)
            return .success(PolicySealer(cipher: try DataCipher(base64: value, name: reference.description)))
        } catch {
            return .failure(
                NodeFailure(
                    .run(.encryptionKey), "\(error)", at: key.span,
                    help: "set it to 32 random bytes in base64: openssl rand -base64 32"))
        }
    }
}
