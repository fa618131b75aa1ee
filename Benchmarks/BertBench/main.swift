// BERT encoder inference on the compute core: all-MiniLM-L6-v2, sequences of exactly LENGTH tokens
// (real text, tokenized and cut), batch 1 and batch 32; median sentences/s over ROUNDS timed passes of
// ITEMS sentences each, after one warm-up pass. scripts/bench-bert runs it beside PyTorch and ONNX Runtime
// on the same ids (written to IDS_JSON by the peer script).
// Usage: kiln-bench-bert MODEL_FOLDER IDS_JSON THREADS [ROUNDS]
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
