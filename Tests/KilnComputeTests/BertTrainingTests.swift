import Foundation
import Testing

@testable import KilnCompute

/// A small BERT of random weights (2 layers, hidden 8, 2 heads), in BertModel's layout.
func randomBert(seed: UInt64, layers: Int = 2, pooler: Bool = true) throws -> BertEncoder {
    let config = BertConfig(
        vocabularySize: 40, hiddenSize: 8, layers: layers, heads: 2, intermediateSize: 16, maxPositions: 12,
        layerNormEpsilon: 1e-5)
    var g = RandomGenerator(seed: seed)
    var shapes = BertEncoder.expectedShapes(config)
    if pooler { shapes += [("pooler.dense.weight", [8, 8]), ("pooler.dense.bias", [8])] }
    let entries = shapes.map { name, shape -> SafeTensors.Entry in
        let count = shape.reduce(1, *)
        let isGamma = name.hasSuffix("LayerNorm.weight")
        let values = (0..<count).map { _ in isGamma ? 1 + 0.2 * g.nextNormal() : 0.4 * g.nextNormal() }
        return SafeTensors.Entry(name: name, shape: shape, values: values)
    }
    return try BertEncoder(config: config, tensors: entries, path: "random")
}

let sampleBatch: [[Int32]] = [[2, 17, 5, 33, 3], [2, 9, 3], [2, 30, 11, 8, 21, 3]]

/// The training's gradients against central differences of its loss, for every trained parameter;
/// dropout stays on with the same masks throughout (the micro-step does not advance). Gradients below
/// 3e-3 (the key bias's, 0 in exact arithmetic: softmax ignores a shift) are compared absolutely.
func checkGradients(
    _ training: BertTraining, _ batch: [[Int32]], labels: [Int32], eps: Float = 5e-3, tolerance: Float = 1e-2,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    func loss() throws -> Double {
        try training.forward(batch, training: true)
        return try training.lossAndGradient(labels, scale: 1)
    }
    _ = try loss()
    try training.backward(accumulate: false)
    let analytic = training.trainable.map { $0.gradient.array }
    var checked = 0
    for (p, a) in zip(training.trainable, analytic) {
        var worst: Float = 0, largest: Float = 3e-3
        let values = p.value.data
        for i in 0..<p.value.count {
            let saved = values[i]
            values[i] = saved + eps
            let plus = try loss()
            values[i] = saved - eps
            let minus = try loss()
            values[i] = saved
            let numeric = Float((plus - minus) / Double(2 * eps))
            worst = max(worst, abs(numeric - a[i]))
            largest = max(largest, abs(numeric), abs(a[i]))
        }
        checked += 1
        #expect(
            worst / largest <= tolerance, "\(p.name): max |analytic − numeric| = \(worst), largest gradient \(largest)",
            sourceLocation: sourceLocation)
    }
    #expect(checked == training.trainable.count, sourceLocation: sourceLocation)
}

@Suite struct BertTrainingTests {
    @Test(arguments: BertFineTuning.Pooling.allCases)
    func sequenceClassificationGradients(pooling: BertFineTuning.Pooling) throws {
        let encoder = try randomBert(seed: 7)
        let training = try BertTraining(
            encoder: encoder, config: BertFineTuning(task: .sequence(labels: 3, pooling: pooling), totalSteps: 10),
            maxBatch: 4, maxLength: 8, blas: blas)
        // Every encoder tensor, the pooler when used, and the head.
        #expect(training.trainable.count == 5 + 2 * 16 + (pooling == .pooler ? 2 : 0) + 2)
        try checkGradients(training, sampleBatch, labels: [0, 2, 1])
    }

    @Test func tokenClassificationGradientsSkipUnscoredTokens() throws {
        let encoder = try randomBert(seed: 8, pooler: false)
        let training = try BertTraining(
            encoder: encoder, config: BertFineTuning(task: .token(labels: 4), totalSteps: 10), maxBatch: 4,
            maxLength: 8, blas: blas)
        let labels: [Int32] = [-100, 1, 3, 0, -100, -100, 2, -100, -100, 1, 1, 3, 0, -100]
        try checkGradients(training, sampleBatch, labels: labels)
    }

    @Test func loraGradientsAndAFrozenBase() throws {
        let encoder = try randomBert(seed: 9)
        let lora = BertFineTuning.LoRA(rank: 2, alpha: 4, dropout: 0.2, targets: [.query, .value, .intermediate])
        let training = try BertTraining(
            encoder: encoder,
            config: BertFineTuning(task: .sequence(labels: 2, pooling: .pooler), totalSteps: 10, lora: lora),
            maxBatch: 4, maxLength: 8, blas: blas)
        // Adapters (A and B on three projections of two layers) and the head; nothing else.
        #expect(training.trainable.count == 2 * 3 * 2 + 2)
        #expect(training.trainable.allSatisfy { $0.name.contains("lora_") || $0.name.hasPrefix("classifier") })
        // B starts at zero (the adapted model starts as the base); give it values so A's gradient is not 0.
        var g = RandomGenerator(seed: 1)
        for p in training.trainable where p.name.contains("lora_B") {
            for i in 0..<p.value.count { p.value.data[i] = 0.3 * g.nextNormal() }
        }
        try checkGradients(training, sampleBatch, labels: [1, 0, 1])
    }

    @Test func freezingKeepsWeightsAndLeavesTheOtherGradientsAlone() throws {
        let config = BertFineTuning(
            task: .sequence(labels: 3, pooling: .mean), totalSteps: 10, freezeEmbeddings: true, frozenLayers: 1,
            hiddenDropout: 0, attentionDropout: 0)
        let frozen = try BertTraining(encoder: try randomBert(seed: 5), config: config, maxBatch: 4, maxLength: 8, blas: blas)
        var all = config
        all.freezeEmbeddings = false
        all.frozenLayers = 0
        let free = try BertTraining(encoder: try randomBert(seed: 5), config: all, maxBatch: 4, maxLength: 8, blas: blas)
        #expect(frozen.trainable.allSatisfy { !$0.name.hasPrefix("embeddings") && !$0.name.contains("layer.0.") })
        for t in [frozen, free] {
            try t.forward(sampleBatch, training: true)
            _ = try t.lossAndGradient([0, 1, 2], scale: 1)
            try t.backward(accumulate: false)
        }
        let byName = Dictionary(uniqueKeysWithValues: free.trainable.map { ($0.name, $0.gradient.array) })
        for p in frozen.trainable { #expect(p.gradient.array == byName[p.name], "\(p.name)") }
        let before = frozen.encoder.namedTensors.filter { $0.0.contains("layer.0.") || $0.0.hasPrefix("embeddings") }
            .map { $0.1.array }
        try frozen.step(sampleBatch, labels: [0, 1, 2])
        let after = frozen.encoder.namedTensors.filter { $0.0.contains("layer.0.") || $0.0.hasPrefix("embeddings") }
            .map { $0.1.array }
        #expect(before == after)
    }

    /// A padded batch's gradients are the mean of its sequences' gradients alone: padding carries none.
    @Test func paddingCarriesNoGradient() throws {
        let config = BertFineTuning(
            task: .sequence(labels: 3, pooling: .pooler), totalSteps: 10, hiddenDropout: 0, attentionDropout: 0)
        let training = try BertTraining(encoder: try randomBert(seed: 3), config: config, maxBatch: 4, maxLength: 8, blas: blas)
        func gradients(_ batch: [[Int32]], _ labels: [Int32]) throws -> [[Float]] {
            try training.forward(batch, training: true)
            _ = try training.lossAndGradient(labels, scale: 1)
            try training.backward(accumulate: false)
            return training.trainable.map { $0.gradient.array }
        }
        let together = try gradients([sampleBatch[1], sampleBatch[2]], [2, 1])
        let first = try gradients([sampleBatch[1]], [2]), second = try gradients([sampleBatch[2]], [1])
        for (i, p) in training.trainable.enumerated() {
            let worst = zip(together[i], zip(first[i], second[i])).map { abs($0 - ($1.0 + $1.1) / 2) }.max() ?? 0
            #expect(worst < 1e-5, "\(p.name): \(worst)")
        }
    }

    @Test func accumulatingTwoHalvesEqualsOneBatch() throws {
        var config = BertFineTuning(
            task: .sequence(labels: 3, pooling: .cls), totalSteps: 10, hiddenDropout: 0, attentionDropout: 0)
        let whole = try BertTraining(encoder: try randomBert(seed: 4), config: config, maxBatch: 4, maxLength: 8, blas: blas)
        config.accumulation = 2
        let halves = try BertTraining(encoder: try randomBert(seed: 4), config: config, maxBatch: 4, maxLength: 8, blas: blas)
        let batch = [sampleBatch[0], sampleBatch[1], sampleBatch[2], [2, 4, 3]]
        for _ in 0..<3 {
            try whole.step(batch, labels: [0, 1, 2, 1])
            try halves.step(Array(batch[0..<2]), labels: [0, 1])
            try halves.step(Array(batch[2..<4]), labels: [2, 1])
        }
        #expect(whole.optimizer.step == 3 && halves.optimizer.step == 3)
        for (a, b) in zip(whole.encoder.namedTensors, halves.encoder.namedTensors) {
            let worst = zip(a.1.array, b.1.array).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-4, "\(a.0): \(worst)")
        }
    }

    @Test func theSameSeedGivesTheSameBitsAndResumingIsBitIdentical() throws {
        let config = BertFineTuning(
            task: .token(labels: 3), optimizer: OptimizerConfig(.adamw, learningRate: 1e-2, weightDecay: 0.01),
            warmupSteps: 2, totalSteps: 6, seed: 11)
        let labels: [Int32] = [0, 1, 2, 0, 1, -100, 2, 2, 0, 1, 1, 0, 2, 1]
        func run(_ steps: Range<Int>, _ t: BertTraining) throws {
            for _ in steps { try t.step(sampleBatch, labels: labels) }
        }
        let straight = try BertTraining(encoder: try randomBert(seed: 2, pooler: false), config: config, maxBatch: 4, maxLength: 8, blas: blas)
        try run(0..<6, straight)
        let again = try BertTraining(encoder: try randomBert(seed: 2, pooler: false), config: config, maxBatch: 4, maxLength: 8, blas: blas)
        try run(0..<6, again)
        #expect(straight.encoder.namedTensors.map { $0.1.array } == again.encoder.namedTensors.map { $0.1.array })

        let path = NSTemporaryDirectory() + "kiln-bert-resume-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try BertTraining(encoder: try randomBert(seed: 2, pooler: false), config: config, maxBatch: 4, maxLength: 8, blas: blas)
        try run(0..<3, first)
        try first.save(to: path)
        let resumed = try BertTraining(encoder: try randomBert(seed: 2, pooler: false), config: config, maxBatch: 4, maxLength: 8, blas: blas)
        try resumed.restore(from: path)
        try run(3..<6, resumed)
        #expect(straight.encoder.namedTensors.map { $0.1.array } == resumed.encoder.namedTensors.map { $0.1.array })
        #expect(straight.head.weight.array == resumed.head.weight.array)

        // Another configuration refuses the checkpoint and changes nothing.
        var other = config
        other.seed = 12
        let stranger = try BertTraining(encoder: try randomBert(seed: 2, pooler: false), config: other, maxBatch: 4, maxLength: 8, blas: blas)
        let head = stranger.head.weight.array
        #expect(throws: ComputeError.self) { try stranger.restore(from: path) }
        #expect(stranger.head.weight.array == head)
    }

    @Test func aTamperedCheckpointOrAnotherBaseIsRefusedAndChangesNothing() throws {
        let lora = BertFineTuning.LoRA(rank: 2, alpha: 4, dropout: 0, targets: [.query, .value])
        let config = BertFineTuning(task: .sequence(labels: 2, pooling: .cls), totalSteps: 4, lora: lora)
        let path = NSTemporaryDirectory() + "kiln-bert-tamper-\(getpid()).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try BertTraining(encoder: try randomBert(seed: 2), config: config, maxBatch: 4, maxLength: 8, blas: blas)
        try first.step(sampleBatch, labels: [0, 1, 1])
        try first.save(to: path)
        let (entries, metadata) = try SafeTensors.read(path)
        func write(_ entries: [SafeTensors.Entry], _ metadata: [String: String]) throws {
            let tensors = try entries.map { ($0.name, try Tensor(shape: $0.shape, values: $0.values)) }
            try SafeTensors.write(SafeTensors.encode(tensors, metadata: metadata), to: path)
        }
        func expectRefused(_ base: UInt64 = 2, sourceLocation: SourceLocation = #_sourceLocation) throws {
            let t = try BertTraining(encoder: try randomBert(seed: base), config: config, maxBatch: 4, maxLength: 8, blas: blas)
            let before = t.trainable.map { $0.value.array }
            #expect(throws: ComputeError.self, sourceLocation: sourceLocation) { try t.restore(from: path) }
            #expect(t.trainable.map { $0.value.array } == before && t.microStep == 0, sourceLocation: sourceLocation)
        }
        // The same checkpoint onto another base model of the same shape: the frozen weights differ.
        try expectRefused(3)
        var nan = entries
        nan[nan.count - 1].values[0] = .nan
        try write(nan, metadata)
        try expectRefused()
        var counters = metadata
        counters["micro_step"] = "5"
        try write(entries, counters)
        try expectRefused()
        // Untouched, it restores.
        try write(entries, metadata)
        let resumed = try BertTraining(encoder: try randomBert(seed: 2), config: config, maxBatch: 4, maxLength: 8, blas: blas)
        try resumed.restore(from: path)
        #expect(resumed.trainable.map { $0.value.array } == first.trainable.map { $0.value.array })
    }

    @Test func mergedAdaptersGiveTheAdaptedOutputs() throws {
        let lora = BertFineTuning.LoRA(rank: 3, alpha: 6, dropout: 0.1, targets: BertFineTuning.LoRA.Target.allCases)
        let config = BertFineTuning(
            task: .sequence(labels: 2, pooling: .pooler), optimizer: OptimizerConfig(.adamw, learningRate: 0.05),
            totalSteps: 20, lora: lora)
        let training = try BertTraining(encoder: try randomBert(seed: 6), config: config, maxBatch: 4, maxLength: 8, blas: blas)
        for _ in 0..<5 { try training.step(sampleBatch, labels: [0, 1, 1]) }
        let adapted = try training.predict(sampleBatch).array
        let base = try BertTraining(
            encoder: try randomBert(seed: 6), config: BertFineTuning(task: config.task, totalSteps: 1), maxBatch: 4,
            maxLength: 8, blas: blas)
        training.mergeAdapters()
        let merged = try training.predict(sampleBatch).array
        #expect(zip(adapted, merged).allSatisfy { abs($0 - $1) < 1e-5 }, "\(adapted) vs \(merged)")
        // Merging is final: no more steps, checkpoints or restores.
        #expect(throws: ComputeError.self) { try training.step(sampleBatch, labels: [0, 1, 1]) }
        #expect(throws: ComputeError.self) { try training.save(to: NSTemporaryDirectory() + "kiln-merged.safetensors") }
        // The adapters did train: the merged weights differ from the base.
        #expect(training.encoder.layers[0].query.weight.array != base.encoder.layers[0].query.weight.array)
    }

    @Test func badBatchesAndSettingsAreRefusedBeforeAnythingChanges() throws {
        let encoder = try randomBert(seed: 1)
        #expect(throws: ComputeError.self) {
            _ = try BertTraining(
                encoder: encoder, config: BertFineTuning(task: .sequence(labels: 1, pooling: .cls), totalSteps: 1),
                maxBatch: 2, maxLength: 8, blas: blas)
        }
        #expect(throws: ComputeError.self) {
            _ = try BertTraining(
                encoder: encoder,
                config: BertFineTuning(task: .token(labels: 2), warmupSteps: 5, totalSteps: 2), maxBatch: 2,
                maxLength: 8, blas: blas)
        }
        #expect(throws: ComputeError.self) {
            _ = try BertTraining(
                encoder: encoder,
                config: BertFineTuning(
                    task: .token(labels: 2), optimizer: OptimizerConfig(.adamw, learningRate: 1e-3, epsilon: 0),
                    totalSteps: 2), maxBatch: 2, maxLength: 8, blas: blas)
        }
        let training = try BertTraining(
            encoder: encoder, config: BertFineTuning(task: .token(labels: 2), totalSteps: 4), maxBatch: 2,
            maxLength: 8, blas: blas)
        let before = encoder.namedTensors.map { $0.1.array }
        #expect(throws: ComputeError.self) { try training.step([[2, 99, 3]], labels: [0, 1, 0]) }
        #expect(throws: ComputeError.self) { try training.step([[2, 9, 3]], labels: [0, 1]) }
        #expect(throws: ComputeError.self) { try training.step([[2, 9, 3]], labels: [0, 7, 0]) }
        #expect(throws: ComputeError.self) { try training.step(Array(repeating: [2, 3], count: 3), labels: []) }
        #expect(throws: ComputeError.self) { try training.step([Array(repeating: 4, count: 9)], labels: []) }
        #expect(encoder.namedTensors.map { $0.1.array } == before && training.microStep == 0)
    }

    @Test func theScheduleWarmsUpThenDecaysLinearly() {
        let c = BertFineTuning(
            task: .token(labels: 2), optimizer: OptimizerConfig(.adamw, learningRate: 1), warmupSteps: 4, totalSteps: 12)
        #expect([0, 1, 2, 4, 8, 12, 13].map { c.learningRate(step: $0) } == [0, 0.25, 0.5, 1, 0.5, 0, 0])
    }

    @Test func biasesAndLayerNormWeightsAreExemptFromDecay() throws {
        let training = try BertTraining(
            encoder: try randomBert(seed: 1), config: BertFineTuning(task: .sequence(labels: 2, pooling: .pooler), totalSteps: 1),
            maxBatch: 2, maxLength: 8, blas: blas)
        for (p, decays) in zip(training.optimizer.parameters, training.optimizer.decays) {
            #expect(decays == !(p.name.hasSuffix("bias") || p.name.hasSuffix("LayerNorm.weight")), "\(p.name)")
        }
        #expect(training.optimizer.decays.contains(true) && training.optimizer.decays.contains(false))
    }
}

@Suite struct DropoutNoiseTests {
    /// The vector path (aligned blocks of 16) and the scalar one give every element the same factor, the
    /// rate holds, and two sites' masks are independent.
    @Test func blocksAndElementsAgreeAndMasksAreIndependent() {
        let a = DropoutNoise(key: DropoutNoise.key(seed: 3, step: 1, site: 1), rate: 0.1)
        let b = DropoutNoise(key: DropoutNoise.key(seed: 3, step: 1, site: 2), rate: 0.1)
        for base in [0, 5, 16, 1_000_003] {
            let x = Tensor(shape: [1000])
            x.fill(1)
            a.apply(x.data, count: 1000, base: base)
            #expect((0..<1000).allSatisfy { x.data[$0] == a.factor(base + $0) }, "base \(base)")
        }
        let n = 1 << 20
        var dropped = 0, both = 0
        for i in 0..<n {
            let da = a.factor(i) == 0, db = b.factor(i) == 0
            if da { dropped += 1 }
            if da && db { both += 1 }
        }
        let rate = Double(dropped) / Double(n), joint = Double(both) / Double(n)
        #expect(abs(rate - 0.1) < 0.002, "rate \(rate)")
        #expect(abs(joint - 0.01) < 0.001, "both dropped \(joint)")
        #expect(a.factor(7) == 0 || abs(a.factor(7) - 1 / 0.9) < 1e-6)
    }
}
