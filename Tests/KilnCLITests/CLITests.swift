import Foundation
import KilnTestSupport
import Testing

/// End to end: the real binary, its exit codes and output formats.
@Suite struct CLI {
    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func kiln(_ arguments: String..., environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Repository.kilnBinary)
        process.arguments = arguments
        process.currentDirectoryURL = Repository.root
        var env = ProcessInfo.processInfo.environment
        env["GITHUB_ACTIONS"] = nil
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let (o, e) = PipeReader.readBoth(out.fileHandleForReading, err.fileHandleForReading)
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }

    @Test func checkExitsZeroOnTheExample() throws {
        let r = try kiln("check", "examples/iris")
        #expect(r.status == 0, Comment(rawValue: r.stderr))
        #expect(r.stderr.contains("checked 6 resources"))
    }

    @Test func checkExitsOneWithPositionedErrors() throws {
        let r = try kiln("check", "specs/invalid/training-lr-synonym.yaml")
        #expect(r.status == 1)
        #expect(r.stderr.contains("specs/invalid/training-lr-synonym.yaml:28:26: error: unknown field 'lr'"))
    }

    @Test func usageErrorsExitTwo() throws {
        #expect(try kiln("check", "--format", "yaml").status == 2)
        #expect(try kiln("frobnicate").status == 2)
    }

    @Test func jsonDiagnosticsAreVersionedAndParse() throws {
        let r = try kiln("check", "specs/invalid/yaml-duplicate-key.yaml", "--format", "json")
        #expect(r.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(object["version"] as? Int == 1)
        let first = try #require((object["diagnostics"] as? [[String: Any]])?.first)
        #expect(first["id"] as? String == "spec.duplicate-key")
        #expect((first["location"] as? [String: Any])?["line"] as? Int == 7)
    }

    @Test func githubAnnotationsUnderGitHubActions() throws {
        let r = try kiln("check", "specs/invalid/yaml-duplicate-key.yaml", environment: ["GITHUB_ACTIONS": "true"])
        #expect(r.stdout.hasPrefix("::error file=specs/invalid/yaml-duplicate-key.yaml,line=7,col=3,"))
        #expect(r.stdout.contains("title=spec.duplicate-key::"))
    }

    @Test func graphPrintsJSONWithFingerprints() throws {
        let r = try kiln("graph", "examples/iris", "--format", "json")
        #expect(r.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let nodes = try #require(object["nodes"] as? [[String: Any]])
        #expect(nodes.contains { $0["id"] as? String == "dataset/iris:ingest" })
        #expect(nodes.allSatisfy { ($0["fingerprint"] as? String)?.count == 64 })
    }

    @Test func graphRefusesAnInvalidWorkspace() throws {
        let r = try kiln("graph", "specs/invalid/dataset-split-sum.yaml")
        #expect(r.status == 1 && r.stdout.isEmpty)
    }

    @Test func inlineSecretsAreMaskedEvenInTheQuotedSource() throws {
        let r = try kiln(
            "check", "specs/invalid/policy-inline-secret.yaml")
        #expect(r.status == 1)
        #expect(r.stderr.contains("spec.inline-secret"))
        #expect(!r.stderr.contains("c2VjcmV0"), "the inline secret is masked, even in the quoted source line")
    }

    @Test func checkWritesNothing() throws {
        let dir = try TemporaryDirectory(files: [
            "m.yaml":
                "apiVersion: kiln/v1\nkind: Model\nmetadata: {name: m}\nspec: {task: regression, architecture: {type: linear}}\n"
        ])
        let before = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(try kiln("check", dir.path).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == before)
    }

    @Test func versionAndSchema() throws {
        #expect(try kiln("--version").stdout.hasPrefix("kiln "))
        let schema = try kiln("schema")
        #expect(schema.status == 0 && schema.stdout.contains("draft-07"))
    }
}
