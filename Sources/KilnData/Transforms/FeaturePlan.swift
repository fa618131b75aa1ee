/// How a schema and its transforms become model inputs, decided from the spec alone (no data): which
/// transform applies to which column, in order; each feature's encoding and width; the input columns
/// (`colour=red` for a one-hot column); and what is not allowed (a transform on a type it does not apply
/// to, a category left unencoded, ...). The compiler's shape inference and `Preprocessor.fit` both follow
/// it, so `kiln check`'s input width is the fitted model's, and a rule is written once.
public struct FeaturePlan: Sendable, Equatable {
    /// Transform `transform` (an index into the transforms) applies to `column`, in this order.
    public struct Application: Sendable, Equatable {
        public var transform: Int
        public var column: String
    }

    public struct Feature: Sendable, Equatable {
        public var column: String
        public var encoding: Preprocessor.Encoding
        /// The model input columns it fills.
        public var outputColumns: [String]
        public var width: Int { outputColumns.count }
    }

    /// Where a problem is written: a transform, and an item of its `columns` list (nil: `auto`).
    public struct Place: Sendable, Equatable {
        public var transform: Int
        public var item: Int?

        public init(transform: Int, item: Int?) {
            self.transform = transform
            self.item = item
        }
    }

    public enum Problem: Sendable, Equatable {
        /// A transform names a column the schema does not have.
        case unknownColumn(String, at: Place)
        /// A transform names the label.
        case transformsLabel(String, at: Place)
        /// A transform (other than drop) names a column that is not a feature (any more).
        case notAFeature(String, at: Place)
        /// `standardize`/`min_max` (numeric), or `one_hot`/`ordinal` (category), on another type.
        case wrongType(String, ColumnType, needs: Needs, at: Place)
        /// A category encoded by two transforms.
        case encodedTwice(String, at: Place)
        /// `impute` with strategy `constant` and no value.
        case imputeWithoutValue(at: Place)
        /// `impute` by `mean`/`median` of a column that is not numeric.
        case imputeStrategyType(String, ColumnType, TransformSpec.ImputeStrategy, at: Place)
        /// A category feature that no transform encodes.
        case unencoded(String)
        /// A string feature: no model reads it (a text feature is a transformer's input, `texts`).
        case unusable(String, ColumnType)
        /// No features are left.
        case noFeatures
    }

    public enum Needs: Sendable, Equatable {
        case numeric, category
    }

    public var applications: [Application] = []
    public var features: [Feature] = []
    /// Text features, in order: read by a transformer (tokenized), not by the numeric preprocessing.
    public var texts: [String] = []
    /// Token-sequence features (a token source's tokens column): a transformer's token classification.
    public var sequences: [String] = []
    public var problems: [Problem] = []
    /// The transforms (indices) that name a numeric label: its target transforms, in order.
    public var labelTransforms: [Int] = []

    /// The model's input columns, in order.
    public var outputColumns: [String] { features.flatMap(\.outputColumns) }
    /// The input width; nil when a feature cannot be read (unencoded or unusable).
    public var width: Int? {
        problems.contains { if case .unencoded = $0 { true } else if case .unusable = $0 { true } else { false } }
            ? nil : outputColumns.count
    }

    /// Whether a transform applies to a type: numeric scalings to float and int columns, encodings to
    /// categories; impute and drop to any.
    public static func applies(_ op: TransformSpec.Op, to type: ColumnType) -> Needs? {
        switch op {
        case .standardize, .minMax, .log: return type.isNumeric ? nil : .numeric
        case .oneHot, .ordinal: return type == .category ? nil : .category
        case .impute, .drop: return nil
        }
    }

    public init(schema: DataSchema, transforms: [TransformSpec]) {
        var current = schema.featureNames
        var encodings: [String: Preprocessor.Encoding] = [:]
        for (index, t) in transforms.enumerated() {
            var targets: [(column: String, place: Place)] = []
            if let list = t.columns {
                for (item, name) in list.enumerated() {
                    let place = Place(transform: index, item: item)
                    guard schema.column(name) != nil else {
                        problems.append(.unknownColumn(name, at: place))
                        continue
                    }
                    if name == schema.label {
                        // A numeric target may be scaled for training (and mapped back); nothing else.
                        if [.standardize, .minMax, .log].contains(t.op), schema.column(name)?.type.isNumeric == true {
                            labelTransforms.append(index)
                        } else {
                            problems.append(.transformsLabel(name, at: place))
                        }
                        continue
                    }
                    if t.op != .drop && !current.contains(name) {
                        problems.append(.notAFeature(name, at: place))
                        continue
                    }
                    targets.append((name, place))
                }
            } else {
                // auto: the numeric features (for impute: the nullable numeric ones).
                for name in current {
                    guard let c = schema.column(name), c.type.isNumeric, t.op != .impute || c.nullable else { continue }
                    targets.append((name, Place(transform: index, item: nil)))
                }
            }
            if t.op == .impute && t.strategy == .constant && t.value == nil && !targets.isEmpty {
                problems.append(.imputeWithoutValue(at: Place(transform: index, item: nil)))
            }
            for (name, place) in targets {
                guard let column = schema.column(name) else { continue }
                if let needs = Self.applies(t.op, to: column.type) {
                    problems.append(.wrongType(name, column.type, needs: needs, at: place))
                    continue
                }
                switch t.op {
                case .drop:
                    current.removeAll { $0 == name }
                case .oneHot, .ordinal:
                    if encodings[name] != nil {
                        problems.append(.encodedTwice(name, at: place))
                        continue
                    }
                    encodings[name] = t.op == .oneHot ? .oneHot : .ordinal
                case .impute:
                    if (t.strategy == .mean || t.strategy == .median) && !column.type.isNumeric {
                        problems.append(.imputeStrategyType(name, column.type, t.strategy, at: place))
                        continue
                    }
                case .standardize, .minMax, .log:
                    break
                }
                applications.append(Application(transform: index, column: name))
            }
        }
        for name in current {
            guard let column = schema.column(name) else { continue }
            switch column.type {
            case .float, .int, .bool:
                features.append(Feature(column: name, encoding: .number, outputColumns: [name]))
            case .category:
                guard let encoding = encodings[name] else {
                    problems.append(.unencoded(name))
                    continue
                }
                let width = encoding == .oneHot ? column.values.count : 1
                features.append(
                    Feature(
                        column: name, encoding: encoding,
                        outputColumns: encoding == .oneHot && width > 1 ? column.values.map { "\(name)=\($0)" } : [name]
                    ))
            case .text:
                texts.append(name)
            case .tokens:
                sequences.append(name)
            case .string, .tags:
                problems.append(.unusable(name, column.type))
            }
        }
        if current.isEmpty && schema.label != nil { problems.append(.noFeatures) }
    }
}
