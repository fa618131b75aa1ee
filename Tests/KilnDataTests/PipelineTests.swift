import Foundation
import KilnCompute
import KilnDiagnostics
import KilnTestSupport
import Testing

@testable import KilnData

/// A table built in memory: `n` rows with a class, a group, a number with some nulls and a category.
func syntheticTable(_ n: Int) -> Table {
    var classes: [Int32] = [], groups: [Int64] = [], x: [Double] = [], colour: [Int32] = []
    var xNulls = NullMask()
    for i in 0..<n {
        classes.append(Int32(i % 3 == 0 ? 0 : (i % 3 == 1 ? 1 : 2)))
        groups.append(Int64(i / 4))
        let null = i % 7 == 3
        x.append(null ? .nan : Double(i))
        xNulls.append(null: null)
        colour.append(Int32(i % 2))
    }
    var origins = RowOrigins()
    origins.files = [.init(path: "mem.csv", firstRow: 0)]
    origins.lines = (0..<n).map { $0 + 2 }
    return Table(
        columns: [
            Column(schema: syntheticSchema.columns[0], values: .category(classes)),
            Column(schema: syntheticSchema.columns[1], values: .int(groups)),
            Column(schema: syntheticSchema.columns[2], values: .float(x), nulls: xNulls),
            Column(schema: syntheticSchema.columns[3], values: .category(colour)),
        ], rowCount: n, origins: origins)
}

let syntheticSchema = DataSchema(
    columns: [
        ColumnSchema("y", .category, values: ["a", "b", "c"]),
        ColumnSchema("g", .int),
        ColumnSchema("x", .float, nullable: true),
        ColumnSchema("colour", .category, values: ["red", "green", "blue"]),
    ], label: "y")

@Suite struct Splits {
    let table = syntheticTable(20)

    /// Fixed expected indices: any change to the generator, the shuffle or the counting shows here.
    @Test func randomIsPinned() throws {
        let s = try Splitter.split(
            table, SplitSpec(.random, train: 0.6, validation: 0.2, test: 0.2, seed: 7), label: "y")
        #expect(s.train == [2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 18, 19])
        #expect(s.validation == [0, 1, 13, 17])
        #expect(s.test == [5, 14, 15, 16])
    }

    @Test func stratifiedIsPinnedAndKeepsProportions() throws {
        let s = try Splitter.split(
            table, SplitSpec(.stratified, train: 0.5, validation: 0, test: 0.5, seed: 1), label: "y")
        // Classes: 7 a, 7 b, 6 c; half of each, the odd row to train: 4 + 4 + 3 and 3 + 3 + 3.
        #expect(s.train == [0, 2, 3, 4, 5, 10, 14, 15, 16, 18, 19])
        #expect(s.test == [1, 6, 7, 8, 9, 11, 12, 13, 17])
        let y = table.column("y")
        for part in [s.train, s.test] {
            let counts = (0..<3).map { c in part.count { y?.number($0) == Double(c) } }
            #expect(counts.allSatisfy { $0 >= 3 && $0 <= 4 })
        }
    }

    @Test func groupKeepsEachGroupInOneSplit() throws {
        let s = try Splitter.split(
            table, SplitSpec(.group, by: "g", train: 0.6, validation: 0.2, test: 0.2, seed: 3), label: "y")
        // Five groups of four rows: three to train, one each to validation and test.
        #expect(s.train == [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19])
        #expect(s.validation == [4, 5, 6, 7])
        #expect(s.test == [0, 1, 2, 3])
        let g = table.column("g")
        let sets = [s.train, s.validation, s.test].map { Set($0.compactMap { g?.number($0) }) }
        #expect(
            sets[0].isDisjoint(with: sets[1]) && sets[0].isDisjoint(with: sets[2]) && sets[1].isDisjoint(with: sets[2]))
    }

    @Test func orderedAndCountsAddUp() throws {
        let s = try Splitter.split(table, SplitSpec(.ordered, train: 0.7, validation: 0.15, test: 0.15), label: "y")
        #expect(s.train == Array(0..<14))
        #expect(s.validation == Array(14..<17))
        #expect(s.test == Array(17..<20))
        for n in [0, 1, 2, 7, 99, 1000] {
            #expect(Splitter.counts(n, SplitSpec(train: 0.7, validation: 0.2, test: 0.1)).reduce(0, +) == n)
        }
    }

    @Test func sameSeedSameRowsAndHash() throws {
        let spec = SplitSpec(.stratified, train: 0.8, test: 0.2, seed: 42)
        let a = try Splitter.split(table, spec, label: "y"), b = try Splitter.split(table, spec, label: "y")
        #expect(a == b && a.sha256 == b.sha256)
        var other = spec
        other.seed = 43
        #expect(try Splitter.split(table, other, label: "y").sha256 != a.sha256)
    }
}

@Suite struct Checks {
    let table = syntheticTable(20)

    func run(_ check: CheckSpec) throws -> CheckResult {
        try ContractChecker(schema: syntheticSchema).run(check, on: table)
    }

    @Test func eachCheckCountsFailingRowsAndShowsLines() throws {
        let notNull = try run(CheckSpec(.notNull, columns: ["x"]))
        #expect(!notNull.passed && notNull.failedRows == 3)  // rows 3, 10, 17
        #expect(notNull.examples.map(\.line) == [5, 12, 19])
        let range = try run(CheckSpec(.range, columns: ["x"], min: 0, max: 15))
        #expect(range.failedRows == 3)  // 16, 18, 19 (17 is null)
        let unique = try run(CheckSpec(.unique, columns: ["g"]))
        #expect(unique.failedRows == 15 && unique.examples.first?.note == "same as line 2")
        #expect(try run(CheckSpec(.unique, columns: ["g", "x"])).failedRows == 0)
        #expect(try run(CheckSpec(.rowCount, min: 10, max: 30)).passed)
        #expect(try !run(CheckSpec(.rowCount, min: 21)).passed)
        #expect(try run(CheckSpec(.classBalance, maxRatio: 1.2)).passed)
        let balance = try run(CheckSpec(.classBalance, columns: ["colour"], maxRatio: 5))
        #expect(!balance.passed && balance.summary.contains("'blue'"))  // a declared class with no rows
        #expect(try run(CheckSpec(.allowedValues, columns: ["y"], values: ["a", "b"])).failedRows == 6)
        #expect(try run(CheckSpec(.allowedValues, columns: ["y"])).passed)
        let pattern = try run(CheckSpec(.pattern, columns: ["colour"], pattern: "re.*"))
        #expect(pattern.failedRows == 10)
    }

    @Test func severityDecidesWhetherTheDataIsUsed() throws {
        let checker = ContractChecker(schema: syntheticSchema)
        let warn = try checker.run([CheckSpec(.notNull, columns: ["x"], severity: .warn)], on: table)
        #expect(!warn.failed && warn.diagnostics.first?.severity == .warning)
        let error = try checker.run([CheckSpec(.notNull, columns: ["x"])], on: table)
        #expect(error.failed && error.diagnostics.first?.severity == .error)
    }

    @Test func piiValuesAreMaskedInExamples() throws {
        var schema = syntheticSchema
        schema.columns[3].pii = true
        var t = table
        t.columns[3].schema.pii = true
        let masker = PIIMasker(key: Data(repeating: 7, count: 32))
        let r = try ContractChecker(schema: schema, masker: masker).run(
            CheckSpec(.pattern, columns: ["colour"], pattern: "x"), on: t)
        #expect(r.examples.allSatisfy { $0.values[0].hasPrefix("pii:") && !$0.values[0].contains("red") })
        #expect(r.examples[0].values == r.examples[2].values)  // equal values, equal masks
        let unkeyed = try ContractChecker(schema: schema).run(
            CheckSpec(.pattern, columns: ["colour"], pattern: "x"), on: t)
        #expect(unkeyed.examples[0].values == ["<pii>"])
    }

    /// The report as users read it.
    @Test func reportGolden() throws {
        let checker = ContractChecker(schema: syntheticSchema)
        let report = try checker.run(
            [
                CheckSpec(.notNull, columns: ["x"], span: .data("iris.yaml", line: 20, column: 7)),
                CheckSpec(.unique, columns: ["g"], severity: .warn, span: .data("iris.yaml", line: 21, column: 7)),
                CheckSpec(.rowCount, min: 100, span: .data("iris.yaml", line: 22, column: 7)),
                CheckSpec(.classBalance, maxRatio: 2, span: .data("iris.yaml", line: 23, column: 7)),
            ], on: table)
        let text = DiagnosticRenderer(sources: [:]).text(report.diagnostics)
        if let problem = Golden.mismatch(text, golden: goldens + "/check-report.txt") { Issue.record("\(problem)") }
    }
}

@Suite struct Transforms {
    let table = syntheticTable(20)

    @Test func fittedOnTrainOnlyAndAppliedUnchanged() throws {
        let train = Array(0..<10), test = Array(10..<20)
        let p = try Preprocessor.fit(
            schema: syntheticSchema,
            transforms: [
                TransformSpec(.impute, columns: ["x"], strategy: .median), TransformSpec(.standardize),
                TransformSpec(.oneHot, columns: ["colour"]), TransformSpec(.drop, columns: ["g"]),
            ], table: table, rows: train)
        #expect(p.outputColumns == ["x", "colour=red", "colour=green", "colour=blue"])
        // Train x: 0 1 2 _ 4 5 6 7 8 9 → median 5; imputed mean 4.7; population std.
        let filled = [0, 1, 2, 5, 4, 5, 6, 7, 8, 9.0]
        let mean = filled.reduce(0, +) / 10
        let std = (filled.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 10).squareRoot()
        #expect(p.features[0].steps[0].fill == 5)
        #expect(abs((p.features[0].steps[1].center ?? 0) - mean) < 1e-12)
        #expect(abs((p.features[0].steps[1].scale ?? 0) - std) < 1e-12)
        let x = try p.features(table, rows: test)
        // Row 10 (x null): imputed with the train median, scaled by the train statistics.
        #expect(abs(Double(x[0]) - (5 - mean) / std) < 1e-6)
        #expect(abs(Double(x[4]) - (11 - mean) / std) < 1e-6)
        #expect(Array(x[1..<4]) == [1, 0, 0])  // row 10 colour red
        #expect(try p.targets(table, rows: [0, 1, 2]) == [0, 1, 2])
    }

    @Test func minMaxOrdinalMostFrequentAndConstant() throws {
        let p = try Preprocessor.fit(
            schema: syntheticSchema,
            transforms: [
                TransformSpec(.impute, columns: ["x"], strategy: .constant, value: "-1"),
                TransformSpec(.minMax, columns: ["x", "g"]), TransformSpec(.ordinal, columns: ["colour"]),
            ], table: table, rows: Array(0..<20))
        #expect(p.outputColumns == ["g", "x", "colour"])
        let x = try p.features(table, rows: [0, 3, 19])
        #expect(x == [0, 1.0 / 20, 0, 0, 0, 1, 1, 1, 1])
        let mode = try Preprocessor.fit(
            schema: syntheticSchema,
            transforms: [TransformSpec(.impute, strategy: .mostFrequent), TransformSpec(.oneHot, columns: ["colour"])],
            table: table, rows: [0, 1, 2, 3, 4, 5])
        #expect(mode.features.first { $0.column == "x" }?.steps.first?.fill == 0)
    }

    @Test func unknownCategoryIsAnAllZeroBlockAndMissingImputeIsAnError() throws {
        let p = try Preprocessor.fit(
            schema: syntheticSchema,
            transforms: [TransformSpec(.oneHot, columns: ["colour"]), TransformSpec(.drop, columns: ["x"])],
            table: table, rows: Array(0..<20))
        var t = table
        t.columns[3].values = .category([-1] + Array(repeating: 0, count: 19))
        #expect(Array(try p.features(t, rows: [0])[1...]) == [0, 0, 0])
        let noImpute = try Preprocessor.fit(
            schema: syntheticSchema, transforms: [TransformSpec(.oneHot, columns: ["colour"])], table: table,
            rows: [0, 1, 2])
        #expect(throws: DataError.self) { try noImpute.features(table, rows: [3]) }
    }

    @Test func codableRoundTripForTheModelCard() throws {
        let p = try Preprocessor.fit(
            schema: syntheticSchema,
            transforms: [
                TransformSpec(.impute), TransformSpec(.standardize), TransformSpec(.oneHot, columns: ["colour"]),
            ],
            table: table, rows: Array(0..<15))
        let json = ContentHash.canonicalJSON(p)
        let back = try JSONDecoder().decode(Preprocessor.self, from: json)
        #expect(back == p)
        #expect(try back.features(table) == p.features(table))
        #expect(ContentHash.canonical(back) == ContentHash.canonical(p))
        // Through the model card, the way inference gets it back.
        let card = ModelCard(
            model: ModelConfig(task: .classification, architecture: .mlp, inputs: p.width, outputs: 3, hidden: [8]),
            inputColumns: p.outputColumns, preprocessing: p.cardValue, labels: p.label?.classes ?? [])
        let cardJSON = try JSONEncoder().encode(card)
        let restored = try Preprocessor(cardValue: JSONDecoder().decode(ModelCard.self, from: cardJSON).preprocessing)
        #expect(try restored.features(table) == p.features(table))
        #expect(throws: DataError.self) { try Preprocessor(cardValue: .null) }
    }
}

@Suite struct Governance {
    final class TestSealer: DerivedDataSealer {
        // A reversible stand-in for AES-GCM: XOR with a key stream bound to the identity.
        func seal(_ plaintext: Data, identity: String) throws -> Data {
            Data("SEALED:".utf8)
                + Data(plaintext.enumerated().map { $1 ^ UInt8(truncatingIfNeeded: $0 &+ identity.utf8.count) })
        }
        func open(_ sealed: Data, identity: String) throws -> Data {
            guard sealed.starts(with: Data("SEALED:".utf8)) else { throw CocoaError(.fileReadCorruptFile) }
            return Data(
                sealed.dropFirst(7).enumerated().map { $1 ^ UInt8(truncatingIfNeeded: $0 &+ identity.utf8.count) })
        }
    }

    @Test func encryptedDatasetsNeverWritePlaintext() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-derived-\(UUID().uuidString)")
            .path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let marker = Data("PLAINTEXT-MARKER-4411".utf8)
        let sealed = DerivedDataStore(directory: dir, encrypt: true, sealer: TestSealer())
        try sealed.write(marker, name: "split.json")
        #expect(try sealed.read(name: "split.json") == marker)
        // Without a key: an error, and nothing written.
        let keyless = DerivedDataStore(directory: dir, encrypt: true, sealer: nil)
        #expect(throws: DataError.self) { try keyless.write(marker, name: "other.json") }
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))
            #expect(bytes.range(of: marker) == nil, "\(name) holds plaintext")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/other.json"))
    }
}
