import Foundation
import KilnCompute
import Testing

/// all-MiniLM-L6-v2's forward pass against transformers/PyTorch (scripts/bert-golden): four sentences of
/// different lengths in one padded batch. The model folder comes from scripts/fetch-model.
@Suite struct BertEquivalenceTests {
    static var modelFolder: String {
        (ProcessInfo.processInfo.environment["KILN_MODELS"] ?? NSHomeDirectory() + "/.cache/kiln/models")
            + "/all-MiniLM-L6-v2"
    }

    struct Golden: Decodable {
        struct Sentence: Decodable {
            var text: String
            var ids: [Int32]
            var hidden: [[Float]]
            var pooled: [Float]
            var sequence_logits: [Float]
            var token_logits: [[Float]]
        }
        struct Head: Decodable {
            var weight: [[Float]]
            var bias: [Float]

            func linear() throws -> BertEncoder.Linear {
                try BertEncoder.Linear(
                    weight: Tensor(shape: [weight.count, weight[0].count], values: weight.flatMap { $0 }),
                    bias: Tensor(shape: [bias.count], values: bias))
            }
        }
        var heads: [String: Head]
        var sentences: [Sentence]
    }

    static func golden() throws -> Golden {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Goldens/minilm-forward.json").path
        return try JSONDecoder().decode(Golden.self, from: try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func encoder() throws -> BertEncoder {
        guard FileManager.default.fileExists(atPath: modelFolder + "/model.safetensors") else {
            throw ComputeError.io(path: modelFolder, reason: "no all-MiniLM-L6-v2: run scripts/fetch-model (make test does)")
        }
        return try BertEncoder.load(folder: modelFolder)
    }

    @Test func lastHiddenStateAndPooledEmbeddingMatchThePeer() throws {
        let golden = try Self.golden()
        let encoder = try Self.encoder()
        #expect(encoder.config.layers == 6 && encoder.config.hiddenSize == 384 && encoder.config.heads == 12)
        let inference = try BertInference(encoder, maxBatch: 8, maxLength: 128, blas: try BLAS.get())
        try inference.encode(golden.sentences.map(\.ids))
        try inference.meanPool()
        let h = encoder.config.hiddenSize
        var worst: Float = 0
        for (b, s) in golden.sentences.enumerated() {
            for (t, row) in s.hidden.enumerated() {
                let mine = inference.hidden.data + (b * inference.paddedLength + t) * h
                for j in 0..<h { worst = max(worst, abs(mine[j] - row[j])) }
            }
            let mine = Array(UnsafeBufferPointer(start: inference.pooled.data + b * h, count: h))
            let dot = zip(mine, s.pooled).reduce(0) { $0 + $1.0 * $1.1 }
            let cosine = dot / (norm(mine) * norm(s.pooled))
            #expect(cosine > 1 - 1e-5, "\(s.text): cosine \(cosine)")
        }
        print("bert equivalence: max abs difference of the last hidden state \(worst)")
        #expect(worst < 1e-4, "max abs difference of the last hidden state \(worst)")
    }

    /// Classification heads given the peer's weights: the sequence head on the pooler ([CLS], dense,
    /// tanh) and the token head on every token give the peer's logits and the same argmax.
    @Test func classificationHeadsGiveThePeersLogitsAndArgmax() throws {
        let golden = try Self.golden()
        let encoder = try Self.encoder()
        let inference = try BertInference(encoder, maxBatch: 8, maxLength: 128, blas: try BLAS.get())
        let sequenceHead = try #require(golden.heads["sequence"]).linear()
        let tokenHead = try #require(golden.heads["token"]).linear()
        try inference.encode(golden.sentences.map(\.ids))
        try inference.poolCLS()
        let sequence = Tensor(shape: [8, 3]), token = Tensor(shape: [8 * 128, 5])
        try inference.logits(sequenceHead, tokens: false, into: sequence)
        try inference.logits(tokenHead, tokens: true, into: token)
        #expect(throws: ComputeError.self) { try inference.logits(sequenceHead, tokens: false, into: Tensor(shape: [8, 4])) }
        #expect(throws: ComputeError.self) { _ = try BertInference(encoder, maxBatch: 1, maxLength: 1, blas: try BLAS.get()) }
        func argmax(_ v: [Float]) -> Int { v.indices.max { v[$0] < v[$1] } ?? 0 }
        var worst: Float = 0
        for (b, s) in golden.sentences.enumerated() {
            let mine = (0..<3).map { sequence[b, $0] }
            worst = max(worst, zip(mine, s.sequence_logits).map { abs($0 - $1) }.max() ?? 0)
            #expect(argmax(mine) == argmax(s.sequence_logits), "\(s.text)")
            for (t, peer) in s.token_logits.enumerated() {
                let row = (0..<5).map { token[b * inference.paddedLength + t, $0] }
                worst = max(worst, zip(row, peer).map { abs($0 - $1) }.max() ?? 0)
                #expect(argmax(row) == argmax(peer))
            }
        }
        #expect(worst < 1e-4, "max abs difference of the logits \(worst)")
    }

    /// The same sentence alone and padded in a batch gives the same states (the mask holds).
    @Test func paddingDoesNotChangeASequence() throws {
        let golden = try Self.golden()
        let encoder = try Self.encoder()
        let inference = try BertInference(encoder, maxBatch: 8, maxLength: 128, blas: try BLAS.get())
        let short = golden.sentences[3].ids
        try inference.encode([short])
        let alone = Array(UnsafeBufferPointer(start: inference.hidden.data, count: short.count * 384))
        try inference.encode([golden.sentences[1].ids, short])
        let padded = Array(
            UnsafeBufferPointer(start: inference.hidden.data + inference.paddedLength * 384, count: short.count * 384))
        #expect(zip(alone, padded).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func aCheckpointOfAnotherShapeIsRefusedNamingTheTensor() throws {
        let dir = NSTemporaryDirectory() + "kiln-bert-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = BertConfig(vocabularySize: 50, hiddenSize: 8, layers: 1, heads: 2, intermediateSize: 16, maxPositions: 16)
        var tensors: [(String, Tensor)] = BertEncoder.expectedShapes(config).map { ($0.name, Tensor(shape: $0.shape)) }
        let json = #"{"model_type":"bert","vocab_size":50,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"intermediate_size":16,"max_position_embeddings":16,"architectures":["BertModel"]}"#
        try json.write(toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        try SafeTensors.write(SafeTensors.encode(tensors), to: dir + "/model.safetensors")
        let loaded = try BertEncoder.load(folder: dir)
        #expect(loaded.namedTensors.map(\.0) == BertEncoder.expectedShapes(config).map(\.name))
        tensors[5] = (tensors[5].0, Tensor(shape: [8, 9]))
        try SafeTensors.write(SafeTensors.encode(tensors), to: dir + "/model.safetensors")
        #expect {
            _ = try BertEncoder.load(folder: dir)
        } throws: { error in
            "\(error)".contains(tensors[5].0) && "\(error)".contains("[8, 9]") && "\(error)".contains("[8, 8]")
        }
        try json.replacingOccurrences(of: "BertModel", with: "RobertaModel").write(
            toFile: dir + "/config.json", atomically: true, encoding: .utf8)
        #expect(throws: ComputeError.self) { _ = try BertEncoder.load(folder: dir) }
    }
}

private func norm(_ v: [Float]) -> Float { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
