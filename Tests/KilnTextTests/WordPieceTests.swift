import Foundation
import KilnText
import Testing

/// The tokenizer against Hugging Face `tokenizers` on 5,000 texts (scripts/tokenizer-golden), and the
/// rules that matter on their own. The model folder comes from scripts/fetch-model (`make test` runs it).
@Suite struct WordPieceTests {
    static var modelFolder: String {
        (ProcessInfo.processInfo.environment["KILN_MODELS"] ?? NSHomeDirectory() + "/.cache/kiln/models")
            + "/all-MiniLM-L6-v2"
    }

    static func tokenizer() throws -> WordPieceTokenizer {
        guard FileManager.default.fileExists(atPath: modelFolder + "/tokenizer.json") else {
            throw TokenizerError(
                "no all-MiniLM-L6-v2 in \(modelFolder): run scripts/fetch-model (make test does)")
        }
        return try WordPieceTokenizer(folder: modelFolder)
    }

    struct Line: Decodable {
        var text: String
        var ids: [Int32]
        var words: [Int32]
    }

    static func golden() throws -> [Line] {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Goldens/wordpiece-all-MiniLM-L6-v2.jsonl").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let decoder = JSONDecoder()
        return try text.split(separator: "\n").dropFirst().map { try decoder.decode(Line.self, from: Data($0.utf8)) }
    }

    @Test func everyGoldenTextGetsThePeersIdsAndWords() throws {
        let tokenizer = try Self.tokenizer()
        let lines = try Self.golden()
        #expect(lines.count >= 5000)
        var wrong = 0
        for line in lines {
            let e = tokenizer.encode(line.text)
            if e.ids != line.ids || e.words != line.words {
                wrong += 1
                if wrong <= 5 {
                    Issue.record(
                        "\(line.text.unicodeScalars.map { String($0.value, radix: 16) }.prefix(40)) \(line.text.prefix(80).debugDescription): kiln \(e.ids.prefix(40)) words \(e.words.prefix(40)), peer \(line.ids.prefix(40)) words \(line.words.prefix(40))"
                    )
                }
            }
        }
        #expect(wrong == 0, "\(wrong) of \(lines.count) texts differ")
    }

    struct SplitLine: Decodable {
        var words: [String]
        var ids: [Int32]
        var word_ids: [Int32]
    }

    /// Texts already split into words (a CoNLL sentence; Hugging Face's `is_split_into_words`): WNUT-16's
    /// token lists and generated lists with empty, spaced, special and odd words (scripts/tokenizer-golden).
    @Test func everyGoldenWordListGetsThePeersIdsAndWordIndices() throws {
        let tokenizer = try Self.tokenizer()
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Goldens/wordpiece-split-words.jsonl").path
        let decoder = JSONDecoder()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst().map {
            try decoder.decode(SplitLine.self, from: Data($0.utf8))
        }
        #expect(lines.count >= 1200)
        var wrong = 0
        for line in lines {
            let e = tokenizer.encode(words: line.words)
            if e.ids != line.ids || e.words != line.word_ids {
                wrong += 1
                if wrong <= 5 {
                    Issue.record("\(line.words.prefix(20)): kiln \(e.ids.prefix(30)) \(e.words.prefix(30)), peer \(line.ids.prefix(30)) \(line.word_ids.prefix(30))")
                }
            }
        }
        #expect(wrong == 0, "\(wrong) of \(lines.count) word lists differ")
    }

    @Test func rulesThatMatterOnTheirOwn() throws {
        let t = try Self.tokenizer()
        #expect(t.encode("").ids == [101, 102])
        #expect(t.defaultMaxLength == 128)
        // Greedy longest match with continuations; a word it cannot cover is one [UNK].
        #expect(t.encode("unaffable").ids.count == 5)
        #expect(t.encode("hello☃world").ids == [101, 100, 102])
        // Over 100 scalars after normalization: [UNK]; accents do not count.
        #expect(t.encode(String(repeating: "a", count: 101)).ids == [101, 100, 102])
        #expect(t.encode(String(repeating: "e\u{301}", count: 60)).ids != [101, 100, 102])
        // Truncation keeps 126 pieces and the specials.
        let long = t.encode(Array(repeating: "word", count: 500).joined(separator: " "))
        #expect(long.ids.count == 128 && long.ids.last == 102 && long.words[126] == 125)
        #expect(t.encode("x", maxLength: 3).ids.count == 3)
        // Specials in the text are the specials, matched before normalization.
        #expect(t.encode("a[MASK]b").ids == [101, 1037, 103, 1038, 102])
        // Word-level labels go to the first piece of each word.
        let e = t.encode("Hello, unaffable world")
        #expect(e.firstPieces.count == 4)
    }

    /// vocab.txt and tokenizer_config.json (a folder without tokenizer.json) give the same ids.
    @Test func theVocabularyFileGivesTheSameIds() throws {
        let json = try Self.tokenizer()
        let txt = try WordPieceTokenizer(
            vocabularyFile: Self.modelFolder + "/vocab.txt", configFile: Self.modelFolder + "/tokenizer_config.json")
        #expect(txt.vocabularySize == json.vocabularySize)
        for line in try Self.golden().prefix(500) {
            #expect(txt.encode(line.text, maxLength: 128) == json.encode(line.text), "\(line.text)")
        }
    }

    @Test func unsupportedTokenizersAreRefusedByName() throws {
        let dir = NSTemporaryDirectory() + "kiln-tok-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cased = #"{"model":{"type":"WordPiece","vocab":{"[UNK]":0}},"normalizer":{"type":"BertNormalizer","lowercase":false},"pre_tokenizer":{"type":"BertPreTokenizer"}}"#
        try cased.write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)
        #expect {
            _ = try WordPieceTokenizer(folder: dir)
        } throws: { error in
            "\(error)".contains("normalizer") && "\(error)".contains("tokenizer.json")
        }
        let base = #"{"model":{"type":"WordPiece","vocab":{"[UNK]":0,"[CLS]":1,"[SEP]":2,"[PAD]":3}},"normalizer":{"type":"BertNormalizer","lowercase":true},"pre_tokenizer":{"type":"BertPreTokenizer"}"#
        for (extra, says) in [
            (#","added_tokens":[{"id":-1,"content":"[PAD]"}]}"#, "added token"),
            (#","truncation":{"max_length":8,"direction":"Left"}}"#, "truncation"),
            (#","post_processor":{"type":"RobertaProcessing"}}"#, "post-processor"),
        ] {
            try (base + extra).write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)
            #expect {
                _ = try WordPieceTokenizer(folder: dir)
            } throws: { error in
                "\(error)".contains(says)
            }
        }
        try (base + "}").write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)
        #expect(try WordPieceTokenizer(folder: dir).encode("x", maxLength: 1).ids == [1, 2])
        let bpe = #"{"model":{"type":"BPE","vocab":{}}}"#
        try bpe.write(toFile: dir + "/tokenizer.json", atomically: true, encoding: .utf8)
        #expect(throws: TokenizerError.self) { try WordPieceTokenizer(folder: dir) }
    }
}
