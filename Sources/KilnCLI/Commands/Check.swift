import ArgumentParser
import KilnDiagnostics
import KilnSpec

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the specs of a workspace: every error at once, like a compiler.",
        discussion: """
            Offline and side-effect free: reads no secret, needs no registry,
            writes nothing. It does check that referenced local files exist
            and that CSV headers match the declared columns.

            Examples:
              kiln check
              kiln check examples/iris
              kiln check specs/train.yaml --format json
              kiln check --format github   # default when GITHUB_ACTIONS=true
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Option(help: "Diagnostics format: text, json or github.")
    var format: DiagnosticFormat?

    func run() throws {
        let (result, _, ok) = workspace.compile(format: format, lower: false)
        if Terminal.diagnosticFormat(format) == .text {
            let r = result.workspace.resources.count
            let files = result.workspace.files.count
            if ok {
                Terminal.standardError(
                    "checked \(r) resource\(r == 1 ? "" : "s") in \(files) file\(files == 1 ? "" : "s")\n")
            }
        }
        if !ok { throw ExitStatus.failure }
    }
}
