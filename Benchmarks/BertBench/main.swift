// BERT encoder inference on the compute core: all-MiniLM-L6-v2, sequences of exactly LENGTH tokens
// (real text, tokenized and cut), batch 1 and batch 32; median sentences/s over ROUNDS timed passes of
// ITEMS sentences each, after one warm-up pass. scripts/bench-bert runs it beside PyTorch and ONNX Runtime
// on the same ids (written to IDS_JSON by the peer script).
// Usage: kiln-bench-bert MODEL_FOLDER IDS_JSON THREADS [ROUNDS]
import Foundation
import KilnCompute

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
    func pass() throws {
        var i = 0
        while i < items {
            try inference.encode(Array(ids[(i % ids.count)..<min(ids.count, i % ids.count + batch)]))
            try inference.meanPool()
            i += batch
        }
    }
    try pass()
    var times: [Double] = []
    for _ in 0..<rounds {
        let start = DispatchTime.now().uptimeNanoseconds
        try pass()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    let median = times.sorted()[times.count / 2]
    print("kiln  threads \(threads)  batch \(batch)  length \(ids[0].count)  \(String(format: "%.1f", Double(items) / median)) sentences/s")
}
