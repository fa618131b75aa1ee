import Foundation
public import KilnCompute
public import KilnProtocol
public import KilnText
import KilnDiagnostics

/// A transformer version for inference: the fine-tuned encoder (adapters merged; read-only, shared by
/// every worker), its head and its tokenizer. Requests send the text column as BYTES, one string per row.
public struct TextModel: Sendable {
    public let bert: FineTunedBert
    public let tokenizer: WordPieceTokenizer
    /// The text column the model was trained on (the request's input name).
    public var column: String { bert.card.inputColumns.first ?? "text" }
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
public struct PreparedInput: Sendable {
    public var rows: Int
    public var features: [Float] = []
    public var tokens: [[Int32]] = []
    public var truncated: [Bool] = []

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
    public func prepare(_ request: InferenceProtocol.InferenceRequest, refuseLongText: Bool = false)
        throws(InferenceProtocol.Failure) -> PreparedInput
    {
        guard let text else {
            let (rows, values) = try features(request)
            return PreparedInput(rows: rows, features: values)
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
            let (ids, truncated) = try text.tokenize(texts, refuseLong: refuseLongText)
            return PreparedInput(rows: ids.count, tokens: ids, truncated: truncated)
        } catch {
            throw .badRequest("input '\(column)': row \(error.row) \(error.message)")
        }
    }

    /// A worker's engine: a network of its own (feed-forward), or a text classifier over the shared encoder.
    public func makeEngine(maxBatch: Int) throws -> InferenceEngine {
        if let text { return .text(try TextClassifier(text.bert, maxBatch: max(1, maxBatch), blas: try BLAS.get())) }
        return .network(try makePredictor(maxBatch: maxBatch))
    }
}

/// One worker's predictor, of whichever kind the model is.
public enum InferenceEngine: @unchecked Sendable {
    case network(Predictor)
    case text(TextClassifier)

    public var outputWidth: Int {
        switch self {
        case .network(let p): p.outputWidth
        case .text(let t): t.labels
        }
    }

    /// Results (rows × outputWidth) of a batch of prepared inputs, joined in order.
    public func predict(_ inputs: [PreparedInput], into output: UnsafeMutableBufferPointer<Float>, inputsPerRow: Int)
        throws
    {
        let rows = inputs.reduce(0) { $0 + $1.rows }
        switch self {
        case .network(let p):
            var features: [Float] = []
            features.reserveCapacity(rows * inputsPerRow)
            for i in inputs { features += i.features }
            guard features.count == rows * inputsPerRow else {
                throw ServeError("a batch of \(rows) rows holds \(features.count) values, not \(rows * inputsPerRow)")
            }
            try features.withUnsafeBufferPointer { try p.predict($0, rows: rows, into: output) }
        case .text(let t):
            try t.probabilities(inputs.flatMap(\.tokens), into: output)
        }
    }
}
