import Foundation
import KilnTestSupport
import Synchronization
import Testing

/// examples/iris-secure end to end, as its README runs it: roles, signing, a protected production
/// environment, token authentication, the audit log.
extension CLI {
    @Test func theSecureExampleRunsAsItsReadmeSays() throws {
        let w = try TemporaryDirectory()
        for entry in ["data", "specs"] {
            try FileManager.default.copyItem(
                atPath: Repository.path("examples/iris-secure/\(entry)"), toPath: w.path + "/" + entry)
        }
        let noKey = try kiln("check", w.path)
        #expect(noKey.status == 1)
        #expect(noKey.stderr.contains("trusted key '../keys/release.pub' does not exist"))
        #expect(try kiln("keygen", "--out", w.path + "/keys/release").status == 0)
        let alice = ["KILN_USER": "alice"], bot = ["KILN_USER": "release-bot"]

        let trained = try kiln("run", w.path, "training/iris-train", "--quiet", environment: alice)
        #expect(trained.status == 0, Comment(rawValue: trained.stderr))
        let aliceRelease = try kiln("run", w.path, "--quiet", environment: alice)
        #expect(aliceRelease.status == 1)
        #expect(aliceRelease.stderr.contains("lacks the permission 'deploy'"), Comment(rawValue: aliceRelease.stderr))
        let unsigned = try kiln("run", w.path, "--quiet", environment: bot)
        #expect(unsigned.status == 1)
        #expect(unsigned.stderr.contains("iris-mlp@v1 is not signed"), Comment(rawValue: unsigned.stderr))
        // Signing needs `sign`: alice may not vouch for a version; the release bot may.
        let aliceSigns = try kiln(
            "sign", "iris-mlp@staging", "--key", w.path + "/keys/release.key", "-C", w.path, environment: alice)
        #expect(aliceSigns.status == 1 && aliceSigns.stderr.contains("lacks the permission 'sign'"), Comment(rawValue: aliceSigns.stderr))
        let botSigns = try kiln(
            "sign", "iris-mlp@staging", "--key", w.path + "/keys/release.key", "-C", w.path, environment: bot)
        #expect(botSigns.status == 0, Comment(rawValue: botSigns.stderr))
        let released = try kiln("run", w.path, "--quiet", environment: bot)
        #expect(released.status == 0, Comment(rawValue: released.stderr))

        let (server, port) = try serve(w.path, environment: bot)
        let client = try HTTPConnection(port: port)
        let body = Self.tensorInput([[5.1, 3.5, 1.4, 0.2]])
        #expect(try client.post("/v2/models/iris-api/infer", json: body).status == 401)
        let answer = try client.post(
            "/v2/models/iris-api/infer", json: body, headers: ["Authorization": "Bearer iris-demo-token"])
        #expect(answer.status == 200, Comment(rawValue: answer.text))
        #expect(answer.text.contains("setosa"))
        server.process.terminate()
        #expect(server.finish() == 0)

        let audit = try kiln("audit", "-C", w.path)
        for line in [
            "alice  run", "alice  register model/iris-mlp", "alice  deploy", "release-bot  run", "sign model/iris-mlp",
            "infer deployment/iris-api  denied",
        ] {
            #expect(audit.stdout.contains(line), "\(line) in \(audit.stdout)")
        }
        #expect(try kiln("audit", "verify", "-C", w.path).status == 0)
    }
}

extension CLI {
    /// Two processes moving aliases at once: every move is one whole line of the audit log, and the chain
    /// verifies.
    @Test func concurrentProcessesNeverInterleaveAuditLines() throws {
        let workspace = try servedIris(Self.deployment())
        let path = workspace.path
        let moves = 12
        let group = DispatchGroup()
        let failures = Mutex<[String]>([])
        for p in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                for i in 0..<moves {
                    let r = try? self.kiln(
                        "alias", "set", "iris-mlp@v\(1 + (i + p) % 2)", "lane-\(p)", "-C", path,
                        "--reason", String(repeating: "r", count: 2000))
                    if r?.status != 0 { failures.withLock { $0.append(r?.stderr ?? "no process") } }
                }
            }
        }
        group.wait()
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let verified = try kiln("audit", "verify", "-C", workspace.path)
        #expect(verified.status == 0, Comment(rawValue: verified.stderr))
        let entries = try kiln("audit", "-C", workspace.path, "--json").stdout.split(separator: "\n")
        #expect(entries.filter { $0.contains("\"action\":\"alias\"") }.count == 2 * moves)
        #expect(entries.contains { $0.contains("\"action\":\"deploy\"") })
    }
}
