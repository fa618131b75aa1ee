import ArgumentParser
import Foundation
import KilnRegistry
import KilnRuntime
import KilnSecurity
import KilnSpec

/// `kiln sign MODEL@REF --key FILE`: signs the manifest of every file of the version.
struct Sign: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sign a version: Ed25519 over a manifest of every file's SHA-256, stored beside it in the registry.",
        discussion: "Example:\n  kiln sign iris-mlp@staging --key ~/.kiln/release.key")
    @Argument(help: "NAME@vN, NAME@ALIAS or NAME@latest.") var reference: String
    @Option(help: "The private key (kiln keygen).") var key: String
    @OptionGroup var registry: RegistryOptions

    func run() throws {
        let ref = try RegistryOptions.reference(reference)
        _ = try registry.resolve(ref)
        // Signing vouches for a version: when a Policy turns access control on, it needs `sign`.
        try Access.require(
            Access.evaluator(workspace: registry.workspace), "sign", on: ["model/\(ref.model)"],
            workspace: registry.workspace)
        do {
            if let warning = ModelSigning.permissionWarning(key) { Terminal.standardError("kiln: warning: \(warning)\n") }
            let privateKey = try ModelSigning.loadPrivateKey(key)
            let r = registry.open()
            let (version, files) = try r.fileDigests(ref)
            let signature = try ModelSigning.sign(
                ModelSigning.Manifest(model: ref.model, version: version, files: files), key: privateKey,
                signer: Identity.current)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            let fingerprint = ModelSigning.fingerprint(privateKey.publicKey)
            // Audited before the signature is stored; an unwritable log refuses the signing.
            try Audit.require(
                workspace: registry.workspace, action: "sign", resource: "model/\(ref.model)",
                details: ["version": "v\(version)", "key": fingerprint, "files": "\(files.count)"])
            try r.storeSignature(
                try encoder.encode(signature), model: ref.model, version: version, author: Identity.current)
            Terminal.standardOutput(
                "signed \(ref.model)@v\(version): \(files.count) files, key \(fingerprint)\n")
        } catch {
            throw fail("\(error)")
        }
    }
}
