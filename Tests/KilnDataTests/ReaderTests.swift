import Foundation
import KilnTestSupport
import Testing

@testable import KilnData

/// The fixtures' directory, and messages with it shortened to `Fixtures/` (goldens hold no machine paths).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
let goldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Goldens").path

func fixture(_ name: String) -> String { fixtures + "/" + name }
func shortened(_ text: String) -> String { text.replacingOccurrences(of: fixtures + "/", with: "Fixtures/") }

/// The schema of the small fixtures.
let peopleSchema = DataSchema(
    columns: [
        ColumnSchema("id", .int),
        ColumnSchema("name", .string, pii: true),
        ColumnSchema("score", .float, min: -1000, max: 100),
        ColumnSchema("ok", .bool),
        ColumnSchema("colour", .category, values: ["red", "green", "blue"]),
    ], label: "colour")

func read(_ name: String, schema: DataSchema = peopleSchema, format: SourceFormat? = nil, header: Bool = true)
    throws(DataError) -> Table
{
    try TableReader(source: SourceConfig(path: fixture(name), format: format, header: header), schema: schema).read()
}

func readError(_ name: String, schema: DataSchema = peopleSchema, header: Bool = true) -> String {
    do {
        _ = try read(name, schema: schema, header: header)
        return "no error"
    } catch {
        return shortened(error.description)
    }
}

@Suite struct Readers {
    @Test func quotedFieldsEscapesAndEmbeddedNewlines() throws {
        let t = try read("quoted.csv")
        #expect(t.rowCount == 3)
        #expect(t.column("name")?.values == .string(["Smith, J", "say \"hi\"", "two\nlines"]))
        #expect(t.column("score")?.values == .float([3.5, 4, -100]))
        #expect(t.column("ok")?.values == .bool([true, false, true]))
        #expect(t.column("colour")?.values == .category([0, 1, 2]))
        #expect(t.column("id")?.values == .int([1, 2, 3]))
        // The record with an embedded newline starts on line 4; lines follow the file, not the rows.
        #expect(t.origins.lines == [2, 3, 4])
    }

    @Test func byteOrderMarkAndCRLF() throws {
        let t = try read("bom-crlf.csv")
        #expect(t.rowCount == 2)
        #expect(t.column("id")?.values == .int([1, 2]))
        #expect(t.column("colour")?.values == .category([0, 1]))
        #expect(t.origins.lines == [2, 3])
    }

    @Test func tsvByExtensionAndNoHeader() throws {
        let tsv = try read("simple.tsv")
        #expect(tsv.column("name")?.values == .string(["a"]))
        let plain = try read("no-header.csv", header: false)
        #expect(plain.rowCount == 2)
        #expect(plain.column("score")?.values == .float([1.5, 2.5]))
        #expect(plain.origins.lines == [1, 2])
    }

    @Test func jsonLinesWithNullsMissingKeysAndAnyKeyOrder() throws {
        var schema = peopleSchema
        schema.columns[2].nullable = true
        let t = try read("rows.jsonl", schema: schema)
        #expect(t.rowCount == 3)
        #expect(t.column("name")?.values == .string(["a", "café", "c"]))
        #expect(t.column("score")?.nulls.isNull(1) == true)
        #expect(t.column("score")?.number(2) == 2)
        #expect(t.origins.lines == [1, 2, 4])
    }

    @Test func globOfFilesInByteOrder() throws {
        let t = try read("parts/*.csv")
        #expect(t.column("id")?.values == .int([1, 2, 3]))
        #expect(t.origins.describe(0) == fixture("parts/a.csv") + ":2")
        #expect(t.origins.describe(2) == fixture("parts/b.csv") + ":3")
    }

    @Test func ignoredColumnsAreNotKept() throws {
        var schema = peopleSchema
        schema.columns[1].ignore = true
        let t = try read("quoted.csv", schema: schema)
        #expect(t.column("name") == nil)
        #expect(t.columns.count == 4)
    }

    @Test func unknownCategoriesForInference() throws {
        var reader = TableReader(source: SourceConfig(path: fixture("unknown-category.csv")), schema: peopleSchema)
        reader.allowUnknownCategories = true
        #expect(try reader.read().column("colour")?.values == .category([-1]))
    }

    /// Every bad input gives positioned errors: the whole set is one golden file.
    @Test func badInputsGiveClearErrors() throws {
        var out = ""
        for name in [
            "ragged.csv", "unbalanced-quote.csv", "invalid-utf8.csv", "header-mismatch.csv", "empty.csv",
            "missing.csv", "nothing-*.csv", "unknown-category.csv", "bad-cells.csv", "bad.jsonl", "truncated.jsonl",
            "parts-mismatch/*.csv",
        ] {
            out += "== \(name)\n" + readError(name) + "\n"
        }
        if let problem = Golden.mismatch(out, golden: goldens + "/bad-input.txt") { Issue.record("\(problem)") }
    }

    /// A record split across the reader's chunks, and one longer than a chunk, read the same.
    @Test func recordsAcrossChunkBoundaries() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kiln-chunks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let long = String(repeating: "x", count: 3 << 20)
        var text = "id,name,score,ok,colour\n"
        var names: [String] = []
        for i in 0..<50_000 {
            let name = i == 20_000 ? "\"\(long)\n\"\"q\"\"\"" : "\"n\(i)\r\nz\""
            names.append(i == 20_000 ? long + "\n\"q\"" : "n\(i)\r\nz")
            text += "\(i),\(name),\(Double(i) / 1000),\(i % 2 == 0),\(["red", "green", "blue"][i % 3])\r\n"
        }
        let path = dir.appendingPathComponent("big.csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let t = try TableReader(source: SourceConfig(path: path), schema: peopleSchema).read()
        #expect(t.rowCount == 50_000)
        #expect(t.column("name")?.values == .string(names))
        #expect(t.column("score")?.number(49_999) == 49.999)
        #expect(t.origins.lines[49_999] == 2 + 49_999 * 2)
    }
}

@Suite struct Numbers {
    func double(_ s: String) -> Double? {
        let b = Array(s.utf8)
        return b.withUnsafeBufferPointer { p in
            guard let base = p.baseAddress, case .success(let v) = NumberParsing.double(base, count: b.count)
            else { return nil }
            return v
        }
    }

    func int(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        return b.withUnsafeBufferPointer { p in
            guard let base = p.baseAddress, case .success(let v) = NumberParsing.int(base, count: b.count)
            else { return nil }
            return v
        }
    }

    @Test func doublesRoundCorrectly() {
        // Fast path, slow path (long mantissa, big exponents), signs, spaces.
        for s in [
            "0", "-0", "1", "0.1", "0.07871", "1001.0", "-1e2", "+3.5", " 2.5 ", ".5", "5.", "1e22", "1e23",
            "123456789012345678901234",
            "0.1000000000000000055511151231257827", "2.2250738585072014e-308", "4.9e-324", "1.7976931348623157e308",
            "9007199254740993", "3.14159265358979323846264338327950288",
        ] {
            #expect(double(s) == Double(s.trimmingCharacters(in: .whitespaces)), "\(s)")
        }
        // Random decimal strings against Swift's own parser (correctly rounded).
        var g = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let mantissa = UInt64.random(in: 0...UInt64.max, using: &g) >> UInt64.random(in: 0...60, using: &g)
            let exponent = Int.random(in: -40...40, using: &g)
            let s = "\(mantissa)e\(exponent)"
            #expect(double(s) == Double(s), "\(s)")
        }
    }

    @Test func strictSyntax() {
        for s in ["", " ", "nan", "NaN", "inf", "-inf", "1,5", "1.2.3", "0x10", "1e", "e5", "--1", "1 2", "12abc", "."]
        {
            #expect(double(s) == nil, "\(s)")
        }
        #expect(double("1e400") == nil)  // beyond Double: overflow, not infinity
    }

    @Test func integers() {
        #expect(int("42") == 42)
        #expect(int("-9223372036854775808") == .min)
        #expect(int("9223372036854775807") == .max)
        #expect(int("9223372036854775808") == nil)
        // A whole number written with a decimal point is that integer (issue 21: `129.0`); nothing else is.
        #expect(int("3.0") == 3)
        #expect(int("-129.00") == -129)
        #expect(int("3.5") == nil)
        #expect(int("3.01") == nil)
        #expect(int(".0") == nil)
        #expect(int("3.0e2") == nil)
        #expect(int("-") == nil)
        #expect(int(" 7 ") == 7)
    }
}

@Suite struct PaddedNumbers {
    /// The word-at-a-time parser against the byte-at-a-time one, on text in a padded buffer.
    @Test func agreesWithTheCarefulParser() {
        var g = SystemRandomNumberGenerator()
        var cases = [
            "0", "1.5", "-0.07871", "12345678", "123456789", "1234567890123456.5", "99999999.99999999", "1.", ".5",
            "1e5", "1.2.3", "12a", "-", "", "00012", "3.14159265358979", "+7",
        ]
        for _ in 0..<10_000 {
            let intDigits = Int.random(in: 0...18, using: &g)
            let fracDigits = Int.random(in: 0...12, using: &g)
            var s = Bool.random(using: &g) ? "-" : ""
            s += String((0..<intDigits).map { _ in Character(String(Int.random(in: 0...9, using: &g))) })
            if fracDigits > 0 || Bool.random(using: &g) {
                s += "." + String((0..<fracDigits).map { _ in Character(String(Int.random(in: 0...9, using: &g))) })
            }
            cases.append(s)
        }
        for s in cases {
            // Random bytes after the field, as a reused buffer would hold.
            var bytes = Array(s.utf8) + [UInt8(0x2C)] + (0..<40).map { _ in UInt8.random(in: 0x2C...0x39, using: &g) }
            let n = s.utf8.count
            bytes.withUnsafeMutableBufferPointer { b in
                guard let base = b.baseAddress else { return }
                let fast = NumberParsing.paddedDouble(base, count: n)
                let careful = NumberParsing.double(base, count: n)
                #expect(fast == careful, "\(s)")
                if case .success(let v) = fast { #expect(v == Double(s), "\(s)") }
            }
        }
    }
}

@Suite struct StringColumns {
    let schema = DataSchema(columns: [
        ColumnSchema("id", .int), ColumnSchema("code", .string, pattern: "[a-z]+"),
        ColumnSchema("notes", .text, nullable: true),
    ])

    @Test func patternsAreWholeMatchesAndTextMayBeEmpty() throws {
        let error = readError("pattern.csv", schema: schema)
        #expect(
            error.contains(
                "Fixtures/pattern.csv:3:3: error: 'AB' in column 'code' does not match its pattern '[a-z]+' [data.pattern]"
            ))
        var relaxed = schema
        relaxed.columns[1].pattern = "[A-Za-z]+"
        let t = try read("pattern.csv", schema: relaxed)
        #expect(t.column("notes")?.values == .string(["free text, with commas", ""]))
        #expect(t.column("notes")?.nulls.isNull(1) == true)
    }
}

@Suite struct NullCells {
    /// Empty cells of nullable columns are nulls in the mask, in every typed column.
    @Test func emptyCellsAreMarkedNull() throws {
        let schema = DataSchema(columns: [
            ColumnSchema("id", .int, nullable: true), ColumnSchema("score", .float, nullable: true),
            ColumnSchema("ok", .bool, nullable: true),
            ColumnSchema("colour", .category, nullable: true, values: ["red", "green", "blue"]),
        ])
        let t = try read("nulls.csv", schema: schema)
        #expect(t.column("score")?.nulls.isNull(0) == true)
        #expect(t.column("score")?.nulls.isNull(1) == false)
        #expect(t.column("ok")?.nulls.isNull(1) == true)
        #expect(t.column("colour")?.nulls.isNull(1) == true)
        #expect(t.column("id")?.nulls.isNull(2) == true)
        #expect(t.columns.map { $0.nulls.nullCount } == [1, 1, 1, 1])
        #expect(t.column("score")?.number(0) == nil && t.column("score")?.number(2) == 3.5)
    }
}

@Suite struct SourceHashes {
    /// Hashing while reading gives the same digest as hashing the file on its own, for csv and jsonl.
    @Test func hashedInTheSamePass() throws {
        for name in ["quoted.csv", "bom-crlf.csv", "rows.jsonl"] {
            var schema = peopleSchema
            schema.columns[2].nullable = true
            var reader = TableReader(source: SourceConfig(path: fixture(name)), schema: schema)
            reader.hashSources = true
            let digest = try reader.read().origins.files.first?.digest
            #expect(digest == (try ContentHash.file(fixture(name))), "\(name)")
            #expect((digest?.sha256.count ?? 0) == 64)
        }
    }
}
