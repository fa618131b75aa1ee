public import ArgumentParser
import Foundation
import KilnRuntime
import KilnSpec

/// The `kiln` command. Subcommands live one per file in Commands/.
public struct Kiln: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "kiln",
        abstract: "Compile, run, version and serve machine-learning pipelines declared in YAML.",
        discussion: """
            Examples:
              kiln check                       # every spec below .
              kiln check examples/iris --format json
              kiln graph examples/iris --format mermaid
              kiln schema > kiln.schema.json   # for editors

            Exit codes: 0 success, 1 the work failed, 2 usage error.
            """,
        version: "kiln \(KilnVersion.string)",
        subcommands: [
            Check.self, Graph.self, PlanCommand.self, RunCommand.self, Status.self, Runs.self, Models.self, Log.self,
            Show.self, Diff.self, Checkout.self, AliasCommand.self, Promote.self, Rollback.self, Push.self, Pull.self,
            Predict.self, Serve.self, Keygen.self, Sign.self, Verify.self, AuditCommand.self, TokenCommand.self,
            DataCommand.self,
            Schema.self,
            Doctor.self, ExecNode.self,
        ]
    )

    public init() {}

    /// Runs the command line; usage errors exit 2 (argument-parser's default is 64).
    public static func run(arguments: [String]? = nil) -> Never {
        #if canImport(Glibc)
            // A fixed mmap threshold: glibc otherwise raises it after each freed large block (a reader's
            // 1 MiB buffer, a decoded table), and later large blocks then come from per-thread arenas that
            // keep their pages. A run over thousands of datasets held 3.5 GB that way; with this, ~100 MB.
            _ = glibcMallopt(mmapThreshold, 256 << 10)
        #endif
        do {
            var command = try parseAsRoot(arguments)
            if command is any RecordsWhoActs, let problem = Identity.problem {
                Foundation.exit(fail(problem).rawValue)
            }
            try command.run()
            Foundation.exit(ExitStatus.success.rawValue)
        } catch let exit as ExitStatus {
            Foundation.exit(exit.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let message = fullMessage(for: error)
            if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
            Foundation.exit(code == .validationFailure ? ExitStatus.usage.rawValue : ExitStatus.failure.rawValue)
        }
    }
}

#if canImport(Glibc)
    /// glibc's `mallopt` (malloc.h, which the Glibc module does not export) and its `M_MMAP_THRESHOLD`.
    @_silgen_name("mallopt") private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
    private let mmapThreshold: Int32 = -3
#endif

/// A command that writes the acting identity into the registry or the audit log: it does not start
/// while that identity cannot be recorded (`Identity.problem`).
protocol RecordsWhoActs {}

extension RunCommand: RecordsWhoActs {}
extension AliasCommand.Set: RecordsWhoActs {}
extension Promote: RecordsWhoActs {}
extension Rollback: RecordsWhoActs {}
extension Pull: RecordsWhoActs {}
extension Push: RecordsWhoActs {}
extension Serve: RecordsWhoActs {}
extension Sign: RecordsWhoActs {}
