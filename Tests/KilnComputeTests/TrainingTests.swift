import Foundation
import Testing

@testable import KilnCompute

/// Three Gaussian blobs in 4 dimensions: separable, so a working trainer must reach high accuracy.
func blobs(_ n: Int, seed: UInt64) throws -> Examples {
    var g = RandomGenerator(seed: seed)
    let x = Tensor(shape: [n, 4]), y = Tensor(shape: [n, 1])
    for i in 0..<n {
        let c = i % 3
        y.data[i] = Float(c)
        for j in 0..<4 { x.data[i * 4 + j] = g.nextNormal() * 0.5 + (j == c ? 3 : 0) }
    }
    return try Examples(features: x, targets: y)
}

func mlp(seed: UInt64 = 1, dropout: Float = 0.1) throws -> Network {
    try Network(
        ModelConfig(
            task: .classification, architecture: .mlp, inputs: 4, outputs: 3, hidden: [16, 8], dropout: dropout,
            layerNorm: true, seed: seed), blas: blas)
}

func trainingConfig(epochs: Int = 10) -> TrainingConfig {
    TrainingConfig(
        epochs: epochs, batchSize: 16, optimizer: OptimizerConfig(.adamw, learningRate: 0.01, weightDecay: 0.01),
        schedule: LearningRateSchedule(.cosine, base: 0.01, warmupEpochs: 1), loss: .crossEntropy, labelSmoothing: 0.05,
        gradientClip: 5, metrics: [.accuracy, .f1Macro], checkpointEvery: 2, seed: 7, threads: 1)
}

func weights(_ n: Network) -> [[UInt32]] { n.parameters.map { $0.value.array.map(\.bitPattern) } }

@Suite struct Training {
    @Test func learnsSeparableClasses() throws {
        let network = try mlp()
        let trainer = try Trainer(network: network, config: trainingConfig(epochs: 20), blas: blas)
        let result = try trainer.fit(train: blobs(300, seed: 1), validation: blobs(90, seed: 2))
        #expect(result.history.count == 20)
        #expect((result.history.last?.validation["accuracy"] ?? 0) > 0.95)
        #expect(result.history.last!.trainLoss < result.history.first!.trainLoss)
    }

    @Test func theSameSeedGivesBitIdenticalWeights() throws {
        func run() throws -> [[UInt32]] {
            let n = try mlp()
            _ = try Trainer(network: n, config: trainingConfig(), blas: blas).fit(train: blobs(200, seed: 1))
            return weights(n)
        }
        #expect(try run() == run())
        #expect(try weights(mlp(seed: 1)) != weights(mlp(seed: 2)))
    }

    @Test func resumingFromACheckpointIsBitIdenticalToAnUninterruptedRun() throws {
        let dir = NSTemporaryDirectory() + "kiln-ckpt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = try blobs(200, seed: 1), validation = try blobs(60, seed: 2)

        let reference = try mlp()
        _ = try Trainer(network: reference, config: trainingConfig(), blas: blas).fit(
            train: train, validation: validation)

        // Killed after epoch 5: the last checkpoint is epoch 4.
        let path = dir + "/train.ckpt"
        let first = try mlp()
        let aborted = try Trainer(network: first, config: trainingConfig(), blas: blas).fit(
            train: train, validation: validation, checkpoint: path
        ) { $0.epoch == 5 ? .abort : .proceed }
        #expect(aborted.aborted)

        // A new process: fresh objects, resumed from the file.
        let second = try mlp()
        let resumed = try Trainer(network: second, config: trainingConfig(), blas: blas).fit(
            train: train, validation: validation, checkpoint: path)
        #expect(resumed.resumedFromEpoch == 4)
        #expect(resumed.history.count == 10)
        let same = weights(second) == weights(reference)
        #expect(same, "resumed weights differ from the uninterrupted run's")
    }

    @Test func aCheckpointOfAnotherConfigurationIsRefused() throws {
        let dir = NSTemporaryDirectory() + "kiln-ckpt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/train.ckpt"
        _ = try Trainer(network: mlp(), config: trainingConfig(epochs: 2), blas: blas).fit(
            train: blobs(50, seed: 1), checkpoint: path)
        var other = trainingConfig(epochs: 4)
        other.batchSize = 8
        #expect(throws: ComputeError.self) {
            try Trainer(network: mlp(), config: other, blas: blas).fit(train: blobs(50, seed: 1), checkpoint: path)
        }
    }

    @Test func earlyStoppingStopsWhenTheMonitorStalls() throws {
        var config = trainingConfig(epochs: 200)
        config.optimizer = OptimizerConfig(.sgd, learningRate: 0)  // nothing improves
        config.schedule = LearningRateSchedule(.constant, base: 0)
        config.earlyStopping = .init(monitor: "val_loss", patience: 3)
        let result = try Trainer(network: mlp(dropout: 0), config: config, blas: blas).fit(
            train: blobs(60, seed: 1), validation: blobs(30, seed: 2))
        #expect(result.stoppedEarly)
        #expect(result.history.count == 4)
    }
}

@Suite struct MetricValues {
    // Expected values computed with scikit-learn 1.9.1 on these inputs.
    @Test func classificationMetricsMatchScikitLearn() {
        let t = [0, 1, 2, 2, 1, 0, 1, 2, 0, 0], p = [0, 2, 2, 2, 1, 0, 0, 1, 0, 1]
        #expect(Metrics.accuracy(truth: t, predicted: p) == 0.6)
        let m = Metrics.macro(truth: t, predicted: p, classes: 3)
        #expect(abs(m.precision - 0.5833333333333334) < 1e-12)
        #expect(abs(m.recall - 0.5833333333333334) < 1e-12)
        #expect(abs(m.f1 - 0.5833333333333334) < 1e-12)
        #expect(Metrics.confusion(truth: t, predicted: p, classes: 3) == [[3, 1, 0], [1, 1, 1], [0, 1, 2]])
    }

    @Test func rocAUCMatchesScikitLearnWithTies() {
        #expect(
            Metrics.rocAUC(truth: [0, 0, 1, 1, 1, 0, 1, 0], scores: [0.1, 0.4, 0.35, 0.8, 0.7, 0.4, 0.9, 0.2]) == 0.875)
    }

    @Test func regressionMetricsMatchScikitLearn() {
        let a: [Float] = [3, -0.5, 2, 7], b: [Float] = [2.5, 0, 2, 8]
        #expect(abs(Metrics.rmse(truth: a, predicted: b) - 0.6123724356957945) < 1e-9)
        #expect(abs(Metrics.mae(truth: a, predicted: b) - 0.5) < 1e-12)
        #expect(abs(Metrics.r2(truth: a, predicted: b) - 0.9486081370449679) < 1e-9)
    }
}

@Suite struct SafeTensorsFormat {
    @Test func roundTripsTensorsAndMetadata() throws {
        let a = try Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), b = try Tensor(shape: [1], values: [-0.5])
        let bytes = SafeTensors.encode([("a", a), ("b", b)], metadata: ["format": "kiln"])
        #expect((Int(bytes[0]) | Int(bytes[1]) << 8 + 8) % 8 == 0)
        let (entries, metadata) = try SafeTensors.decode(bytes, path: "t")
        #expect(entries.map(\.name) == ["a", "b"])
        #expect(entries[0].shape == [2, 3] && entries[0].values == [1, 2, 3, 4, 5, 6])
        #expect(entries[1].values == [-0.5])
        #expect(metadata == ["format": "kiln"])
    }

    @Test func everyTruncationIsAnErrorNotACrash() throws {
        let bytes = SafeTensors.encode([("w", try Tensor(shape: [3, 2], values: [1, 2, 3, 4, 5, 6]))])
        for n in 0..<bytes.count {
            #expect(throws: ComputeError.self) { try SafeTensors.decode(Array(bytes.prefix(n)), path: "t") }
        }
    }

    @Test func corruptHeadersAreErrors() throws {
        func file(_ header: String, data: Int = 8) -> [UInt8] {
            var out: [UInt8] = []
            withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { out.append(contentsOf: $0) }
            return out + Array(header.utf8) + [UInt8](repeating: 0, count: data)
        }
        let cases = [
            #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#,  // past the data
            #"{"w":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}"#,  // dtype
            #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,  // shape vs offsets
            #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}"#,
            #"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}"#,  // overflow
            #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#,
            #"[1,2]"#, "not json",
        ]
        for c in cases { #expect(throws: ComputeError.self, "\(c)") { try SafeTensors.decode(file(c), path: "t") } }
        var huge: [UInt8] = []
        withUnsafeBytes(of: UInt64.max.littleEndian) { huge.append(contentsOf: $0) }
        #expect(throws: ComputeError.self) { try SafeTensors.decode(huge, path: "t") }
    }
}

@Suite struct Inference {
    @Test func probabilitiesAgreeWithTheTrainersPredictionsAndRepeatBitForBit() throws {
        let network = try mlp(dropout: 0.2)
        let trainer = try Trainer(network: network, config: trainingConfig(epochs: 5), blas: blas)
        let test = try blobs(90, seed: 3)
        _ = try trainer.fit(train: blobs(300, seed: 1))
        let expected = try trainer.predict(test).classes

        let predictor = Predictor(network: network, maxBatch: 32)
        let first = try predictor.predict(test.features).array  // 90 rows: the buffers grow once
        #expect(try predictor.predict(test.features).array.map(\.bitPattern) == first.map(\.bitPattern))
        for r in 0..<test.count {
            let row = first[(r * 3)..<(r * 3 + 3)]
            #expect(abs(row.reduce(0, +) - 1) < 1e-5)
            #expect(row.allSatisfy { $0 >= 0 && $0 <= 1 })
        }
        var classes: [Int] = []
        predictor.classes(of: try predictor.predict(test.features), into: &classes)
        #expect(classes == expected)

        // Caller-owned memory: one row at a time gives the batch's answer for that row.
        var out = [Float](repeating: 0, count: 3)
        for r in [0, 41, 89] {
            let row = Array(test.features.array[(r * 4)..<(r * 4 + 4)])
            try row.withUnsafeBufferPointer { x in
                try out.withUnsafeMutableBufferPointer { try predictor.predict(x, rows: 1, into: $0) }
            }
            for j in 0..<3 { #expect(abs(out[j] - first[r * 3 + j]) < 1e-6) }
        }
    }

    @Test func binaryAndRegressionOutputs() throws {
        let binary = try Network(
            ModelConfig(task: .binary, architecture: .linear, inputs: 2, outputs: 1, seed: 4), blas: blas)
        let x = try Tensor(shape: [2, 2], values: [1, -1, -3, 2])
        let logits = try binary.forward(x, training: false).array
        let p = try Predictor(network: binary).predict(x).array
        #expect(p.count == 2)
        for (z, q) in zip(logits, p) { #expect(abs(q - 1 / (1 + exp(-z))) < 1e-6) }

        let regression = try Network(
            ModelConfig(task: .regression, architecture: .linear, inputs: 2, outputs: 2, seed: 4), blas: blas)
        let values = try regression.forward(x, training: false).array
        #expect(try Predictor(network: regression).predict(x).array == values)
    }

    @Test func wrongShapesAreErrors() throws {
        let predictor = Predictor(network: try mlp())
        #expect(throws: ComputeError.self) { try predictor.predict(Tensor(shape: [2, 5])) }
        var out = [Float](repeating: 0, count: 3)
        #expect(throws: ComputeError.self) {
            try [Float](repeating: 0, count: 5).withUnsafeBufferPointer { x in
                try out.withUnsafeMutableBufferPointer { try predictor.predict(x, rows: 1, into: $0) }
            }
        }
        #expect(throws: ComputeError.self) {
            try [Float](repeating: 0, count: 4).withUnsafeBufferPointer { x in
                try out.withUnsafeMutableBufferPointer { try predictor.predict(x, rows: 2, into: $0) }
            }
        }
    }
}
