// Trains an MLP through the compute core on the example data sets (iris, wine, breast-cancer) and
// reports test accuracy over several seeded stratified splits; scripts/bench-datasets runs scikit-learn's
// MLPClassifier on the very same splits (written by this program) and prints both.
// Usage: kiln-bench-datasets [--splits DIR] [--seeds N]
//
// The CSV reading and standardisation here are the benchmark's own few lines (numeric columns, the label
// last); the data layer replaces them in the product.
import Foundation
import KilnCompute

#if DEBUG
    FileHandle.standardError.write(Data("kiln-bench-datasets: use a release build (-c release)\n".utf8))
    exit(1)
#endif

struct Table {
    var features: [[Float]] = []
    var labels: [Int] = []
    var classes: [String] = []
}

func readCSV(_ path: String) throws -> Table {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    var table = Table()
    var index: [String: Int] = [:]
    for line in text.split(whereSeparator: \.isNewline).dropFirst() {
        let cells = line.split(separator: ",").map(String.init)
        guard let label = cells.last else { continue }
        let values = cells.dropLast().compactMap(Float.init)
        guard values.count == cells.count - 1 else {
            throw ComputeError.invalidArgument("\(path): a non-number in \(line)")
        }
        let code = index[label] ?? table.classes.count
        if code == table.classes.count {
            index[label] = code
            table.classes.append(label)
        }
        table.features.append(values)
        table.labels.append(code)
    }
    return table
}

/// Stratified split: each class's rows shuffled by the seed, the first 20 % of each class to test.
func split(_ labels: [Int], classes: Int, seed: UInt64) -> (train: [Int], test: [Int]) {
    var generator = RandomGenerator(seed: seed)
    var train: [Int] = [], test: [Int] = []
    for c in 0..<classes {
        var rows = labels.indices.filter { labels[$0] == c }
        generator.shuffle(&rows)
        let n = Int((Double(rows.count) * 0.2).rounded())
        test += rows.prefix(n)
        train += rows.dropFirst(n)
    }
    return (train.sorted(), test.sorted())
}

func examples(_ table: Table, rows: [Int], mean: [Float], std: [Float]) throws -> Examples {
    let width = mean.count
    let x = Tensor(shape: [rows.count, width]), y = Tensor(shape: [rows.count, 1])
    for (i, r) in rows.enumerated() {
        for j in 0..<width { x.data[i * width + j] = (table.features[r][j] - mean[j]) / std[j] }
        y.data[i] = Float(table.labels[r])
    }
    return try Examples(features: x, targets: y)
}

var splitsDirectory: String?
var seeds = 5
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--splits": splitsDirectory = arguments.next()
    case "--seeds": seeds = arguments.next().flatMap { Int($0) } ?? seeds
    default:
        FileHandle.standardError.write(Data("usage: kiln-bench-datasets [--splits DIR] [--seeds N]\n".utf8))
        exit(2)
    }
}

let blas = try BLAS.get()
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path
print("kiln: MLP 64-32 relu, adam 1e-3, batch 32, 200 epochs, standardised features; \(seeds) stratified 80/20 splits")
var splitRecords: [[String: Any]] = []
for name in ["iris", "wine", "breast-cancer"] {
    let table = try readCSV("\(root)/examples/\(name)/data/\(name).csv")
    let width = table.features[0].count
    var accuracies: [Double] = []
    for seed in 0..<UInt64(seeds) {
        let (trainRows, testRows) = split(table.labels, classes: table.classes.count, seed: seed)
        // Standardisation fitted on the train rows only.
        var mean = [Float](repeating: 0, count: width), std = [Float](repeating: 0, count: width)
        for r in trainRows { for j in 0..<width { mean[j] += table.features[r][j] / Float(trainRows.count) } }
        for r in trainRows {
            for j in 0..<width {
                let d = table.features[r][j] - mean[j]
                std[j] += d * d / Float(trainRows.count)
            }
        }
        std = std.map { $0 > 0 ? $0.squareRoot() : 1 }
        let train = try examples(table, rows: trainRows, mean: mean, std: std)
        let test = try examples(table, rows: testRows, mean: mean, std: std)
        let network = try Network(
            ModelConfig(
                task: .classification, architecture: .mlp, inputs: width, outputs: table.classes.count,
                hidden: [64, 32], seed: seed), blas: blas)
        let trainer = try Trainer(
            network: network,
            config: TrainingConfig(
                epochs: 200, batchSize: 32, optimizer: OptimizerConfig(.adam, learningRate: 0.001), loss: .crossEntropy,
                metrics: [.accuracy], seed: seed, threads: 1), blas: blas)
        _ = try trainer.fit(train: train)
        accuracies.append(try trainer.evaluate(test)["accuracy"] ?? 0)
        splitRecords.append(["dataset": name, "seed": seed, "train": trainRows, "test": testRows])
    }
    let mean = accuracies.reduce(0, +) / Double(accuracies.count)
    print(
        String(
            format: "%@: test accuracy %.2f %% (mean of %d splits: %@)", name, mean * 100, seeds,
            accuracies.map { String(format: "%.1f", $0 * 100) }.joined(separator: ", ")))
    print(String(format: "{\"framework\": \"kiln\", \"dataset\": \"%@\", \"accuracy\": %.6f}", name, mean))
}
if let splitsDirectory {
    let data = try JSONSerialization.data(withJSONObject: splitRecords, options: [.sortedKeys])
    try data.write(to: URL(fileURLWithPath: splitsDirectory + "/splits.json"))
}
