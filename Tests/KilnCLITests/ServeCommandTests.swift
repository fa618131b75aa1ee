import Foundation
import KilnTestSupport
import Synchronization
import Testing

/// `kiln serve` and `kiln predict` end to end: the iris example trained and registered by `kiln run`,
/// served by the real binary on a free loopback port, called with a plain HTTP client.
extension CLI {
    /// The iris example, run (iris-mlp v1 at learning rate 0.003, v2 at 0.01, staging → v2), with its
    /// Deployment replaced by `deployment`.
    func servedIris(_ deployment: String) throws -> TemporaryDirectory {
        let directory = try irisCopy()
        try directory.write("specs/deploy.yaml", deployment)
        let run = try kiln("run", directory.path, "--quiet")
        #expect(run.status == 0, Comment(rawValue: run.stderr))
        return directory
    }

    static func deployment(_ extra: String = "", auth: String = "none") -> String {
        """
        apiVersion: kiln/v1
        kind: Deployment
        metadata: {name: iris-api}
        spec:
          model: iris-mlp@staging
          environment: staging
          auth: \(auth)
        \(extra)
        """
    }

    /// A copy of the iris example's data and specs.
    func irisCopy() throws -> TemporaryDirectory {
        let directory = try TemporaryDirectory()
        for entry in ["data", "specs"] {
            try FileManager.default.copyItem(
                atPath: Repository.path("examples/iris/\(entry)"), toPath: directory.path + "/" + entry)
        }
        return directory
    }

    /// `kiln serve` on a free port; the port it printed.
    func serve(_ workspace: String, _ extra: [String] = [], environment: [String: String] = [:]) throws -> (
        Spawned, Int
    ) {
        let server = try Spawned(
            ["serve", workspace, "--port", "0", "--log-level", "warning"] + extra, environment: environment)
        #expect(server.wait(seconds: 60) { $0.contains("serving") }, "no 'serving' line: \(server.output)")
        let line = server.output.first { $0.contains("serving") } ?? ""
        let port = line.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0
        return (server, port)
    }

    static let irisRows = """
        sepal_length,sepal_width,petal_length,petal_width
        5.1,3.5,1.4,0.2
        7.0,3.2,4.7,1.4
        6.3,3.3,6.0,2.5
        4.9,3.0,1.4,0.2
        5.9,3.0,5.1,1.8
        6.0,2.2,5.0,1.5
        5.5,2.4,3.7,1.0
        """

    static func namedInputs(_ rows: [[Double]]) -> String {
        let names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
        let inputs = names.enumerated().map { j, name in
            "{\"name\":\"\(name)\",\"shape\":[\(rows.count)],\"datatype\":\"FP64\",\"data\":[\(rows.map { "\($0[j])" }.joined(separator: ","))]}"
        }
        return "{\"inputs\":[\(inputs.joined(separator: ","))]}"
    }

    static func tensorInput(_ rows: [[Double]]) -> String {
        "{\"inputs\":[{\"name\":\"features\",\"shape\":[\(rows.count),\(rows.first?.count ?? 0)],\"datatype\":\"FP32\",\"data\":\(rows)}]}"
    }

    @Test func serveAnswersLikePredictOnTheSameRows() throws {
        let workspace = try servedIris(Self.deployment())
        try workspace.write("new.csv", Self.irisRows)
        let predicted = try kiln(
            "predict", "iris-mlp@staging", "--input", workspace.path + "/new.csv", "--output",
            workspace.path + "/out.csv", "-C", workspace.path)
        #expect(predicted.status == 0, Comment(rawValue: predicted.stderr))
        let lines = try String(contentsOfFile: workspace.path + "/out.csv", encoding: .utf8)
            .split(separator: "\n").map(String.init)
        #expect(lines.first == "label,p_setosa,p_versicolor,p_virginica")
        let expected = lines.dropFirst().map { $0.split(separator: ",").map(String.init) }
        let rows = Self.irisRows.split(separator: "\n").dropFirst().map {
            $0.split(separator: ",").compactMap { Double($0) }
        }

        let (server, port) = try serve(workspace.path)
        defer { server.process.terminate() }
        let client = try HTTPConnection(port: port)
        #expect(try client.request("GET", "/v2/health/live").status == 200)
        #expect(try client.request("GET", "/v2/health/ready").json?["ready"] as? Bool == true)
        #expect(try client.request("GET", "/v2").json?["name"] as? String == "kiln")
        let metadata = try client.request("GET", "/v2/models/iris-api")
        #expect(metadata.status == 200)
        #expect(
            (metadata.json?["inputs"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == [
                "sepal_length", "sepal_width", "petal_length", "petal_width",
            ])
        #expect(try client.request("GET", "/v2/models/iris-mlp/ready").status == 200)

        for body in [Self.namedInputs(rows), Self.tensorInput(rows)] {
            let r = try client.post("/v2/models/iris-api/infer", json: body)
            #expect(r.status == 200, Comment(rawValue: r.text))
            #expect(r.headers["kiln-model"] == "iris-mlp@v2")
            #expect(r.json?["model_version"] as? String == "2")
            let outputs = try #require(r.json?["outputs"] as? [[String: Any]])
            let labels = try #require(outputs.first { $0["name"] as? String == "label" }?["data"] as? [String])
            let probabilities = try #require(
                outputs.first { $0["name"] as? String == "probabilities" }?["data"] as? [Double])
            #expect(labels == expected.map { $0[0] })
            for (i, row) in expected.enumerated() {
                for j in 0..<3 {
                    let p = try #require(Double(row[j + 1]))
                    #expect(abs(probabilities[i * 3 + j] - p) < 1e-5, "row \(i) class \(j)")
                }
            }
        }
        // A pinned version, and only the requested output.
        let pinned = try client.post(
            "/v2/models/iris-api/versions/2/infer",
            json: Self.tensorInput([rows[0]]).dropLast() + ",\"outputs\":[{\"name\":\"label\"}]}")
        #expect(pinned.status == 200, Comment(rawValue: pinned.text))
        #expect((pinned.json?["outputs"] as? [[String: Any]])?.count == 1)

        let metrics = try client.request("GET", "/metrics").text
        #expect(
            metrics.contains(
                "kiln_requests_total{deployment=\"iris-api\",model=\"iris-mlp\",version=\"2\",status=\"200\"}"),
            Comment(rawValue: metrics))
        #expect(metrics.contains("kiln_batch_rows_bucket"))
        #expect(metrics.contains("kiln_request_duration_seconds_bucket"))

        // SIGTERM: stops accepting, exits 0.
        server.process.terminate()
        #expect(server.finish() == 0)
    }

    /// Every kind of bad request gets its 4xx with a message naming the problem, and the server keeps serving.
    @Test func badRequestsGetTheirStatusAndTheServerKeepsServing() throws {
        let workspace = try servedIris(Self.deployment("  limits: {max_request_bytes: 2KiB}"))
        let (server, port) = try serve(workspace.path, ["--idle-timeout", "2", "--body-timeout", "1"])
        defer { server.process.terminate() }
        let good = Self.tensorInput([[5.1, 3.5, 1.4, 0.2]])
        let cases: [(String, String, Int, String)] = [
            ("/v2/models/iris-api/infer", "{\"inputs\": [", 400, "not valid JSON"),
            ("/v2/models/iris-api/infer", good.replacingOccurrences(of: "FP32", with: "BYTES"), 400, "element 0"),
            (
                "/v2/models/iris-api/infer", good.replacingOccurrences(of: "[1,4]", with: "[4,1]"), 400,
                "the model takes [N, 4]"
            ),
            ("/v2/models/iris-api/infer", Self.tensorInput([[5.1, 3.5, 1.4]]), 400, "4 features"),
            ("/v2/models/iris-api/infer", good.replacingOccurrences(of: "5.1", with: "\"NaN\""), 400, "NaN"),
            (
                "/v2/models/iris-api/infer",
                Self.namedInputs([[1, 2, 3, 4]]).replacingOccurrences(of: "petal_width", with: "petal_wdth"), 400,
                "did you mean 'petal_width'"
            ),
            ("/v2/models/wine-api/infer", good, 404, "unknown model 'wine-api'"),
            ("/v2/models/iris-api/versions/7/infer", good, 404, "version 7 of 'iris-api' is not served here"),
        ]
        for (path, body, status, message) in cases {
            // A fresh connection each: a refused body (413) is not read, and the server closes its connection.
            let r = try HTTPConnection(port: port).post(path, json: body)
            #expect(r.status == status, "\(path) \(body.prefix(80)): \(r.text)")
            #expect((r.json?["error"] as? String)?.contains(message) == true, "\(r.text)")
        }
        // (A connection idle for two seconds is closed: this test runs with --idle-timeout 2.)
        let client = try HTTPConnection(port: port)
        #expect(try client.request("GET", "/v2/models/iris-api/infer").status == 405)
        #expect(try client.request("GET", "/v2/nothing").status == 404)

        // A body over max_request_bytes is refused before it is read: by its Content-Length, or (chunked)
        // as soon as it grows past the limit. The server answers without waiting for the rest.
        let announced = try HTTPConnection(port: port)
        try announced.send("POST /v2/models/iris-api/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n")
        let tooLarge = try announced.readResponse()
        #expect(tooLarge.status == 413)
        #expect((tooLarge.json?["error"] as? String)?.contains("at most 2048") == true, "\(tooLarge.text)")
        let chunked = try HTTPConnection(port: port)
        try chunked.send(
            "POST /v2/models/iris-api/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in 0..<3 { try chunked.send("400\r\n" + String(repeating: " ", count: 1024) + "\r\n") }
        #expect(try chunked.readResponse().status == 413)

        // Slow clients: a request head that never completes is closed after the idle timeout; a body that
        // stops arriving gets 408.
        let slowHead = try HTTPConnection(port: port, timeout: 5)
        try slowHead.send("POST /v2/models/iris-api/infer HTTP/1.1\r\nHost: x\r\n")
        let start = Date()
        #expect(slowHead.closedByServer())
        #expect(Date().timeIntervalSince(start) < 4)
        let slowBody = try HTTPConnection(port: port, timeout: 5)
        try slowBody.send("POST /v2/models/iris-api/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"inp")
        #expect(try slowBody.readResponse().status == 408)

        // Still serving.
        let after = try HTTPConnection(port: port).post("/v2/models/iris-api/infer", json: good)
        #expect(after.status == 200, Comment(rawValue: after.text))
    }

    /// 2,000 requests with distinct ids: the canary's share stays within the binomial bounds, and an id
    /// always goes to the same version.
    @Test func canarySplitHoldsItsRatio() throws {
        let workspace = try servedIris(Self.deployment("  canary: {model: iris-mlp@v1, traffic: 25%}"))
        let (server, port) = try serve(workspace.path)
        defer { server.process.terminate() }
        let client = try HTTPConnection(port: port)
        let body = Self.tensorInput([[5.1, 3.5, 1.4, 0.2]])
        var counts: [String: Int] = [:]
        var first: [Int: String] = [:]
        for i in 0..<2000 {
            let r = try client.post("/v2/models/iris-api/infer", json: body, headers: ["X-Request-Id": "req-\(i)"])
            #expect(r.status == 200)
            let model = r.headers["kiln-model"] ?? "?"
            counts[model, default: 0] += 1
            if i < 50 { first[i] = model }
        }
        // Binomial(2000, 0.25): mean 500, sd 19.4; five sd either side.
        let canary = counts["iris-mlp@v1"] ?? 0
        #expect((403...597).contains(canary), "\(counts)")
        #expect(canary + (counts["iris-mlp@v2"] ?? 0) == 2000)
        for i in 0..<50 {
            let again = try client.post("/v2/models/iris-api/infer", json: body, headers: ["X-Request-Id": "req-\(i)"])
            #expect(again.headers["kiln-model"] == first[i])
        }
    }

    /// `kiln promote` while clients keep sending: the server switches to the new version, and every request
    /// is answered with 200.
    @Test func anAliasMoveUnderLoadDropsNoRequest() throws {
        let workspace = try servedIris(Self.deployment())
        let (server, port) = try serve(workspace.path, ["--poll-interval", "0.1"])
        defer { server.process.terminate() }
        let body = Self.namedInputs([[5.9, 3.0, 5.1, 1.8]])
        let results = Mutex<[(Int, String)]>([])
        let stop = Atomic<Bool>(false)
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                guard let client = try? HTTPConnection(port: port) else {
                    results.withLock { $0.append((0, "no connection")) }
                    return
                }
                while !stop.load(ordering: .relaxed) {
                    let r = try? client.post("/v2/models/iris-api/infer", json: body)
                    results.withLock { $0.append((r?.status ?? 0, r?.headers["kiln-model"] ?? "dropped")) }
                }
            }
        }
        Thread.sleep(forTimeInterval: 1)
        let promoted = try kiln("promote", "iris-mlp@v1", "staging", "-C", workspace.path, "--reason", "test")
        #expect(promoted.status == 0, Comment(rawValue: promoted.stderr))
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, results.withLock({ $0.suffix(8).contains { $0.1 != "iris-mlp@v1" } }) {
            Thread.sleep(forTimeInterval: 0.1)
        }
        Thread.sleep(forTimeInterval: 0.5)
        stop.store(true, ordering: .relaxed)
        group.wait()
        let all = results.withLock { $0 }
        #expect(all.count > 100)
        #expect(all.allSatisfy { $0.0 == 200 }, "\(all.filter { $0.0 != 200 }.prefix(5))")
        #expect(all.contains { $0.1 == "iris-mlp@v2" })
        #expect(all.suffix(8).allSatisfy { $0.1 == "iris-mlp@v1" })
    }

    /// Backpressure, refusals at start, and a port already taken.
    @Test func backpressureAndStartRefusals() throws {
        let workspace = try servedIris(Self.deployment("  limits: {max_concurrency: 1}"))
        let (server, port) = try serve(workspace.path)
        defer { server.process.terminate() }
        let body = Self.tensorInput([[5.1, 3.5, 1.4, 0.2]])
        // A request whose body is still arriving holds the one place.
        let waiting = try HTTPConnection(port: port)
        try waiting.send(
            "POST /v2/models/iris-api/infer HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
                + body.prefix(10))
        Thread.sleep(forTimeInterval: 0.3)
        let refused = try HTTPConnection(port: port).post("/v2/models/iris-api/infer", json: body)
        #expect(refused.status == 503, Comment(rawValue: refused.text))
        #expect(refused.headers["retry-after"] == "1")
        try waiting.send(String(body.dropFirst(10)))
        #expect(try waiting.readResponse().status == 200)
        #expect(try HTTPConnection(port: port).post("/v2/models/iris-api/infer", json: body).status == 200)

        // The port is taken: a clear error, exit 1.
        let second = try kiln("serve", workspace.path, "--port", "\(port)")
        #expect(second.status == 1)
        #expect(second.stderr.contains("is in use"), Comment(rawValue: second.stderr))

        // An unknown version, an unknown Deployment, auth without a Policy.
        try workspace.write("specs/deploy.yaml", Self.deployment().replacingOccurrences(of: "@staging", with: "@v9"))
        let unknown = try kiln("serve", workspace.path, "--port", "0")
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("iris-mlp@v9 names no registered version"), Comment(rawValue: unknown.stderr))
        #expect(try kiln("serve", workspace.path, "iris-apo").status == 2)
        try workspace.write("specs/deploy.yaml", Self.deployment(auth: "required"))
        let auth = try kiln("serve", workspace.path, "--port", "0")
        #expect(auth.status == 1)
        #expect(auth.stderr.contains("no Policy"), Comment(rawValue: auth.stderr))
    }

    @Test func predictWritesJSONLinesAndRefusesBadRows() throws {
        let workspace = try servedIris(Self.deployment())
        try workspace.write(
            "new.jsonl", "{\"sepal_length\":5.1,\"sepal_width\":3.5,\"petal_length\":1.4,\"petal_width\":0.2}\n")
        let r = try kiln(
            "predict", "iris-mlp@v1", "-i", workspace.path + "/new.jsonl", "--format", "jsonl", "-C", workspace.path)
        #expect(r.status == 0, Comment(rawValue: r.stderr))
        let line = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(line["label"] as? String == "setosa")
        #expect((line["probabilities"] as? [String: Double])?.keys.sorted() == ["setosa", "versicolor", "virginica"])

        try workspace.write("bad.csv", "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,x,0.2\n")
        let bad = try kiln(
            "predict", "iris-mlp@v1", "-i", workspace.path + "/bad.csv", "-o", workspace.path + "/out.csv", "-C",
            workspace.path)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("bad.csv:2:"), Comment(rawValue: bad.stderr))
        #expect(bad.stderr.contains("'x' in column 'petal_length' is not"))
        #expect(!FileManager.default.fileExists(atPath: workspace.path + "/out.csv"))
    }
}

extension CLI {
    static func sha256(_ text: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let out = PipeReader.readAll(output.fileHandleForReading)
        process.waitUntilExit()
        return String(String(decoding: out, as: UTF8.self).prefix(64))
    }

    /// `auth: required` with a Policy: 401 without or with an unknown token, 403 for a principal without
    /// `infer` on the deployment, 200 for one with it; health stays open; each refusal is in the audit log,
    /// beside the run, the registrations, the promotion and the server's start and stop; the chain verifies,
    /// and an edited line is named.
    @Test func tokensAreCheckedAndEverythingIsAudited() throws {
        let workspace = try servedIris(Self.deployment(auth: "required"))
        // One principal's digest in a secret file beside the specs, read when the server starts.
        try workspace.write("secrets/intern.sha256", try Self.sha256("intern-token") + "\n")
        try workspace.write(
            "specs/policy.yaml",
            """
            apiVersion: kiln/v1
            kind: Policy
            metadata: {name: access}
            spec:
              principals:
                - {name: shop, roles: [consumer], token_sha256: "\(try Self.sha256("shop-token"))"}
                - {name: intern, roles: [reader], token_sha256: "${file:../secrets/intern.sha256}"}
                - {name: tester, roles: [operator]}
              roles:
                operator:
                  - {allow: [promote, deploy], on: "model/iris-*", environments: [staging]}
                consumer:
                  - {allow: [infer, read], on: "deployment/iris-*", environments: [staging]}
                reader:
                  - {allow: [read], on: "deployment/*"}
            """)
        // The acting identity needs `promote` in the environment: someone the Policy does not name is refused.
        let refused = try kiln(
            "promote", "iris-mlp@v1", "staging", "-C", workspace.path, environment: ["KILN_USER": "mallory"])
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains("permission denied: 'mallory' is not a principal"),
            Comment(rawValue: refused.stderr))
        let outside = try kiln(
            "promote", "iris-mlp@v1", "production", "-C", workspace.path, environment: ["KILN_USER": "tester"])
        #expect(outside.status == 1)
        #expect(outside.stderr.contains("lacks the permission 'promote' on model/iris-mlp in 'production'"))
        let promoted = try kiln(
            "promote", "iris-mlp@v1", "staging", "-C", workspace.path, "--reason", "test",
            environment: ["KILN_USER": "tester"])
        #expect(promoted.status == 0, Comment(rawValue: promoted.stderr))
        // Serving is deploying: refused to someone without `deploy`, allowed to the operator.
        let undeployable = try kiln("serve", workspace.path, "--port", "0", environment: ["KILN_USER": "intern"])
        #expect(undeployable.status == 1)
        #expect(undeployable.stderr.contains("lacks the permission 'deploy'"), Comment(rawValue: undeployable.stderr))
        let (server, port) = try serve(workspace.path, environment: ["KILN_USER": "tester"])
        let body = Self.tensorInput([[5.1, 3.5, 1.4, 0.2]])
        let client = try HTTPConnection(port: port)
        #expect(try client.request("GET", "/v2/health/ready").status == 200)
        #expect(try client.post("/v2/models/iris-api/infer", json: body).status == 401)
        #expect(
            try client.post("/v2/models/iris-api/infer", json: body, headers: ["Authorization": "Bearer nope"]).status
                == 401)
        let forbidden = try client.post(
            "/v2/models/iris-api/infer", json: body, headers: ["Authorization": "Bearer intern-token"])
        #expect(forbidden.status == 403)
        #expect((forbidden.json?["error"] as? String)?.contains("'intern' may not infer") == true, "\(forbidden.text)")
        #expect(
            try client.request("GET", "/v2/models/iris-api", headers: ["Authorization": "Bearer intern-token"]).status
                == 200)
        let allowed = try client.post(
            "/v2/models/iris-api/infer", json: body, headers: ["Authorization": "Bearer shop-token"])
        #expect(allowed.status == 200, Comment(rawValue: allowed.text))
        #expect(allowed.headers["kiln-model"] == "iris-mlp@v1")
        server.process.terminate()
        #expect(server.finish() == 0)

        let audit = try kiln("audit", "-C", workspace.path, "--json")
        #expect(audit.status == 0, Comment(rawValue: audit.stderr))
        let entries = audit.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let actions = entries.map { "\($0["action"] ?? "") \($0["outcome"] ?? "")" }
        for expected in [
            "register allowed", "run allowed", "promote allowed", "promote denied", "deploy denied",
            "serve.start allowed", "infer denied", "serve.stop allowed",
        ] {
            #expect(actions.contains(expected), "\(actions)")
        }
        #expect(actions.filter { $0 == "infer denied" }.count == 3)
        #expect(!audit.stdout.contains("shop-token") && !audit.stdout.contains("intern-token"))
        let verified = try kiln("audit", "verify", "-C", workspace.path)
        #expect(verified.status == 0, Comment(rawValue: verified.stderr))

        let path = workspace.path + "/.kiln/audit.log"
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        lines[1] = lines[1].replacingOccurrences(of: "\"allowed\"", with: "\"denied\"")
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let tampered = try kiln("audit", "verify", "-C", workspace.path)
        #expect(tampered.status == 1)
        // The edited line's own MAC fails (a keyed log); unkeyed, the chain would break at the line after.
        #expect(tampered.stderr.contains("audit.log:2: the line's MAC does not verify"), Comment(rawValue: tampered.stderr))
    }
}

extension CLI {
    /// With a Policy, `kiln run` needs `run` on each training it fits: a denial names the permission, runs
    /// nothing, and is audited.
    @Test func runIsRefusedWithoutThePermission() throws {
        let directory = try irisCopy()
        try directory.write(
            "specs/policy.yaml",
            """
            apiVersion: kiln/v1
            kind: Policy
            metadata: {name: access}
            spec:
              principals:
                - {name: alice, roles: [ml-engineer]}
                - {name: bob, roles: [viewer]}
                - {name: carol, roles: [trainer]}
                - {name: dan, roles: [blind]}
                - {name: erin, roles: [registrar]}
              roles:
                registrar:
                  - {allow: [run, register], on: "training/*"}
                  - {allow: [read], on: "dataset/*"}
                  - {allow: [deploy], on: "model/*"}
                blind:
                  - {allow: [run, register], on: "training/*"}
                trainer:
                  - {allow: [run], on: "training/*"}
                  - {allow: [read], on: "dataset/*"}
                ml-engineer:
                  - {allow: [run, register], on: "training/*"}
                  - {allow: [read], on: "dataset/iris"}
                  - {allow: [deploy, promote], on: "model/*"}
                viewer:
                  - {allow: [read], on: "dataset/*"}
              audit: {log: logs/audit.jsonl}
            """)
        let denied = try kiln("run", directory.path, "--quiet", environment: ["KILN_USER": "bob"])
        #expect(denied.status == 1)
        #expect(
            denied.stderr.contains(
                "permission denied: 'bob' (roles viewer) lacks the permission 'run' on training/iris-"),
            Comment(rawValue: denied.stderr))
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/.kiln/registry"))
        let audit = try kiln("audit", "-C", directory.path)
        #expect(FileManager.default.fileExists(atPath: directory.path + "/logs/audit.jsonl"))  // the Policy's path
        #expect(audit.stdout.contains("bob  run training/iris-"), Comment(rawValue: audit.stdout))
        // Reading a dataset is a permission too: dan may run trainings but not read the data.
        let blind = try kiln("run", directory.path, "--quiet", environment: ["KILN_USER": "dan"])
        #expect(blind.status == 1)
        #expect(
            blind.stderr.contains("lacks the permission 'read' on dataset/iris"), Comment(rawValue: blind.stderr))
        #expect(audit.stdout.contains("denied"))

        // `run` without `register`: refused at the registration, before anything runs.
        let unregistered = try kiln("run", directory.path, "--quiet", environment: ["KILN_USER": "carol"])
        #expect(unregistered.status == 1)
        #expect(
            unregistered.stderr.contains("lacks the permission 'register' on training/iris-train"),
            Comment(rawValue: unregistered.stderr))
        // `register` without `promote`: registering with an alias moves it, which is promoting (finding 5).
        let registrar = try kiln("run", directory.path, "--quiet", environment: ["KILN_USER": "erin"])
        #expect(registrar.status == 1)
        #expect(
            registrar.stderr.contains("lacks the permission 'promote' on model/iris-mlp"),
            Comment(rawValue: registrar.stderr))
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/.kiln/registry"))
        let allowed = try kiln("run", directory.path, "--quiet", environment: ["KILN_USER": "alice"])
        #expect(allowed.status == 0, Comment(rawValue: allowed.stderr))
    }
}

extension CLI {
    @Test func tokenNewPrintsAFreshTokenAndTheHashToPaste() throws {
        func token() throws -> (String, String) {
            let r = try kiln("token", "new", "shop-frontend", "--role", "consumer")
            #expect(r.status == 0, Comment(rawValue: r.stderr))
            let token = r.stdout.split(separator: "\n")[0].split(separator: " ").last.map(String.init) ?? ""
            let hash = r.stdout.split(separator: "\"").dropFirst().first.map(String.init) ?? ""
            #expect(r.stdout.contains("- {name: shop-frontend, roles: [consumer], token_sha256: \""))
            return (token, hash)
        }
        let (a, hashA) = try token()
        let (b, _) = try token()
        #expect(a.count == 43 && a != b)
        #expect(try Self.sha256(a) == hashA)
        #expect(try kiln("token", "new", "Shop Frontend").status == 2)
    }
}
