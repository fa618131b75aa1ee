import Foundation
import KilnData
import KilnDiagnostics
import Testing

/// CoNLL-style token files: sentences, tags by id, and every bad input an error (or a BIO warning) with
/// its file and line.
@Suite struct TokenLabelReaderTests {
    static let tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]

    func write(_ bytes: [UInt8]) throws -> String {
        let path = NSTemporaryDirectory() + "kiln-conll-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).txt"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    func write(_ text: String) throws -> String { try write(Array(text.utf8)) }

    @Test func readsSentencesWithTabsSpacesExtraColumnsAndCRLF() throws {
        let path = try write("\u{FEFF}Ada\tB-PER\nLovelace\tI-PER\nin\tO\nLondon\tNNP\tB-LOC\n \t\r\n\r\nHi O\nBob   x  B-PER\r\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (s, warnings) = try TokenLabelReader.readCoNLL(path: path, tags: Self.tags)
        #expect(s.tokens == [["Ada", "Lovelace", "in", "London"], ["Hi", "Bob"]])
        #expect(s.tags == [[1, 2, 0, 3], [0, 1]])
        #expect(s.lines == [1, 7])
        #expect(warnings.isEmpty)
    }

    @Test func anUnknownTagIsAnErrorAtItsLineAndColumn() throws {
        let path = try write("Ada\tB-PER\nParis\tB-GPE\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            _ = try TokenLabelReader.readCoNLL(path: path, tags: Self.tags)
        } throws: { error in
            let d = (error as? DataError)?.diagnostics.first
            return d?.id == .data(.category) && d?.span?.start.line == 2 && d?.span?.start.column == 7
                && d?.message.contains("B-GPE") == true
        }
    }

    @Test func bioInconsistencyIsAnErrorOrAWarningAsConfigured() throws {
        let path = try write("the\tO\nCity\tI-LOC\n\nAda\tB-PER\nParis\tI-LOC\n\nBob\tI-PER\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            _ = try TokenLabelReader.readCoNLL(path: path, tags: Self.tags)
        } throws: { error in
            let ds = (error as? DataError)?.diagnostics ?? []
            return ds.map(\.id) == [.data(.bio), .data(.bio), .data(.bio)] && ds.map { $0.span?.start.line } == [2, 5, 7]
        }
        let (s, warnings) = try TokenLabelReader.readCoNLL(path: path, tags: Self.tags, bio: .warning)
        #expect(s.count == 3 && warnings.count == 3 && warnings.allSatisfy { $0.severity == .warning })
        let (_, none) = try TokenLabelReader.readCoNLL(path: path, tags: Self.tags, bio: nil)
        #expect(none.isEmpty)
    }

    @Test func badBytesAndShapesAreErrorsWithLines() throws {
        for (bytes, id, line) in [
            (Array("Ada\tB-PER\n".utf8) + [0x66, 0xFF, 0x09, 0x4F, 0x0A], DataDiagnostic.encoding, 2),
            (Array("Ada\tB-PER\nlonely\n".utf8), .ragged, 2),
            (Array("\tO\n".utf8), .null, 1),
            (Array("\n \n\t\n".utf8), .empty, 3),
        ] {
            let path = try write(bytes)
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect {
                _ = try TokenLabelReader.readCoNLL(path: path, tags: Self.tags)
            } throws: { error in
                let d = (error as? DataError)?.diagnostics.first
                return d?.id == .data(id) && d?.span?.start.line == line && d?.span?.file == path
            }
        }
        #expect(throws: DataError.self) { _ = try TokenLabelReader.readCoNLL(path: "/nonexistent/x.conll", tags: Self.tags) }
    }

    @Test func errorsStopAtTheLimit() throws {
        let path = try write(String(repeating: "x\tB-NOPE\n", count: 100))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            _ = try TokenLabelReader.readCoNLL(path: path, tags: Self.tags)
        } throws: { error in
            let ds = (error as? DataError)?.diagnostics ?? []
            return ds.count == DataLimits.maxErrors + 1 && ds.last?.id == .data(.tooManyErrors)
        }
    }
}

@Suite struct TokenJSONLinesTests {
    static let tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]

    func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "kiln-tokjsonl-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).jsonl"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsSentencesAndRefusesMismatchesAtTheirLine() throws {
        let good = try write(#"{"tokens": ["Ada", "Lovelace"], "tags": ["B-PER", "I-PER"], "id": 3}"# + "\n\n" + #"{"tokens": ["in", "Paris"], "tags": ["O", "B-LOC"]}"# + "\n")
        defer { try? FileManager.default.removeItem(atPath: good) }
        let (s, _) = try TokenLabelReader.readJSONLines(path: good, tags: Self.tags)
        #expect(s.tokens == [["Ada", "Lovelace"], ["in", "Paris"]] && s.tags == [[1, 2], [0, 3]] && s.lines == [1, 3])
        for (text, id, line) in [
            (#"{"tokens": ["a"], "tags": ["O"]}"# + "\n" + #"{"tokens": ["a", "b"], "tags": ["O"]}"#, DataDiagnostic.ragged, 2),
            (#"{"tokens": ["a"], "tags": ["B-GPE"]}"#, .category, 1),
            (#"{"tokens": ["a"]}"#, .json, 1),
            (#"["a", "O"]"#, .json, 1),
            (#"{"tokens": ["a", "b"], "tags": ["O", "I-PER"]}"#, .bio, 1),
            (#"{"tokens": [""], "tags": ["O"]}"#, .null, 1),
        ] {
            let path = try write(text)
            defer { try? FileManager.default.removeItem(atPath: path) }
            #expect {
                _ = try TokenLabelReader.readJSONLines(path: path, tags: Self.tags)
            } throws: { error in
                let d = (error as? DataError)?.diagnostics.first
                return d?.id == .data(id) && d?.span?.start.line == line
            }
        }
        let warn = try write(#"{"tokens": ["a", "b"], "tags": ["O", "I-PER"]}"#)
        defer { try? FileManager.default.removeItem(atPath: warn) }
        let (w, warnings) = try TokenLabelReader.readJSONLines(path: warn, tags: Self.tags, bio: .warning)
        #expect(w.count == 1 && warnings.first?.message.contains("I-PER") == true)
    }
}
