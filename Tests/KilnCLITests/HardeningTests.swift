import Foundation
import KilnTestSupport
import Testing

/// The adversarial probe's findings (issue 14), kept as tests against the real binary: a hostile spec, a
/// hostile registry, a hostile request and a careless user.
extension CLI {
    static let leakDataset = """
        apiVersion: kiln/v1
        kind: Dataset
        metadata: {name: leak}
        spec:
          source: {path: SOURCE, format: csv}
          schema:
            columns:
              a: {type: float}
              b: {type: float}
            label: b
        """

    /// A spec pointing at a file outside the workspace or at a special file is refused; its content never
    /// appears, however the path gets there.
    @Test(arguments: ["/proc/self/environ", "../../../../../../../../etc/passwd", "/etc/hostname", "outside/x.csv"])
    func checkNeverReadsOrPrintsFilesOutsideTheWorkspace(_ source: String) throws {
        let directory = try TemporaryDirectory()
        let outside = try TemporaryDirectory(files: ["x.csv": "KILN_OUTSIDE_MARKER,b\n1,2\n"])
        try FileManager.default.createDirectory(atPath: directory.path + "/specs", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/specs/outside", withDestinationPath: outside.path)
        try directory.write("specs/d.yaml", Self.leakDataset.replacingOccurrences(of: "SOURCE", with: source))
        let r = try kiln("check", directory.path, environment: ["KILN_PROBE_SECRET": "KILN_SECRET_MARKER_42"])
        #expect(r.status == 1)
        #expect(r.stderr.contains("[compiler.read-refused]"), Comment(rawValue: r.stderr))
        for marker in ["KILN_SECRET_MARKER_42", "root:", "KILN_OUTSIDE_MARKER"] {
            #expect(!r.stderr.contains(marker) && !r.stdout.contains(marker), Comment(rawValue: r.stderr))
        }
    }

    @Test func kilnAllowReadLetsTheUserNameADirectoryOutside() throws {
        let directory = try TemporaryDirectory()
        let outside = try TemporaryDirectory(files: ["x.csv": "a,b\n1,2\n"])
        try directory.write("specs/d.yaml", Self.leakDataset.replacingOccurrences(of: "SOURCE", with: outside.path + "/x.csv"))
        #expect(try kiln("check", directory.path).status == 1)
        let allowed = try kiln("check", directory.path, environment: ["KILN_ALLOW_READ": outside.path])
        #expect(allowed.status == 0, Comment(rawValue: allowed.stderr))
        // Special files stay refused even when their directory is allowed.
        try directory.write("specs/d.yaml", Self.leakDataset.replacingOccurrences(of: "SOURCE", with: "/proc/self/environ"))
        let special = try kiln("check", directory.path, environment: ["KILN_ALLOW_READ": "/proc"])
        #expect(special.status == 1 && special.stderr.contains("special file"), Comment(rawValue: special.stderr))
    }

    /// Discovery does not follow a directory symlink out of the workspace (one to /proc/self walked the
    /// filesystem) and does not open a FIFO named like a spec (the read would block forever).
    @Test func specDiscoveryStaysInsideTheWorkspace() throws {
        let directory = try TemporaryDirectory()
        let outside = try TemporaryDirectory(files: ["evil.yaml": "apiVersion: kiln/v1\nkind: Model\nmetadata: {name: evil}\n"])
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/proc", withDestinationPath: "/proc/self")
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/away", withDestinationPath: outside.path)
        #expect(mkfifo(directory.path + "/blocked.yaml", 0o644) == 0)
        try directory.write("specs/d.yaml", Self.leakDataset.replacingOccurrences(of: "SOURCE", with: "data.csv"))
        try directory.write("specs/data.csv", "a,b\n1,2\n")
        let started = Date()
        let r = try kiln("check", directory.path, "-v")
        #expect(Date().timeIntervalSince(started) < 30)
        #expect(r.status == 0, Comment(rawValue: r.stderr))
        #expect(r.stderr.contains("checked 1 resource"), Comment(rawValue: r.stderr))
        #expect(!r.stderr.contains("evil"))
    }

    /// A header note shows escaped text, never a terminal escape sequence from the file.
    @Test func dataTextIsEscapedInDiagnostics() throws {
        let directory = try TemporaryDirectory()
        try directory.write("specs/d.yaml", Self.leakDataset.replacingOccurrences(of: "SOURCE", with: "data.csv"))
        try directory.write("specs/data.csv", "x\u{1b}[2J,b\n1,2\n")
        let r = try kiln("check", directory.path)
        #expect(r.status == 1)
        #expect(!r.stderr.contains("\u{1b}[2J"), Comment(rawValue: r.stderr))
        #expect(r.stderr.contains("\\u{1b}[2J"), Comment(rawValue: r.stderr))
    }

    /// An identity with a newline would write a commit libgit2 cannot read back: refused before anything
    /// is written, and the registry stays readable.
    @Test func anIdentityThatCannotBeRecordedIsRefusedBeforeAnythingIsWritten() throws {
        let workspace = try servedIris(Self.deployment())
        let before = try kiln("log", "iris-mlp", "--oneline", "-C", workspace.path)
        for identity in ["bob\nx", "eve <root@x>", "tab\there", "esc\u{1b}[2J"] {
            let r = try kiln(
                "alias", "set", "iris-mlp@v1", "canary", "-C", workspace.path, environment: ["KILN_USER": identity])
            #expect(r.status == 1)
            #expect(r.stderr.contains("the acting identity"), Comment(rawValue: r.stderr))
            #expect(!r.stderr.contains("\u{1b}"))
            let run = try kiln("run", workspace.path, "--quiet", environment: ["KILN_USER": identity])
            #expect(run.status == 1 && run.stderr.contains("cannot be recorded"), Comment(rawValue: run.stderr))
        }
        let models = try kiln("models", "-C", workspace.path)
        #expect(models.status == 0 && models.stdout.contains("iris-mlp"), Comment(rawValue: models.stdout))
        #expect(try kiln("log", "iris-mlp", "--oneline", "-C", workspace.path).stdout == before.stdout)
        #expect(try kiln("alias", "history", "iris-mlp@canary", "-C", workspace.path).status == 1)
    }

    @Test func referencesThatNameNoVersionAreUsageErrors() throws {
        let workspace = try servedIris(Self.deployment())
        for reference in ["iris-mlp@v0", "iris-mlp@v-1", "iris-mlp@v01", "../x@v1", "Iris@v1"] {
            let r = try kiln("show", reference, "-C", workspace.path)
            #expect(r.status == 2, "\(reference): \(r.stderr)")
        }
        for alias in ["latest", "v3", "v-1", "Prod"] {
            let r = try kiln("alias", "set", "iris-mlp@v1", alias, "-C", workspace.path)
            #expect(r.status == 1, "\(alias): \(r.stderr)")
        }
    }

    /// A registry pulled from someone else, holding a version whose tree writes `..`: refused by pull, and
    /// by checkout, sign, predict and serve when it is already there (a `git clone --mirror`).
    @Test func aCraftedVersionIsRefusedByEveryCommandThatReadsIt() throws {
        let workspace = try servedIris(Self.deployment())
        let registry = workspace.path + "/.kiln/registry"
        let payload = try CraftedRegistry.payload(registry, name: "pwned", text: "owned")
        try CraftedRegistry.addVersion(
            registry, model: "iris-mlp", extra: [.init(mode: "40000", name: "..", id: payload)])

        // pull into a fresh workspace: the history is refused, nothing else of it taken.
        let other = try TemporaryDirectory()
        let pulled = try kiln("pull", registry, "-C", other.path)
        #expect(pulled.status == 1)
        #expect(pulled.stderr.contains("kiln: refused: refs/kiln/models/iris-mlp:"), Comment(rawValue: pulled.stderr))
        #expect(pulled.stderr.contains("'..' component"), Comment(rawValue: pulled.stderr))
        #expect(try kiln("show", "iris-mlp@v1", "-C", other.path).status == 1)

        // The registry itself (KILN_REGISTRY works for every command alike).
        let out = try TemporaryDirectory()
        let target = out.path + "/checkout"
        let checkout = try kiln("checkout", "iris-mlp@latest", "-o", target, "-C", workspace.path)
        #expect(checkout.status == 1 && checkout.stderr.contains("damaged or crafted"), Comment(rawValue: checkout.stderr))
        #expect(!FileManager.default.fileExists(atPath: out.path + "/pwned"))

        let keys = try TemporaryDirectory()
        #expect(try kiln("keygen", "--out", keys.path + "/k").status == 0)
        let sign = try kiln("sign", "iris-mlp@latest", "--key", keys.path + "/k.key", "-C", workspace.path)
        #expect(sign.status == 1 && sign.stderr.contains("damaged or crafted"), Comment(rawValue: sign.stderr))

        try workspace.write("new.csv", Self.irisRows)
        let predict = try kiln(
            "predict", "iris-mlp@latest", "--input", workspace.path + "/new.csv", "-C", workspace.path,
            environment: ["TMPDIR": out.path + "/"])
        #expect(predict.status == 1, Comment(rawValue: predict.stderr))
        #expect(!FileManager.default.fileExists(atPath: out.path + "/pwned"))

        // A server serves its environment's alias: point one at the crafted version.
        #expect(try kiln("alias", "set", "iris-mlp@latest", "crafted", "-C", workspace.path).status == 0)
        let crafted = Self.deployment().replacingOccurrences(of: "environment: staging", with: "environment: crafted")
        try workspace.write("specs/deploy.yaml", crafted)
        // Bounded: a server that did start would otherwise hold the test forever.
        let serve = try ProgramRun.run(
            "timeout", ["60", Repository.kilnBinary, "serve", workspace.path, "--port", "0"],
            environment: ["TMPDIR": out.path + "/"])
        #expect(serve.status == 1 && serve.stderr.contains("damaged or crafted"), Comment(rawValue: serve.stderr))
        #expect(!FileManager.default.fileExists(atPath: out.path + "/pwned"))
    }

    /// kiln pull moves an alias only with `promote` in its environment, and audits the move.
    @Test func pullMovesAliasesOnlyWithPromoteAndAuditsThem() throws {
        let remote = try servedIris(Self.deployment())
        let local = try irisCopy()
        try local.write(
            "specs/policy.yaml",
            """
            apiVersion: kiln/v1
            kind: Policy
            metadata: {name: p}
            spec:
              principals:
                - {name: alice, roles: [puller]}
                - {name: bob, roles: [releaser]}
              roles:
                puller:
                  - {allow: [read], on: "dataset/*"}
                releaser:
                  - {allow: [promote], on: "model/*", environments: [staging]}
            """)
        let denied = try kiln("pull", remote.path + "/.kiln/registry", "-C", local.path, environment: ["KILN_USER": "alice"])
        #expect(denied.status == 1)
        #expect(
            denied.stderr.contains("refs/kiln/aliases/iris-mlp/staging: permission denied"), Comment(rawValue: denied.stderr))
        #expect(try kiln("show", "iris-mlp@staging", "-C", local.path).status == 1)
        #expect(try kiln("show", "iris-mlp@v1", "-C", local.path).status == 0, "the history itself is taken")
        let allowed = try kiln("pull", remote.path + "/.kiln/registry", "-C", local.path, environment: ["KILN_USER": "bob"])
        #expect(allowed.status == 0, Comment(rawValue: allowed.stderr))
        #expect(try kiln("show", "iris-mlp@staging", "-C", local.path).status == 0)
        let audit = try kiln("audit", "-C", local.path)
        #expect(audit.stdout.contains("alice  promote model/iris-mlp"), Comment(rawValue: audit.stdout))
        #expect(audit.stdout.contains("bob  promote model/iris-mlp"), Comment(rawValue: audit.stdout))
    }

    /// Readers report damage and exit 1: a model ref on something that is not a version, a card that is
    /// not JSON (finding 9: `kiln models` said "no registered models", `kiln show` printed a blank card).
    @Test func readersReportADamagedRegistry() throws {
        let workspace = try servedIris(Self.deployment())
        let registry = workspace.path + "/.kiln/registry"
        let junk = try CraftedRegistry.blob(registry, Data("not json".utf8))
        try CraftedRegistry.addVersion(
            registry, model: "iris-mlp", replacing: ["card.json": .init(mode: "100644", name: "card.json", id: junk)])
        let show = try kiln("show", "iris-mlp@latest", "-C", workspace.path)
        #expect(show.status == 1 && show.stderr.contains("card.json is not a JSON object"), Comment(rawValue: show.stderr))

        _ = try ProgramRun.run("git", ["--git-dir", registry, "update-ref", "refs/kiln/models/broken", junk])
        let models = try kiln("models", "-C", workspace.path)
        #expect(models.status == 1, Comment(rawValue: models.stdout))
        #expect(models.stderr.contains("refs/kiln/models/broken") && models.stderr.contains("damaged"), Comment(rawValue: models.stderr))
    }
}

/// The audit log fails closed, stays in the workspace, is keyed and anchored in the registry, and a flood
/// of refused requests cannot fill it (issue 14, finding 10).
extension CLI {
    @Test func anEditOfTheLastAuditLineOrACutLogFailsVerify() throws {
        let workspace = try servedIris(Self.deployment())
        let log = workspace.path + "/.kiln/audit.log"
        #expect(try kiln("audit", "verify", "-C", workspace.path).status == 0)
        let original = try String(contentsOfFile: log, encoding: .utf8)
        var lines = original.split(separator: "\n").map(String.init)
        lines[lines.count - 1] = lines[lines.count - 1].replacingOccurrences(of: "succeeded", with: "failed")
        try (lines.joined(separator: "\n") + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let edited = try kiln("audit", "verify", "-C", workspace.path)
        #expect(edited.status == 1)
        #expect(edited.stderr.contains(":\(lines.count): the line's MAC does not verify"), Comment(rawValue: edited.stderr))
        // Cut after the first line: the chain that is left is whole, but the registry's anchors are not in it.
        try (String(original.split(separator: "\n")[0]) + "\n").write(toFile: log, atomically: true, encoding: .utf8)
        let cut = try kiln("audit", "verify", "-C", workspace.path)
        #expect(cut.status == 1)
        #expect(cut.stderr.contains("which is not a line of this log"), Comment(rawValue: cut.stderr))
    }

    @Test func anAuditLogThatCannotBeWrittenRefusesTheAction() throws {
        let workspace = try servedIris(Self.deployment())
        let before = try kiln("show", "iris-mlp@staging", "-C", workspace.path).stdout
        let log = workspace.path + "/.kiln/audit.log"
        try FileManager.default.removeItem(atPath: log)
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: false)  // cannot be opened
        let promoted = try kiln("alias", "set", "iris-mlp@v1", "staging", "-C", workspace.path)
        #expect(promoted.status == 1)
        #expect(promoted.stderr.contains("audit"), Comment(rawValue: promoted.stderr))
        #expect(try kiln("show", "iris-mlp@staging", "-C", workspace.path).stdout == before, "the alias did not move")
        let run = try kiln("run", workspace.path, "--quiet")
        #expect(run.status == 1 && run.stderr.contains("refused: the audit log cannot be written"), Comment(rawValue: run.stderr))
    }

    @Test func theAuditLogStaysInTheWorkspace() throws {
        let workspace = try servedIris(Self.deployment())
        for path in ["/dev/null", "../outside.log", "/tmp/kiln-audit-elsewhere.log"] {
            try workspace.write(
                "specs/policy.yaml",
                "apiVersion: kiln/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  audit: {log: \"\(path)\"}\n")
            let r = try kiln("check", workspace.path)
            #expect(r.status == 1 && r.stderr.contains("[policy.audit-outside]"), "\(path): \(r.stderr)")
        }
        // A link inside the workspace to /dev/null is refused when the log is written.
        try FileManager.default.createSymbolicLink(atPath: workspace.path + "/null.log", withDestinationPath: "/dev/null")
        try workspace.write(
            "specs/policy.yaml", "apiVersion: kiln/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  audit: {log: null.log}\n")
        let moved = try kiln("alias", "set", "iris-mlp@v1", "canary", "-C", workspace.path)
        #expect(moved.status == 1 && moved.stderr.contains("outside the workspace or to a special file"), Comment(rawValue: moved.stderr))
    }

    @Test func refusedRequestsAreAuditedWithTheClientAndRateLimited() throws {
        let workspace = try servedIris(Self.deployment(auth: "required"))
        try workspace.write(
            "specs/policy.yaml",
            """
            apiVersion: kiln/v1
            kind: Policy
            metadata: {name: access}
            spec:
              principals:
                - {name: shop, roles: [consumer], token_sha256: "\(try Self.sha256("shop-token"))"}
                - {name: ops, roles: [operator]}
              roles:
                operator:
                  - {allow: [deploy], on: "model/*"}
                consumer:
                  - {allow: [infer], on: "deployment/*"}
            """)
        let (server, port) = try serve(workspace.path, environment: ["KILN_USER": "ops"])
        let client = try HTTPConnection(port: port)
        for _ in 0..<45 {
            #expect(try client.post("/v2/models/iris-api/infer", json: Self.tensorInput([[5.1, 3.5, 1.4, 0.2]])).status == 401)
        }
        // A model's readiness needs the token too; an unknown name does not list what is served; versions
        // are numbers as written.
        #expect(try client.request("GET", "/v2/models/iris-api/versions/1/ready").status == 401)
        let unknown = try client.request("GET", "/v2/models/nope")
        #expect(unknown.status == 404 && !unknown.text.contains("iris-api"), Comment(rawValue: unknown.text))
        let token = ["Authorization": "Bearer shop-token"]
        #expect(try client.request("GET", "/v2/models/iris-api/versions/02/ready", headers: token).status == 400)
        #expect(try client.request("GET", "/v2/models/iris-api/versions/+2/ready", headers: token).status == 400)
        server.process.terminate()
        #expect(server.finish() == 0)
        let audit = try kiln("audit", "-C", workspace.path, "--json", environment: ["KILN_USER": "ops"])
        let entries = audit.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let denied = entries.filter { $0["action"] as? String == "infer" && $0["outcome"] as? String == "denied" }
        #expect(denied.count == 30, "\(denied.count) denial lines")
        #expect(denied.allSatisfy { (($0["details"] as? [String: String])?["client"] ?? "").hasPrefix("127.0.0.1:") })
        let summary = entries.first { $0["action"] as? String == "serve.denials" }
        // 15 infer denials and the ready without a token went past the 30 lines (malformed versions are
        // a 400 before any token check).
        #expect((summary?["details"] as? [String: String])?["suppressed"] == "16", "\(entries.suffix(3))")
        #expect(try kiln("audit", "verify", "-C", workspace.path).status == 0)
    }

    /// A crafted card (widths that do not add up, duplicated features, a layer the weights do not have,
    /// labels with escape sequences) is refused by predict and serve: exit 1, never a trap or a silent
    /// answer; and registry text reaches the terminal escaped.
    @Test func craftedCardsAreRefusedAndRegistryTextIsEscaped() throws {
        let workspace = try servedIris(Self.deployment())
        let registry = workspace.path + "/.kiln/registry"
        try workspace.write("new.csv", Self.irisRows)
        let card = try #require(
            try JSONSerialization.jsonObject(with: Data(CraftedRegistry.file(registry, model: "iris-mlp", "card.json").utf8))
                as? [String: Any])
        func crafted(_ change: (inout [String: Any]) -> Void) throws {
            var c = card
            change(&c)
            let blob = try CraftedRegistry.blob(registry, try JSONSerialization.data(withJSONObject: c))
            try CraftedRegistry.addVersion(
                registry, model: "iris-mlp", replacing: ["card.json": .init(mode: "100644", name: "card.json", id: blob)])
        }
        let edits: [(String, (inout [String: Any]) -> Void)] = [
            ("width", { c in
                var p = c["preprocessing"] as? [String: Any] ?? [:]
                var f = p["features"] as? [[String: Any]] ?? []
                f[0]["width"] = 9
                p["features"] = f
                c["preprocessing"] = p
            }),
            ("duplicate features", { c in
                var p = c["preprocessing"] as? [String: Any] ?? [:]
                let f = p["features"] as? [[String: Any]] ?? []
                p["features"] = [f[0], f[0], f[0], f[0]]
                c["preprocessing"] = p
            }),
            ("fewer layers", { c in
                var m = c["model"] as? [String: Any] ?? [:]
                m["hidden"] = [16]
                c["model"] = m
            }),
            ("escape labels", { c in c["labels"] = ["\u{1b}]0;PWN\u{07}a", "b", "c"] }),
            ("too few labels", { c in c["labels"] = ["a", "b"] }),
            ("task mismatch", { c in
                var m = c["model"] as? [String: Any] ?? [:]
                m["task"] = "regression"
                c["model"] = m
            }),
        ]
        for (what, edit) in edits {
            try crafted(edit)
            let r = try kiln("predict", "iris-mlp@latest", "--input", workspace.path + "/new.csv", "-C", workspace.path)
            #expect(r.status == 1, "\(what): \(r.stdout) \(r.stderr)")
            #expect(!r.stdout.contains("\u{1b}") && !r.stderr.contains("\u{1b}"), "\(what)")
        }
        // A message with an OSC title sequence and a fake line reaches `kiln log` escaped.
        try CraftedRegistry.addVersion(registry, model: "iris-mlp", message: "fine\u{1b}]0;PWN\u{07}\u{1b}[2J\u{202e}")
        let log = try kiln("log", "iris-mlp", "-n", "1", "-C", workspace.path)
        #expect(log.status == 0, Comment(rawValue: log.stderr))
        #expect(!log.stdout.contains("\u{1b}") && !log.stdout.contains("\u{202e}"), Comment(rawValue: log.stdout))
        #expect(log.stdout.contains("fine\\u{1b}]0;PWN"), Comment(rawValue: log.stdout))
    }
}

/// TLS and mutual TLS on `kiln serve`, with a certificate authority made by the test (openssl) and real
/// clients (curl, Python's ssl), and the plain-HTTP rule for exposed addresses.
extension CLI {
    /// A CA, a server certificate for 127.0.0.1, and a client certificate, in `directory`.
    func makeCertificates(_ directory: String) throws {
        let script = """
            set -e
            cd '\(directory)'
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=kiln-test-ca -keyout ca.key -out ca.pem 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -subj /CN=shop -keyout client.key -out client.csr 2>/dev/null
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out client.pem 2>/dev/null
            openssl x509 -in client.pem -outform der | sha256sum | cut -d' ' -f1 > client.sha256
            """
        let r = try ProgramRun.run("bash", ["-c", script])
        #expect(r.status == 0, Comment(rawValue: r.stderr))
    }

    func tlsWorkspace(clientCA: Bool) throws -> (TemporaryDirectory, String) {
        let workspace = try servedIris(Self.deployment())
        let certs = workspace.path + "/certs"
        try FileManager.default.createDirectory(atPath: certs, withIntermediateDirectories: true)
        try makeCertificates(certs)
        let fingerprint = try String(contentsOfFile: certs + "/client.sha256", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try workspace.write(
            "specs/deploy.yaml",
            """
            apiVersion: kiln/v1
            kind: Deployment
            metadata: {name: iris-api}
            spec:
              model: iris-mlp@staging
              environment: staging
              auth: required
              server:
                host: 127.0.0.1
                tls: {certificate: ../certs/server.pem, key: "${file:../certs/server.key}"\(clientCA ? ", client_ca: ../certs/ca.pem" : "")}
            """)
        try workspace.write(
            "specs/policy.yaml",
            """
            apiVersion: kiln/v1
            kind: Policy
            metadata: {name: access}
            spec:
              principals:
                - {name: shop, roles: [consumer], certificate_sha256: "\(fingerprint)"}
                - {name: bot, roles: [consumer], token_sha256: "\(try Self.sha256("bot-token"))"}
                - {name: ops, roles: [operator]}
              roles:
                operator:
                  - {allow: [deploy], on: "model/*"}
                consumer:
                  - {allow: [infer, read], on: "deployment/*"}
            """)
        return (workspace, certs)
    }

    func curl(_ arguments: [String]) throws -> ProgramRun {
        try ProgramRun.run("curl", ["-s", "-o", "/dev/stderr", "-w", "%{http_code}", "--max-time", "10"] + arguments)
    }

    @Test func tlsServesHTTPSAndTokensStillWork() throws {
        let (workspace, certs) = try tlsWorkspace(clientCA: false)
        let (server, port) = try serve(workspace.path, environment: ["KILN_USER": "ops"])
        defer { server.process.terminate() }
        #expect(server.output.contains { $0.contains("at https://127.0.0.1:") }, "\(server.output)")
        let url = "https://127.0.0.1:\(port)/v2/models/iris-api/infer"
        let body = Self.tensorInput([[5.1, 3.5, 1.4, 0.2]])
        let ok = try curl(["--cacert", certs + "/ca.pem", "-H", "Authorization: Bearer bot-token", "-d", body, url])
        #expect(ok.stdout == "200", Comment(rawValue: ok.stderr))
        #expect(ok.stderr.contains("setosa"))
        #expect(try curl(["--cacert", certs + "/ca.pem", "-d", body, url]).stdout == "401")
        // Not trusted without the CA; plain HTTP on the TLS port gets no answer.
        #expect(try curl(["-d", body, url]).status != 0)
        #expect(try curl(["-d", body, "http://127.0.0.1:\(port)/v2/models/iris-api/infer"]).stdout != "200")
    }

    @Test func mutualTLSMapsClientCertificatesToPrincipals() throws {
        let (workspace, certs) = try tlsWorkspace(clientCA: true)
        let (server, port) = try serve(workspace.path, environment: ["KILN_USER": "ops"])
        defer { server.process.terminate() }
        let url = "https://127.0.0.1:\(port)/v2/models/iris-api/infer"
        let body = Self.tensorInput([[5.1, 3.5, 1.4, 0.2]])
        let withCertificate = try curl([
            "--cacert", certs + "/ca.pem", "--cert", certs + "/client.pem", "--key", certs + "/client.key", "-d", body, url,
        ])
        #expect(withCertificate.stdout == "200", Comment(rawValue: withCertificate.stderr))
        // Without a client certificate the handshake fails: nothing reaches the server's routes.
        let without = try curl(["--cacert", certs + "/ca.pem", "-H", "Authorization: Bearer bot-token", "-d", body, url])
        #expect(without.status != 0 && without.stdout != "200", Comment(rawValue: "\(without.status) \(without.stdout)"))
        // Python's ssl module, a second real client.
        let python = """
            import ssl, sys, urllib.request
            context = ssl.create_default_context(cafile=sys.argv[1] + "/ca.pem")
            context.load_cert_chain(sys.argv[1] + "/client.pem", sys.argv[1] + "/client.key")
            request = urllib.request.Request(sys.argv[2], data=sys.argv[3].encode(), headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                print(response.status, response.read().decode())
            """
        let py = try ProgramRun.run("python3", ["-c", python, certs, url, body])
        #expect(py.status == 0 && py.stdout.hasPrefix("200 ") && py.stdout.contains("setosa"), Comment(rawValue: py.stderr))
        server.process.terminate()
        #expect(server.finish() == 0)
        let audit = try kiln("audit", "-C", workspace.path)
        #expect(audit.status == 0)
    }

    @Test func plainHTTPWithTokensStaysOnLoopback() throws {
        let workspace = try servedIris(Self.deployment())
        try workspace.write(
            "specs/deploy.yaml",
            Self.deployment(auth: "required") + "  server: {host: 0.0.0.0}\n")
        let checked = try kiln("check", workspace.path)
        #expect(checked.status == 1 && checked.stderr.contains("[deployment.plain-http-exposed]"), Comment(rawValue: checked.stderr))
        // The same through --host on the command line.
        try workspace.write("specs/deploy.yaml", Self.deployment(auth: "required"))
        try workspace.write(
            "specs/policy.yaml",
            "apiVersion: kiln/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  principals:\n    - {name: ops, roles: [op]}\n  roles:\n    op:\n      - {allow: [deploy], on: \"model/*\"}\n")
        let served = try kiln("serve", workspace.path, "--host", "0.0.0.0", "--port", "0", environment: ["KILN_USER": "ops"])
        #expect(served.status == 1 && served.stderr.contains("plain HTTP"), Comment(rawValue: served.stderr))
    }
}

/// Inline secrets never reach a diagnostic's quoted line, however the spec around them is broken (finding 7).
extension CLI {
    static let secret = "c2VjcmV0LWtleS1kby1ub3QtcHJpbnQ9PQ"

    @Test(arguments: [
        // A YAML syntax error on the secret's line.
        "apiVersion: kiln/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  encryption:\n    key: \(secret) : oops: [\n",
        // A duplicate key: the note quotes the first one.
        "apiVersion: kiln/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  encryption:\n    key: \(secret)\n    key: \(secret)\n",
        // A tab indent.
        "apiVersion: kiln/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  encryption:\n\tkey: \(secret)\n",
        // A misspelled field around it.
        "apiVersion: kiln/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  encryptoin: {key: \(secret)}\n",
        // A nested map under an unknown field.
        "apiVersion: kiln/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  vault:\n    settings:\n      password: hunter2-\(secret)\n",
        // Key material under an innocent name.
        "apiVersion: kiln/v1\nkind: Policy\nmetadata: {name: p}\nspec:\n  notes: \(secret)\n",
    ])
    func inlineSecretsAreMaskedInEveryDiagnostic(_ text: String) throws {
        let directory = try TemporaryDirectory(files: ["specs/p.yaml": text])
        for format in ["text", "json", "github"] {
            let r = try kiln("check", directory.path, "--format", format)
            #expect(r.status == 1, Comment(rawValue: r.stderr))
            #expect(!(r.stdout + r.stderr).contains(Self.secret), "\(format): \(r.stdout)\(r.stderr)")
            #expect(!(r.stdout + r.stderr).contains("hunter2"), "\(format)")
        }
    }
}

extension CLI {
    /// A malformed chunked body is the client's error (400, it was 500 naming internals), and one client's
    /// slow bodies cannot hold every slot of a deployment (finding 11).
    @Test func malformedBodiesAreBadRequestsAndOneClientCannotTakeEverySlot() throws {
        let workspace = try servedIris(Self.deployment("  limits: {max_concurrency: 16}"))
        let (server, port) = try serve(workspace.path)
        defer { server.process.terminate() }
        let broken = try HTTPConnection(port: port)
        try broken.send(
            "POST /v2/models/iris-api/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
        let answer = try broken.readResponse()
        #expect(answer.status == 400, "\(answer.status) \(answer.text)")
        #expect(answer.status != 500 && !answer.text.contains("internal error:"), Comment(rawValue: answer.text))

        // 16 slots, at most 4 for one client: four slow bodies hold theirs, the fifth request is refused.
        let body = Self.tensorInput([[5.1, 3.5, 1.4, 0.2]])
        var slow: [HTTPConnection] = []
        for _ in 0..<4 {
            let c = try HTTPConnection(port: port)
            try c.send(
                "POST /v2/models/iris-api/infer HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
                    + body.prefix(5))
            slow.append(c)
        }
        Thread.sleep(forTimeInterval: 0.3)
        let fifth = try HTTPConnection(port: port).post("/v2/models/iris-api/infer", json: body)
        #expect(fifth.status == 503 && fifth.text.contains("this client"), Comment(rawValue: fifth.text))
        for c in slow {
            try c.send(String(body.dropFirst(5)))
            #expect(try c.readResponse().status == 200)
        }
        #expect(try HTTPConnection(port: port).post("/v2/models/iris-api/infer", json: body).status == 200)
    }
}

extension CLI {
    /// A token removed from the Policy stops working without a restart (finding 11): the server's watcher
    /// reads the Policy again when its file changes.
    @Test func aTokenRemovedFromThePolicyStopsWorking() throws {
        let workspace = try servedIris(Self.deployment(auth: "required"))
        func policy(_ principals: String) -> String {
            """
            apiVersion: kiln/v1
            kind: Policy
            metadata: {name: access}
            spec:
              principals:
            \(principals)
                - {name: ops, roles: [operator]}
              roles:
                operator:
                  - {allow: [deploy], on: "model/*"}
                consumer:
                  - {allow: [infer], on: "deployment/*"}
            """
        }
        let shop = "    - {name: shop, roles: [consumer], token_sha256: \"\(try Self.sha256("shop-token"))\"}"
        try workspace.write("specs/policy.yaml", policy(shop))
        let (server, port) = try serve(workspace.path, environment: ["KILN_USER": "ops"])
        defer { server.process.terminate() }
        let body = Self.tensorInput([[5.1, 3.5, 1.4, 0.2]])
        let token = ["Authorization": "Bearer shop-token"]
        #expect(try HTTPConnection(port: port).post("/v2/models/iris-api/infer", json: body, headers: token).status == 200)
        try workspace.write("specs/policy.yaml", policy(""))
        var status = 200
        for _ in 0..<50 where status == 200 {
            Thread.sleep(forTimeInterval: 0.1)
            status = try HTTPConnection(port: port).post("/v2/models/iris-api/infer", json: body, headers: token).status
        }
        #expect(status == 401)
    }
}

extension CLI {
    /// `kiln run` honours KILN_REGISTRY like every other command (finding 11: it wrote .kiln/registry).
    @Test func runHonoursKilnRegistry() throws {
        let workspace = try irisCopy()
        let elsewhere = try TemporaryDirectory()
        let registry = elsewhere.path + "/shared.git"
        let run = try kiln("run", workspace.path, "--quiet", environment: ["KILN_REGISTRY": registry])
        #expect(run.status == 0, Comment(rawValue: run.stderr))
        #expect(FileManager.default.fileExists(atPath: registry + "/HEAD"))
        #expect(!FileManager.default.fileExists(atPath: workspace.path + "/.kiln/registry"))
        let models = try kiln("models", "-C", workspace.path, environment: ["KILN_REGISTRY": registry])
        #expect(models.stdout.contains("iris-mlp"), Comment(rawValue: models.stdout))
    }

    /// Signing with a private key others can read warns (finding 11).
    @Test func aWorldReadablePrivateKeyWarns() throws {
        let workspace = try servedIris(Self.deployment())
        #expect(try kiln("keygen", "--out", workspace.path + "/keys/k").status == 0)
        let quiet = try kiln("sign", "iris-mlp@staging", "--key", workspace.path + "/keys/k.key", "-C", workspace.path)
        #expect(quiet.status == 0 && !quiet.stderr.contains("warning"), Comment(rawValue: quiet.stderr))
        #expect(chmod(workspace.path + "/keys/k.key", 0o644) == 0)
        let loud = try kiln("sign", "iris-mlp@staging", "--key", workspace.path + "/keys/k.key", "-C", workspace.path)
        #expect(loud.status == 0)
        #expect(loud.stderr.contains("can be read by others (mode 644)"), Comment(rawValue: loud.stderr))
    }
}

extension CLI {
    /// A switch the server refuses (the alias moved to a damaged version) is retried with a growing delay,
    /// not logged four times a second forever (finding 11).
    @Test func aRefusedHotSwitchBacksOff() throws {
        let workspace = try servedIris(Self.deployment())
        let registry = workspace.path + "/.kiln/registry"
        let log = workspace.path + "/serve.log"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [
            "-c", "exec '\(Repository.kilnBinary)' serve '\(workspace.path)' --port 0 --poll-interval 0.1 2> '\(log)'",
        ]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        Thread.sleep(forTimeInterval: 1.5)
        let junk = try CraftedRegistry.blob(registry, Data("not json".utf8))
        try CraftedRegistry.addVersion(
            registry, model: "iris-mlp", replacing: ["card.json": .init(mode: "100644", name: "card.json", id: junk)])
        #expect(try kiln("alias", "set", "iris-mlp@latest", "staging", "-C", workspace.path).status == 0)
        Thread.sleep(forTimeInterval: 3.5)
        process.terminate()
        process.waitUntilExit()
        let text = try String(contentsOfFile: log, encoding: .utf8)
        let refusals = text.components(separatedBy: "cannot switch versions").count - 1
        // Polling every 0.1 s, 3.5 s would give about 35 lines without the back-off; with it, 1 s, 2 s, 4 s.
        #expect(refusals >= 1 && refusals <= 4, "\(refusals) refusals logged:\n\(text.suffix(2000))")
    }
}

extension CLI {
    /// Second probe: a newer untrusted signature does not hide a trusted one; a bare key prefix does not
    /// crash keygen; JSON output stays JSON with C1 characters; a link to stdin is not a data source.
    @Test func secondProbeFindings() throws {
        let workspace = try servedIris(Self.deployment())
        let keys = try TemporaryDirectory()
        let keygen = try ProgramRun.run(Repository.kilnBinary, ["keygen", "--out", "k"], directory: keys.path)
        #expect(keygen.status == 0, Comment(rawValue: keygen.stderr))
        #expect(try kiln("keygen", "--out", workspace.path + "/keys/other").status == 0)
        let signed = try kiln("sign", "iris-mlp@v1", "--key", keys.path + "/k.key", "-C", workspace.path)
        #expect(signed.status == 0, Comment(rawValue: signed.stderr))
        #expect(try kiln("sign", "iris-mlp@v1", "--key", workspace.path + "/keys/other.key", "-C", workspace.path).status == 0)
        let verified = try kiln("verify", "iris-mlp@v1", "--key", keys.path + "/k.pub", "-C", workspace.path)
        #expect(verified.status == 0, Comment(rawValue: verified.stderr))

        let registry = workspace.path + "/.kiln/registry"
        try CraftedRegistry.addVersion(registry, model: "iris-mlp", message: "c1\u{9b}2J and \u{202e}bidi")
        let log = try kiln("log", "iris-mlp", "-n", "1", "--json", "-C", workspace.path)
        #expect(log.status == 0, Comment(rawValue: log.stderr))
        #expect((try? JSONSerialization.jsonObject(with: Data(log.stdout.utf8))) != nil, Comment(rawValue: log.stdout))

        try FileManager.default.createSymbolicLink(atPath: workspace.path + "/data/fd0.csv", withDestinationPath: "/proc/self/fd/0")
        try workspace.write("specs/stdin.yaml", Self.leakDataset.replacingOccurrences(of: "SOURCE", with: "../data/fd0.csv"))
        let check = try ProgramRun.run(
            Repository.kilnBinary, ["check", workspace.path], stdin: Data("SECRET_FROM_STDIN,b\n1,2\n".utf8))
        #expect(check.status == 1 && !check.stderr.contains("SECRET_FROM_STDIN"), Comment(rawValue: check.stderr))
        #expect(check.stderr.contains("[compiler.read-refused]"), Comment(rawValue: check.stderr))
    }
}
