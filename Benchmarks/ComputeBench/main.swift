// Training-step benchmark of the compute core: MLP 784-512-256-10, ReLU, softmax cross-entropy, Adam,
// batch 256, float32, 60,000 synthetic rows. Reports ms/step, samples/s, the ratio of the step to its
// GEMMs alone (same kernel, same threads, same process), heap allocations per step, peak memory, and
// inference latency.
// Usage: kiln-bench-compute [--steps N] [--threads 1,2] [--json]     (make bench-compute)
//   --json prints one line per thread count for scripts/bench-peers instead of the report.
import AllocationCounter
import Foundation
import KilnCompute

#if DEBUG
    FileHandle.standardError.write(
        Data("kiln-bench-compute: refusing to report from a debug build; use -c release\n".utf8))
    exit(1)
#endif

struct Options {
    var steps = 60, threadCounts = [1, 2], json = false

    static func parse() -> Options {
        var options = Options()
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = arguments.next() {
            switch argument {
            case "--steps": options.steps = arguments.next().flatMap { Int($0) } ?? options.steps
            case "--threads":
                options.threadCounts =
                    arguments.next()?.split(separator: ",").compactMap { Int($0) } ?? options.threadCounts
            case "--json": options.json = true
            default:
                FileHandle.standardError.write(
                    Data("usage: kiln-bench-compute [--steps N] [--threads 1,2] [--json]\n".utf8))
                exit(2)
            }
        }
        return options
    }
}
let options = Options.parse()
let steps = options.steps, threadCounts = options.threadCounts, json = options.json
/// The report, unless --json asked for machine-readable lines only.
func say(_ line: String) { if !json { print(line) } }
let blas = try BLAS.get()
let rows = 60_000, batch = 256, widths = [784, 512, 256, 10]

/// Resident memory now, in bytes (/proc/self/statm's second field, in pages).
func residentBytes() -> Double {
    let text = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
    let pages = text.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
    return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
}

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

var g = RandomGenerator(seed: 1)
let features = Tensor(shape: [rows, widths[0]])
for i in 0..<features.count { features.data[i] = g.nextNormal() }
let labels = Tensor(shape: [rows, 1])
for i in 0..<rows { labels.data[i] = Float(g.nextInt(below: 10)) }

let baseline = residentBytes()  // the data set, the runtime and OpenBLAS loaded
say(
    "kiln compute benchmark: MLP \(widths.map(String.init).joined(separator: "-")), relu, cross-entropy, adam, batch \(batch)"
)
say("blas: \(blas.coreName) (\(blas.coreChoice))")

for threads in threadCounts {
    blas.threads = threads
    let network = try Network(
        ModelConfig(task: .classification, architecture: .mlp, inputs: 784, outputs: 10, hidden: [512, 256]), blas: blas
    )
    let trainer = try Trainer(
        network: network,
        config: TrainingConfig(
            epochs: 1, batchSize: batch, optimizer: OptimizerConfig(.adam, learningRate: 0.001), loss: .crossEntropy,
            threads: threads), blas: blas)
    let x = Tensor(shape: [batch, 784]), y = Tensor(shape: [batch, 1])
    func load(_ b: Int) {
        let start = (b * batch) % (rows - batch)
        x.data.update(from: features.data + start * 784, count: batch * 784)
        y.data.update(from: labels.data + start, count: batch)
    }
    for b in 0..<10 {  // warm-up: buffers allocated, caches and threads settled
        load(b)
        try trainer.step(x, y, learningRate: 0.001)
    }
    var stepTimes = [Double](repeating: 0, count: steps)
    var stepAllocations = 0
    for b in 0..<steps {
        load(b)
        kiln_allocations_start()
        let t0 = now()
        try trainer.step(x, y, learningRate: 0.001)
        let t1 = now()
        stepAllocations += kiln_allocations_stop()
        stepTimes[b] = t1 - t0
    }
    let growth = residentBytes() - baseline  // before the GEMM-only buffers below

    // The same step's GEMMs alone: forward x·W (3), weight gradients hᵀ·dy (3), input gradients dy·Wᵀ (2).
    let a = [Tensor(shape: [batch, 784]), Tensor(shape: [batch, 512]), Tensor(shape: [batch, 256])]
    let w = [Tensor(shape: [784, 512]), Tensor(shape: [512, 256]), Tensor(shape: [256, 10])]
    let out = [Tensor(shape: [batch, 512]), Tensor(shape: [batch, 256]), Tensor(shape: [batch, 10])]
    let dw = w.map { Tensor(shape: $0.shape) }
    func gemms() throws {
        for l in 0..<3 { try Ops.matmul(a[l], w[l], into: out[l], blas: blas) }
        for l in (0..<3).reversed() {
            try Ops.matmul(a[l], out[l], into: dw[l], transposeA: true, blas: blas)
            if l > 0 { try Ops.matmul(out[l], w[l], into: a[l], transposeB: true, blas: blas) }
        }
    }
    for _ in 0..<10 { try gemms() }
    var gemmTimes: [Double] = []
    for _ in 0..<steps {
        let t0 = now()
        try gemms()
        gemmTimes.append(now() - t0)
    }
    let step = median(stepTimes), gemm = median(gemmTimes)
    if json {
        print(
            String(
                format:
                    #"{"peer": "kiln", "threads": %d, "ms_per_step": %.3f, "samples_per_s": %.0f, "gemm_ms": %.3f, "steps": %d}"#,
                threads, step * 1000, Double(batch) / step, gemm * 1000, steps))
        continue
    }
    print(
        String(
            format: "threads %d: step %.2f ms (median of %d), %.0f samples/s; GEMMs alone %.2f ms; step/GEMM = %.2f",
            threads, step * 1000, steps, Double(batch) / step, gemm * 1000, step / gemm))
    print("threads \(threads): heap allocations in \(steps) training steps after warm-up: \(stepAllocations)")
    if threads == threadCounts.first {
        // What training needs, against what the process grew by: weights, gradients and Adam's two moments
        // (4 floats per parameter), and one batch's activations and their gradients (the layers' buffers).
        let parameters = zip(widths, widths.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 + $1.1 }
        let activations = batch * (widths[0] + 2 * (2 * 512 + 2 * 256) + 10)
        let needed = Double((4 * parameters + activations) * 4)
        print(
            String(
                format:
                    "memory: training grew the process by %.1f MiB; weights, gradients, Adam state and one batch's activations are %.1f MiB; ratio %.2f",
                growth / 1_048_576, needed / 1_048_576, growth / needed))
    }

    // Inference through the Predictor (probabilities): one row, and batches of 64.
    let predictor = Predictor(network: network, maxBatch: 64)
    let one = Tensor(shape: [1, 784]), sixtyFour = Tensor(shape: [64, 784])
    one.data.update(from: features.data, count: 784)
    sixtyFour.data.update(from: features.data, count: 64 * 784)
    _ = try predictor.predict(one)
    _ = try predictor.predict(sixtyFour)
    var single = [Double](repeating: 0, count: 400), batched = [Double](repeating: 0, count: 200)
    kiln_allocations_start()
    for i in single.indices {
        let t0 = now()
        _ = try predictor.predict(one)
        single[i] = now() - t0
    }
    for i in batched.indices {
        let t0 = now()
        _ = try predictor.predict(sixtyFour)
        batched[i] = now() - t0
    }
    let inferenceAllocations = kiln_allocations_stop()
    print(
        String(
            format:
                "threads %d: inference 1 row %.1f µs; batch 64 %.1f µs (%.0f rows/s); heap allocations in %d calls: %ld",
            threads, median(single) * 1e6, median(batched) * 1e6, 64 / median(batched), single.count + batched.count,
            inferenceAllocations))
}
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue, &usage)
say(
    String(
        format: "peak RSS %.1f MiB (of which the synthetic data set %.1f MiB)", Double(usage.ru_maxrss) / 1024,
        Double(rows * 785 * 4) / 1_048_576))
