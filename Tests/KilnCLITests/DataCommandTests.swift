import Foundation
import KilnTestSupport
import Testing

/// `kiln data infer` and `kiln data check` end to end, on the example data sets.
extension CLI {
    func temporaryWorkspace() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The inferred spec of each example compiles, and reading the data by it gives every row back.
    @Test(arguments: [("iris", 150, 4), ("wine", 178, 13), ("breast-cancer", 569, 30)])
    func inferredSpecsCheckAndRoundTrip(_ example: (String, Int, Int)) throws {
        let (name, rows, inputs) = example
        let data = Repository.root.appendingPathComponent("examples/\(name)/data/\(name).csv").path
        let inferred = try kiln("data", "infer", data)
        #expect(inferred.status == 0, "\(inferred.stderr)")
        #expect(inferred.stdout.contains("metadata: {name: \(name)}"))
        #expect(inferred.stdout.contains("label: "))
        let dir = try temporaryWorkspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        try inferred.stdout.write(to: dir.appendingPathComponent("\(name).yaml"), atomically: true, encoding: .utf8)
        // The spec names the example's data outside this workspace: the user allows reading it.
        let allow = ["KILN_ALLOW_READ": Repository.path("examples/\(name)/data")]
        #expect(try kiln("check", dir.path).stderr.contains("[compiler.read-refused]"))
        let check = try kiln("check", dir.path, environment: allow)
        #expect(check.status == 0, "\(check.stderr)\n\(inferred.stdout)")
        let dataCheck = try kiln("data", "check", dir.path, "--json", environment: allow)
        #expect(dataCheck.status == 0, "\(dataCheck.stderr)")
        let lineage = try JSONSerialization.jsonObject(with: Data(dataCheck.stdout.utf8)) as? [String: Any]
        let record = lineage?[name] as? [String: Any]
        #expect(record?["rows"] as? Int == rows)
        let columns = (record?["preprocessing"] as? [String: Any])?["outputColumns"] as? [String]
        #expect(columns?.count == inputs)
        let sha = ((record?["sources"] as? [[String: Any]])?.first?["sha256"] as? String) ?? ""
        #expect(sha.count == 64)
    }

    @Test func dataCheckSummarisesTheExample() throws {
        let r = try kiln("data", "check", "examples/iris")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("dataset iris: 150 rows"))
        #expect(r.stdout.contains("split   stratified (seed 0): train 105, validation 15, test 30"))
        #expect(r.stdout.contains("source  examples/iris/data/iris.csv"))
    }

    /// A failing contract and a cell that does not parse: exit 1, messages at the spec's check and the cell.
    @Test func dataCheckFailsOnBadData() throws {
        let dir = try temporaryWorkspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "id,score,label\n1,0.5,a\n2,0.7,b\n2,0.9,a\n".write(
            to: dir.appendingPathComponent("rows.csv"), atomically: true, encoding: .utf8)
        let spec = """
            apiVersion: kiln/v1
            kind: Dataset
            metadata: {name: rows}
            spec:
              source: {path: rows.csv}
              schema:
                columns:
                  id: {type: int}
                  score: {type: float}
                  label: {type: category, values: [a, b]}
                label: label
              checks:
                - {check: unique, columns: [id]}
                - {check: row_count, min: 2, severity: warn}
              split: {strategy: ordered, train: 0.67, test: 0.33}

            """
        try spec.write(to: dir.appendingPathComponent("rows.yaml"), atomically: true, encoding: .utf8)
        let r = try kiln("data", "check", dir.path)
        #expect(r.status == 1)
        #expect(
            r.stderr.contains(
                "rows.yaml:13:7: error: 1 of 3 rows repeat the 'id' of an earlier row [data.check.unique]"))
        #expect(r.stderr.contains("rows.csv:4:1: note: id = 2 (same as line 3)"))
        #expect(r.stderr.contains("the contract failed; the data is not used"))

        try "id,score,label\n1,0.5,a\n2,high,b\n3,0.9,c\n".write(
            to: dir.appendingPathComponent("rows.csv"), atomically: true, encoding: .utf8)
        let bad = try kiln("data", "check", dir.path)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("rows.csv:3:3: error: 'high' in column 'score' is not a number [data.parse]"))
        #expect(
            bad.stderr.contains("rows.csv:4:7: error: 'c' in column 'label' is not one of its values [data.category]"))
    }

    @Test func inferJSONLinesAndUsageErrors() throws {
        let dir = try temporaryWorkspace()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("events.jsonl")
        try """
        {"user": "u1", "clicks": 3, "ratio": 0.5, "active": true, "plan": "free"}
        {"user": "u2", "clicks": 5, "ratio": null, "active": false, "plan": "pro"}
        {"user": "u3", "clicks": 1, "ratio": 1.5, "active": true, "plan": "free"}

        """.write(to: file, atomically: true, encoding: .utf8)
        let r = try kiln("data", "infer", file.path, "--label", "active")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("clicks: {type: int}   # 1 to 5"))
        #expect(r.stdout.contains("ratio: {type: float, nullable: true}   # 0.5 to 1.5; 1 missing"))
        #expect(r.stdout.contains("active: {type: bool}"))
        #expect(r.stdout.contains("plan: {type: category, values: [free, pro]}"))
        #expect(r.stdout.contains("user: {type: string, ignore: true}"))
        try r.stdout.write(to: dir.appendingPathComponent("events.yaml"), atomically: true, encoding: .utf8)
        #expect(try kiln("check", dir.path).status == 0)
        #expect(try kiln("data", "infer", file.path, "--delimiter", "ab").status == 2)
        let missing = try kiln("data", "infer", dir.appendingPathComponent("nope.csv").path)
        #expect(missing.status == 1 && missing.stderr.contains("[data.missing-file]"))
    }
}
