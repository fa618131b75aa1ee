import ArgumentParser
import KilnCompiler
import KilnDiagnostics
import KilnSpec

/// The workspace argument and output options shared by the compiling commands.
struct WorkspaceOptions: ParsableArguments {
    @Argument(help: "A workspace directory or a spec file.")
    var path: String = "."

    @Flag(name: .shortAndLong, help: "Also list YAML documents that are not kiln resources.")
    var verbose = false

    /// Loads and compiles; prints the diagnostics in `format` (text to stderr, machine formats to stdout).
    func compile(format: DiagnosticFormat?, lower: Bool) -> (Compiler.Result, ExecutionGraph?, Bool) {
        let workspace = WorkspaceLoader().load(path: path)
        let compiler = Compiler()
        let (result, graph): (Compiler.Result, ExecutionGraph?) =
            lower ? compiler.lower(workspace) : (compiler.compile(workspace), nil)
        var engine = result.diagnostics
        if verbose {
            for span in workspace.ignored {
                engine.emit(Diagnostic(.workspace(.notAResource), .note, "not a kiln resource; ignored", at: span))
            }
        }
        let diagnostics = engine.sorted
        let format = Terminal.diagnosticFormat(format)
        let renderer = DiagnosticRenderer(
            sources: workspace.sources, colour: format == .text && Terminal.colour(for: 2))
        let output = renderer.render(diagnostics, format: format)
        switch format {
        case .text: Terminal.standardError(output)
        case .json, .github: Terminal.standardOutput(output)
        }
        return (result, graph, !engine.hasErrors)
    }
}
