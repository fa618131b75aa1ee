import ArgumentParser
import Foundation
import KilnRegistry
import KilnRuntime
import KilnSecurity
import KilnSpec

/// `kiln keygen`: an Ed25519 key pair for signing versions.
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make an Ed25519 key pair: PREFIX.key (private, mode 0600) and PREFIX.pub.",
        discussion: """
            Keep the .key file out of the workspace's repository. List the .pub file in the Policy's
            signing.trusted_keys.

            Example:
              kiln keygen --out ~/.kiln/release && cp ~/.kiln/release.pub keys/
            """)
    @Option(help: "The files' path without extension.") var out = "keys/release"

    func run() throws {
        do {
            let (privatePath, publicPath) = try ModelSigning.generateKeys(prefix: out)
            Terminal.standardOutput("private key: \(privatePath) (keep it secret)\npublic key:  \(publicPath)\n")
        } catch {
            Terminal.standardError("kiln: error: \(error)\n")
            throw ExitStatus.failure
        }
    }
}

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
            Terminal.standardError("kiln: error: \(error)\n")
            throw ExitStatus.failure
        }
    }
}

/// `kiln verify MODEL@REF`: the version's signature against its bytes now and the trusted keys.
struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify a version's signature against the Policy's trusted keys (or --key); exit 1 saying why not.",
        discussion: "Examples:\n  kiln verify iris-mlp@production\n  kiln verify iris-mlp@v3 --key keys/release.pub")
    @Argument(help: "NAME@vN, NAME@ALIAS or NAME@latest.") var reference: String
    @Option(name: .customLong("key"), help: "A trusted public key (repeatable; default: the Policy's trusted_keys).")
    var keys: [String] = []
    @OptionGroup var registry: RegistryOptions

    func run() throws {
        let ref = try RegistryOptions.reference(reference)
        _ = try registry.resolve(ref)
        do {
            let trusted = keys.isEmpty ? try Self.trustedKeyFiles(workspace: registry.workspace) : keys
            let r = registry.open()
            let (version, files) = try r.fileDigests(ref)
            let fingerprint = try ModelSigning.verifyAny(
                try r.signatures(model: ref.model, version: version), model: ref.model, version: version, files: files,
                trustedKeyFiles: trusted)
            Terminal.standardOutput(
                "\(ref.model)@v\(version): signature verified (\(files.count) files, trusted key \(fingerprint))\n")
        } catch {
            Terminal.standardError("kiln: error: \(error)\n")
            throw ExitStatus.failure
        }
    }

    /// The Policies' `signing.trusted_keys`, each relative to its Policy's file, read only from inside the
    /// workspace (or `KILN_ALLOW_READ`), as `kiln check` requires.
    static func trustedKeyFiles(workspace: String) throws -> [String] {
        var files: [String] = []
        let confinement = ReadConfinement(workspace: WorkspacePaths(path: workspace).root)
        for resource in Access.policies(workspace: workspace) {
            for key in PolicySpec(resource).trustedKeys {
                guard let path = key.string else { continue }
                let full = path.hasPrefix("/") ? path : (resource.directory as NSString).appendingPathComponent(path)
                if let problem = confinement.problem(full) {
                    throw ModelSigning.Failure("the trusted key '\(path)' is not read: \(problem)")
                }
                files.append(full)
            }
        }
        return files
    }
}
