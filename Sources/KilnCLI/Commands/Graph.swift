import ArgumentParser
import KilnCompiler
import KilnDiagnostics

struct Graph: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the execution graph: nodes, edges and fingerprints.",
        discussion: """
            Examples:
              kiln graph --format dot | dot -Tsvg > graph.svg
              kiln graph examples/iris --format mermaid
              kiln graph --format json | jq '.nodes[].fingerprint'
            """)

    @OptionGroup var workspace: WorkspaceOptions

    @Option(help: "Graph format: dot, mermaid or json.")
    var format: GraphFormat = .dot

    @Option(name: .customLong("diagnostics"), help: "Diagnostics format: text, json or github.")
    var diagnosticsFormat: DiagnosticFormat?

    func run() throws {
        let (_, graph, ok) = workspace.compile(format: diagnosticsFormat, lower: true)
        guard ok, let graph else { throw ExitStatus.failure }
        Terminal.standardOutput(graph.render(format))
    }
}
