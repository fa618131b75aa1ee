import KilnCompiler
import KilnDiagnostics
import KilnSpec

/// libFuzzer entry: YAML front end, decoder, compiler and lowering on arbitrary bytes. Every input
/// must end in a workspace or diagnostics: no crash, no hang (libFuzzer's -timeout catches those).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var workspace = Workspace(root: ".")
    WorkspaceLoader().load(file: "fuzz.yaml", bytes: bytes, into: &workspace)
    var compiler = Compiler()
    compiler.checkFiles = false
    let (result, _) = compiler.lower(workspace, hashFiles: false)
    _ = DiagnosticRenderer(sources: workspace.sources).text(result.diagnostics.sorted)
    return 0
}
