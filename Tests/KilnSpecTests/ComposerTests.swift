import Foundation
import KilnDiagnostics
import KilnTestSupport
import Testing

@testable import KilnSpec

@Suite struct Composer {
    func compose(_ text: String, limits: YAMLLimits = .default) -> YAMLComposer.Result {
        YAMLComposer(file: "t.yaml", limits: limits).compose(Array(text.utf8))
    }

    @Test func nodesKeepStartAndEndPositions() throws {
        let result = compose("a:\n  bb: [1, 22]\n")
        let root = try #require(result.documents.first?.root)
        let bb = try #require(root.entries?.first?.value.entries?.first)
        #expect(bb.key.span.start == SourceLocation(line: 2, column: 3, offset: 5))
        let list = bb.value
        #expect(list.span.start.line == 2 && list.span.start.column == 7)
        #expect(list.span.end.column == 14)
        let second = try #require(list.items?.last)
        #expect(second.span.start.column == 11 && second.span.end.column == 13)
    }

    @Test func scalarStylesAreKept() throws {
        let root = try #require(compose("a: no\nb: 'no'\nc: \"12\"\nd: |\n  x\n").documents.first?.root)
        let styles = root.entries?.map { $0.value.style }
        #expect(styles == [.plain, .singleQuoted, .doubleQuoted, .literal])
    }

    @Test func duplicateKeysReportBothPositions() throws {
        let result = compose("a: 1\nb: 2\na: 3\n")
        let d = try #require(result.diagnostics.first)
        #expect(d.id == "spec.duplicate-key")
        #expect(d.span?.start.line == 3)
        #expect(d.notes.first?.span?.start.line == 1)
    }

    @Test func mergeKeysLetExplicitKeysWin() throws {
        let root = try #require(compose("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n").documents.first?.root)
        let use = try #require(root.entries?.last?.value.entries)
        #expect(use.map(\.name) == ["x", "y"])
        #expect(use.map { $0.value.scalar } == ["1", "3"])
    }

    @Test func aliasBombEndsInAnErrorQuickly() {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<12 {
            text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        let start = Date()
        let result = compose(text)
        #expect(Date().timeIntervalSince(start) < 0.5)
        #expect(result.diagnostics.map(\.id) == ["spec.alias-expansion"])
    }

    @Test func nestingDeeperThanTheBoundIsAnError() {
        let text = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(compose(text).diagnostics.map(\.id) == ["spec.nesting-too-deep"])
        #expect(compose(String(repeating: "[", count: 10) + String(repeating: "]", count: 10)).diagnostics.isEmpty)
    }

    @Test func oversizedFilesAreRejectedBeforeParsing() {
        var limits = YAMLLimits()
        limits.maxFileBytes = 16
        #expect(compose("a: 1234567890123456789\n", limits: limits).diagnostics.map(\.id) == ["spec.file-too-large"])
    }

    @Test func tabsAreReportedAtTheirPosition() throws {
        let d = try #require(compose("a:\n\tb: 1\n").diagnostics.first)
        #expect(d.id == "spec.tab")
        #expect(d.span?.start.line == 2 && d.span?.start.column == 1)
    }

    @Test func multiDocumentFilesYieldEachDocument() {
        let result = compose("a: 1\n---\nb: 2\n---\nc: 3\n")
        #expect(result.documents.map(\.index) == [1, 2, 3])
    }

    @Test func aliasesAcrossDocumentsAreUndefined() {
        #expect(compose("a: &x 1\n---\nb: *x\n").diagnostics.map(\.id) == ["spec.undefined-alias"])
    }

    @Test func invalidUTF8IsASyntaxErrorNotACrash() {
        let result = YAMLComposer(file: "t.yaml").compose([0x61, 0x3A, 0x20, 0xFF, 0xFE, 0x0A])
        #expect(result.diagnostics.map(\.id) == ["spec.syntax"])
    }
}

@Suite struct ScalarTyping {
    func value(_ yaml: String, as type: SchemaType) -> (SpecValue?, [String]) {
        let root = YAMLComposer(file: "t.yaml").compose(Array("v: \(yaml)\n".utf8)).documents.first?.root
        guard let node = root?.entries?.first?.value else { return (nil, ["no node"]) }
        var decoder = SchemaDecoder()
        let v = decoder.decode(node, as: type, name: "v")
        return (v, decoder.diagnostics.map(\.id.rawValue))
    }

    @Test func noStaysAStringWhereAStringIsExpected() {
        #expect(value("no", as: .string()).0?.string == "no")
        #expect(value("0755", as: .string()).0?.string == "0755")
        #expect(value("12", as: .string()).0?.string == "12")
    }

    @Test func booleansAreOnlyTrueAndFalse() {
        #expect(value("true", as: .boolean).0?.bool == true)
        #expect(value("yes", as: .boolean).1 == ["spec.type-mismatch"])
        #expect(value("\"true\"", as: .boolean).1 == ["spec.type-mismatch"])
    }

    @Test func aQuotedNumberIsRejectedWithAHint() {
        let root = YAMLComposer(file: "t.yaml").compose(Array("v: \"12\"\n".utf8)).documents.first?.root
        var decoder = SchemaDecoder()
        _ = decoder.decode(root!.entries![0].value, as: .integer(), name: "v")
        #expect(decoder.diagnostics.first?.help == "drop the quotes to write the number 12")
    }

    @Test(arguments: [("30s", 30.0), ("10m", 600), ("2h", 7200), ("2ms", 0.002), ("1h30m", 5400)])
    func durationsParse(_ text: String, _ seconds: Double) {
        #expect(value(text, as: .duration).0?.double == seconds)
    }

    @Test(arguments: [("512KiB", 524_288), ("1MiB", 1_048_576), ("2GB", 2_000_000_000), ("100", 100)])
    func sizesParse(_ text: String, _ bytes: Int) {
        if case .size(let b)? = value(text, as: .size).0?.kind {
            #expect(b == bytes)
        } else {
            Issue.record("not a size")
        }
    }

    @Test func percentagesAreFractions() {
        #expect(value("10%", as: .percentage).0?.double == 0.1)
        #expect(value("25", as: .percentage).0?.double == 0.25)
        #expect(value("150%", as: .percentage).1 == ["spec.out-of-range"])
    }

    @Test func numbersFollowYAML12() {
        #expect(ScalarParsing.number("1e-3") == 0.001)
        #expect(ScalarParsing.number(".5") == 0.5)
        #expect(ScalarParsing.number(".inf") == nil)
        #expect(ScalarParsing.number("0x10") == nil)
        #expect(ScalarParsing.integer("1.0") == nil)
    }
}

@Suite struct Decoding {
    @Test func unknownFieldsSuggestTheClosestName() throws {
        let d = try #require(
            TestCompile.diagnostics(
                """
                apiVersion: kiln/v1
                kind: Model
                metadata: {name: m}
                spec: {task: regression, architecture: {type: linear}, intputs: 3}
                """
            ).first)
        #expect(d.id == "spec.unknown-field")
        #expect(d.help == "did you mean 'inputs'?")
    }

    @Test func missingFieldsAreReportedAtTheEnclosingMapping() throws {
        let d = try #require(
            TestCompile.diagnostics(
                """
                apiVersion: kiln/v1
                kind: Model
                metadata: {name: m}
                spec:
                  architecture: {type: linear}
                """
            ).first)
        #expect(d.id == "spec.missing-field")
        #expect(d.span?.start.line == 5)
    }

    @Test func defaultsAreFilledAndMarked() throws {
        let w = TestCompile.workspace(
            """
            apiVersion: kiln/v1
            kind: Model
            metadata: {name: m}
            spec: {task: regression, architecture: {type: linear}}
            """)
        let spec = try #require(w.resources.first?.spec)
        #expect(spec[path: ["init", "scheme"]]?.string == "he")
        #expect(spec["inputs"]?.isDefault == true)
    }

    @Test func resolvedFieldsFollowSchemaOrderWhateverTheWrittenOrder() throws {
        let a = TestCompile.workspace(
            "apiVersion: kiln/v1\nkind: Model\nmetadata: {name: m}\nspec: {task: regression, architecture: {type: linear}}\n"
        )
        let b = TestCompile.workspace(
            "apiVersion: kiln/v1\nkind: Model\nmetadata: {name: m}\nspec: {architecture: {type: linear}, task: regression}\n"
        )
        #expect(a.resources.first?.spec.json == b.resources.first?.spec.json)
    }
}

@Suite struct SchemaExport {
    @Test func committedSchemaAndReferenceMatchTheSchemaDefinition() {
        let schema = JSONSchemaExporter.document().serialized(pretty: true) + "\n"
        if let m = Golden.mismatch(schema, golden: Repository.path("specs/kiln.schema.json")) {
            Issue.record(Comment(rawValue: m + "\nregenerate with: make reference"))
        }
        if let m = Golden.mismatch(ReferenceWriter.markdown(), golden: Repository.path("docs/spec-reference.md")) {
            Issue.record(Comment(rawValue: m + "\nregenerate with: make reference"))
        }
    }

    @Test func everyKindHasADefinition() {
        let text = JSONSchemaExporter.document().serialized()
        for kind in ResourceKind.allCases { #expect(text.contains("\"#/definitions/\(kind.rawValue)Spec\"")) }
    }
}

@Suite struct WorkspaceFiles {
    @Test func findsSpecsRecursivelySkippingHiddenFoldersAndSymlinkLoops() throws {
        let dir = try TemporaryDirectory(files: [
            "a.yaml": "x: 1\n", "sub/b.yml": "x: 2\n", ".kiln/c.yaml": "x: 3\n", ".git/d.yaml": "x: 4\n",
            "data/e.csv": "a\n",
        ])
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/sub/loop", withDestinationPath: dir.path)
        let files = WorkspaceLoader.specFiles(in: dir.path).map { String($0.dropFirst(dir.path.count + 1)) }
        #expect(files == ["a.yaml", "sub/b.yml"])
    }
}
