import Foundation
import KilnTestSupport
import Testing

/// Gradient-boosted trees through the real binary: a table with empty cells nothing imputes (XGBoost's
/// missing values) and a category column, boosted with early stopping, registered with XGBoost's own
/// booster.json, shown with its feature importance, predicted over a csv with empty cells, served (the
/// server's probabilities equal predict's), retrained and diffed.
extension CLI {
    /// 400 loans: `income` empty in every seventh row; whether one defaults depends on income and grade.
    static func loans() -> String {
        var rows = ["income,grade,years,defaulted"]
        var state: UInt64 = 42
        func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        let grades = ["A", "B", "C", "D"]
        for i in 0..<400 {
            let income = 20 + 80 * next(), grade = Int(next() * 4), years = Int(next() * 30)
            let risk = (60 - income) / 20 + Double(grade) * 0.8 + (next() - 0.5)
            let cell = i % 7 == 0 ? "" : String(format: "%.1f", income)
            rows.append("\(cell),\(grades[grade]),\(years),\(risk > 1 ? "yes" : "no")")
        }
        return rows.joined(separator: "\n") + "\n"
    }

    static func boosterSpecs(trees: Int) -> [String: String] {
        [
            "data/loans.csv": loans(),
            "specs/loans.yaml": """
                apiVersion: kiln/v1
                kind: Dataset
                metadata: {name: loans}
                spec:
                  source: {path: ../data/loans.csv}
                  schema:
                    columns:
                      income: {type: float, nullable: true}
                      grade: {type: category, values: [A, B, C, D]}
                      years: {type: int}
                      defaulted: {type: category, values: ["no", "yes"]}
                    label: defaulted
                  transforms:
                    - {op: one_hot, columns: [grade]}
                  split: {strategy: stratified, train: 0.6, validation: 0.2, test: 0.2}
                ---
                apiVersion: kiln/v1
                kind: Model
                metadata: {name: risk}
                spec:
                  task: binary
                  architecture: {type: gradient_boosting, trees: \(trees), max_depth: 3, learning_rate: 0.2}
                ---
                apiVersion: kiln/v1
                kind: Training
                metadata: {name: risk-train}
                spec:
                  model: risk
                  dataset: loans
                  metrics: [roc_auc, accuracy]
                  early_stopping: {monitor: val_roc_auc, patience: 10}
                  gates:
                    - {metric: roc_auc, min: 0.85}
                  register: {alias: staging}
                ---
                apiVersion: kiln/v1
                kind: Deployment
                metadata: {name: risk-api}
                spec: {model: risk@staging, environment: staging, auth: none}
                """,
        ]
    }

    @Test func aBoosterIsTrainedShownPredictedServedAndDiffed() throws {
        let ws = try TemporaryDirectory(files: Self.boosterSpecs(trees: 60))
        let run = try kiln("run", ws.path)
        #expect(run.status == 0, Comment(rawValue: run.stderr + run.stdout))
        #expect(run.stdout.contains("round "), Comment(rawValue: run.stdout))
        #expect(run.stdout.contains("registered risk@v1 (staging)"), Comment(rawValue: run.stdout))

        let show = try kiln("show", "risk@v1", "-C", ws.path)
        #expect(show.status == 0, Comment(rawValue: show.stderr))
        #expect(show.stdout.contains("binary gradient_boosting (xgboost 1.7"), Comment(rawValue: show.stdout))
        #expect(show.stdout.contains("features by total gain"))
        // income carries most of the signal.
        let firstFeature = show.stdout.components(separatedBy: "features by total gain")[1]
            .split(separator: "\n").dropFirst().first.map(String.init) ?? ""
        #expect(firstFeature.contains("income"), Comment(rawValue: show.stdout))

        // Rows with empty cells are predicted, not refused.
        try ws.write("new.csv", "income,grade,years\n25.0,D,3\n,A,10\n95.5,A,20\n")
        let predicted = try kiln("predict", "risk@staging", "--input", ws.path + "/new.csv", "-C", ws.path)
        #expect(predicted.status == 0, Comment(rawValue: predicted.stderr))
        let lines = predicted.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "label,p_yes")
        let rows = lines.dropFirst().map { $0.split(separator: ",").map(String.init) }
        #expect(rows.count == 3, Comment(rawValue: predicted.stdout))
        let p = rows.compactMap { Double($0[1]) }
        #expect(p.count == 3 && p[0] > 0.5 && p[2] < 0.5, Comment(rawValue: predicted.stdout))

        let (server, port) = try serve(ws.path)
        defer { server.process.terminate() }
        let client = try HTTPConnection(port: port)
        let body = """
            {"inputs":[{"name":"income","datatype":"FP32","shape":[3],"data":[25.0,null,95.5]},
            {"name":"grade","datatype":"BYTES","shape":[3],"data":["D","A","A"]},
            {"name":"years","datatype":"INT64","shape":[3],"data":[3,10,20]}]}
            """
        let r = try client.post("/v2/models/risk-api/infer", json: body)
        #expect(r.status == 200, Comment(rawValue: r.text))
        let outputs = try #require(r.json?["outputs"] as? [[String: Any]])
        let served = try #require(outputs.first { $0["name"] as? String == "probability" }?["data"] as? [Double])
        #expect(served.count == 3)
        for i in 0..<min(3, served.count) { #expect(abs(served[i] - p[i]) < 1e-5, "row \(i)") }

        // A null where the training data never had one: refused, as kiln predict refuses the cell.
        let nullGrade = body.replacingOccurrences(of: "[\"D\",\"A\",\"A\"]", with: "[\"D\",null,\"A\"]")
        let refusedNull = try client.post("/v2/models/risk-api/infer", json: nullGrade)
        #expect(refusedNull.status == 400 && refusedNull.text.contains("element 1 is null, and the column is not nullable"), Comment(rawValue: refusedNull.text))

        // A misspelled category: answered (all-zero block), named in the response and counted in /metrics.
        let misspelled = body.replacingOccurrences(of: "[\"D\",\"A\",\"A\"]", with: "[\"D\",\"a\",\"A\"]")
        let warned = try client.post("/v2/models/risk-api/infer", json: misspelled)
        #expect(warned.status == 200, Comment(rawValue: warned.text))
        #expect((warned.json?["parameters"] as? [String: Any])?["unknown_categories"] as? String == "grade=1", Comment(rawValue: warned.text))
        let scrape = try client.request("GET", "/metrics")
        #expect(scrape.text.contains("kiln_unknown_categories_total{deployment=\"risk-api\",column=\"grade\"} 1"), Comment(rawValue: scrape.text))

        // kiln predict: ids kept for a join; an unknown category warned about, or refused at its line.
        try ws.write("ids.csv", "id,income,grade,years\nL-1,25.0,D,3\nL-2,,Z,10\n")
        let kept = try kiln("predict", "risk@staging", "--input", ws.path + "/ids.csv", "--keep", "id", "-C", ws.path)
        #expect(kept.status == 0, Comment(rawValue: kept.stderr))
        #expect(kept.stdout.hasPrefix("id,label,p_yes\nL-1,"), Comment(rawValue: kept.stdout))
        #expect(kept.stderr.contains("1 cells held a category value the model was not trained on (1 in 'grade')"), Comment(rawValue: kept.stderr))
        let refused = try kiln(
            "predict", "risk@staging", "--input", ws.path + "/ids.csv", "--unknown-categories", "error", "-C", ws.path)
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("ids.csv:3:"), Comment(rawValue: refused.stderr))
        #expect(refused.stderr.contains("'Z' in column 'grade' is not one of its values"), Comment(rawValue: refused.stderr))

        // A retrained booster with more rounds: diff gives the rounds and the gain shares.
        try ws.write(
            "specs/loans.yaml",
            try String(contentsOfFile: ws.path + "/specs/loans.yaml", encoding: .utf8)
                .replacingOccurrences(of: "trees: 60, max_depth: 3", with: "trees: 80, max_depth: 2"))
        let again = try kiln("run", ws.path, "--quiet")
        #expect(again.status == 0, Comment(rawValue: again.stderr))
        let diff = try kiln("diff", "risk@v2", "-C", ws.path)
        #expect(diff.status == 0, Comment(rawValue: diff.stderr))
        #expect(diff.stdout.contains("Trees"), Comment(rawValue: diff.stdout))
        #expect(diff.stdout.contains("share of total gain"), Comment(rawValue: diff.stdout))
        #expect(diff.stdout.contains("importance.gain"), Comment(rawValue: diff.stdout))
    }
}
