import Foundation
import KilnCompiler
import KilnCompute
import KilnData
import KilnDiagnostics
import KilnSpec
import KilnText

/// A transformer training's tokenized splits (`tokens.bin` of a tokenize node): per split, each text's
/// token ids ([CLS] … [SEP], truncated to max_length), its class index and its table row. Little-endian
/// Int32 arrays behind a magic and a version; decoding checks every count and id range.
struct TokenizedSplits: Equatable {
    struct Split: Equatable {
        var offsets: [Int32] = [0]
        var ids: [Int32] = []
        var labels: [Int32] = []
        var rows: [Int32] = []
        /// Token classification: a label per id (−100: not scored), beside `ids`; the word each id's label
        /// belongs to (−1: none); and every word's tag, kept or cut (what the entity scores count).
        var tokenLabels: [Int32] = []
        var tokenWords: [Int32] = []
        var wordOffsets: [Int32] = [0]
        var wordTags: [Int32] = []
        func wordTags(_ i: Int) -> ArraySlice<Int32> { wordTags[Int(wordOffsets[i])..<Int(wordOffsets[i + 1])] }
        func tokenWords(_ i: Int) -> ArraySlice<Int32> { tokenWords[Int(offsets[i])..<Int(offsets[i + 1])] }

        var count: Int { labels.count }
        func sequence(_ i: Int) -> ArraySlice<Int32> { ids[Int(offsets[i])..<Int(offsets[i + 1])] }
        func tokenLabels(_ i: Int) -> ArraySlice<Int32> { tokenLabels[Int(offsets[i])..<Int(offsets[i + 1])] }
        var tokens: Int { ids.count }
    }

    static let magic = Array("KILNTOK2".utf8)
    var train = Split(), validation = Split(), test = Split()
    var truncated = 0
    var maxLength = 0
    var tagsTokens = false

    func encoded() -> Data {
        var out = Data(Self.magic)
        func put(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(Int32(maxLength))
        put(Int32(truncated))
        put(tagsTokens ? 1 : 0)
        for split in [train, validation, test] {
            put(Int32(split.count))
            put(Int32(split.ids.count))
            func write(_ arrays: [[Int32]]) {
                for array in arrays {
                    array.withUnsafeBufferPointer { b in
                        for v in b { put(v) }
                    }
                }
            }
            write([split.offsets, split.ids, split.labels, split.rows])
            if tagsTokens {
                put(Int32(split.wordTags.count))
                write([split.tokenLabels, split.tokenWords, split.wordOffsets, split.wordTags])
            }
        }
        return out
    }

    init() {}

    init(decoding data: Data, vocabulary: Int, classes: Int) throws(NodeFailure) {
        func bad(_ why: String) -> NodeFailure {
            NodeFailure(.run(.cache), "the tokenized data is damaged: \(why)", cause: .infrastructure)
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 16, Array(bytes[0..<8]) == Self.magic else { throw bad("not a kiln token file") }
        var at = 8
        func next() throws(NodeFailure) -> Int32 {
            guard at + 4 <= bytes.count else { throw bad("it ends early") }
            let v = Int32(bitPattern: UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24)
            at += 4
            return v
        }
        func array(_ n: Int) throws(NodeFailure) -> [Int32] {
            guard n >= 0, at + 4 * n <= bytes.count else { throw bad("an array runs past the end") }
            var out = [Int32](repeating: 0, count: n)
            for i in 0..<n { out[i] = try next() }
            return out
        }
        maxLength = Int(try next())
        truncated = Int(try next())
        let kind = try next()
        guard kind == 0 || kind == 1, maxLength >= 2, maxLength <= 4096 else { throw bad("its header is not kiln's") }
        tagsTokens = kind == 1
        var splits: [Split] = []
        for _ in 0..<3 {
            let rows = Int(try next()), tokens = Int(try next())
            var s = Split()
            s.offsets = try array(rows + 1)
            s.ids = try array(tokens)
            s.labels = try array(rows)
            s.rows = try array(rows)
            if tagsTokens {
                let words = Int(try next())
                s.tokenLabels = try array(tokens)
                s.tokenWords = try array(tokens)
                s.wordOffsets = try array(rows + 1)
                s.wordTags = try array(words)
                guard s.tokenLabels.allSatisfy({ $0 == -100 || ($0 >= 0 && Int($0) < classes) }),
                    s.wordTags.allSatisfy({ $0 >= 0 && Int($0) < classes }), s.wordOffsets.first == 0,
                    s.wordOffsets.last.map(Int.init) == words,
                    zip(s.wordOffsets, s.wordOffsets.dropFirst()).allSatisfy({ $1 >= $0 })
                else { throw bad("its token labels are out of range") }
                for r in 0..<rows {
                    let count = Int(s.wordOffsets[r + 1]) - Int(s.wordOffsets[r])
                    let lo = Int(s.offsets[r]), hi = Int(s.offsets[r + 1])
                    guard lo >= 0, lo <= hi, hi <= tokens,
                        s.tokenWords[lo..<hi].allSatisfy({ $0 >= -1 && Int($0) < count })
                    else { throw bad("its words are out of range") }
                }
            }
            var sequencesFit = s.offsets.first == 0 && s.offsets.last.map(Int.init) == tokens
            for i in 0..<rows where sequencesFit {
                let length: Int = Int(s.offsets[i + 1]) - Int(s.offsets[i])
                sequencesFit = length >= 2 && length <= maxLength
            }
            let idsFit = s.ids.allSatisfy { (id: Int32) -> Bool in id >= 0 && Int(id) < vocabulary }
            let labelsFit = s.labels.allSatisfy { (y: Int32) -> Bool in y >= 0 && Int(y) < classes }
            guard sequencesFit, idsFit, labelsFit else { throw bad("its sequences, ids or labels are out of range") }
            splits.append(s)
        }
        guard at == bytes.count else { throw bad("it has trailing bytes") }
        (train, validation, test) = (splits[0], splits[1], splits[2])
    }
}

/// tokenize: the text column of each split through the checkpoint's WordPiece tokenizer → `tokens.bin`
/// (sealed when the dataset is encrypted) and `lineage.json` (the data's lineage, for the fit).
struct TokenizeExecutor: KindExecutor {
    let environment: ExecutorEnvironment

    func run(_ p: TokenizePayload, _ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput {
        let e = environment
        let dataset = p.data.dataset
        let data = try e.checked(p.data, for: job)
        let indices = try e.split(p.data, for: job)
        let sealer = try e.sealer(p.data)
        // The files the graph hashed are the files read now.
        for file in job.files where (try? ContentHash.file(file.path).sha256) != file.sha256 {
            throw NodeFailure(
                .run(.pretrained), "'\(e.relative(file.path))' changed since the graph was built",
                help: "run again: the plan is made from the files as they are now", cause: .invalid, retriable: false)
        }
        let tokenizer: WordPieceTokenizer
        do { tokenizer = try WordPieceTokenizer(vocabularyFile: p.vocabularyFile, configFile: p.tokenizerConfigFile) } catch {
            throw NodeFailure(.run(.pretrained), "the tokenizer cannot be read: \(error.description)")
        }
        let table = data.table
        guard let text = table.column(p.textColumn), let labelName = dataset.schema.label,
            let label = table.column(labelName)
        else {
            throw NodeFailure(.run(.internal), "dataset '\(dataset.name)' was not read with '\(p.textColumn)' and its label")
        }
        var out = TokenizedSplits()
        out.maxLength = p.maxLength
        out.tagsTokens = p.tagsTokens
        let tagIndex = Dictionary(label.schema.values.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { a, _ in a })
        var problems: [(row: Int, why: String)] = []
        var problemCount = 0
        func tokenize(_ rows: [Int]) -> TokenizedSplits.Split {
            var s = TokenizedSplits.Split()
            s.ids.reserveCapacity(rows.count * 32)
            for r in rows where p.tagsTokens {
                // A sentence: its words through WordPiece, each word's tag on its first piece.
                let words = text.sequence(r), tags = label.sequence(r)
                let (encoding, truncated) = tokenizer.encode(words: words, truncatingTo: p.maxLength)
                if truncated { out.truncated += 1 }
                guard words.count == tags.count, encoding.ids.count > 2 else {
                    problemCount += 1
                    if problems.count < 5 { problems.append((r, "the sentence has no tokens the tokenizer keeps")) }
                    continue
                }
                var scored = [Int32](repeating: -100, count: encoding.ids.count)
                var owner = [Int32](repeating: -1, count: encoding.ids.count)
                for i in encoding.firstPieces {
                    let w = Int(encoding.words[i])
                    guard w < tags.count, let id = tagIndex[tags[w]] else { continue }
                    scored[i] = id
                    owner[i] = Int32(w)
                }
                s.ids += encoding.ids
                s.tokenLabels += scored
                s.tokenWords += owner
                s.wordTags += tags.map { tagIndex[$0] ?? 0 }
                s.wordOffsets.append(Int32(s.wordTags.count))
                s.offsets.append(Int32(s.ids.count))
                s.labels.append(0)
                s.rows.append(Int32(r))
            }
            for r in rows where !p.tagsTokens {
                guard let cell = text.text(r), !cell.unicodeScalars.allSatisfy({ $0.properties.isWhitespace }) else {
                    problemCount += 1
                    if problems.count < 5 { problems.append((r, "the text is empty")) }
                    continue
                }
                let (ids, truncated) = tokenizer.encode(cell, truncatingTo: p.maxLength)
                if truncated { out.truncated += 1 }
                if ids.dropFirst().dropLast().allSatisfy({ $0 == tokenizer.unk }) {
                    problemCount += 1
                    if problems.count < 5 {
                        problems.append((r, ids.count == 2 ? "the text has no tokens" : "every token of the text is unknown to the vocabulary ([UNK])"))
                    }
                    continue
                }
                guard let y = Self.classIndex(label, r) else {
                    problemCount += 1
                    if problems.count < 5 { problems.append((r, "the label is empty")) }
                    continue
                }
                s.ids += ids
                s.offsets.append(Int32(s.ids.count))
                s.labels.append(y)
                s.rows.append(Int32(r))
            }
            return s
        }
        out.train = tokenize(indices.train)
        out.validation = tokenize(indices.validation)
        out.test = tokenize(indices.test)
        if problemCount > 0 {
            let diagnostics = problems.map { problem in
                Diagnostic(
                    .run(.text), .error,
                    "\(table.origins.describe(problem.row)): \(problem.why) (column '\(p.textColumn)')",
                    at: nil,
                    help: "a transformer needs words to read: remove the row, or add a 'pattern' check on '\(p.textColumn)' so the contract catches it")
            }
            var all = diagnostics
            if problemCount > problems.count {
                all.append(
                    Diagnostic(.run(.text), .error, "… and \(problemCount - problems.count) more rows like these", at: nil))
            }
            throw NodeFailure(all)
        }
        guard out.train.count > 0 else {
            throw NodeFailure(.run(.data), "the train split of '\(dataset.name)' has no rows")
        }
        let store = DerivedDataStore(directory: context.outputs, encrypt: dataset.encrypt, sealer: sealer, atomic: false)
        var lineage = data.lineage(split: indices)
        for i in lineage.sources.indices { lineage.sources[i].path = e.relative(lineage.sources[i].path) }
        do {
            try store.write(out.encoded(), name: "tokens.bin")
        } catch { throw NodeFailure(error.diagnostics) }
        try write(ContentHash.canonicalJSON(lineage), context.outputs, "lineage.json")
        let total = out.train.tokens + out.validation.tokens + out.test.tokens
        let rows = out.train.count + out.validation.count + out.test.count
        var summary = "\(rows) \(p.tagsTokens ? "sentences" : "texts"), \(total) tokens (mean \(rows > 0 ? total / rows : 0))"
        if out.truncated > 0 { summary += ", \(out.truncated) truncated to \(p.maxLength)" }
        return NodeOutput(summary: summary)
    }

    /// The class index of a label cell (a category's code, a bool's 0/1); nil when empty.
    static func classIndex(_ column: Column, _ r: Int) -> Int32? {
        if column.nulls.isNull(r) { return nil }
        switch column.values {
        case .category(let v): return v[r] >= 0 ? v[r] : nil
        case .bool(let v): return v[r] ? 1 : 0
        case .float, .int, .string: return nil
        }
    }
}

/// fit (transformer): the pretrained encoder fine-tuned on the tokenized train split, with progress inside
/// each epoch, a checkpoint at the end of every epoch (a killed run resumes from the last), early stopping
/// on the validation split, then evaluation → `model/` (FineTunedBert's artifact), `metrics.json` (with
/// confusion matrices), `params.json`, `lineage.json`.
struct FineTuneExecutor: KindExecutor {
    let environment: ExecutorEnvironment

    /// What resuming needs besides the checkpoint's tensors.
    struct State: Codable {
        var key: String
        var epochsDone: Int
        var history: [TrainingMetrics.Epoch]
        var best: Double?
        var sinceBest: Int
        var stoppedEarly: Bool
    }

    func run(_ p: FineTunePayload, _ job: NodeJob, _ context: ExecutionContext) throws(NodeFailure) -> NodeOutput {
        let e = environment
        let started = Date()
        let tokenizeKey = try job.key(of: job.id.sibling(.tokenize))
        let store = DerivedDataStore(
            directory: e.cache.outputs(tokenizeKey), encrypt: p.data.dataset.encrypt, sealer: try e.sealer(p.data))
        let tokens: TokenizedSplits
        let dataLineage: Lineage
        do {
            _ = try e.cache.read(tokenizeKey, "tokens.bin")
            tokens = try TokenizedSplits(
                decoding: try store.read(name: "tokens.bin"), vocabulary: p.pretrained.config.vocabularySize,
                classes: p.classes.count)
            guard tokens.maxLength == p.maxLength, tokens.tagsTokens == (p.settings.task.isToken) else {
                throw NodeFailure(.run(.cache), "the tokenized data was made for another model", cause: .infrastructure)
            }
            dataLineage = try JSONDecoder().decode(Lineage.self, from: e.cache.read(tokenizeKey, "lineage.json"))
        } catch let failure as NodeFailure {
            throw failure
        } catch let error as DataError {
            throw NodeFailure(error.diagnostics)
        } catch {
            throw .infrastructure(.run(.cache), "the tokenized data cannot be read", error)
        }
        // The weights must be the ones the graph was built from (their hash is in this node's key).
        let weights: String
        do { weights = try FileHashCache.sha256(p.pretrained.weightsFile) } catch {
            throw NodeFailure(error.diagnostics)
        }
        guard weights == p.weightsSHA256 else {
            throw NodeFailure(
                .run(.pretrained),
                "the weights of pretrained '\(Escaped(p.pretrained.location.written))' changed since the graph was built",
                help: "run again: the plan is made from the files as they are now")
        }
        let blas: BLAS, encoder: BertEncoder
        do {
            blas = try BLAS.get()
            blas.threads = p.threads ?? e.computeThreads
            encoder = try BertEncoder.load(folder: p.pretrained.location.folder)
        } catch {
            throw NodeFailure(.run(.pretrained), "pretrained '\(Escaped(p.pretrained.location.written))': \(error)")
        }
        let settings = p.settings(trainRows: tokens.train.count)
        let micro = p.batchSize / settings.accumulation
        guard tokens.train.count >= settings.accumulation else {
            throw NodeFailure(
                .run(.data),
                "the train split has \(tokens.train.count) rows, fewer than the \(settings.accumulation) micro-batches of a step",
                help: "lower 'gradient_accumulation', or give the train split more rows")
        }
        let training: BertTraining
        do {
            training = try BertTraining(
                encoder: encoder, config: settings, maxBatch: micro, maxLength: p.maxLength, blas: blas)
        } catch { throw NodeFailure(.run(.training), "the fine-tuning cannot start: \(error)") }

        // Resume from the last epoch's checkpoint, when there is one of this node.
        let work = e.paths.work + "/" + job.key
        let checkpoint = work + "/checkpoint.safetensors", statePath = work + "/state.json"
        do { try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true) } catch {
            throw .infrastructure(.run(.io), "cannot create \(work)", error)
        }
        var state = State(key: job.key, epochsDone: 0, history: [], best: nil, sinceBest: 0, stoppedEarly: false)
        var resumedFrom: Int?
        if let data = FileManager.default.contents(atPath: statePath),
            let saved = try? JSONDecoder().decode(State.self, from: data), saved.key == job.key,
            saved.epochsDone >= 1, saved.epochsDone <= p.epochs
        {
            do {
                try training.restore(from: checkpoint)
                // The checkpoint and the state are two files: they must tell of the same epoch.
                guard training.optimizer.step == saved.epochsDone * p.stepsPerEpoch(trainRows: tokens.train.count) else {
                    throw ComputeError.invalidFile(path: checkpoint, reason: "the checkpoint and state.json disagree")
                }
                state = saved
                resumedFrom = saved.epochsDone
            } catch {
                // A checkpoint this training cannot use is set aside; training starts over.
                try? FileManager.default.removeItem(atPath: checkpoint + ".unusable")
                try? FileManager.default.moveItem(atPath: checkpoint, toPath: checkpoint + ".unusable")
            }
        }

        let deadline = p.timeout.map { Date().addingTimeInterval($0) } ?? context.deadline
        let n = tokens.train.count, perEpoch = p.stepsPerEpoch(trainRows: n)
        let reportEvery = max(1, perEpoch / 20)
        var samplesDone = 0
        let clock = Date()
        var epoch = state.epochsDone
        while epoch < p.epochs && !state.stoppedEarly {
            epoch += 1
            var order = Array(0..<n)
            var generator = RandomGenerator(seed: settings.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
            generator.shuffle(&order)
            var lossSum = 0.0, lossRows = 0
            let epochStart = Date()
            for step in 0..<perEpoch {
                let rows = order[(step * p.batchSize)..<min((step + 1) * p.batchSize, n)]
                let parts = settings.accumulation
                let size = rows.count / parts, extra = rows.count % parts
                var at = rows.startIndex
                for part in 0..<parts {
                    let count = size + (part < extra ? 1 : 0)
                    let chunk = rows[at..<(at + count)]
                    at += count
                    let batch = chunk.map { Array(tokens.train.sequence($0)) }
                    let labels =
                        tokens.tagsTokens
                        ? chunk.flatMap { tokens.train.tokenLabels($0) } : chunk.map { tokens.train.labels[$0] }
                    do {
                        let loss = try training.step(batch, labels: labels)
                        lossSum += loss * Double(chunk.count)
                        lossRows += chunk.count
                    } catch { throw .infrastructure(.run(.training), "the training failed", error, retriable: true) }
                }
                samplesDone += rows.count
                if context.cancellation.isCancelled {
                    throw .cancelled("cancelled in epoch \(epoch); the checkpoint of epoch \(state.epochsDone) is kept and the next run resumes from it")
                }
                if let deadline, Date() > deadline { throw timeout(p, epoch: state.epochsDone) }
                let done = step + 1
                if perEpoch >= 8, done % reportEvery == 0 || done % max(1, perEpoch / 4) == 0, done < perEpoch {
                    let rate = Double(samplesDone) / max(Date().timeIntervalSince(clock), 1e-9)
                    let left = Double((p.epochs - epoch) * n + (n - (step + 1) * p.batchSize))
                    context.report(
                        .epoch(
                            node: job.id.description,
                            progress: EpochProgress(
                                epoch: epoch, epochs: p.epochs, trainLoss: lossSum / Double(max(lossRows, 1)),
                                validation: [:], samplesPerSecond: rate,
                                learningRate: Double(settings.learningRate(step: training.optimizer.step)),
                                eta: max(0, left) / max(rate, 1e-9), resumedFrom: resumedFrom, step: step + 1,
                                steps: perEpoch)))
                }
            }
            var validation: [String: Double] = [:]
            if tokens.validation.count > 0 {
                do { validation = try evaluate(training, tokens.validation, p, micro: micro).values } catch {
                    throw .infrastructure(.run(.training), "evaluation failed", error)
                }
            }
            let trainLoss = lossSum / Double(max(lossRows, 1))
            state.history.append(
                .init(
                    epoch: epoch, trainLoss: trainLoss, validation: validation,
                    learningRate: Double(settings.learningRate(step: max(0, training.optimizer.step - 1)))))
            state.epochsDone = epoch
            if let early = p.earlyStopping, let value = validation[String(early.monitor.dropFirst(4))] {
                let name = String(early.monitor.dropFirst(4))
                let higher = Metric(rawValue: name)?.higherIsBetter ?? (name != "loss")
                let improved = state.best.map { higher ? value > $0 + early.minDelta : value < $0 - early.minDelta } ?? true
                if improved {
                    state.best = value
                    state.sinceBest = 0
                } else {
                    state.sinceBest += 1
                    if state.sinceBest >= early.patience { state.stoppedEarly = true }
                }
            }
            do {
                try training.save(to: checkpoint)
                try FileWriter.write(try JSONEncoder().encode(state), to: statePath)
            } catch { throw .infrastructure(.run(.io), "the checkpoint cannot be written", error) }
            let seconds = Date().timeIntervalSince(epochStart)
            context.report(
                .epoch(
                    node: job.id.description,
                    progress: EpochProgress(
                        epoch: epoch, epochs: p.epochs, trainLoss: trainLoss, validation: validation,
                        samplesPerSecond: Double(n) / max(seconds, 1e-9),
                        learningRate: state.history.last?.learningRate ?? 0,
                        eta: seconds * Double(p.epochs - epoch), resumedFrom: resumedFrom)))
        }

        // Evaluation: validation and test (a transformer's train split reports its last epoch's loss).
        var final: [String: [String: Double]] = [:]
        var confusion: [String: [[Int]]] = [:]
        var entities: [String: [String: [String: Double]]] = [:]
        if let last = state.history.last { final["train"] = ["loss": last.trainLoss] }
        do {
            for (name, split) in [("validation", tokens.validation), ("test", tokens.test)] where split.count > 0 {
                let result = try evaluate(training, split, p, micro: micro)
                final[name] = result.values
                confusion[name] = result.confusion
                if !result.perType.isEmpty { entities[name] = result.perType }
            }
        } catch { throw .infrastructure(.run(.training), "evaluation failed", error) }

        let headline = final["test"] ?? final["validation"] ?? final["train"] ?? [:]
        let tuning = settings
        var card = ModelCard(
            model: ModelConfig(task: .classification, architecture: .transformer, inputs: 1, outputs: p.classes.count),
            inputColumns: [p.textColumn], labels: p.classes, metrics: headline)
        let pooling: String
        if case .sequence(_, let pool) = tuning.task { pooling = pool.rawValue } else { pooling = "none" }
        card.transformer = TransformerCard(
            task: tokens.tagsTokens ? "token" : "sequence", pooling: pooling, maxLength: p.maxLength, method: tuning.lora == nil ? "full" : "lora",
            adapters: tuning.lora.map { .init(rank: $0.rank, alpha: $0.alpha, targets: $0.targets.map(\.rawValue)) },
            frozenLayers: tuning.frozenLayers,
            base: .init(
                name: p.pretrained.location.written, sha256: p.weightsSHA256,
                bytes: (try? FileManager.default.attributesOfItem(atPath: p.pretrained.weightsFile)[.size] as? Int) ?? 0),
            config: p.pretrained.config)
        do {
            try FineTunedBert.save(
                training, card: card, pretrainedFolder: p.pretrained.location.folder, to: context.outputs + "/model")
        } catch { throw .infrastructure(.run(.io), "the model cannot be saved", error) }
        let metrics = TrainingMetrics(
            final: final, history: state.history, epochsRun: state.epochsDone, stoppedEarly: state.stoppedEarly,
            confusion: confusion, labels: p.classes, entities: entities.isEmpty ? nil : entities)
        try writeTrainingRecords(metrics, lineage: dataLineage, job, context)

        var summary = "\(state.epochsDone) epochs"
        if state.stoppedEarly { summary += " (stopped early)" }
        if let resumedFrom { summary += ", resumed after epoch \(resumedFrom)" }
        let split = final["test"] != nil ? "test" : (final["validation"] != nil ? "validation" : "train")
        for metric in p.metrics.prefix(2) {
            if let v = final[split]?[metric] { summary += ", \(split) \(metric) \(String(format: "%.4f", v))" }
        }
        summary += ", \(Format.seconds(Date().timeIntervalSince(started)))"
        var flat: [String: Double] = [:]
        for (s, values) in final { for (m, v) in values { flat["\(s)_\(m)"] = v } }
        return NodeOutput(summary: summary, metrics: flat)
    }

    private func timeout(_ p: FineTunePayload, epoch: Int) -> NodeFailure {
        NodeFailure(
            [
                Diagnostic(
                    .run(.timeout), .error,
                    "the training ran past its timeout of \(Format.seconds(p.timeout ?? 0)) (after epoch \(epoch) of \(p.epochs)); its checkpoint is kept",
                    at: p.timeoutSpan, help: "raise 'timeout', or run again: the training resumes from its checkpoint")
            ], cause: .timeout, retriable: true)
    }

    /// Loss and metrics of a split with dropout off, its confusion matrix and (token classification) the
    /// entity scores per type.
    func evaluate(_ training: BertTraining, _ split: TokenizedSplits.Split, _ p: FineTunePayload, micro: Int)
        throws(ComputeError) -> (values: [String: Double], confusion: [[Int]], perType: [String: [String: Double]])
    {
        let classes = p.classes.count
        if !split.tokenLabels.isEmpty { return try evaluateTokens(training, split, p, micro: micro) }
        var truth: [Int] = [], predicted: [Int] = [], positive: [Float] = []
        var lossSum = 0.0
        var start = 0
        while start < split.count {
            let end = min(start + micro, split.count)
            let batch = (start..<end).map { Array(split.sequence($0)) }
            let labels = Array(split.labels[start..<end])
            lossSum += try training.evaluate(batch, labels: labels) * Double(end - start)
            let logits = training.logits
            for (b, y) in labels.enumerated() {
                let row = logits.data + b * classes
                var best = 0
                var top = row[0]
                for c in 1..<classes where row[c] > top {
                    top = row[c]
                    best = c
                }
                if classes == 2 {
                    // softmax probability of the second class
                    positive.append(1 / (1 + exp(row[0] - row[1])))
                }
                truth.append(Int(y))
                predicted.append(best)
            }
            start = end
        }
        var values = ["loss": lossSum / Double(max(split.count, 1))]
        let macro = Metrics.macro(truth: truth, predicted: predicted, classes: classes)
        for name in p.metrics {
            switch Metric(rawValue: name) {
            case .accuracy?: values[name] = Metrics.accuracy(truth: truth, predicted: predicted)
            case .precisionMacro?: values[name] = macro.precision
            case .recallMacro?: values[name] = macro.recall
            case .f1Macro?: values[name] = macro.f1
            case .rocAUC?: if classes == 2 { values[name] = Metrics.rocAUC(truth: truth, scores: positive) }
            case .rmse?, .mae?, .r2?, nil: break
            }
        }
        return (values, Metrics.confusion(truth: truth, predicted: predicted, classes: classes), [:])
    }

    /// Token classification: each word's tag is its first piece's argmax; entities are strict IOB2 spans
    /// (seqeval's `mode="strict"`), micro-averaged, and per type.
    func evaluateTokens(_ training: BertTraining, _ split: TokenizedSplits.Split, _ p: FineTunePayload, micro: Int)
        throws(ComputeError) -> (values: [String: Double], confusion: [[Int]], perType: [String: [String: Double]])
    {
        let classes = p.classes.count
        let outside = p.classes.firstIndex(of: "O") ?? 0
        var truth: [[Int]] = [], predicted: [[Int]] = []
        var lossSum = 0.0
        var start = 0
        while start < split.count {
            let end = min(start + micro, split.count)
            let batch = (start..<end).map { Array(split.sequence($0)) }
            let labels = (start..<end).flatMap { split.tokenLabels($0) }
            lossSum += try training.evaluate(batch, labels: labels) * Double(end - start)
            let logits = training.logits, padded = training.paddedLength
            for (b, s) in (start..<end).enumerated() {
                // Every word of the sentence counts: one cut off by max_length (or with no pieces) is O.
                let gold = split.wordTags(s).map(Int.init)
                var guess = [Int](repeating: outside, count: gold.count)
                for (t, w) in split.tokenWords(s).enumerated() where w >= 0 {
                    let row = logits.data + (b * padded + t) * classes
                    var best = 0
                    for c in 1..<classes where row[c] > row[best] { best = c }
                    guess[Int(w)] = best
                }
                truth.append(gold)
                predicted.append(guess)
            }
            start = end
        }
        let scheme = try EntityTags(p.classes)
        let (overall, perType) = try scheme.evaluate(truth: truth, predicted: predicted)
        let flatTruth = truth.flatMap { $0 }, flatGuess = predicted.flatMap { $0 }
        var values = ["loss": lossSum / Double(max(split.count, 1))]
        for name in p.metrics {
            switch name {
            case "entity_f1": values[name] = overall.f1
            case "entity_precision": values[name] = overall.precision
            case "entity_recall": values[name] = overall.recall
            case "token_accuracy": values[name] = Metrics.accuracy(truth: flatTruth, predicted: flatGuess)
            default: break
            }
        }
        var types: [String: [String: Double]] = [:]
        for (type, s) in perType {
            types[type] = ["precision": s.precision, "recall": s.recall, "f1": s.f1, "support": Double(s.support)]
        }
        return (values, Metrics.confusion(truth: flatTruth, predicted: flatGuess, classes: classes), types)
    }
}
