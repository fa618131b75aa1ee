internal import CXGBoost
import Foundation
import KilnCompute

/// A failed XGBoost call: the function and XGBoost's own message.
public struct BoosterError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) { self.description = description }
}

/// XGBoost's version, as the card records it ("xgboost 1.7.4").
public var xgboostLibrary: String {
    var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
    XGBoostVersion(&major, &minor, &patch)
    return "xgboost \(major).\(minor).\(patch)"
}

/// Every C call goes through here: 0 is success, anything else XGBoost's last error (thread-local).
@inline(__always)
func check(_ status: Int32, _ what: @autoclosure () -> String) throws(BoosterError) {
    guard status == 0 else {
        let message = XGBGetLastError().map { String(cString: $0) } ?? "no message"
        throw BoosterError("XGBoost could not \(what()): \(message.split(separator: "\n").first ?? "")")
    }
}

/// A dense matrix in XGBoost's form: rows × columns of features, NaN for a missing value.
final class DMatrix {
    let handle: DMatrixHandle
    let rows: Int

    init(_ values: UnsafeBufferPointer<Float>, rows: Int, columns: Int) throws(BoosterError) {
        guard rows >= 0, columns > 0, values.count == rows * columns, let base = values.baseAddress else {
            throw BoosterError("a matrix of \(values.count) values is not \(rows) rows of \(columns) features")
        }
        var h: DMatrixHandle?
        try check(XGDMatrixCreateFromMat(base, UInt64(rows), UInt64(columns), Float.nan, &h), "make a matrix")
        guard let h else { throw BoosterError("XGBoost made no matrix") }
        handle = h
        self.rows = rows
    }

    convenience init(_ examples: Examples) throws(BoosterError) {
        let x = examples.features
        try self.init(UnsafeBufferPointer(start: x.data, count: x.count), rows: x.rows, columns: max(x.cols, 1))
        let y = examples.targets
        try check(XGDMatrixSetFloatInfo(handle, "label", y.data, UInt64(y.count)), "set the labels")
    }

    /// A weight per row (XGBoost's instance weights).
    func setWeights(_ weights: [Float]) throws(BoosterError) {
        guard weights.count == rows else { throw BoosterError("\(weights.count) weights for \(rows) rows") }
        try check(XGDMatrixSetFloatInfo(handle, "weight", weights, UInt64(weights.count)), "set the row weights")
    }

    deinit { XGDMatrixFree(handle) }
}

/// An XGBoost booster. Not thread-safe: one per worker, or calls serialised.
public final class Booster {
    let handle: BoosterHandle

    init(caching matrices: [DMatrix] = []) throws(BoosterError) {
        var h: BoosterHandle?
        var handles: [DMatrixHandle?] = matrices.map(\.handle)
        let status = handles.withUnsafeMutableBufferPointer { XGBoosterCreate($0.baseAddress, UInt64($0.count), &h) }
        try check(status, "make a booster")
        guard let h else { throw BoosterError("XGBoost made no booster") }
        handle = h
    }

    private init(handle: BoosterHandle) { self.handle = handle }

    /// A booster read from XGBoost's JSON (or UBJSON) model bytes.
    public convenience init(model bytes: [UInt8], threads: Int) throws(BoosterError) {
        try self.init()
        let status = bytes.withUnsafeBytes { XGBoosterLoadModelFromBuffer(handle, $0.baseAddress, UInt64($0.count)) }
        try check(status, "read the model")
        try set("nthread", "\(max(1, threads))")
    }

    deinit { XGBoosterFree(handle) }

    func set(_ name: String, _ value: String) throws(BoosterError) {
        try check(XGBoosterSetParam(handle, name, value), "set \(name) to \(value)")
    }

    func update(round: Int, _ train: DMatrix) throws(BoosterError) {
        try check(XGBoosterUpdateOneIter(handle, Int32(round), train.handle), "train round \(round + 1)")
    }

    /// Rounds boosted so far.
    public var rounds: Int {
        get throws(BoosterError) {
            var n: Int32 = 0
            try check(XGBoosterBoostedRounds(handle, &n), "count the rounds")
            return Int(n)
        }
    }

    /// Features the model was trained on.
    public var featureCount: Int {
        get throws(BoosterError) {
            var n: UInt64 = 0
            try check(XGBoosterGetNumFeature(handle, &n), "count the features")
            return Int(n)
        }
    }

    /// The first `rounds` rounds as a booster of their own.
    func prefix(_ rounds: Int) throws(BoosterError) -> Booster {
        var out: BoosterHandle?
        try check(XGBoosterSlice(handle, 0, Int32(rounds), 1, &out), "keep the first \(rounds) rounds")
        guard let out else { throw BoosterError("XGBoost sliced no booster") }
        return Booster(handle: out)
    }

    /// Predictions of `matrix`'s rows (probabilities, or values), appended to `into`. XGBoost keeps the
    /// predictions of a matrix it has seen and adds only the new trees' (so one call per round is cheap).
    func predict(_ matrix: DMatrix, into out: inout [Float]) throws(BoosterError) {
        var shape: UnsafePointer<UInt64>?, dim: UInt64 = 0, result: UnsafePointer<Float>?
        let config = #"{"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false}"#
        try check(XGBoosterPredictFromDMatrix(handle, matrix.handle, config, &shape, &dim, &result), "predict")
        guard let shape, let result else { throw BoosterError("XGBoost predicted nothing") }
        var count = 1
        for d in 0..<Int(dim) { count *= Int(shape[d]) }
        out.append(contentsOf: UnsafeBufferPointer(start: result, count: count))
    }

    /// The model in XGBoost's JSON format (`xgboost.Booster(model_file=…)` reads it).
    public func json() throws(BoosterError) -> [UInt8] {
        var length: UInt64 = 0, bytes: UnsafePointer<CChar>?
        try check(XGBoosterSaveModelToBuffer(handle, #"{"format": "json"}"#, &length, &bytes), "write the model")
        guard let bytes else { throw BoosterError("XGBoost wrote no model") }
        return bytes.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
            Array(UnsafeBufferPointer(start: $0, count: Int(length)))
        }
    }

    /// Per feature (by index, `features` of them): the total gain of its splits and their number.
    public func importance(features: Int) throws(BoosterError) -> (gain: [Double], splits: [Int]) {
        var gain = [Double](repeating: 0, count: features), splits = [Int](repeating: 0, count: features)
        for kind in ["total_gain", "weight"] {
            var n: UInt64 = 0, names: UnsafeMutablePointer<UnsafePointer<CChar>?>?, dim: UInt64 = 0
            var shape: UnsafePointer<UInt64>?, scores: UnsafePointer<Float>?
            let config = #"{"importance_type": "\#(kind)", "feature_map": ""}"#
            try check(
                XGBoosterFeatureScore(handle, config, &n, &names, &dim, &shape, &scores), "score the features")
            guard let names, let scores, n > 0 else { continue }
            for i in 0..<Int(n) {
                // Without feature names XGBoost calls the k-th feature "fk".
                guard let name = names[i].map({ String(cString: $0) }), name.first == "f",
                    let k = Int(name.dropFirst()), k >= 0, k < features
                else { continue }
                if kind == "weight" { splits[k] = Int(scores[i]) } else { gain[k] = Double(scores[i]) }
            }
        }
        return (gain, splits)
    }
}
