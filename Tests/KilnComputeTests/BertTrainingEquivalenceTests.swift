import Foundation
import Testing

@testable import KilnCompute

/// Fine-tuning all-MiniLM-L6-v2 against transformers/PyTorch (scripts/bert-train-golden): the loss and
/// every parameter's gradient norm after one backward, for a sequence head on the pooler and a token head,
/// and three AdamW steps of the sequence model (schedule, clipping, decay groups) with the logits after.
@Suite struct BertTrainingEquivalenceTests {
    struct Golden: Decodable {
        struct Head: Decodable {
            var weight: [[Float]]
            var bias: [Float]
        }
        struct Sequence: Decodable {
            var head: Head
            var labels: [Int32]
            var loss: Double
            var gradient_norms: [String: Double]
            var gradient_values: [String: [Float]]
            var step_losses: [Double]
            var logits_after: [[Float]]
        }
        struct Token: Decodable {
            var head: Head
            var labels: [Int32]
            var loss: Double
            var gradient_norms: [String: Double]
        }
        var ids: [[Int32]]
        var sequence: Sequence
        var token: Token
    }

    static func golden() throws -> Golden {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Goldens/minilm-train.json").path
        return try JSONDecoder().decode(Golden.self, from: try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    static func training(_ task: BertFineTuning.Task, head: Golden.Head) throws -> BertTraining {
        let config = BertFineTuning(
            task: task, optimizer: OptimizerConfig(.adamw, learningRate: 1e-4, weightDecay: 0.01), warmupSteps: 1,
            totalSteps: 4, gradientClip: 1, hiddenDropout: 0, attentionDropout: 0)
        let t = try BertTraining(
            encoder: try BertEquivalenceTests.encoder(), config: config, maxBatch: 4, maxLength: 32, blas: try BLAS.get())
        let weights = head.weight.flatMap { $0 }
        for (i, w) in weights.enumerated() { t.head.weight.data[i] = w }
        for (i, b) in head.bias.enumerated() { t.head.bias.data[i] = b }
        return t
    }

    static func expectNorms(_ t: BertTraining, _ golden: [String: Double], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(Set(t.trainable.map(\.name)) == Set(golden.keys), sourceLocation: sourceLocation)
        var worst = (0.0, "")
        for p in t.trainable {
            let norm = p.gradient.buffer.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot(), peer = golden[p.name] ?? .nan
            let diff = abs(norm - peer) / max(peer, 1e-4)
            if diff > worst.0 { worst = (diff, p.name) }
        }
        #expect(worst.0 < 5e-4, "gradient norm of \(worst.1) differs by \(worst.0) (relative)", sourceLocation: sourceLocation)
    }

    @Test func sequenceHeadGradientsAndThreeStepsMatchThePeer() throws {
        let golden = try Self.golden(), g = golden.sequence
        let t = try Self.training(.sequence(labels: 3, pooling: .pooler), head: g.head)
        try t.forward(golden.ids, training: true)
        let loss = try t.lossAndGradient(g.labels, scale: 1)
        try t.backward(accumulate: false)
        #expect(abs(loss - g.loss) < 1e-5, "loss \(loss) vs \(g.loss)")
        Self.expectNorms(t, g.gradient_norms)
        let byName = Dictionary(uniqueKeysWithValues: t.trainable.map { ($0.name, $0) })
        let h = 384
        let rows = [
            ("classifier.weight", 1 * h), ("encoder.layer.0.attention.self.query.weight", 0),
            ("embeddings.word_embeddings.weight", Int(golden.ids[0][1]) * h),
        ]
        for (name, offset) in rows {
            let ours = (0..<6).map { byName[name]!.gradient.data[offset + $0] }, peer = g.gradient_values[name]!
            let scale = peer.map { abs($0) }.max()!
            #expect(zip(ours, peer).allSatisfy { abs($0 - $1) <= 2e-3 * scale }, "\(name): \(ours) vs \(peer)")
        }

        let steps = try Self.training(.sequence(labels: 3, pooling: .pooler), head: g.head)
        var losses: [Double] = []
        for _ in 0..<3 { losses.append(try steps.step(golden.ids, labels: g.labels)) }
        #expect(zip(losses, g.step_losses).allSatisfy { abs($0 - $1) < 2e-5 }, "\(losses) vs \(g.step_losses)")
        let logits = try steps.predict(golden.ids)
        let worst = zip(logits.array, g.logits_after.flatMap { $0 }).map { abs($0 - $1) }.max() ?? 1
        #expect(worst < 1e-5, "logits after three steps differ by \(worst)")
    }

    @Test func tokenHeadGradientsMatchThePeer() throws {
        let golden = try Self.golden(), g = golden.token
        let t = try Self.training(.token(labels: 5), head: g.head)
        try t.forward(golden.ids, training: true)
        let loss = try t.lossAndGradient(g.labels, scale: 1)
        try t.backward(accumulate: false)
        #expect(abs(loss - g.loss) < 1e-5, "loss \(loss) vs \(g.loss)")
        Self.expectNorms(t, g.gradient_norms)
    }
}
