import Foundation
import KilnTestSupport
import Testing

/// Issue 21 through the real binary: sweeps that choose their best cell by a validation metric, what
/// `kiln data infer` makes of messy files, and the papercuts a first-time user hit (each assertion here
/// failed before its fix).
extension CLI {
    /// Two boosters swept in one Training: written weak first, so that the registration order (as written)
    /// differs from the names' order, and the alias must land on the second.
    static func sweepSpecs() -> [String: String] {
        var files = boosterSpecs(trees: 60)
        files["specs/loans.yaml"] = files["specs/loans.yaml"]!
            .replacingOccurrences(of: "metadata: {name: risk}", with: "metadata: {name: strong}")
            .replacingOccurrences(
                of: "metadata: {name: risk-train}",
                with: "metadata: {name: risk-train}")
            .replacingOccurrences(of: "  model: risk\n", with: "  model: strong\n")
            .replacingOccurrences(
                of: "  register: {alias: staging}",
                with: """
                      matrix: {model: [weak, strong]}
                      select: {metric: roc_auc, split: validation}
                      register: {name: risk, alias: staging, message: "{model} booster"}
                    """)
            .replacingOccurrences(of: "early_stopping: {monitor: val_roc_auc, patience: 10}", with: "seed: 1")
            .replacingOccurrences(of: "    - {metric: roc_auc, min: 0.85}", with: "    - {metric: roc_auc, min: 0.5}")
            + """

            ---
            apiVersion: kiln/v1
            kind: Model
            metadata: {name: weak}
            spec:
              task: binary
              architecture: {type: gradient_boosting, trees: 1, max_depth: 1}
            """
        return files
    }

    @Test func aSweepRegistersEveryCellInOrderAndTheAliasGoesToTheBestByValidation() throws {
        let ws = try TemporaryDirectory(files: Self.sweepSpecs())
        let run = try kiln("run", ws.path)
        #expect(run.status == 0, Comment(rawValue: run.stderr + run.stdout))
        let log = try kiln("log", "risk", "--oneline", "-C", ws.path)
        // v1 is the first cell written (weak), v2 the second; staging is on v2, the better by validation.
        let lines = log.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2, Comment(rawValue: log.stdout))
        #expect(lines.last?.hasPrefix("v1 ") == true && lines.last?.contains("weak booster") == true, Comment(rawValue: log.stdout))
        #expect(lines.first?.hasPrefix("v2 ") == true && lines.first?.contains("(staging) strong booster") == true, Comment(rawValue: log.stdout))
        // The cell's parameters follow its message.
        #expect(lines.first?.contains("strong booster [model=strong]") == true, Comment(rawValue: log.stdout))
        #expect(run.stdout.contains("not staging: the sweep's best by validation roc_auc is training/risk-train[model=strong]"), Comment(rawValue: run.stdout))

        let show = try kiln("runs", "show", "-C", ws.path)
        #expect(show.status == 0, Comment(rawValue: show.stderr))
        let rows = show.stdout.split(separator: "\n").map(String.init).filter { $0.contains("risk@v") }
        #expect(rows.count == 2, Comment(rawValue: show.stdout))
        #expect(rows.first?.contains("weak") == true && rows.first?.hasPrefix("  *") == false, Comment(rawValue: show.stdout))
        #expect(rows.last?.contains("strong") == true && rows.last?.hasPrefix("  *") == true, Comment(rawValue: show.stdout))
        #expect(show.stdout.contains("val_roc_auc"))

        // Fully cached: nothing is registered now, and the footer does not say so.
        let again = try kiln("run", ws.path)
        #expect(again.status == 0)
        #expect(!again.stdout.contains("  registered "), Comment(rawValue: again.stdout))
        #expect(again.stdout.contains("unchanged  risk@v2, registered by an earlier run"), Comment(rawValue: again.stdout))
    }

    @Test func aFailedGateSaysSoAndTheFooterRegistersNothing() throws {
        var files = Self.boosterSpecs(trees: 20)
        files["specs/loans.yaml"] = files["specs/loans.yaml"]!
            .replacingOccurrences(of: "metrics: [roc_auc, accuracy]", with: "metrics: [accuracy, f1_macro, roc_auc]")
            .replacingOccurrences(of: "{metric: roc_auc, min: 0.85}", with: "{metric: roc_auc, min: 0.9999}")
        let ws = try TemporaryDirectory(files: files)
        let run = try kiln("run", ws.path)
        #expect(run.status == 1)
        #expect(!run.stdout.contains("registered upstream"), Comment(rawValue: run.stdout))
        // The gated metric (third in the list) is in the fit's summary line.
        let fit = run.stdout.split(separator: "\n").first { $0.contains("done") && $0.contains(":fit") } ?? ""
        #expect(fit.contains("test roc_auc"), Comment(rawValue: String(fit)))
    }

    @Test func anUnknownAliasListsTheModelsAliases() throws {
        let ws = try TemporaryDirectory(files: Self.boosterSpecs(trees: 10))
        #expect(try kiln("run", ws.path, "--quiet").status == 0)
        try ws.write("new.csv", "income,grade,years\n25.0,D,3\n")
        let r = try kiln("predict", "risk@prod", "--input", ws.path + "/new.csv", "-C", ws.path)
        #expect(r.status == 1)
        #expect(r.stderr.contains("risk has v1, and aliases staging (v1)"), Comment(rawValue: r.stderr))
        let typo = try kiln("predict", "risk@stagin", "--input", ws.path + "/new.csv", "-C", ws.path)
        #expect(typo.stderr.contains("did you mean 'staging'?"), Comment(rawValue: typo.stderr))
        let show = try kiln("show", "risk@v1", "-C", ws.path)
        #expect(!show.stdout.contains("[]"), Comment(rawValue: show.stdout))
    }

    /// A file as R and pandas write them: NA for missing, an identifier column, a category of 30 values,
    /// integers written 129.0.
    @Test func inferReadsMissingTokensAndSaysWhatItIgnores() throws {
        var csv = "\"id\",\"city\",\"rooms\",\"price\",\"area\"\n"
        for i in 0..<300 {
            let rooms = i % 11 == 0 ? "NA" : "\(1 + i % 5).0"
            let area = i % 13 == 0 ? "NA" : String(format: "%.1f", 40 + Double(i % 50))
            csv += "\"u\(i)\",\"city\(i % 30)\",\(rooms),\(100 + i),\(area)\n"
        }
        let ws = try TemporaryDirectory(files: ["data/raw/houses.csv": csv])
        let r = try kiln("data", "infer", ws.path + "/data/raw/houses.csv", "--label", "price", "-o", ws.path + "/specs/houses.yaml")
        #expect(r.status == 0, Comment(rawValue: r.stderr))
        #expect(r.stderr.contains("read as missing: 'NA'"), Comment(rawValue: r.stderr))
        #expect(r.stderr.contains("column 'id' is ignored: 300 distinct values in 300 rows"), Comment(rawValue: r.stderr))
        #expect(r.stderr.contains("column 'rooms': whole numbers written with a decimal point"), Comment(rawValue: r.stderr))
        let spec = try String(contentsOfFile: ws.path + "/specs/houses.yaml", encoding: .utf8)
        #expect(spec.contains("null_values: [NA]"), Comment(rawValue: spec))
        #expect(spec.contains("path: \"../data/raw/houses.csv\""), Comment(rawValue: spec))
        #expect(spec.contains("rooms: {type: int, nullable: true}"), Comment(rawValue: spec))
        #expect(spec.contains("city: {type: category, values: ["), Comment(rawValue: spec))
        // The inferred spec checks and its data reads as it is: no hand edits.
        let check = try kiln("data", "check", ws.path)
        #expect(check.status == 0, Comment(rawValue: check.stderr + check.stdout))
        // Not over an existing spec.
        let again = try kiln("data", "infer", ws.path + "/data/raw/houses.csv", "-o", ws.path + "/specs/houses.yaml")
        #expect(again.status == 1 && again.stderr.contains("exists"))
    }

    @Test func aCategoryValueOutsideItsValuesIsOneErrorWithItsCount() throws {
        var csv = "colour,size\n"
        for i in 0..<40 { csv += "\(i % 2 == 0 ? "purple" : "red"),\(i)\n" }
        let ws = try TemporaryDirectory(files: [
            "data/items.csv": csv,
            "specs/items.yaml": """
                apiVersion: kiln/v1
                kind: Dataset
                metadata: {name: items}
                spec:
                  source: {path: ../data/items.csv}
                  schema:
                    columns:
                      colour: {type: category, values: [red, green]}
                      size: {type: int}
                  transforms:
                    - {op: one_hot, columns: [colour]}
                """,
        ])
        let r = try kiln("data", "check", ws.path)
        #expect(r.status == 1)
        let errors = r.stderr.components(separatedBy: "'purple' in column 'colour' is not one of its values")
        #expect(errors.count == 2, Comment(rawValue: r.stderr))
        #expect(r.stderr.contains("(20 cells; the first is here)"), Comment(rawValue: r.stderr))
        #expect(r.stderr.contains("items.yaml:8:40: note: the column's values are declared here"), Comment(rawValue: r.stderr))
    }
}

/// Targets on their own scale: a regression trained on the standardized (or log) price, its metrics and
/// predictions in the price's units.
extension CLI {
    static func houses(_ target: String) -> [String: String] {
        var csv = "area,rooms,price\n"
        var state: UInt64 = 7
        for _ in 0..<400 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let area = 40 + Double(state >> 11) / Double(1 << 53) * 160
            let rooms = 1 + Int(area / 40)
            let noise = Double((state >> 20) % 20_000) - 10_000
            csv += String(format: "%.1f,%d,%.0f\n", area, rooms, 2_500 * area + 30_000 * Double(rooms) + 50_000 + noise)
        }
        return [
            "data/houses.csv": csv,
            "specs/houses.yaml": """
                apiVersion: kiln/v1
                kind: Dataset
                metadata: {name: houses}
                spec:
                  source: {path: ../data/houses.csv}
                  schema:
                    columns:
                      area: {type: float}
                      rooms: {type: int}
                      price: {type: float}
                    label: price
                  transforms:
                    - {op: standardize, columns: [area, rooms]}
                \(target)
                  split: {train: 0.7, validation: 0.1, test: 0.2}
                ---
                apiVersion: kiln/v1
                kind: Model
                metadata: {name: price}
                spec: {task: regression, architecture: {type: linear}}
                ---
                apiVersion: kiln/v1
                kind: Training
                metadata: {name: price-train}
                spec:
                  model: price
                  dataset: houses
                  epochs: 60
                  optimizer: {type: adam, learning_rate: 0.01}
                  metrics: [r2, rmse]
                  register: {alias: staging}
                """,
        ]
    }

    @Test func aScaledTargetTrainsAndPredictsInTheLabelsUnits() throws {
        // Unscaled, adam at 0.01 barely moves a linear model off zero on prices of 200,000 to 700,000.
        let raw = try TemporaryDirectory(files: Self.houses(""))
        #expect(try kiln("run", raw.path, "--quiet").status == 0)
        let rawShow = try kiln("show", "price@v1", "--json", "-C", raw.path)
        let rawR2 = ((try JSONSerialization.jsonObject(with: Data(rawShow.stdout.utf8)) as? [String: Any])?["metrics"]
            as? [String: [String: Double]])?["test"]?["r2"] ?? 0
        #expect(rawR2 < 0, "raw r2 \(rawR2)")

        for target in [
            "    - {op: standardize, columns: [price]}",
            // log(1 + price), then standardized: the model trains near 0 and the prediction is mapped back twice.
            "    - {op: log, columns: [price]}\n    - {op: standardize, columns: [price]}",
        ] {
            let ws = try TemporaryDirectory(files: Self.houses(target))
            let run = try kiln("run", ws.path, "--quiet")
            #expect(run.status == 0, Comment(rawValue: run.stderr))
            let show = try kiln("show", "price@v1", "--json", "-C", ws.path)
            let metrics = (try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])?["metrics"]
                as? [String: [String: Double]]
            let r2 = metrics?["test"]?["r2"] ?? -1, rmse = metrics?["test"]?["rmse"] ?? 0
            #expect(r2 > 0.9, "\(target): r2 \(r2)")
            // rmse in the price's units: thousands, not a standardized unit.
            #expect(rmse > 1_000 && rmse < 60_000, "\(target): rmse \(rmse)")
            try ws.write("new.csv", "area,rooms\n100,3\n")
            let p = try kiln("predict", "price@staging", "--input", ws.path + "/new.csv", "-C", ws.path)
            let value = Double(p.stdout.split(separator: "\n").last ?? "") ?? 0
            // 2,500 × 100 + 30,000 × 3 + 50,000 = 390,000.
            #expect(abs(value - 390_000) < 40_000, "\(target): predicted \(value)")
        }
    }
}

/// A binary task that names its positive class, decides at its own threshold and weighs its classes.
extension CLI {
    @Test func aBinaryModelNamesItsPositiveClassThresholdAndWeights() throws {
        for architecture in ["{type: gradient_boosting, trees: 30, max_depth: 3}", "{type: mlp, hidden: [8]}"] {
            var files = Self.boosterSpecs(trees: 30)
            files["specs/loans.yaml"] = files["specs/loans.yaml"]!
                .replacingOccurrences(
                    of: "  architecture: {type: gradient_boosting, trees: 30, max_depth: 3, learning_rate: 0.2}",
                    with: "  architecture: \(architecture)\n  positive_class: \"no\"\n  threshold: 0.3")
                .replacingOccurrences(of: "  metrics: [roc_auc, accuracy]", with: "  metrics: [roc_auc, accuracy]\n  class_weights: balanced")
                .replacingOccurrences(of: "{metric: roc_auc, min: 0.85}", with: "{metric: roc_auc, min: 0.6}")
                .replacingOccurrences(
                    of: "    - {op: one_hot, columns: [grade]}",
                    with: "    - {op: one_hot, columns: [grade]}\n    - {op: impute, columns: [income], strategy: median}\n    - {op: standardize, columns: [income, years]}")
            let ws = try TemporaryDirectory(files: files)
            let run = try kiln("run", ws.path, "--quiet")
            #expect(run.status == 0, Comment(rawValue: run.stderr + run.stdout))
            let show = try kiln("show", "risk@v1", "-C", ws.path)
            #expect(show.stdout.contains("labels   yes, no  (positive: no, threshold 0.3)"), Comment(rawValue: show.stdout))
            try ws.write("new.csv", "income,grade,years\n25.0,D,3\n60,B,10\n95.5,A,20\n")
            let p = try kiln("predict", "risk@staging", "--input", ws.path + "/new.csv", "-C", ws.path)
            #expect(p.status == 0, Comment(rawValue: p.stderr))
            let lines = p.stdout.split(separator: "\n").map(String.init)
            #expect(lines.first == "label,p_no", Comment(rawValue: p.stdout))
            for line in lines.dropFirst() {
                let fields = line.split(separator: ",").map(String.init)
                let probability = Double(fields[1]) ?? -1
                #expect(fields[0] == (probability >= 0.3 ? "no" : "yes"), Comment(rawValue: line))
            }
        }
        // Named wrongly: said at check time.
        var bad = Self.boosterSpecs(trees: 5)
        bad["specs/loans.yaml"] = bad["specs/loans.yaml"]!
            .replacingOccurrences(of: "  task: binary\n", with: "  task: binary\n  positive_class: nope\n")
            .replacingOccurrences(of: "  metrics: [roc_auc, accuracy]", with: "  metrics: [roc_auc, accuracy]\n  class_weights: {yse: 3}")
        let ws = try TemporaryDirectory(files: bad)
        let check = try kiln("check", ws.path)
        #expect(check.status == 1)
        #expect(check.stderr.contains("'positive_class' is 'nope', which is not a value of the label 'defaulted'"), Comment(rawValue: check.stderr))
        #expect(check.stderr.contains("'class_weights' names 'yse'") && check.stderr.contains("did you mean 'yes'?"), Comment(rawValue: check.stderr))
    }
}

/// examples/baseball: its Dataset spec is what `kiln data infer` writes (no hand edits beyond the label),
/// and the sweep of trees and an MLP leaves staging on the better cell by validation R².
extension CLI {
    @Test func theBaseballExampleIsInferredAsItIsAndItsSweepChoosesByValidation() throws {
        let ws = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: ws.path + "/data", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: Repository.path("examples/baseball/data/batting.csv"), toPath: ws.path + "/data/batting.csv")
        let infer = try kiln("data", "infer", ws.path + "/data/batting.csv", "--label", "hr", "-o", ws.path + "/specs/batting.yaml")
        #expect(infer.status == 0, Comment(rawValue: infer.stderr))
        #expect(infer.stderr.contains("column 'id' is ignored"), Comment(rawValue: infer.stderr))
        let inferred = try String(contentsOfFile: ws.path + "/specs/batting.yaml", encoding: .utf8)
        let committed = try String(contentsOfFile: Repository.path("examples/baseball/specs/batting.yaml"), encoding: .utf8)
        #expect(inferred == committed, "examples/baseball/specs/batting.yaml is not what kiln data infer writes")
        #expect(committed.contains("team: {type: category, values: ["), "the 132 teams stay a category")

        try FileManager.default.copyItem(
            atPath: Repository.path("examples/baseball/specs/models.yaml"), toPath: ws.path + "/specs/models.yaml")
        let run = try kiln("run", ws.path, "--quiet")
        #expect(run.status == 0, Comment(rawValue: run.stderr + run.stdout))
        let show = try kiln("runs", "show", "-C", ws.path, "--json")
        let cells = ((try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])?["cells"]
            as? [[String: Any]]) ?? []
        #expect(cells.count == 2, Comment(rawValue: show.stdout))
        let best = cells.max { (($0["metrics"] as? [String: Double])?["validation_r2"] ?? 0) < (($1["metrics"] as? [String: Double])?["validation_r2"] ?? 0) }
        #expect(best?["chosen"] as? Bool == true, Comment(rawValue: show.stdout))
        #expect(cells.filter { $0["chosen"] as? Bool == true }.count == 1)
        for c in cells { #expect((c["metrics"] as? [String: Double])?["test_r2"] ?? 0 > 0.8) }
    }

    /// A log on a feature is part of the card's preprocessing: trained, shown, predicted alike.
    @Test func aLogFeatureIsServedAsItWasTrained() throws {
        var files = Self.boosterSpecs(trees: 10)
        files["specs/loans.yaml"] = files["specs/loans.yaml"]!
            .replacingOccurrences(of: "    - {op: one_hot, columns: [grade]}", with: "    - {op: one_hot, columns: [grade]}\n    - {op: log, columns: [income]}")
            .replacingOccurrences(of: "{metric: roc_auc, min: 0.85}", with: "{metric: roc_auc, min: 0.5}")
        let ws = try TemporaryDirectory(files: files)
        let run = try kiln("run", ws.path, "--quiet")
        #expect(run.status == 0, Comment(rawValue: run.stderr))
        try ws.write("new.csv", "income,grade,years\n25.0,D,3\n,A,10\n")
        let p = try kiln("predict", "risk@staging", "--input", ws.path + "/new.csv", "-C", ws.path)
        #expect(p.status == 0, Comment(rawValue: p.stderr))
        #expect(p.stdout.split(separator: "\n").count == 3, Comment(rawValue: p.stdout))
    }

    /// A label far outside 32-bit floats' comfort trains or fails with what to do, never a trap: 1e19 (past
    /// Int.max) is a finite regression target; log(1 + 1e300) predicts past Float's range.
    @Test func aHugeLabelNeverTrapsTheFit() throws {
        for (value, target) in [("1e19", ""), ("1e300", "    - {op: log, columns: [price]}")] {
            var files = Self.houses(target)
            files["data/houses.csv"] = files["data/houses.csv"]!.replacingOccurrences(
                of: #"\n([0-9.]+),([0-9]+),[0-9]+\n"#, with: "\n$1,$2,\(value)\n", options: .regularExpression)
            #expect(files["data/houses.csv"]!.contains(",\(value)\n"))
            let ws = try TemporaryDirectory(files: files)
            let run = try kiln("run", ws.path)
            #expect(run.status == 0 || run.status == 1, "\(value): exit \(run.status)")
            if run.status == 1 {
                #expect(run.stderr.contains("is not finite") || run.stderr.contains("out of range"), Comment(rawValue: run.stderr))
            }
            #expect(FileManager.default.fileExists(atPath: ws.path + "/.kiln/runs"), "the run is recorded")
        }
    }

    /// kiln show of a network names its layers' widths, and nothing empty (`→ [] →` once).
    @Test func showNamesALinearModelsWidths() throws {
        var files = Self.boosterSpecs(trees: 1)
        files["specs/loans.yaml"] = files["specs/loans.yaml"]!
            .replacingOccurrences(
                of: "  architecture: {type: gradient_boosting, trees: 1, max_depth: 3, learning_rate: 0.2}",
                with: "  architecture: {type: linear}")
            .replacingOccurrences(of: "    - {op: one_hot, columns: [grade]}", with: "    - {op: one_hot, columns: [grade]}\n    - {op: impute, columns: [income]}")
            .replacingOccurrences(of: "{metric: roc_auc, min: 0.85}", with: "{metric: roc_auc, min: 0.5}")
        let ws = try TemporaryDirectory(files: files)
        #expect(try kiln("run", ws.path, "--quiet").status == 0)
        let show = try kiln("show", "risk@v1", "-C", ws.path)
        #expect(show.stdout.contains("model    binary linear, 6 → 1 (inputs → outputs)"), Comment(rawValue: show.stdout))
        #expect(!show.stdout.contains("[]"))
    }
}
