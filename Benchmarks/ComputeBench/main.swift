// Training-step benchmark of the compute core: MLP 784-512-256-10, ReLU, softmax cross-entropy, Adam,
// batch 256, float32, 60,000 synthetic rows. Reports ms/step, samples/s, the ratio of the step to its
// GEMMs alone (same kernel, same threads, same process), peak memory, and inference latency.
// Usage: kiln-bench-compute [STEPS]     (make bench-compute)
import AllocationCounter
import Foundation
import KilnCompute

#if DEBUG
    FileHandle.standardError.write(
        Data("kiln-bench-compute: refusing to report from a debug build; use -c release\n".utf8))
    exit(1)
#endif

let steps = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 60 : 60
let blas = try BLAS.get()
let rows = 60_000, batch = 256, widths = [784, 512, 256, 10]

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

var g = RandomGenerator(seed: 1)
let features = Tensor(shape: [rows, widths[0]])
for i in 0..<features.count { features.data[i] = g.nextNormal() }
let labels = Tensor(shape: [rows, 1])
for i in 0..<rows { labels.data[i] = Float(g.nextInt(below: 10)) }

print(
    "kiln compute benchmark: MLP \(widths.map(String.init).joined(separator: "-")), relu, cross-entropy, adam, batch \(batch)"
)
print("blas: \(blas.coreName) (\(blas.coreChoice))")

for threads in [1, 2] {
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
    print(
        String(
            format: "threads %d: step %.2f ms (median of %d), %.0f samples/s; GEMMs alone %.2f ms; step/GEMM = %.2f",
            threads, step * 1000, steps, Double(batch) / step, gemm * 1000, step / gemm))
    print("threads \(threads): heap allocations in \(steps) training steps after warm-up: \(stepAllocations)")

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
let parameters = 784 * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10
print(
    String(
        format: "peak RSS %.1f MiB (the data set is %.1f MiB; parameters+gradients+Adam state %.1f MiB)",
        Double(usage.ru_maxrss) / 1024, Double(rows * 785 * 4) / 1_048_576, Double(parameters * 4 * 4) / 1_048_576))
