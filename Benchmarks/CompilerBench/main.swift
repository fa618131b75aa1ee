// Benchmark of the compiler front half: generates a workspace of 1,000 resources (Datasets, Models,
// Trainings, one Training with a matrix of 100 cells) and times `kiln check` and `kiln graph` of the
// release binary beside this one: median wall time and peak resident memory over repeated runs.
// Usage: kiln-bench-compiler [RUNS]      (make bench)
import Foundation

#if DEBUG
    FileHandle.standardError.write(
        Data("kiln-bench-compiler: refusing to report from a debug build; use -c release\n".utf8))
    exit(1)
#endif

let runs = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 9 : 9
let kiln = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kiln")
    .path
guard FileManager.default.isExecutableFile(atPath: kiln) else {
    FileHandle.standardError.write(
        Data("kiln-bench-compiler: no release kiln at \(kiln); swift build -c release\n".utf8))
    exit(1)
}

// MARK: The workspace

// KILN_BENCH_DIR keeps the workspace there (for profiling); by default it is temporary.
let keep = ProcessInfo.processInfo.environment["KILN_BENCH_DIR"]
let root = keep ?? NSTemporaryDirectory() + "kiln-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: root + "/specs", withIntermediateDirectories: true)
try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
var csv = "f0,f1,f2,f3,f4,f5,colour,label\n"
for i in 0..<200 {
    csv +=
        "\(i),\(i % 7),\(i % 3).5,\(i % 11),\(i % 5),\(i % 13),\(["red", "green", "blue"][i % 3]),\(["a", "b", "c"][i % 3])\n"
}
try csv.write(toFile: root + "/data/table.csv", atomically: true, encoding: .utf8)

let groups = 333  // datasets, models and trainings: 999, plus the matrix training = 1,000 resources
for g in 0..<groups {
    let text = """
        apiVersion: kiln/v1
        kind: Dataset
        metadata: {name: data-\(g), labels: {group: "\(g % 10)"}}
        spec:
          source: {path: ../data/table.csv}
          schema:
            columns:
              f0: {type: float, min: 0}
              f1: {type: int}
              f2: {type: float}
              f3: {type: float}
              f4: {type: int}
              f5: {type: float, nullable: true}
              colour: {type: category, values: [red, green, blue]}
              label: {type: category, values: [a, b, c]}
            label: label
          checks:
            - {check: not_null, columns: [f0, label]}
            - {check: range, column: f0, min: 0, max: 1000}
            - {check: row_count, min: 100}
          transforms:
            - {op: impute, columns: [f5], strategy: median}
            - {op: standardize, columns: auto}
            - {op: one_hot, columns: [colour]}
          split: {strategy: stratified, train: 0.7, validation: 0.1, test: 0.2, seed: \(g)}
        ---
        apiVersion: kiln/v1
        kind: Model
        metadata: {name: model-\(g)}
        spec:
          task: classification
          architecture: {type: mlp, hidden: [64, 32], activation: relu, dropout: 0.1}
          init: {scheme: he, seed: \(g)}
        ---
        apiVersion: kiln/v1
        kind: Training
        metadata: {name: train-\(g)}
        spec:
          model: model-\(g)
          dataset: data-\(g)
          epochs: 50
          optimizer: {type: adamw, learning_rate: 0.001, weight_decay: 0.01}
          schedule: {type: cosine, warmup_epochs: 2}
          metrics: [accuracy, f1_macro]
          early_stopping: {monitor: val_loss, patience: 5}
          gates: [{metric: accuracy, split: test, min: 0.5}]
          register: {alias: staging}

        """
    try text.write(toFile: root + "/specs/group-\(g).yaml", atomically: true, encoding: .utf8)
}
try """
apiVersion: kiln/v1
kind: Training
metadata: {name: sweep}
spec:
  model: model-0
  dataset: data-0
  metrics: [accuracy]
  matrix:
    optimizer.learning_rate: [0.1, 0.05, 0.01, 0.005, 0.001, 0.0005, 0.0001, 0.00005, 0.00001, 0.000005]
    batch_size: [8, 16, 24, 32, 48, 64, 96, 128, 192, 256]

""".write(toFile: root + "/specs/sweep.yaml", atomically: true, encoding: .utf8)

// MARK: Timing

/// Runs kiln once; wall seconds and the child's peak resident set (MiB), from wait4's rusage.
func measure(_ arguments: [String]) -> (seconds: Double, peakMiB: Double, status: Int32) {
    var pid: pid_t = 0
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv = ([kiln] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    let start = DispatchTime.now().uptimeNanoseconds
    guard posix_spawn(&pid, kiln, &actions, nil, argv, environ) == 0 else { return (0, 0, -1) }
    var status: Int32 = 0
    var usage = rusage()
    wait4(pid, &status, 0, &usage)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    posix_spawn_file_actions_destroy(&actions)
    return (seconds, Double(usage.ru_maxrss) / 1024, (status >> 8) & 0xff)
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

print("workspace: \(root) — 1,000 resources (333 Datasets, 333 Models, 334 Trainings; one 10×10 matrix)")
print("runs: \(runs) each, release build, median wall time and peak RSS")
for (label, args) in [("kiln check", ["check", root]), ("kiln graph", ["graph", root, "--format", "json"])] {
    _ = measure(args)  // warm the page cache
    var times: [Double] = []
    var peaks: [Double] = []
    for _ in 0..<runs {
        let m = measure(args)
        guard m.status == 0 else {
            print("\(label): exit \(m.status)")
            exit(1)
        }
        times.append(m.seconds)
        peaks.append(m.peakMiB)
    }
    print(
        String(
            format: "%@: median %.3f s (min %.3f, max %.3f), peak RSS %.1f MiB (max of runs)", label, median(times),
            times.min() ?? 0, times.max() ?? 0, peaks.max() ?? 0))
}
if keep == nil { try? FileManager.default.removeItem(atPath: root) }
