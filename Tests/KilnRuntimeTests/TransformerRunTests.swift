import Foundation
import KilnCompute
import KilnData
import KilnRegistry
import KilnRuntime
import KilnServe
import KilnSpec
import KilnTestSupport
import Testing

/// A transformer training end to end on the tiny BERT checkpoint (specs/valid/_data/tiny-bert): the
/// tokenize and fit nodes, the cache, the registered version, serving's predictions against the fit's
/// evaluation, kill-and-resume, LoRA's shared base chunks, and bad texts.
@Suite struct TransformerRunTests {
    static let dataset = """
        apiVersion: kiln/v1
        kind: Dataset
        metadata: {name: reviews}
        spec:
          source: {path: ../data/reviews.csv}
          schema:
            columns:
              review: {type: text}
              label: {type: category, values: [rotten, fresh]}
              movie: {type: string, ignore: true}
            label: label
          split: {strategy: stratified, train: 0.6, validation: 0.2, test: 0.2, seed: 1}
        """

    static func model(_ fineTuning: String = "") -> String {
        """
        apiVersion: kiln/v1
        kind: Model
        metadata: {name: critic}
        spec:
          task: classification
          architecture: {type: transformer, pretrained: ../models/tiny-bert, pooling: mean, max_length: 48}
        \(fineTuning)
        """
    }

    static func training(epochs: Int = 3, extra: String = "") -> String {
        """
        apiVersion: kiln/v1
        kind: Training
        metadata: {name: critic-train}
        spec:
          model: critic
          dataset: reviews
          epochs: \(epochs)
          batch_size: 8
          optimizer: {type: adamw, learning_rate: 3.0e-3, weight_decay: 0.01}
          schedule: {type: linear, warmup_ratio: 0.1}
          metrics: [accuracy, f1_macro]
          threads: 1
          gates:
            - {metric: accuracy, split: test, min: 0.0}
          register: {alias: staging}
        \(extra)
        """
    }

    static func workspace(model: String = model(), training: String = training()) throws -> TestWorkspace {
        try TestWorkspace(
            files: ["specs/data.yaml": dataset, "specs/model.yaml": model, "specs/train.yaml": training],
            copies: ["data/reviews.csv": "specs/valid/_data/reviews.csv", "models/tiny-bert": "specs/valid/_data/tiny-bert"])
    }

    @Test func aTransformerTrainsRegistersAndIsCached() async throws {
        let ws = try Self.workspace()
        let (first, events) = try await ws.run()
        #expect(first.outcome == .succeeded, "\(first.failures.flatMap(\.diagnostics).map(\.message))")
        #expect(first.ran.contains("training/critic-train:tokenize") && first.ran.contains("training/critic-train:fit"))
        let epochs = events.compactMap { if case .epoch(_, let p) = $0, p.step == nil { p.epoch } else { nil } }
        #expect(epochs == [1, 2, 3])
        let (second, _) = try await ws.run()
        #expect(second.nodes.allSatisfy { $0.status == "cached" })

        let registry = GitRegistry(path: ws.paths.registry)
        let reference = try #require(ModelReference("critic@staging"))
        let details = try registry.details(reference)
        let transformer = try #require(details.card.transformer)
        #expect(transformer.method == "full" && transformer.pooling == "mean" && transformer.maxLength == 48)
        #expect(details.card.inputColumns == ["review"] && details.card.labels == ["rotten", "fresh"])
        let out = try TemporaryDirectory()
        try registry.checkout(reference, to: out.path + "/v")
        for file in ["card.json", "model.safetensors", "transformer/config.json", "transformer/vocab.txt"] {
            #expect(FileManager.default.fileExists(atPath: out.path + "/v/" + file), "\(file)")
        }
        // The metrics hold a confusion matrix per evaluated split.
        let metrics = try #require(try registry.blob(reference, path: "metrics.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: metrics) as? [String: Any])
        let confusion = try #require(object["confusion"] as? [String: [[Int]]])
        #expect(confusion["test"]?.flatMap { $0 }.reduce(0, +) == 12)  // 20 % of 60 rows
    }

    /// What the server and `kiln predict` compute for the test rows is what the fit evaluated: the same
    /// accuracy, and the same loss to float tolerance.
    @Test func servedPredictionsAreTheFitsEvaluation() async throws {
        let ws = try Self.workspace()
        let (result, _) = try await ws.run()
        #expect(result.outcome == .succeeded)
        let registry = GitRegistry(path: ws.paths.registry)
        let reference = try #require(ModelReference("critic@v1"))
        let served = try ServedModel.load(reference, registry: registry)
        let text = try #require(served.text)

        let (compiled, _) = try ws.compile()
        let config = try DatasetConfig(try #require(compiled.checked.datasets["reviews"]))
        let data = try IngestedDataset.read(config)
        let split = try Splitter.split(data.table, config.split, label: "label")
        let reviews = try #require(data.table.column("review")), labels = try #require(data.table.column("label"))
        let texts = split.test.map { reviews.text($0) ?? "" }
        let truth = split.test.map { labels.text($0) == "fresh" ? 1 : 0 }
        let (ids, _) = try text.tokenize(texts, refuseLong: false)
        let engine = try served.makeEngine(maxBatch: 4)
        var probabilities = [Float](repeating: 0, count: ids.count * 2)
        try probabilities.withUnsafeMutableBufferPointer {
            try engine.predict([PreparedInput(rows: ids.count, tokens: ids)], into: $0, inputsPerRow: 1)
        }
        var correct = 0
        var loss = 0.0
        for (i, y) in truth.enumerated() {
            let p = probabilities[i * 2 + y]
            if p > probabilities[i * 2 + 1 - y] { correct += 1 }
            loss -= log(Double(p))
        }
        let metrics = try #require(try registry.resolve(reference)).metrics["test"] ?? [:]
        #expect(Double(correct) / Double(truth.count) == metrics["accuracy"])
        #expect(abs(loss / Double(truth.count) - (metrics["loss"] ?? 0)) < 1e-4)
    }

    /// Cancelled after its first epoch, the training resumes from that epoch's checkpoint and ends with
    /// the weights of an uninterrupted run, bit for bit.
    @Test func aCancelledTrainingResumesToTheSameWeights() async throws {
        let whole = try Self.workspace()
        #expect(try await whole.run().0.outcome == .succeeded)

        let interrupted = try Self.workspace()
        let (stopped, _) = try await interrupted.run(watch: { event, runner in
            if case .epoch(_, let p) = event, p.step == nil, p.epoch == 1 { runner.cancel() }
        })
        #expect(stopped.outcome == .cancelled)
        let (resumed, events) = try await interrupted.run()
        #expect(resumed.outcome == .succeeded)
        #expect(events.contains { if case .epoch(_, let p) = $0 { p.resumedFrom == 1 } else { false } })
        #expect(!events.contains { if case .epoch(_, let p) = $0 { p.epoch == 1 } else { false } })

        func weights(_ ws: TestWorkspace) throws -> Data {
            let out = try TemporaryDirectory()
            try GitRegistry(path: ws.paths.registry).checkout(try #require(ModelReference("critic@v1")), to: out.path + "/v")
            return try Data(contentsOf: URL(fileURLWithPath: out.path + "/v/model.safetensors"))
        }
        #expect(try weights(whole) == weights(interrupted))
    }

    /// Two LoRA versions share every chunk of the frozen base: the second adds its adapters and head only.
    @Test func loraVersionsShareTheBaseWeights() async throws {
        let ws = try Self.workspace(
            model: Self.model("  fine_tuning: {method: lora, rank: 2, alpha: 4, targets: [query, value]}"),
            training: Self.training(epochs: 1, extra: "  matrix: {optimizer.learning_rate: [1.0e-3, 3.0e-3]}"))
        let (result, _) = try await ws.run()
        #expect(result.outcome == .succeeded, "\(result.failures.flatMap(\.diagnostics).map(\.message))")
        let registry = GitRegistry(path: ws.paths.registry)
        let (v1, v2) = (try #require(ModelReference("critic@v1")), try #require(ModelReference("critic@v2")))
        #expect(try registry.details(v2).card.transformer?.adapters?.rank == 2)
        let diff = try registry.diff(v1, v2)
        let changed = diff.tensors.filter { !$0.identical }.map(\.name)
        #expect(!changed.isEmpty)
        #expect(changed.allSatisfy { $0.contains(".lora_") || $0.hasPrefix("classifier.") }, "\(changed)")
        let storage = try registry.weightStorage(v2)
        // Rank-2 adapters on 2 of 6 projections of 2 layers, and a 2 × 16 head: 1,056 bytes of new weights.
        #expect(storage.unshared == 2 * 2 * (2 * 16 + 16 * 2) * 4 + (2 * 16 + 2) * 4)
        #expect(storage.bytes > 20 * storage.unshared)

        // Served, the adapters are merged into the encoder: the same probabilities as training's.
        let served = try ServedModel.load(v2, registry: registry)
        #expect(served.text?.bert.transformer.method == "lora")
    }

    @Test func anEmptyTextFailsTheTokenizationAtItsLineAndNothingIsCached() async throws {
        let ws = try Self.workspace()
        var csv = try String(contentsOfFile: ws.path + "/data/reviews.csv", encoding: .utf8)
        csv += "\"   \",fresh,somewhere\n\"🙂🙂 😀\",rotten,elsewhere\n"
        try ws.write("data/reviews.csv", csv)
        let lines = csv.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        let (result, _) = try await ws.run()
        #expect(result.outcome == .failed)
        let diagnostics = try #require(result.failures.first?.diagnostics)
        #expect(diagnostics.allSatisfy { $0.id == "run.text" })
        let messages = diagnostics.map(\.message).joined(separator: "\n")
        #expect(messages.contains("reviews.csv:\(lines - 1): the text is empty"), "\(messages)")
        #expect(messages.contains("reviews.csv:\(lines): every token of the text is unknown"), "\(messages)")
        #expect(try ws.plan().toRun.map(\.node.id).contains("training/critic-train:tokenize"))
    }

    static let tweets = """
        apiVersion: kiln/v1
        kind: Dataset
        metadata: {name: tweets}
        spec:
          source: {path: ../data/tweets.conll, format: conll}
          schema:
            columns:
              tokens: {type: tokens}
              tags:
                type: tags
                values: [O, B-company, I-company, B-facility, I-facility, B-geo-loc, I-geo-loc, B-movie, I-movie,
                         B-musicartist, I-musicartist, B-other, I-other, B-person, I-person, B-product, I-product,
                         B-sportsteam, I-sportsteam, B-tvshow, I-tvshow]
            label: tags
          checks:
            - {check: bio, severity: SEVERITY}
          split: {strategy: random, train: 0.6, validation: 0.2, test: 0.2, seed: 2}
        ---
        apiVersion: kiln/v1
        kind: Model
        metadata: {name: tagger}
        spec:
          task: token_classification
          architecture: {type: transformer, pretrained: ../models/tiny-bert, max_length: 32}
        ---
        apiVersion: kiln/v1
        kind: Training
        metadata: {name: tagger-train}
        spec:
          model: tagger
          dataset: tweets
          epochs: 2
          batch_size: 8
          optimizer: {type: adamw, learning_rate: 3.0e-3}
          metrics: [entity_f1, entity_precision, entity_recall, token_accuracy]
          threads: 1
          gates:
            - {metric: token_accuracy, split: test, min: 0.0}
          register: {alias: staging}
        """

    static func tagging(_ data: String, severity: String = "error") throws -> TestWorkspace {
        try TestWorkspace(
            files: ["specs/ner.yaml": tweets.replacingOccurrences(of: "SEVERITY", with: severity)],
            copies: ["data/tweets.conll": data, "models/tiny-bert": "specs/valid/_data/tiny-bert"])
    }

    /// A CoNLL source through tokenize (tags on first pieces) and the token head: entity metrics by
    /// strict spans, per type in metrics.json, and a registered token-classification version.
    @Test func aTokenClassifierTrainsOnACoNLLSource() async throws {
        let ws = try Self.tagging("specs/valid/_data/tweets.conll")
        let (result, _) = try await ws.run()
        #expect(result.outcome == .succeeded, "\(result.failures.flatMap(\.diagnostics).map(\.message))")
        let registry = GitRegistry(path: ws.paths.registry)
        let reference = try #require(ModelReference("tagger@staging"))
        let version = try #require(try registry.resolve(reference))
        let test = try #require(version.metrics["test"])
        for metric in ["entity_f1", "entity_precision", "entity_recall", "token_accuracy"] {
            let value = try #require(test[metric], "\(metric)")
            #expect(value >= 0 && value <= 1)
        }
        #expect((test["token_accuracy"] ?? 0) > 0.5, "most tokens are O")
        let details = try registry.details(reference)
        #expect(details.card.transformer?.task == "token")
        #expect(details.card.labels.count == 21 && details.card.inputColumns == ["tokens"])
        let metrics = try #require(try registry.blob(reference, path: "metrics.json"))
        let object = try #require(try JSONSerialization.jsonObject(with: metrics) as? [String: Any])
        #expect((object["confusion"] as? [String: [[Int]]])?["test"]?.count == 21)
        #expect(object["entities"] is [String: Any])
        // Served: raw text split into words, a tag per word, entities with their offsets in the text.
        let served = try ServedModel.load(reference, registry: registry)
        let text = try #require(served.text)
        #expect(text.tagsTokens && text.column == "text")
        let sentence = "  Empire State Building  at  night "
        let input = try text.tokenizeWords([sentence], refuseLong: false)
        let engine = try served.makeEngine(maxBatch: 2)
        var scores = [Float](repeating: 0, count: engine.outputWidth)
        try scores.withUnsafeMutableBufferPointer { try engine.predict([input], into: $0, inputsPerRow: 1) }
        let (entities, tags) = scores.withUnsafeBufferPointer { text.entities($0, input) }
        #expect(tags.first?.count == 5)
        let scalars = Array(sentence.unicodeScalars)
        for e in entities.first ?? [] {
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: scalars[e.start..<e.end])
            #expect(String(piece) == e.text && e.score > 0 && e.score <= 1)
        }
    }

    @Test func anIInsideTagAfterOFailsTheBIOCheckAtItsLineOrWarns() async throws {
        let strict = try Self.tagging("specs/invalid/_data/tweets-bio.conll")
        let (failed, _) = try await strict.run()
        #expect(failed.outcome == .failed)
        let diagnostic = try #require(failed.failures.first?.diagnostics.first)
        #expect(diagnostic.id == "data.check.bio")
        let note = try #require(diagnostic.notes.first)
        #expect(note.message.contains("token 2, line 2: I-person after O"), "\(note.message)")
        #expect(note.span?.start.line == 1)

        let lenient = try Self.tagging("specs/invalid/_data/tweets-bio.conll", severity: "warn")
        let (passed, _) = try await lenient.run()
        #expect(passed.outcome == .succeeded, "\(passed.failures.flatMap(\.diagnostics).map(\.message))")
    }

}
