import Foundation

/// Why a tokenizer could not be made: the message names the file and what to do.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// A tokenized text: ids with [CLS] and [SEP], and for each id the index of the word it came from (-1
/// for the special tokens). A word is what BERT's pre-tokenizer makes: a run of letters and digits, or
/// one punctuation mark or Chinese character; token classification labels the first piece of a word.
public struct Encoding: Sendable, Equatable {
    public var ids: [Int32]
    public var words: [Int32]

    /// The position of each word's first piece (where a word-level label goes).
    public var firstPieces: [Int] {
        var out: [Int] = []
        var last: Int32 = -1
        for (i, w) in words.enumerated() where w >= 0 && w != last {
            out.append(i)
            last = w
        }
        return out
    }
}

/// BERT's WordPiece tokenizer, as Hugging Face `tokenizers` runs it for an uncased BERT tokenizer.json:
/// the normalizer (control and format characters dropped, whitespace to spaces, Chinese characters
/// spaced, accents stripped, lower case), the pre-tokenizer (whitespace and punctuation), greedy
/// longest-match WordPiece with `##` continuations, [UNK] for a word it cannot cover or of more than
/// `maxCharactersPerWord` scalars, then [CLS] … [SEP] and truncation. The ids are the peer's, checked by a
/// golden of 5,000 texts (Tests/KilnTextTests).
public struct WordPieceTokenizer: Sendable {
    public let vocabularySize: Int
    public let cls: Int32, sep: Int32, pad: Int32, unk: Int32
    /// The tokenizer.json's truncation (`max_length`), nil when it has none.
    public let defaultMaxLength: Int?
    public let maxCharactersPerWord: Int
    /// The tokens by id.
    public let tokens: [String]
    private let trie: Trie
    /// Added tokens (the specials), matched in the raw text before normalization, longest first.
    private let added: [(scalars: [Unicode.Scalar], id: Int32)]
    private let addedStarts: Set<Unicode.Scalar>

    /// From a model folder: its tokenizer.json (or, without one, vocab.txt and tokenizer_config.json).
    public init(folder: String) throws(TokenizerError) {
        let json = folder + "/tokenizer.json"
        if FileManager.default.fileExists(atPath: json) {
            try self.init(tokenizerJSON: json)
        } else {
            try self.init(vocabularyFile: folder + "/vocab.txt", configFile: folder + "/tokenizer_config.json")
        }
    }

    /// From a Hugging Face tokenizer.json; anything but an uncased BERT WordPiece pipeline is refused.
    public init(tokenizerJSON path: String) throws(TokenizerError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TokenizerError("cannot read \(path)")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenizerError("\(path) is not a JSON object")
        }
        func refuse(_ what: String) -> TokenizerError {
            TokenizerError("\(path): \(what); kiln reads uncased BERT WordPiece tokenizers (BertNormalizer with lowercase, BertPreTokenizer, WordPiece)")
        }
        guard let model = root["model"] as? [String: Any], model["type"] as? String == "WordPiece",
            let vocab = model["vocab"] as? [String: Any]
        else { throw refuse("its model is not WordPiece with a vocab") }
        guard (model["continuing_subword_prefix"] as? String ?? "##") == "##" else {
            throw refuse("its continuing subword prefix is not '##'")
        }
        let normalizer = root["normalizer"] as? [String: Any]
        guard normalizer?["type"] as? String == "BertNormalizer", normalizer?["lowercase"] as? Bool == true,
            normalizer?["clean_text"] as? Bool ?? true, normalizer?["handle_chinese_chars"] as? Bool ?? true,
            (normalizer?["strip_accents"] as? Bool) ?? true
        else { throw refuse("its normalizer is not BertNormalizer with lowercase, clean_text, Chinese characters and accents stripped") }
        guard (root["pre_tokenizer"] as? [String: Any])?["type"] as? String == "BertPreTokenizer" else {
            throw refuse("its pre-tokenizer is not BertPreTokenizer")
        }
        var tokens = [String](repeating: "", count: vocab.count)
        for (token, value) in vocab {
            guard let id = (value as? NSNumber)?.intValue, id >= 0, id < vocab.count, tokens[id].isEmpty else {
                throw TokenizerError("\(path): the vocab's ids are not 0..<\(vocab.count), each once (at '\(token)')")
            }
            tokens[id] = token
        }
        let unkToken = model["unk_token"] as? String ?? "[UNK]"
        // Truncation from the right, without stride, and [CLS] … [SEP] around one sequence: what kiln
        // does. Padding is the caller's (a batch pads to its longest).
        let truncationObject = root["truncation"] as? [String: Any]
        if let t = truncationObject {
            guard (t["direction"] as? String ?? "Right") == "Right", (t["stride"] as? Int ?? 0) == 0 else {
                throw refuse("its truncation is not from the right without stride")
            }
        }
        let truncation = truncationObject?["max_length"] as? Int
        if let post = root["post_processor"] as? [String: Any] {
            let type = post["type"] as? String
            let single = (post["single"] as? [[String: Any]])?.map { item -> String in
                if let s = item["SpecialToken"] as? [String: Any] { return s["id"] as? String ?? "?" }
                return item["Sequence"] != nil ? "$A" : "?"
            }
            guard type == "BertProcessing" || (type == "TemplateProcessing" && single == ["[CLS]", "$A", "[SEP]"]) else {
                throw refuse("its post-processor is not [CLS] $A [SEP]")
            }
        }
        var added: [String] = []
        for token in root["added_tokens"] as? [[String: Any]] ?? [] {
            guard let content = token["content"] as? String, let id = (token["id"] as? NSNumber)?.intValue,
                id >= 0, id < tokens.count, tokens[id] == content
            else {
                throw TokenizerError(
                    "\(path): added token \(token["content"] ?? "?") (id \(token["id"] ?? "?")) is not the vocabulary's entry of its id")
            }
            for option in ["single_word", "lstrip", "rstrip", "normalized"] where token[option] as? Bool == true {
                throw refuse("added token '\(content)' sets '\(option)'")
            }
            added.append(content)
        }
        try self.init(
            tokens: tokens, unknown: unkToken, maxCharactersPerWord: model["max_input_chars_per_word"] as? Int ?? 100,
            defaultMaxLength: truncation, added: added, source: path)
    }

    /// From vocab.txt (a token per line, ids by line) and, if present, tokenizer_config.json.
    public init(vocabularyFile: String, configFile: String?) throws(TokenizerError) {
        guard let data = FileManager.default.contents(atPath: vocabularyFile) else {
            throw TokenizerError("cannot read \(vocabularyFile)")
        }
        // Lines by bytes ("\r\n" is one Character).
        var lines = data.split(separator: 10, omittingEmptySubsequences: false).map { line in
            String(decoding: line.last == 13 ? line.dropLast() : line[...], as: UTF8.self)
        }
        if lines.last == "" { lines.removeLast() }
        if let configFile, let config = FileManager.default.contents(atPath: configFile),
            let object = (try? JSONSerialization.jsonObject(with: config)) as? [String: Any],
            object["do_lower_case"] as? Bool == false
        {
            throw TokenizerError(
                "\(configFile): do_lower_case is false; kiln reads uncased BERT WordPiece tokenizers")
        }
        try self.init(
            tokens: lines, unknown: "[UNK]", maxCharactersPerWord: 100, defaultMaxLength: nil,
            added: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].filter(lines.contains), source: vocabularyFile)
    }

    init(
        tokens: [String], unknown: String, maxCharactersPerWord: Int, defaultMaxLength: Int?, added: [String],
        source: String
    ) throws(TokenizerError) {
        var index: [String: Int32] = [:]
        for (i, t) in tokens.enumerated() where index[t] == nil { index[t] = Int32(i) }
        func special(_ name: String) throws(TokenizerError) -> Int32 {
            guard let id = index[name] else { throw TokenizerError("\(source): the vocabulary has no \(name)") }
            return id
        }
        cls = try special("[CLS]")
        sep = try special("[SEP]")
        pad = try special("[PAD]")
        unk = try special(unknown)
        self.tokens = tokens
        vocabularySize = tokens.count
        self.maxCharactersPerWord = maxCharactersPerWord
        self.defaultMaxLength = defaultMaxLength
        trie = Trie(tokens)
        self.added = added.compactMap { t in index[t].map { (Array(t.unicodeScalars), $0) } }
            .sorted { $0.scalars.count > $1.scalars.count }
        addedStarts = Set(self.added.compactMap(\.scalars.first))
    }

    /// The added token that starts at `i`, if one does.
    private func addedToken(_ text: String.UnicodeScalarView, at i: String.UnicodeScalarView.Index) -> (
        Int32, String.UnicodeScalarView.Index
    )? {
        for token in added {
            var j = i
            var matched = true
            for s in token.scalars {
                guard j < text.endIndex, text[j] == s else {
                    matched = false
                    break
                }
                j = text.index(after: j)
            }
            if matched { return (token.id, j) }
        }
        return nil
    }

    /// The ids of `text` with [CLS] and [SEP], at most `maxLength` of them (the tokenizer.json's
    /// truncation when not given; nil there: all). Never fewer than the two specials: a `maxLength`
    /// below 2 gives [CLS] [SEP].
    public func encode(_ text: String, maxLength: Int? = nil) -> Encoding {
        encode(parts: CollectionOfOne(text), split: false, maxLength: maxLength)
    }

    /// The ids of `text` cut to `maxLength` ([CLS] … [SEP] included), and whether it had to be cut.
    public func encode(_ text: String, truncatingTo maxLength: Int) -> (ids: [Int32], truncated: Bool) {
        let ids = encode(text, maxLength: maxLength + 1).ids
        guard ids.count > maxLength, maxLength >= 2 else { return (ids, false) }
        return (Array(ids[0..<(maxLength - 1)]) + [sep], true)
    }

    /// A text's whitespace-separated words with their offsets in Unicode scalars (Python's string indices):
    /// how a raw text is split into the words a token classifier tags, each entity a run of words.
    public static func words(in text: String) -> [(word: String, start: Int, end: Int)] {
        var out: [(word: String, start: Int, end: Int)] = []
        var current = String.UnicodeScalarView(), start = 0, offset = 0
        for s in text.unicodeScalars {
            if s.properties.isWhitespace {
                if !current.isEmpty { out.append((String(current), start, offset)) }
                current = String.UnicodeScalarView()
            } else {
                if current.isEmpty { start = offset }
                current.append(s)
            }
            offset += 1
        }
        if !current.isEmpty { out.append((String(current), start, offset)) }
        return out
    }

    /// A sentence's words cut to `maxLength` tokens ([CLS] … [SEP] included), and whether it had to be cut.
    public func encode(words: [String], truncatingTo maxLength: Int) -> (encoding: Encoding, truncated: Bool) {
        var e = encode(words: words, maxLength: maxLength + 1)
        guard e.ids.count > maxLength, maxLength >= 2 else { return (e, false) }
        e.ids = Array(e.ids[0..<(maxLength - 1)]) + [sep]
        e.words = Array(e.words[0..<(maxLength - 1)]) + [-1]
        return (e, true)
    }

    /// The ids of a text already split into words (a CoNLL sentence), as Hugging Face's
    /// `is_split_into_words`: each word is normalized and pre-tokenized on its own, and every piece's word
    /// is the index of the input word it came from (a word that normalizes to nothing has no pieces).
    public func encode(words: [String], maxLength: Int? = nil) -> Encoding {
        encode(parts: words, split: true, maxLength: maxLength)
    }

    private func encode<Parts: Collection<String>>(parts: Parts, split: Bool, maxLength: Int?) -> Encoding {
        var out = Encoding(ids: [cls], words: [-1])
        let limit = (maxLength ?? defaultMaxLength).map { max(0, $0 - 2) } ?? Int.max
        var word: [UInt8] = []
        var scalars = 0
        // The pre-tokenizer's word count, or (split) the input word's index.
        var wordIndex: Int32 = 0
        let table = BertCharacters.shared
        func flush() {
            guard !word.isEmpty else { return }
            if out.ids.count - 1 < limit { pieces(word, scalars: scalars, word: wordIndex, into: &out) }
            if !split { wordIndex += 1 }
            word.removeAll(keepingCapacity: true)
            scalars = 0
        }
        func append(_ s: Unicode.Scalar) {
            if s == " " {
                flush()
            } else if table.isPunctuation(s) {
                flush()
                word.append(contentsOf: s.utf8)
                scalars = 1
                flush()
            } else {
                word.append(contentsOf: s.utf8)
                scalars += 1
            }
        }
        parts: for text in parts {
            let view = text.unicodeScalars
            var i = view.startIndex
            while i < view.endIndex {
                let s = view[i]
                if addedStarts.contains(s), let (id, end) = addedToken(view, at: i) {
                    flush()
                    if out.ids.count - 1 < limit {
                        out.ids.append(id)
                        out.words.append(wordIndex)
                    }
                    if !split { wordIndex += 1 }
                    i = end
                    continue
                }
                i = view.index(after: i)
                switch table.normalizerClass(s) {
                // Upper case (ASCII included) is in the table's replacements.
                case .plain: append(s)
                case .removed: continue
                case .whitespace: flush()
                case .alone:
                    flush()
                    word.append(contentsOf: s.utf8)
                    scalars = 1
                    flush()
                case .replaced: for r in table.replacement(s) { append(r) }
                }
                if out.ids.count - 1 >= limit { break parts }
            }
            flush()
            if split { wordIndex += 1 }
        }
        flush()
        if out.ids.count - 1 > limit {
            out.ids.removeLast(out.ids.count - 1 - limit)
            out.words.removeLast(out.words.count - 1 - limit)
        }
        out.ids.append(sep)
        out.words.append(-1)
        return out
    }

    /// WordPiece of one word: the longest vocabulary entry at each place, `##` after the first; the whole
    /// word is [UNK] when a place has none, or when it is longer than `maxCharactersPerWord`.
    private func pieces(_ word: [UInt8], scalars: Int, word index: Int32, into out: inout Encoding) {
        if scalars > maxCharactersPerWord {
            out.ids.append(unk)
            out.words.append(index)
            return
        }
        let mark = out.ids.count
        var start = 0
        while start < word.count {
            guard let (id, end) = trie.longest(word, from: start, continuation: start > 0) else {
                out.ids.removeLast(out.ids.count - mark)
                out.words.removeLast(out.words.count - mark)
                out.ids.append(unk)
                out.words.append(index)
                return
            }
            out.ids.append(id)
            out.words.append(index)
            start = end
        }
    }
}


/// The vocabulary as two byte tries, one for word starts and one for `##` continuations: the longest
/// match at a place is one walk.
private struct Trie: Sendable {
    /// Children by (node << 8 | byte).
    private var children: [UInt64: Int32] = [:]
    /// The token id ending at each node, -1 for none.
    private var ids: [Int32] = [-1, -1]

    init(_ tokens: [String]) {
        // Node 0: word starts; node 1: continuations.
        for (id, token) in tokens.enumerated() {
            var root: Int32 = 0
            var bytes = Array(token.utf8)
            // By bytes: "##" and a combining mark are one Character, and String.hasPrefix compares those.
            if bytes.starts(with: [35, 35]) {
                root = 1
                bytes.removeFirst(2)
                if bytes.isEmpty { continue }
            }
            var node = root
            for b in bytes {
                let key = UInt64(node) << 8 | UInt64(b)
                if let next = children[key] {
                    node = next
                } else {
                    let next = Int32(ids.count)
                    ids.append(-1)
                    children[key] = next
                    node = next
                }
            }
            if ids[Int(node)] < 0 { ids[Int(node)] = Int32(id) }
        }
    }

    /// The longest token at `from`, and where it ends.
    func longest(_ word: [UInt8], from: Int, continuation: Bool) -> (Int32, Int)? {
        var node: Int32 = continuation ? 1 : 0
        var best: (Int32, Int)?
        var i = from
        while i < word.count, let next = children[UInt64(node) << 8 | UInt64(word[i])] {
            node = next
            i += 1
            let id = ids[Int(node)]
            if id >= 0 { best = (id, i) }
        }
        return best
    }
}
