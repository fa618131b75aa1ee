import Foundation
public import KilnBoost
public import KilnCompute
public import KilnProtocol
public import KilnText
import KilnDiagnostics

/// A transformer version for inference: the fine-tuned encoder (adapters merged; read-only, shared by
/// every worker), its head and its tokenizer. Requests send the text column as BYTES, one string per row.
public struct TextModel: Sendable {
    public let bert: FineTunedBert
    public let tokenizer: WordPieceTokenizer
    /// The text column the model was trained on (the request's input name); a token classifier, trained on
    /// a tokens column, takes raw text as `text`.
    public var column: String { bert.tagsTokens ? "text" : bert.card.inputColumns.first ?? "text" }
    public var tagsTokens: Bool { bert.tagsTokens }
    public var maxLength: Int { bert.transformer.maxLength }

    public init(directory: String, blas: BLAS) throws {
        bert = try FineTunedBert(directory: directory, blas: blas)
        tokenizer = try WordPieceTokenizer(
            vocabularyFile: FineTunedBert.vocabularyFile(directory),
            configFile: FineTunedBert.tokenizerConfigFile(directory))
        guard tokenizer.vocabularySize == bert.transformer.vocabularySize else {
            throw ServeError(
                "the vocabulary has \(tokenizer.vocabularySize) tokens, the encoder's embeddings \(bert.transformer.vocabularySize)")
        }
    }

    /// A token classifier's input: each text's whitespace words through WordPiece (cut to max_length), with
    /// each piece's word and each word's scalar offsets.
    public func tokenizeWords(_ texts: [String], refuseLong: Bool) throws(TextProblem) -> PreparedInput {
        var input = PreparedInput(rows: texts.count)
        for (row, text) in texts.enumerated() {
            let words = WordPieceTokenizer.words(in: text)
            guard !words.isEmpty else { throw TextProblem(row: row, message: "is empty (or only whitespace)") }
            let (encoding, cut) = tokenizer.encode(words: words.map(\.word), truncatingTo: maxLength)
            if cut && refuseLong {
                throw TextProblem(
                    row: row, message: "is longer than the model's \(maxLength) tokens, and this deployment refuses to truncate")
            }
            input.tokens.append(encoding.ids)
            input.words.append(encoding.words)
            input.spans.append(words.map { [$0.start, $0.end] })
            input.texts.append(text)
            input.truncated.append(cut)
        }
        return input
    }

    /// A token classifier's input from sentences already split into tokens (a CoNLL file's).
    public func tokenizeTokens(_ sentences: [[String]]) -> PreparedInput {
        var input = PreparedInput(rows: sentences.count)
        for tokens in sentences {
            let (encoding, cut) = tokenizer.encode(words: tokens, truncatingTo: maxLength)
            input.tokens.append(encoding.ids)
            input.words.append(encoding.words)
            input.spans.append(tokens.map { _ in [0, 0] })
            input.texts.append("")
            input.truncated.append(cut)
        }
        return input
    }

    /// Token ids of each text (truncated to max_length) and which were cut; an empty text is refused, and
    /// with `refuseLong` a text longer than max_length too (`row` names it: an index into `texts`).
    public func tokenize(_ texts: [String], refuseLong: Bool) throws(TextProblem) -> (ids: [[Int32]], truncated: [Bool]) {
        var ids: [[Int32]] = [], truncated: [Bool] = []
        ids.reserveCapacity(texts.count)
        truncated.reserveCapacity(texts.count)
        for (row, text) in texts.enumerated() {
            guard !text.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) else {
                throw TextProblem(row: row, message: "is empty (or only whitespace)")
            }
            let (tokens, cut) = tokenizer.encode(text, truncatingTo: maxLength)
            if cut && refuseLong {
                throw TextProblem(
                    row: row, message: "is longer than the model's \(maxLength) tokens, and this deployment refuses to truncate")
            }
            ids.append(tokens)
            truncated.append(cut)
        }
        return (ids, truncated)
    }
}

public struct TextProblem: Error, Sendable {
    public var row: Int
    public var message: String
}

/// What a request becomes before the batcher: a feed-forward model's feature rows, or a transformer's
/// token ids (and which texts were cut).
/// What to do with a category value the model was not trained on (its one-hot block would be all zero).
public enum UnknownCategories: String, Sendable, CaseIterable {
    /// Refuse the request (or the file), naming the value.
    case error
    /// Answer, count it, and say so (response parameters, predict's summary).
    case warn
    /// Answer and count it.
    case zero
}

public struct PreparedInput: Sendable {
    public var rows: Int
    /// Cells of a category column outside its values, by column (answered with an all-zero block).
    public var unknownCategories: [String: Int] = [:]
    public var features: [Float] = []
    public var tokens: [[Int32]] = []
    public var truncated: [Bool] = []
    /// A token classifier's: each piece's word (−1 for [CLS]/[SEP]), each word's [start, end) in Unicode
    /// scalars, and the texts.
    public var words: [[Int32]] = []
    public var spans: [[[Int]]] = []
    public var texts: [String] = []

    public init(rows: Int, features: [Float] = [], tokens: [[Int32]] = [], truncated: [Bool] = []) {
        self.rows = rows
        self.features = features
        self.tokens = tokens
        self.truncated = truncated
    }
}

extension ServedModel {
    /// The request as the model's batcher takes it: features (feed-forward), or tokenized text
    /// (transformer: one BYTES input named like the text column, [N] or [N, 1], no nulls).
    public func prepare(
        _ request: InferenceProtocol.InferenceRequest, refuseLongText: Bool = false,
        unknownCategories: UnknownCategories = .warn
    ) throws(InferenceProtocol.Failure) -> PreparedInput {
        guard let text else {
            let (rows, values, unknown) = try features(request, unknownCategories: unknownCategories)
            var input = PreparedInput(rows: rows, features: values)
            input.unknownCategories = unknown
            return input
        }
        let column = text.column
        guard request.inputs.count == 1, let input = request.inputs.first else {
            throw .badRequest(
                "\(reference) takes one input, '\(column)' (BYTES, one text per row); the request has \(request.inputs.count)")
        }
        guard input.name == column else {
            let hint = DidYouMean.suggestion(for: input.name, among: [column]).map { " (did you mean '\($0)'?)" } ?? ""
            throw .badRequest("unknown input '\(input.name)'\(hint); the model's input is '\(column)' (BYTES, one text per row)")
        }
        guard input.shape.count == 1 || (input.shape.count == 2 && input.shape[1] == 1) else {
            throw .badRequest("input '\(column)' has shape \(input.shape); texts are [N] or [N, 1]")
        }
        guard case .strings(let values) = input.data else {
            throw .badRequest("input '\(column)' is \(input.datatype.rawValue); texts are BYTES (JSON strings)")
        }
        var texts: [String] = []
        texts.reserveCapacity(values.count)
        for (row, value) in values.enumerated() {
            guard let value else { throw .badRequest("input '\(column)': row \(row) is null; every row needs a text") }
            texts.append(value)
        }
        do {
            if text.tagsTokens { return try text.tokenizeWords(texts, refuseLong: refuseLongText) }
            let (ids, truncated) = try text.tokenize(texts, refuseLong: refuseLongText)
            return PreparedInput(rows: ids.count, tokens: ids, truncated: truncated)
        } catch {
            throw .badRequest("input '\(column)': row \(error.row) \(error.message)")
        }
    }

    /// A worker's engine: a network of its own (feed-forward), or a text classifier over the shared encoder.
    public func makeEngine(maxBatch: Int, threads: Int = 1) throws -> InferenceEngine {
        if let boosterModel {
            let booster = try Booster(model: boosterModel, threads: threads)
            return .booster(try BoosterPredictor(booster, task: card.model.task, classes: card.model.outputs))
        }
        if let text {
            return .transformer(try TransformerPredictor(text.bert, maxBatch: max(1, maxBatch), blas: try BLAS.get()))
        }
        return .network(try makePredictor(maxBatch: maxBatch))
    }
}

/// One worker's predictor, of whichever kind the model is.
public enum InferenceEngine: @unchecked Sendable {
    case network(Predictor)
    case transformer(TransformerPredictor)
    case booster(BoosterPredictor)

    public var outputWidth: Int {
        switch self {
        case .network(let p): p.outputWidth
        case .transformer(let t): t.width
        case .booster(let b): b.outputWidth
        }
    }

    /// Results (rows × outputWidth) of a batch of prepared inputs, joined in order.
    public func predict(_ inputs: [PreparedInput], into output: UnsafeMutableBufferPointer<Float>, inputsPerRow: Int)
        throws
    {
        let rows = inputs.reduce(0) { $0 + $1.rows }
        func joined() throws -> [Float] {
            var features: [Float] = []
            features.reserveCapacity(rows * inputsPerRow)
            for i in inputs { features += i.features }
            guard features.count == rows * inputsPerRow else {
                throw ServeError("a batch of \(rows) rows holds \(features.count) values, not \(rows * inputsPerRow)")
            }
            return features
        }
        switch self {
        case .network(let p):
            try joined().withUnsafeBufferPointer { try p.predict($0, rows: rows, into: output) }
        case .booster(let b):
            try joined().withUnsafeBufferPointer { try b.predict($0, rows: rows, into: output) }
        case .transformer(let t):
            try t.probabilities(inputs.flatMap(\.tokens), into: output)
        }
    }
}

/// An entity a token classifier found: its type, its [start, end) offsets in Unicode scalars of the text
/// (whole words), the text, and the mean of its words' tag probabilities.
public struct FoundEntity: Sendable, Codable, Equatable {
    public var type: String
    public var start: Int
    public var end: Int
    public var text: String
    public var score: Float
}

extension TextModel {
    /// Each row's entities from the tagger's probabilities (rows × max_length × tags): a word's tag is its
    /// first piece's most probable, entities are strict IOB2 runs of words; and each word's tag.
    public func entities(_ result: UnsafeBufferPointer<Float>, _ input: PreparedInput) -> (
        entities: [[FoundEntity]], tags: [[String]]
    ) {
        let labels = bert.card.labels, k = labels.count, length = maxLength
        let scheme = try? EntityTags(labels)
        var all: [[FoundEntity]] = [], allTags: [[String]] = []
        for row in 0..<input.rows {
            let words = input.words[row], spans = input.spans[row]
            var tagIDs: [Int] = [], scores: [Float] = [], wordOf: [Int] = []
            // Each word's tag, O for a word without pieces (cut off by max_length, or normalized away).
            var wordTags = [String](repeating: labels.contains("O") ? "O" : labels[0], count: spans.count)
            var last: Int32 = -1
            for (t, w) in words.enumerated() where w >= 0 && w != last {
                last = w
                let base = (row * length + t) * k
                var best = 0
                for j in 1..<k where result[base + j] > result[base + best] { best = j }
                tagIDs.append(best)
                scores.append(result[base + best])
                wordOf.append(Int(w))
                if Int(w) < wordTags.count { wordTags[Int(w)] = labels[best] }
            }
            let scalars = Array(input.texts[row].unicodeScalars)
            var found: [FoundEntity] = []
            for span in scheme?.spans(tagIDs) ?? [] {
                let first = spans[wordOf[span.start]], final = spans[wordOf[span.end - 1]]
                let (start, end) = (first[0], final[1])
                var text = String.UnicodeScalarView()
                text.append(contentsOf: scalars[start..<end])
                let score = scores[span.start..<span.end].reduce(0, +) / Float(span.end - span.start)
                found.append(
                    FoundEntity(type: scheme?.types[span.type] ?? "?", start: start, end: end, text: String(text), score: score))
            }
            all.append(found)
            allTags.append(wordTags)
        }
        return (all, allTags)
    }
}
