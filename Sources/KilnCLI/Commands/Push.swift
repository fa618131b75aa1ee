import ArgumentParser
import Foundation
import KilnDiagnostics
import KilnRegistry
import KilnRuntime
import KilnSpec

struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Push every model history, alias and version tag to a remote git repository (never forced).",
        discussion: """
            A local path that does not exist becomes a bare repository. A reference the remote
            refuses (someone registered or moved an alias meanwhile) is reported: pull, then push
            again. Exit 1 on a conflict.

            Examples:
              kiln push /srv/kiln-registry.git -C examples/iris
              KILN_REMOTE=ssh://git@host/registry.git kiln push
            """)
    @OptionGroup var remote: RemoteArgument
    @OptionGroup var registry: RegistryOptions

    func run() throws { try sync(remote, registry, "pushed") { try $0.push(to: $1) } }
}
