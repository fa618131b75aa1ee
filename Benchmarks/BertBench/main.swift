// BERT encoder inference on the compute core: all-MiniLM-L6-v2, sequences of exactly LENGTH tokens
// (real text, tokenized and cut), batch 1 and batch 32; median sentences/s over ROUNDS timed passes of
// ITEMS sentences each, after one warm-up pass. scripts/bench-bert runs it beside PyTorch and ONNX Runtime
// on the same ids (written to IDS_JSON by the peer script).
// Usage: kiln-bench-bert MODEL_FOLDER IDS_JSON THREADS [ROUNDS]
//        kiln-bench-bert --train MODEL_FOLDER IDS_JSON THREADS [ROUNDS] [lora]   (fine-tuning steps: batch 16
//        at lengths 128 and 64, a 2-label head on the pooler, AdamW, clipping, dropout; median samples/s,
//        the same step's GEMMs alone, heap allocations per step after warm-up, peak memory)
//        kiln-bench-bert --dump MODEL_FOLDER IDS_JSON OUT   (scripts/bert-compare: every sequence's last
//        hidden state at its own tokens, float32 little-endian, in order, for the peer to compare)
import AllocationCounter
import Foundation
import KilnCompute

if CommandLine.arguments.count == 5 && CommandLine.arguments[1] == "--dump" {
    let a = CommandLine.arguments
    let blas = try BLAS.get()
    let encoder = try BertEncoder.load(folder: a[2])
    let ids = try JSONDecoder().decode([[Int32]].self, from: Data(contentsOf: URL(fileURLWithPath: a[3])))
    let inference = try BertInference(encoder, maxBatch: 16, maxLength: 128, blas: blas)
    var out = Data()
    let h = encoder.config.hiddenSize
    var i = 0
    while i < ids.count {
        let batch = Array(ids[i..<min(ids.count, i + 16)])
        try inference.encode(batch)
        for (b, seq) in batch.enumerated() {
            out.append(UnsafeBufferPointer(start: inference.hidden.data + b * inference.paddedLength * h, count: seq.count * h))
        }
        i += 16
    }
    try out.write(to: URL(fileURLWithPath: a[4]))
    exit(0)
}

#if DEBUG
    FileHandle.standardError.write(Data("kiln-bench-bert: refusing to report from a debug build; use -c release\n".utf8))
    exit(1)
#endif

if CommandLine.arguments.count >= 5 && CommandLine.arguments[1] == "--train" {
    try trainingBenchmark(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}

let arguments = CommandLine.arguments
guard arguments.count >= 4, let threads = Int(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: kiln-bench-bert MODEL_FOLDER IDS_JSON THREADS [ROUNDS]\n".utf8))
    exit(2)
}
let rounds = arguments.count > 4 ? Int(arguments[4]) ?? 5 : 5
let blas = try BLAS.get()
blas.threads = threads
let encoder = try BertEncoder.load(folder: arguments[1])
let ids = try JSONDecoder().decode([[Int32]].self, from: Data(contentsOf: URL(fileURLWithPath: arguments[2])))
for batch in [1, 32] {
    let inference = try BertInference(encoder, maxBatch: batch, maxLength: ids[0].count, blas: blas)
    let items = batch == 1 ? 32 : 128
    // The batches made up front: what is counted and timed is the encoder's own work.
    let batches = stride(from: 0, to: items, by: batch).map {
        Array(ids[($0 % ids.count)..<min(ids.count, $0 % ids.count + batch)])
    }
    func pass() throws {
        for b in batches {
            try inference.encode(b)
            try inference.meanPool()
        }
    }
    try pass()
    kiln_allocations_start()
    try pass()
    let allocations = kiln_allocations_stop()
    var times: [Double] = []
    for _ in 0..<rounds {
        let start = DispatchTime.now().uptimeNanoseconds
        try pass()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    let median = times.sorted()[times.count / 2]
    print(
        "kiln  threads \(threads)  batch \(batch)  length \(ids[0].count)  \(String(format: "%.1f", Double(items) / median)) sentences/s"
            + "  (heap allocations in \(batches.count) calls after warm-up: \(allocations))")
}

/// Peak resident memory of this process so far (VmHWM), in bytes.
func peakResident() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kb * 1024
}

func trainingBenchmark(_ a: [String]) throws {
    guard a.count >= 3, let threads = Int(a[2]) else {
        FileHandle.standardError.write(Data("usage: kiln-bench-bert --train MODEL_FOLDER IDS_JSON THREADS [ROUNDS] [lora]\n".utf8))
        exit(2)
    }
    let rounds = a.count > 3 ? Int(a[3]) ?? 5 : 5
    let lora = a.count > 4 && a[4] == "lora"
    let blas = try BLAS.get()
    blas.threads = threads
    let all = try JSONDecoder().decode([[Int32]].self, from: Data(contentsOf: URL(fileURLWithPath: a[1])))
    let batch = 16
    for length in [128, 64] {
        // A fresh encoder per length: each run starts from the pretrained weights.
        let encoder = try BertEncoder.load(folder: a[0])
        let ids = all.map { Array($0.prefix(length - 1)) + [$0.last ?? 102] }
        let config = BertFineTuning(
            task: .sequence(labels: 2, pooling: .pooler), warmupSteps: 2, totalSteps: 1000, gradientClip: 1,
            lora: lora ? BertFineTuning.LoRA(rank: 8, alpha: 16, dropout: 0.1, targets: [.query, .value]) : nil,
            hiddenDropout: ProcessInfo.processInfo.environment["KILN_BENCH_NO_DROPOUT"] == nil ? nil : 0,
            attentionDropout: ProcessInfo.processInfo.environment["KILN_BENCH_NO_DROPOUT"] == nil ? nil : 0, seed: 1)
        let training = try BertTraining(encoder: encoder, config: config, maxBatch: batch, maxLength: length, blas: blas)
        let batches = (0..<8).map { i in Array(ids[(i * batch) % (ids.count - batch)..<((i * batch) % (ids.count - batch) + batch)]) }
        let labels = (0..<8).map { i in (0..<batch).map { Int32(($0 + i) % 2) } }
        var next = 0
        func step() throws {
            try training.step(batches[next % 8], labels: labels[next % 8])
            next += 1
        }
        for _ in 0..<2 { try step() }
        kiln_allocations_start()
        for _ in 0..<3 { try step() }
        let allocations = kiln_allocations_stop()
        let stepsPerRound = 4
        var times: [Double] = []
        for _ in 0..<rounds {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<stepsPerRound { try step() }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(stepsPerRound))
        }
        let median = times.sorted()[times.count / 2]
        let gemms = try gemmRoofline(encoder.config, batch: batch, length: length, lora: lora, blas: blas, rounds: rounds)
        let c = encoder.config
        let parameters = encoder.namedTensors.reduce(0) { $0 + $1.1.count }
        let trained = training.trainable.reduce(0) { $0 + $1.value.count }
        // What one batch keeps for backward: the states, per layer the projections, context, norms,
        // the feed-forward block and the attention probabilities.
        let rows = batch * length, h = c.hiddenSize
        let activations = rows * h * (c.layers + 1) + c.layers * (rows * h * 7 + rows * c.intermediateSize * 2 + batch * c.heads * length * length)
        let floor = 4 * (parameters + 3 * trained + activations)
        print(
            "kiln  train\(lora ? " lora" : "")  threads \(threads)  batch \(batch)  length \(length)  "
                + String(format: "%.2f samples/s  step %.1f ms  GEMMs alone %.1f ms (%.0f%%)", Double(batch) / median, median * 1e3, gemms * 1e3, 100 * gemms / median)
                + "  allocations/step \(allocations / 3)  peak \(peakResident() >> 20) MiB (weights+grads+Adam+activations \(floor >> 20) MiB)")
    }
}

/// The step's matrix products alone, on scratch buffers of the same shapes (its roofline).
func gemmRoofline(_ c: BertConfig, batch: Int, length: Int, lora: Bool, blas: BLAS, rounds: Int) throws -> Double {
    let rows = batch * length, h = c.hiddenSize, inner = c.intermediateSize, d = c.headSize
    let x = Tensor(shape: [rows, max(h, inner)]), y = Tensor(shape: [rows, max(h, inner)])
    let w = Tensor(shape: [inner, h]), g = Tensor(shape: [inner, h])
    let p = Tensor(shape: [length, length]), dp = Tensor(shape: [length, length])
    func linear(_ out: Int, _ input: Int, backward: Bool, weights: Bool) {
        blas.sgemm(.none, .transpose, m: rows, n: out, k: input, a: x.data, lda: input, b: w.data, ldb: input, c: y.data, ldc: out)
        guard backward else { return }
        if weights {
            blas.sgemm(.transpose, .none, m: out, n: input, k: rows, a: y.data, lda: out, b: x.data, ldb: input, c: g.data, ldc: input)
        }
        blas.sgemm(.none, .none, m: rows, n: input, k: out, a: y.data, lda: out, b: w.data, ldb: input, c: x.data, ldc: input)
    }
    func attention(backward: Bool) {
        for _ in 0..<(batch * c.heads) {
            blas.sgemm(.none, .transpose, m: length, n: length, k: d, a: x.data, lda: h, b: y.data, ldb: h, c: p.data, ldc: length)
            blas.sgemm(.none, .none, m: length, n: d, k: length, a: p.data, lda: length, b: y.data, ldb: h, c: x.data, ldc: h)
            guard backward else { continue }
            blas.sgemm(.none, .transpose, m: length, n: length, k: d, a: x.data, lda: h, b: y.data, ldb: h, c: dp.data, ldc: length)
            blas.sgemm(.transpose, .none, m: length, n: d, k: length, a: p.data, lda: length, b: x.data, ldb: h, c: y.data, ldc: h)
            blas.sgemm(.none, .none, m: length, n: d, k: length, a: dp.data, lda: length, b: y.data, ldb: h, c: x.data, ldc: h)
            blas.sgemm(.transpose, .none, m: length, n: d, k: length, a: dp.data, lda: length, b: x.data, ldb: h, c: y.data, ldc: h)
        }
    }
    func step() {
        for _ in 0..<c.layers {
            for _ in 0..<4 { linear(h, h, backward: true, weights: !lora) }
            linear(inner, h, backward: true, weights: !lora)
            linear(h, inner, backward: true, weights: !lora)
            attention(backward: true)
        }
    }
    step()
    var times: [Double] = []
    for _ in 0..<rounds {
        let start = DispatchTime.now().uptimeNanoseconds
        step()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return times.sorted()[times.count / 2]
}
