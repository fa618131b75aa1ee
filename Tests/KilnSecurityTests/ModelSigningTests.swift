import Crypto
import Foundation
import Testing

@testable import KilnSecurity

/// Signing and verifying a manifest: each way a version can fail to verify is named.
@Suite struct ModelSigningTests {
    static let files = [
        "model.safetensors": String(repeating: "a", count: 64), "card.json": String(repeating: "b", count: 64),
    ]

    @Test func verifiesAndNamesEachFailure() throws {
        let trusted = Curve25519.Signing.PrivateKey()
        let stranger = Curve25519.Signing.PrivateKey()
        let manifest = ModelSigning.Manifest(model: "m", version: 2, files: Self.files)
        let signature = try ModelSigning.sign(manifest, key: trusted, signer: "alice")
        let fingerprint = try ModelSigning.verify(signature, current: manifest, trusted: [trusted.publicKey])
        #expect(fingerprint == ModelSigning.fingerprint(trusted.publicKey))

        func failure(_ s: ModelSigning.Signature?, _ current: ModelSigning.Manifest) -> String {
            do {
                try ModelSigning.verify(s, current: current, trusted: [trusted.publicKey])
                return "verified"
            } catch { return "\(error)" }
        }
        #expect(failure(nil, manifest).contains("m@v2 is not signed"))
        var changed = Self.files
        changed["card.json"] = String(repeating: "c", count: 64)
        #expect(
            failure(signature, ModelSigning.Manifest(model: "m", version: 2, files: changed))
                .contains("changed after it was signed: card.json"))
        var added = Self.files
        added["specs/extra.yaml"] = String(repeating: "d", count: 64)
        #expect(
            failure(signature, ModelSigning.Manifest(model: "m", version: 2, files: added))
                .contains("specs/extra.yaml"))
        #expect(
            failure(signature, ModelSigning.Manifest(model: "m", version: 3, files: Self.files))
                .contains("is for m@v2"))
        let foreign = try ModelSigning.sign(manifest, key: stranger, signer: "mallory")
        #expect(failure(foreign, manifest).contains("not in the Policy's trusted_keys"))
        // A trusted key, but the signature bytes altered.
        var forged = signature
        var bytes = try #require(Data(base64Encoded: forged.signature))
        bytes[0] ^= 1
        forged.signature = bytes.base64EncodedString()
        #expect(failure(forged, manifest).contains("does not verify"))
        // The manifest is canonical: the same files in any order sign the same bytes.
        #expect(
            ModelSigning.Manifest(
                model: "m", version: 2, files: Dictionary(uniqueKeysWithValues: Self.files.reversed())
            )
            .canonical == manifest.canonical)
    }

    @Test func keyFilesRoundTripAndAreNeverOverwritten() throws {
        let prefix = NSTemporaryDirectory() + "kiln-keys-" + UUID().uuidString + "/release"
        let (privatePath, publicPath) = try ModelSigning.generateKeys(prefix: prefix)
        let key = try ModelSigning.loadPrivateKey(privatePath)
        #expect(try ModelSigning.loadPublicKey(publicPath).rawRepresentation == key.publicKey.rawRepresentation)
        let mode = try FileManager.default.attributesOfItem(atPath: privatePath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(throws: ModelSigning.Failure.self) { try ModelSigning.generateKeys(prefix: prefix) }
        #expect(throws: ModelSigning.Failure.self) { try ModelSigning.loadPublicKey(privatePath) }
    }
}
