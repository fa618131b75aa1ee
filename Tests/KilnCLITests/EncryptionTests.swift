import Foundation
import KilnTestSupport
import Testing

/// `governance.encrypt: true`: every derived copy under .kiln is AES-GCM sealed (no plaintext marker
/// anywhere), the key is a secret reference resolved at the point of use and never printed, and a missing
/// or wrong key is a clear error naming the reference.
extension CLI {
    @Test func encryptedDatasetsLeaveNoPlaintextAndSecretsAreNeverPrinted() throws {
        let marker = "PLAINTEXT-MARKER-7f3a"
        var csv = "x1,x2,note,label\n"
        for i in 0..<60 {
            csv += "\(Double(i % 7) / 3),\(Double(i % 5) / 2),\(marker)-\(i),\(i % 2 == 0 ? "a" : "b"),CODE-\(marker)\n"
        }
        csv = csv.replacingOccurrences(of: "x1,x2,note,label\n", with: "x1,x2,note,label,code\n")
        let key = Data((0..<32).map { UInt8($0 * 7 + 1) }).base64EncodedString()
        let w = try TemporaryDirectory(files: [
            "data/points.csv": csv,
            "specs/all.yaml": """
            apiVersion: kiln/v1
            kind: Dataset
            metadata: {name: points}
            spec:
              source: {path: ../data/points.csv}
              schema:
                columns:
                  x1: {type: float}
                  x2: {type: float}
                  note: {type: string, pii: true}
                  label: {type: category, values: [a, b]}
                  code: {type: string}
                label: label
                features: [x1, x2]
              # A warning whose examples quote non-pii cells: the contract report must be sealed too.
              checks:
                - {check: pattern, column: code, pattern: "[0-9]+", severity: warn}
              split: {strategy: random, train: 0.8, validation: 0.1, test: 0.1, seed: 0}
              governance: {encrypt: true}
            ---
            apiVersion: kiln/v1
            kind: Model
            metadata: {name: points-linear}
            spec:
              task: classification
              architecture: {type: linear}
            ---
            apiVersion: kiln/v1
            kind: Training
            metadata: {name: points-train}
            spec:
              model: points-linear
              dataset: points
              epochs: 3
              optimizer: {type: sgd, learning_rate: 0.1}
            ---
            apiVersion: kiln/v1
            kind: Policy
            metadata: {name: keys}
            spec:
              encryption: {key: "${env:KILN_TEST_DATA_KEY}"}

            """,
        ])
        // No key in the environment: the reference is named, nothing is written in plaintext.
        let missing = try kiln("run", w.path, "--quiet")
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("${env:KILN_TEST_DATA_KEY} is not set"), Comment(rawValue: missing.stderr))

        let run = try kiln("run", w.path, environment: ["KILN_TEST_DATA_KEY": key])
        #expect(run.status == 0, Comment(rawValue: run.stderr))
        var scanned = 0
        let enumerator = FileManager.default.enumerator(atPath: w.path + "/.kiln")
        while let relative = enumerator?.nextObject() as? String {
            let path = w.path + "/.kiln/" + relative
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            scanned += 1
            #expect(data.range(of: Data(marker.utf8)) == nil, "plaintext in \(relative)")
            #expect(data.range(of: Data(key.utf8)) == nil, "the key in \(relative)")
        }
        #expect(scanned > 5)
        // Nor do the commands that read specs: they check the reference's form and read no secret.
        let env = ["KILN_TEST_DATA_KEY": key]
        let check = try kiln("check", w.path, environment: env)
        let plan = try kiln("plan", w.path, environment: env)
        let graph = try kiln("graph", w.path, "--format", "json", environment: env)
        let runs = try kiln("runs", w.path, "--json", environment: env)
        let audit = try kiln("audit", "-C", w.path, "--json", environment: env)
        for output in [missing, run, check, plan, graph, runs, audit].flatMap({ [$0.stdout, $0.stderr] }) {
            #expect(!output.contains(key))
        }
        // The sealed table is there, and only the right key opens it: a second run with another key cannot
        // use the cache and says why.
        let other = Data((0..<32).map { UInt8($0) }).base64EncodedString()
        try w.write("data/points.csv", csv + "0.5,0.5,\(marker)-x,a,CODE-x\n")  // a changed file: ingest runs again
        let wrong = try kiln("run", w.path, "--quiet", environment: ["KILN_TEST_DATA_KEY": "not-base64"])
        #expect(wrong.status == 1)
        #expect(
            wrong.stderr.contains("the key ${env:KILN_TEST_DATA_KEY} is not 32 bytes"), Comment(rawValue: wrong.stderr))
        #expect(!wrong.stderr.contains("not-base64"))
        let again = try kiln("run", w.path, "--quiet", environment: ["KILN_TEST_DATA_KEY": other])
        #expect(again.status == 0, Comment(rawValue: again.stderr))
    }
}
