import Foundation
public import KilnCompute
public import KilnDiagnostics

/// One transform of a dataset (`transforms:` in the spec).
public struct TransformSpec: Sendable, Codable, Hashable {
    public enum Op: String, Sendable, Codable, CaseIterable {
        case impute, standardize
        case minMax = "min_max"
        case log
        case oneHot = "one_hot"
        case ordinal, drop
    }

    public enum ImputeStrategy: String, Sendable, Codable, CaseIterable {
        case mean, median
        case mostFrequent = "most_frequent"
        case constant
    }

    public var op: Op
    /// nil: `auto` (numeric features; for impute, the nullable numeric ones).
    public var columns: [String]?
    public var strategy: ImputeStrategy
    /// The fill value of `strategy: constant`, as written.
    public var value: String?
    public var span: SourceSpan?

    public init(
        _ op: Op, columns: [String]? = nil, strategy: ImputeStrategy = .mean, value: String? = nil,
        span: SourceSpan? = nil
    ) {
        self.op = op
        self.columns = columns
        self.strategy = strategy
        self.value = value
        self.span = span
    }
}

/// The fitted preprocessing of a dataset: what turns raw columns into the model's input matrix and its
/// targets. Fitted on the train split only, applied unchanged to validation, test and inference data, and
/// stored in the model card (`card.json`'s `preprocessing`) as plain JSON, so that serving reproduces it.
///
/// A feature goes through its steps in the spec's order (impute, standardize, min_max), then its encoding:
/// a number, a one-hot block (an unknown category at inference is an all-zero block), or an ordinal index
/// (an unknown category is -1).
public struct Preprocessor: Sendable, Codable, Equatable {
    public static let currentVersion = 1

    public struct Step: Sendable, Codable, Equatable {
        /// `impute`, `standardize` or `min_max`.
        public var op: String
        /// impute: the fill value (a category's code for category columns).
        public var fill: Double?
        /// standardize and min_max: x ↦ (x - center) / scale.
        public var center: Double?
        public var scale: Double?
    }

    public enum Encoding: String, Sendable, Codable {
        case number
        case oneHot = "one_hot"
        case ordinal
    }

    public struct Feature: Sendable, Codable, Equatable {
        public var column: String
        public var steps: [Step]
        public var encoding: Encoding
        /// Output columns it fills.
        public var width: Int
    }

    public struct Label: Sendable, Codable, Equatable {
        public var column: String
        /// Class names in index order (category values, or false/true); empty for a numeric target.
        public var classes: [String]
        /// Category code → class index, when the classes are not in the category's order (a binary task's
        /// positive class written first in `values`). nil: the code is the index.
        public var codes: [Int]? = nil
        /// A numeric target's transforms (`standardize`, `min_max`, `log`), in order: the model trains on
        /// the transformed values, and its predictions are mapped back (`original(_:)`). nil: none.
        public var steps: [Step]? = nil

        /// A prediction on the training scale mapped back to the label's own (the steps undone, last first).
        public func original(_ value: Float) -> Float {
            guard let steps else { return value }
            var v = Double(value)
            for step in steps.reversed() {
                if step.op == "log" {
                    v = Foundation.expm1(v)
                } else if let center = step.center, let scale = step.scale {
                    v = v * scale + center
                }
            }
            return Float(v)
        }

        /// A label value on the training scale (nil: outside the steps' domain, a log of a value below 0).
        func transformed(_ value: Double) -> Double? {
            var v = value
            for step in steps ?? [] {
                if step.op == "log" {
                    guard v >= 0 else { return nil }
                    v = Foundation.log1p(v)
                } else if let center = step.center, let scale = step.scale {
                    v = (v - center) / scale
                }
            }
            return v
        }
    }

    public var version = currentVersion
    /// The raw columns read (features and label), with their types and category values.
    public var inputs: [ColumnSchema]
    public var features: [Feature]
    public var label: Label?
    /// The model's input columns, in order (`colour=red` for a one-hot column).
    public var outputColumns: [String]
    /// A missing value that nothing imputes becomes NaN (every column of its one-hot block) instead of an
    /// error: set for gradient-boosted trees, which learn a direction for it at each split. Absent in the
    /// card (nil) for networks, so their preprocessing reads as before.
    public var missingAsNaN: Bool?
    /// The training source's `null_values`: `kiln predict` reads a file's cells as the training read them.
    public var nullValues: [String]?

    public var width: Int { outputColumns.count }

    // MARK: Fitting

    /// Fits the transforms on `rows` (the train split) of the table.
    public static func fit(
        schema: DataSchema, transforms: [TransformSpec], table: Table, rows: [Int]
    ) throws(DataError) -> Preprocessor {
        // What applies to what, and each feature's encoding, come from the plan (as at `kiln check`); the
        // data gives the numbers: impute fills, centers and scales, on the train split.
        let plan = FeaturePlan(schema: schema, transforms: transforms)
        if let problem = plan.problems.first { throw Self.error(problem, transforms) }
        if let text = plan.texts.first { throw Self.error(.unusable(text, .text), transforms) }
        if let tokens = plan.sequences.first { throw Self.error(.unusable(tokens, .tokens), transforms) }
        var steps: [String: [Step]] = [:]
        // Each feature's train values as they stand after the steps so far (nil: empty cell).
        var values: [String: [Double?]] = [:]
        func trainValues(_ name: String) throws(DataError) -> [Double?] {
            if let v = values[name] { return v }
            guard let column = table.column(name) else {
                throw DataError(.data(.transformColumn), "the feature '\(name)' was not read", at: nil)
            }
            let v = rows.map { column.number($0) }
            values[name] = v
            return v
        }
        for application in plan.applications {
            let t = transforms[application.transform], name = application.column
            guard let column = schema.column(name) else { continue }
            switch t.op {
            case .drop, .oneHot, .ordinal:
                break  // the plan has them
            case .log:
                steps[name, default: []].append(Step(op: "log"))
                values[name] = try trainValues(name).map { $0.map { $0 >= 0 ? Foundation.log1p($0) : .nan } }
            case .impute:
                let v = try trainValues(name)
                let fill = try imputeValue(t, column: column, values: v)
                steps[name, default: []].append(Step(op: "impute", fill: fill))
                values[name] = v.map { $0 ?? fill }
            case .standardize, .minMax:
                let (center, scale) = Self.scaling(t.op, try trainValues(name).compactMap { $0 })
                steps[name, default: []].append(Step(op: t.op.rawValue, center: center, scale: scale))
                values[name] = try trainValues(name).map { $0.map { ($0 - center) / scale } }
            }
        }
        let features = plan.features.map {
            Feature(column: $0.column, steps: steps[$0.column] ?? [], encoding: $0.encoding, width: $0.width)
        }
        let output = plan.outputColumns
        let current = plan.features.map(\.column)
        var label: Label?
        if let name = schema.label, let column = schema.column(name) {
            label = Label(
                column: name,
                classes: column.type == .category ? column.values : column.type == .bool ? ["false", "true"] : [])
            // A numeric target's transforms, fitted on the train split's labels as they stand after each.
            if !plan.labelTransforms.isEmpty, let labels = table.column(name) {
                var v = rows.compactMap { labels.number($0) }
                var fitted: [Step] = []
                for index in plan.labelTransforms {
                    let op = transforms[index].op
                    if op == .log {
                        if let bad = rows.first(where: { (labels.number($0) ?? 0) < 0 }) {
                            let (file, line) = table.origins.origin(of: bad)
                            throw DataError(
                                .data(.transformType), "'log' on the label '\(name)': this row's value is below 0",
                                at: .data(file, line: line), help: "log(1 + y) needs values from 0 up; use 'standardize'")
                        }
                        fitted.append(Step(op: "log"))
                        v = v.map { Foundation.log1p($0) }
                        continue
                    }
                    let (center, scale) = Self.scaling(op, v)
                    fitted.append(Step(op: op.rawValue, center: center, scale: scale))
                    v = v.map { ($0 - center) / scale }
                }
                label?.steps = fitted
            }
        }
        let used = Set(current + (schema.label.map { [$0] } ?? []))
        return Preprocessor(
            inputs: schema.columns.filter { used.contains($0.name) }, features: features, label: label,
            outputColumns: output)
    }

    /// x ↦ (x − center) / scale of `standardize` (mean, standard deviation) or `min_max` (minimum,
    /// range) fitted on `values`; a constant column keeps its scale 1.
    static func scaling(_ op: TransformSpec.Op, _ values: [Double]) -> (center: Double, scale: Double) {
        guard !values.isEmpty else { return (0, 1) }
        if op == .standardize {
            let center = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - center) * ($1 - center) } / Double(values.count)
            return (center, variance > 0 ? variance.squareRoot() : 1)
        }
        let low = values.min() ?? 0, range = (values.max() ?? 0) - low
        return (low, range > 0 ? range : 1)
    }

    /// The data layer's error for a plan problem (the compiler reports the same at the spec's position; this
    /// is for data layer callers that skip `kiln check`).
    static func error(_ problem: FeaturePlan.Problem, _ transforms: [TransformSpec]) -> DataError {
        func at(_ place: FeaturePlan.Place) -> SourceSpan? { transforms[place.transform].span }
        func op(_ place: FeaturePlan.Place) -> String { transforms[place.transform].op.rawValue }
        switch problem {
        case .unknownColumn(let name, let place):
            return DataError(
                .data(.transformColumn), "'\(op(place))' names '\(name)', which is not a column", at: at(place))
        case .transformsLabel(let name, let place):
            return DataError(.data(.transformColumn), "'\(op(place))' names the label '\(name)'", at: at(place))
        case .notAFeature(let name, let place):
            return DataError(
                .data(.transformColumn), "'\(op(place))' names '\(name)', which is not a feature", at: at(place))
        case .wrongType(let name, let type, let needs, let place):
            return DataError(
                .data(.transformType),
                "'\(op(place))' needs a \(needs == .numeric ? "numeric" : "category") column; '\(name)' is \(type.rawValue)",
                at: at(place))
        case .encodedTwice(let name, let place):
            return DataError(.data(.transformType), "'\(name)' is encoded twice", at: at(place))
        case .imputeWithoutValue(let place):
            return DataError(.data(.impute), "'impute' with strategy 'constant' needs a 'value'", at: at(place))
        case .imputeStrategyType(let name, let type, let strategy, let place):
            return DataError(
                .data(.impute), "strategy '\(strategy.rawValue)' needs a numeric column; '\(name)' is \(type.rawValue)",
                at: at(place))
        case .unencoded(let name):
            return DataError(
                .data(.transformType), "category feature '\(name)' is not encoded", at: nil,
                help: "add {op: one_hot, columns: [\(name)]} (or ordinal), or drop it")
        case .unusable(let name, let type):
            return DataError(
                .data(.transformType), "\(type.rawValue) column '\(name)' cannot be a feature", at: nil,
                help: "mark it 'ignore: true', or drop it")
        case .noFeatures:
            return DataError(.data(.transformColumn), "no features are left after the transforms", at: nil)
        }
    }

    private static func imputeValue(_ t: TransformSpec, column: ColumnSchema, values: [Double?]) throws(DataError)
        -> Double
    {
        let present = values.compactMap { $0 }
        switch t.strategy {
        case .constant:
            guard let text = t.value else {
                throw DataError(.data(.impute), "'impute' with strategy 'constant' needs a 'value'", at: t.span)
            }
            switch column.type {
            case .category:
                guard let i = column.values.firstIndex(of: text) else {
                    throw DataError(
                        .data(.impute), "the fill value '\(text)' is not one of the values of '\(column.name)'",
                        at: t.span)
                }
                return Double(i)
            case .bool:
                guard let b = ["false": 0.0, "true": 1.0, "0": 0, "1": 1][text.lowercased()] else {
                    throw DataError(.data(.impute), "the fill value '\(text)' is not a boolean", at: t.span)
                }
                return b
            default:
                let bytes = Array(text.utf8)
                let parsed = bytes.withUnsafeBufferPointer { b -> Double? in
                    guard let base = b.baseAddress, case .success(let v) = NumberParsing.double(base, count: b.count)
                    else { return nil }
                    return v
                }
                guard let v = parsed else {
                    throw DataError(.data(.impute), "the fill value '\(text)' is not a number", at: t.span)
                }
                return v
            }
        case .mean, .median, .mostFrequent:
            guard !present.isEmpty else {
                throw DataError(
                    .data(.impute), "'\(column.name)' has no values in the train split to impute from", at: t.span,
                    help: "use strategy 'constant' with a 'value'")
            }
            switch t.strategy {
            case .mean:
                return present.reduce(0, +) / Double(present.count)
            case .median:
                let sorted = present.sorted()
                let m = sorted.count / 2
                return sorted.count % 2 == 1 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2
            default:
                // The most common value; ties go to the smallest.
                var counts: [Double: Int] = [:]
                for v in present { counts[v, default: 0] += 1 }
                return counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key ?? 0
            }
        }
    }

    // MARK: Applying

    /// The input matrix of `rows` (all rows when nil): row-major, `width` columns.
    public func features(_ table: Table, rows: [Int]? = nil) throws(DataError) -> [Float] {
        let rows = rows ?? Array(0..<table.rowCount)
        let nan = missingAsNaN == true
        var out = [Float](repeating: 0, count: rows.count * width)
        var offset = 0
        // Columns by name, once: a model of 784 pixel columns would otherwise search 784 × 784 names.
        var byName: [String: Int] = [:]
        for (i, c) in table.columns.enumerated() where byName[c.name] == nil { byName[c.name] = i }
        for feature in features {
            guard let index = byName[feature.column] else {
                throw DataError(
                    .data(.transformColumn), "the data has no column '\(feature.column)', which the model reads",
                    at: nil)
            }
            let column = table.columns[index]
            for (k, r) in rows.enumerated() {
                let raw = column.number(r)
                let outcome = Self.encode(feature, raw, into: &out, at: k * width + offset, nan: nan)
                guard outcome == .encoded else {
                    let (file, line) = table.origins.origin(of: r)
                    throw Self.failure(outcome, feature, raw, at: .data(file, line: line))
                }
            }
            offset += feature.width
        }
        return out
    }

    /// The input matrix of raw values given row by row in the order of `features` (`rows` × `features.count`;
    /// a category as its code, a boolean as 0/1, nil for a missing value): the same steps as
    /// `features(_:rows:)` without building a table (a server's request of one row).
    public func features(values: [Double?], rows: Int) throws(DataError) -> [Float] {
        let n = features.count
        guard values.count == rows * n else {
            throw DataError(.data(.examples), "\(values.count) values are not \(rows) rows of \(n) features", at: nil)
        }
        var out = [Float](repeating: 0, count: rows * width)
        let nan = missingAsNaN == true
        for r in 0..<rows {
            var offset = 0
            for (j, feature) in features.enumerated() {
                let raw = values[r * n + j]
                let outcome = Self.encode(feature, raw, into: &out, at: r * width + offset, nan: nan)
                guard outcome == .encoded else { throw Self.failure(outcome, feature, raw, at: nil) }
                offset += feature.width
            }
        }
        return out
    }

    enum Encoded { case encoded, missing, outOfRange }

    private static func failure(_ outcome: Encoded, _ feature: Feature, _ raw: Double?, at location: SourceSpan?)
        -> DataError
    {
        if outcome == .missing {
            return DataError(
                .data(.nullFeature), "feature '\(feature.column)' is empty here", at: location,
                help: "add a transform {op: impute, columns: [\(feature.column)]}")
        }
        return DataError(
            .data(.featureRange),
            "feature '\(feature.column)' is out of range here: \(raw.map { "\($0)" } ?? "null") does not give a finite 32-bit value after its transforms",
            at: location, help: "the model computes in 32-bit floats (at most about 3.4e38 in magnitude)")
    }

    /// One raw value through its feature's steps (impute, then center and scale) and encoding, written at
    /// `at`: `missing` when it is missing and nothing imputes it (NaN in each of its columns when `nan`),
    /// `outOfRange` when the result is not a finite 32-bit value (a model never sees infinity, nor NaN but
    /// a booster's missing value).
    @inline(__always)
    private static func encode(_ feature: Feature, _ raw: Double?, into out: inout [Float], at: Int, nan: Bool)
        -> Encoded
    {
        var v = raw
        for step in feature.steps {
            if step.op == "impute" {
                if v == nil { v = step.fill }
            } else if step.op == "log" {
                if let x = v { v = x >= 0 ? Foundation.log1p(x) : .nan }
            } else if let x = v, let center = step.center, let scale = step.scale {
                v = (x - center) / scale
            }
        }
        guard let x = v else {
            guard nan else { return .missing }
            for j in 0..<feature.width { out[at + j] = .nan }
            return .encoded
        }
        switch feature.encoding {
        case .number, .ordinal:
            let f = Float(x)
            guard f.isFinite else { return .outOfRange }
            out[at] = f
        case .oneHot:
            guard x.isFinite, abs(x) < 1e9 else { return .outOfRange }
            let code = Int(x)
            if code >= 0 && code < feature.width { out[at + code] = 1 }
        }
        return .encoded
    }

    /// The targets of `rows`: class indices for a category or bool label, values for a numeric one.
    public func targets(_ table: Table, rows: [Int]? = nil) throws(DataError) -> [Float] {
        guard let label else { throw DataError(.data(.noLabel), "the dataset has no label", at: nil) }
        guard let column = table.column(label.column) else {
            throw DataError(.data(.noLabel), "the data has no label column '\(label.column)'", at: nil)
        }
        let rows = rows ?? Array(0..<table.rowCount)
        var out = [Float](repeating: 0, count: rows.count)
        for (k, r) in rows.enumerated() {
            guard let v = column.number(r), v >= 0 || label.classes.isEmpty else {
                let (file, line) = table.origins.origin(of: r)
                throw DataError(
                    .data(.nullLabel), "the label '\(label.column)' is empty here", at: .data(file, line: line),
                    help: "every row used for training needs a label")
            }
            if let codes = label.codes, !label.classes.isEmpty {
                out[k] = Float(Int(v) < codes.count ? codes[Int(v)] : Int(v))
                continue
            }
            guard let t = label.transformed(v) else {
                let (file, line) = table.origins.origin(of: r)
                throw DataError(
                    .data(.transformType), "'log' on the label '\(label.column)': this row's value is below 0",
                    at: .data(file, line: line), help: "log(1 + y) needs values from 0 up; use 'standardize'")
            }
            out[k] = Float(t)
        }
        return out
    }

    /// A binary label's classes with `positive` second (index 1, the class whose probability is predicted).
    public mutating func makePositive(_ positive: String) {
        guard var l = label, l.classes.count == 2, l.classes[0] == positive else { return }
        l.classes = [l.classes[1], l.classes[0]]
        l.codes = [1, 0]
        label = l
    }

    /// Features and targets of `rows` as the compute core's examples.
    public func examples(_ table: Table, rows: [Int]) throws(DataError) -> Examples {
        let x = try features(table, rows: rows)
        let y = try targets(table, rows: rows)
        do {
            return try Examples(
                features: Tensor(shape: [rows.count, width], values: x),
                targets: Tensor(shape: [rows.count, 1], values: y))
        } catch {
            throw DataError(.data(.examples), "\(error)", at: nil)
        }
    }
}

extension Preprocessor {
    /// The value the model card stores as `preprocessing` (card.json).
    public var cardValue: JSONValue {
        (try? JSONDecoder().decode(JSONValue.self, from: ContentHash.canonicalJSON(self))) ?? .null
    }

    /// The preprocessing a model card holds; a card without one, or of another version, is an error.
    public init(cardValue: JSONValue) throws(DataError) {
        do {
            let data = ContentHash.canonicalJSON(cardValue)
            self = try JSONDecoder().decode(Preprocessor.self, from: data)
        } catch {
            throw DataError(
                .data(.cardPreprocessing), "the model card holds no preprocessing kiln can read: \(error)", at: nil)
        }
        guard version == Self.currentVersion else {
            throw DataError(
                .data(.cardPreprocessing),
                "the model card's preprocessing is version \(version); this kiln reads version \(Self.currentVersion)",
                at: nil, help: "use the kiln version that trained the model, or retrain")
        }
        if let problem {
            throw DataError(
                .data(.cardPreprocessing), "the model card's preprocessing is damaged or crafted: \(problem)", at: nil)
        }
    }

    /// What makes a preprocessing read from a card unusable, nil when nothing does: it comes from a
    /// registry kiln may not have written, and every size in it indexes a buffer.
    var problem: String? {
        var inputsByName: [String: ColumnSchema] = [:]
        for column in inputs {
            guard inputsByName.updateValue(column, forKey: column.name) == nil else {
                return "the input column '\(column.name)' is listed twice"
            }
        }
        var seen = Set<String>()
        var total = 0
        for feature in features {
            guard seen.insert(feature.column).inserted else { return "the feature '\(feature.column)' is listed twice" }
            guard let column = inputsByName[feature.column] else {
                return "the feature '\(feature.column)' is not one of its input columns"
            }
            let expected = feature.encoding == .oneHot ? column.values.count : 1
            guard feature.width == expected, expected >= 1 else {
                return "the feature '\(feature.column)' has width \(feature.width), not \(expected)"
            }
            for step in feature.steps {
                switch step.op {
                case "impute":
                    guard let fill = step.fill, fill.isFinite else { return "an impute step of '\(feature.column)' has no finite fill" }
                    // A category's fill is one of its codes.
                    if feature.encoding != .number, column.type == .category,
                        !(fill == fill.rounded() && fill >= 0 && fill < Double(column.values.count))
                    {
                        return "an impute step of '\(feature.column)' fills \(fill), which is not one of its \(column.values.count) values"
                    }
                case "standardize", "min_max":
                    guard let c = step.center, let k = step.scale, c.isFinite, k.isFinite, k != 0 else {
                        return "a \(step.op) step of '\(feature.column)' has no finite center and non-zero scale"
                    }
                case "log":
                    continue
                default:
                    return "'\(step.op)' is not a step kiln knows"
                }
            }
            total += feature.width
        }
        guard total == outputColumns.count else {
            return "its features fill \(total) columns, but it names \(outputColumns.count)"
        }
        if let label, let column = inputsByName[label.column], column.type == .category || column.type == .bool {
            // The classes are the column's values (false, true for a bool), in order or by `codes` (a
            // permutation of the indices: a binary task's positive class written first).
            let values = column.type == .bool ? ["false", "true"] : column.values
            let codes = label.codes ?? Array(values.indices)
            guard codes.count == values.count, Set(codes) == Set(values.indices), label.classes.count == values.count,
                values.indices.allSatisfy({ label.classes[codes[$0]] == values[$0] })
            else { return "the label's classes differ from the label column's values" }
        } else if let label, label.codes != nil {
            return "the label's class codes are for a category or bool label"
        }
        // A numeric target's steps: known ones, each mapping back to a finite value.
        for step in label?.steps ?? [] {
            switch step.op {
            case "log": continue
            case "standardize", "min_max":
                guard let c = step.center, let k = step.scale, c.isFinite, k.isFinite, k != 0 else {
                    return "a \(step.op) step of the label has no finite center and non-zero scale"
                }
            default:
                return "'\(step.op)' is not a label step kiln knows"
            }
        }
        if let label, label.steps != nil, !label.classes.isEmpty { return "a classifier's label has scaling steps" }
        return nil
    }
}
