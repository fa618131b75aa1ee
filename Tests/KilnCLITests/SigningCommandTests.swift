import Foundation
import KilnTestSupport
import Testing

/// Signed versions end to end: a protected environment refuses an unsigned version and one signed by an
/// untrusted key, at the release node and at `kiln serve`, and takes one signed by a trusted key.
extension CLI {
    @Test func aProtectedEnvironmentTakesOnlyTrustedSignatures() throws {
        let workspace = try irisCopy()
        let alice = ["KILN_USER": "alice"]
        #expect(try kiln("keygen", "--out", workspace.path + "/keys/release").status == 0)
        #expect(try kiln("keygen", "--out", workspace.path + "/elsewhere/other").status == 0)
        #expect(try kiln("keygen", "--out", workspace.path + "/keys/release").status == 1)  // never overwritten
        try workspace.write(
            "specs/deploy.yaml",
            """
            apiVersion: kiln/v1
            kind: Deployment
            metadata: {name: iris-api}
            spec:
              model: iris-mlp@staging
              environment: production
              auth: required
            """)
        try workspace.write(
            "specs/policy.yaml",
            """
            apiVersion: kiln/v1
            kind: Policy
            metadata: {name: release}
            spec:
              principals:
                - {name: alice, roles: [engineer]}
                - {name: shop, roles: [consumer], token_sha256: "\(try Self.sha256("shop-token"))"}
              roles:
                engineer:
                  - {allow: [run, register], on: "training/*"}
                  - {allow: [read], on: "dataset/*"}
                  - {allow: [deploy, promote], on: "model/*", environments: [production, staging]}
                  - {allow: [sign], on: "model/*"}
                consumer:
                  - {allow: [infer], on: "deployment/iris-api", environments: [production]}
              signing:
                required_for: [production]
                trusted_keys: [../keys/release.pub]
            """)
        let unsigned = try kiln("run", workspace.path, "--quiet", environment: alice)
        #expect(unsigned.status == 1)
        #expect(
            unsigned.stderr.contains("requires a signed version: iris-mlp@v2 is not signed"),
            Comment(rawValue: unsigned.stderr))
        // Nothing was released to production: the server, which serves production's alias, has nothing to serve.
        let refused = try kiln("serve", workspace.path, "--port", "0", environment: alice)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("serves iris-mlp@production"), Comment(rawValue: refused.stderr))
        #expect(try kiln("verify", "iris-mlp@staging", "-C", workspace.path).status == 1)

        // Signed by a key the Policy does not trust.
        let other = try kiln(
            "sign", "iris-mlp@staging", "--key", workspace.path + "/elsewhere/other.key", "-C", workspace.path,
            environment: alice)
        #expect(other.status == 0, Comment(rawValue: other.stderr))
        let untrusted = try kiln("verify", "iris-mlp@staging", "-C", workspace.path)
        #expect(untrusted.status == 1)
        #expect(untrusted.stderr.contains("not in the Policy's trusted_keys"), Comment(rawValue: untrusted.stderr))
        #expect(try kiln("run", workspace.path, "--quiet", environment: alice).status == 1)

        // Signed by the trusted key: verified, released, served.
        let signed = try kiln(
            "sign", "iris-mlp@staging", "--key", workspace.path + "/keys/release.key", "-C", workspace.path,
            environment: alice)
        #expect(signed.status == 0, Comment(rawValue: signed.stderr))
        let verified = try kiln("verify", "iris-mlp@staging", "-C", workspace.path)
        #expect(verified.status == 0, Comment(rawValue: verified.stderr))
        #expect(verified.stdout.contains("signature verified"))
        let released = try kiln("run", workspace.path, "--quiet", environment: alice)
        #expect(released.status == 0, Comment(rawValue: released.stderr))
        let (server, port) = try serve(workspace.path, environment: alice)
        let answer = try HTTPConnection(port: port).post(
            "/v2/models/iris-api/infer", json: Self.tensorInput([[5.1, 3.5, 1.4, 0.2]]),
            headers: ["Authorization": "Bearer shop-token"])
        #expect(answer.status == 200, Comment(rawValue: answer.text))
        server.process.terminate()
        #expect(server.finish() == 0)

        // The other version is unsigned: promoted to production, the server refuses it. (Moving staging
        // changes nothing here: production's server serves production's alias.)
        #expect(try kiln("promote", "iris-mlp@v1", "staging", "-C", workspace.path, environment: alice).status == 0)
        let unchanged = try serve(workspace.path, environment: alice)
        unchanged.0.process.terminate()
        #expect(unchanged.0.finish() == 0)
        #expect(try kiln("promote", "iris-mlp@v1", "production", "-C", workspace.path, environment: alice).status == 0)
        let stale = try kiln("serve", workspace.path, "--port", "0", environment: alice)
        #expect(stale.status == 1)
        #expect(stale.stderr.contains("iris-mlp@v1 is not signed"), Comment(rawValue: stale.stderr))
        let audit = try kiln("audit", "-C", workspace.path)
        #expect(audit.stdout.contains("sign model/iris-mlp"), Comment(rawValue: audit.stdout))

        // Tampered: the signed version's tag pointed at other bytes (v1's commit), as someone with write
        // access to the registry could. The tag no longer names v2 of the history: refused, naming it.
        let registry = workspace.path + "/.kiln/registry"
        let v1 = try git(registry, "rev-parse", "refs/tags/kiln/iris-mlp/v1^{commit}")
        _ = try git(registry, "update-ref", "refs/tags/kiln/iris-mlp/v2", v1)
        let tampered = try kiln("verify", "iris-mlp@v2", "-C", workspace.path)
        #expect(tampered.status == 1)
        #expect(tampered.stderr.contains("iris-mlp@v2's tag names a commit that is not"), Comment(rawValue: tampered.stderr))
        #expect(try kiln("checkout", "iris-mlp@v2", "-o", workspace.path + "/out", "-C", workspace.path).status == 1)
    }
}

extension CLI {
    /// The git command line on a repository (tests only: kiln itself uses libgit2).
    func git(_ repository: String, _ arguments: String...) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = ["--git-dir", repository] + arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = PipeReader.readAll(out.fileHandleForReading)
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
