import Foundation
public import KilnCompute

/// Batch predictions of a booster: class probabilities (classification), the positive class's
/// probability (binary), values (regression): the same columns as a network's `Predictor`. One per worker.
public final class BoosterPredictor {
    public let booster: Booster
    public let task: ModelConfig.Task
    public let classes: Int
    public let inputs: Int
    private var scratch: [Float] = []

    public init(_ booster: Booster, task: ModelConfig.Task, classes: Int) throws(BoosterError) {
        self.booster = booster
        self.task = task
        self.classes = classes
        inputs = try booster.featureCount
    }

    public var outputWidth: Int { task == .classification ? classes : 1 }

    /// `rows` rows of `inputs` features (NaN: missing) into `result` (rows × outputWidth).
    public func predict(_ features: UnsafeBufferPointer<Float>, rows: Int, into result: UnsafeMutableBufferPointer<Float>)
        throws(BoosterError)
    {
        guard features.count == rows * inputs else {
            throw BoosterError("\(features.count) values are not \(rows) rows of \(inputs) features")
        }
        guard result.count == rows * outputWidth else {
            throw BoosterError("room for \(result.count) values; \(rows) rows need \(rows * outputWidth)")
        }
        guard rows > 0 else { return }
        scratch.removeAll(keepingCapacity: true)
        try booster.predict(try DMatrix(features, rows: rows, columns: inputs), into: &scratch)
        guard scratch.count == result.count else {
            throw BoosterError("the booster gave \(scratch.count) values for \(rows) rows of \(outputWidth)")
        }
        _ = result.update(fromContentsOf: scratch)
    }

    /// Predictions of a [rows, inputs] tensor, row-major.
    public func predict(_ x: Tensor) throws(BoosterError) -> [Float] {
        var out = [Float](repeating: 0, count: x.rows * outputWidth)
        try out.withUnsafeMutableBufferPointer { (o: inout UnsafeMutableBufferPointer<Float>) throws(BoosterError) in
            try predict(UnsafeBufferPointer(start: x.data, count: x.count), rows: x.rows, into: o)
        }
        return out
    }
}

/// A booster's artifact: `card.json` (with its `booster` section), `booster.json` (XGBoost's own JSON,
/// which `xgboost.Booster(model_file=…)` reads) and `model.safetensors` holding the feature importance as
/// tensors (`importance.gain`, `importance.splits`, one value per input column), so that the registry
/// stores, diffs and signs it as it does a network's weights.
public enum BoosterModel {
    /// The largest booster.json kiln reads (a crafted one must not exhaust memory).
    public static let maxModelBytes = 1 << 30

    public static func save(_ booster: Booster, card: ModelCard, to directory: String) throws -> Void {
        guard let section = card.booster, card.model.architecture == .gradientBoosting else {
            throw BoosterError("the card does not describe a booster")
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try AtomicFile.write(try booster.json(), to: directory + "/" + BoosterCard.file)
        let importance = [
            ("importance.gain", try Tensor(shape: [section.gain.count], values: section.gain.map(Float.init))),
            ("importance.splits", try Tensor(shape: [section.splits.count], values: section.splits.map(Float.init))),
        ]
        let bytes = SafeTensors.encode(importance, metadata: ["format": "kiln-booster", "card": Artifact.cardFile])
        try SafeTensors.write(bytes, to: directory + "/" + Artifact.weightsFile)
        try Artifact.writeCard(card, to: directory)
    }

    /// The card and the model's bytes, checked against each other: a version can come from a registry
    /// kiln did not write, so booster.json is read as hostile (`BoosterFile.problem`) before XGBoost sees it.
    public static func read(_ directory: String) throws -> (card: ModelCard, model: [UInt8]) {
        let card = try Artifact.readCard(directory)
        guard card.model.architecture == .gradientBoosting, let section = card.booster else {
            throw BoosterError("\(directory)/\(Artifact.cardFile) does not describe a booster")
        }
        let path = directory + "/" + BoosterCard.file
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard attributes?[.type] as? FileAttributeType == .typeRegular else {
            throw BoosterError("\(path) is missing or not a regular file")
        }
        guard let size = attributes?[.size] as? Int, size <= maxModelBytes, let data = FileManager.default.contents(atPath: path)
        else { throw BoosterError("\(path) is larger than kiln reads (\(maxModelBytes >> 20) MiB)") }
        if let problem = BoosterFile.problem(data, card: card, rounds: section.rounds) {
            throw BoosterError("\(path) is damaged or crafted: \(problem)")
        }
        return (card, [UInt8](data))
    }

    /// A booster of the artifact, ready to predict with `threads` threads.
    public static func load(_ directory: String, threads: Int) throws -> (BoosterPredictor, ModelCard) {
        let (card, bytes) = try read(directory)
        let booster = try Booster(model: bytes, threads: threads)
        return (try BoosterPredictor(booster, task: card.model.task, classes: card.model.outputs), card)
    }
}
