import ArgumentParser
import Foundation
import KilnRegistry
import KilnRuntime
import KilnSecurity
import KilnSpec

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
            throw fail("\(error)")
        }
    }

    /// The Policies' `signing.trusted_keys`, each relative to its Policy's file, read only from inside the
    /// workspace (or `KILN_ALLOW_READ`), as `kiln check` requires.
    static func trustedKeyFiles(workspace: String) throws -> [String] {
        var files: [String] = []
        let confinement = ReadConfinement(workspace: WorkspacePaths(path: workspace).root)
        for resource in Access.policies(workspace: workspace) {
            for key in PolicySpec(resource).trustedKeys {
                let path = key.text
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
