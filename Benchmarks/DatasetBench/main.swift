// Trains an MLP through the compute core on the example data sets (iris, wine, breast-cancer) and
// reports test accuracy over several seeded stratified splits; scripts/bench-datasets runs scikit-learn's
// MLPClassifier on the very same splits (written by this program) and prints both.
// Usage: kiln-bench-datasets [--splits DIR] [--seeds N]
//
// The data goes through the data layer as `kiln run` will take it: the schema inferred from the file
// (`kiln data infer`), read by it, split stratified 80/20 by the seed, standardised with statistics of the
// train split only.
import Foundation
import KilnCompute
import KilnData

#if DEBUG
    FileHandle.standardError.write(Data("kiln-bench-datasets: use a release build (-c release)\n".utf8))
    exit(1)
#endif

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
    let source = SourceConfig(path: "\(root)/examples/\(name)/data/\(name).csv")
    let schema = try SchemaInference().infer(source).schema
    let classes = schema.column(schema.label ?? "")?.values.count ?? 0
    var accuracies: [Double] = []
    for seed in 0..<UInt64(seeds) {
        let config = DatasetConfig(
            name: name, source: source, schema: schema, transforms: [TransformSpec(.standardize)],
            split: SplitSpec(.stratified, train: 0.8, validation: 0, test: 0.2, seed: seed))
        let prepared = try IngestedDataset.load(config).prepare()
        let (trainRows, testRows) = (prepared.split.train, prepared.split.test)
        let table = prepared.ingested.table
        let train = try prepared.preprocessor.examples(table, rows: trainRows)
        let test = try prepared.preprocessor.examples(table, rows: testRows)
        let width = prepared.preprocessor.width
        let network = try Network(
            ModelConfig(
                task: .classification, architecture: .mlp, inputs: width, outputs: classes,
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
