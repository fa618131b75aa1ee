import Foundation
public import KilnProtocol
public import KilnCompute
import KilnBoost
public import KilnData
public import KilnRegistry
public import KilnSpec
import KilnDiagnostics

/// A registered version loaded for inference: its card, the preprocessing fitted at training, and the
/// weights. Immutable and shared; each `Batcher` makes its own `Predictor` (networks hold buffers).
public final class ServedModel: Sendable {
    public let model: String
    public let version: Int
    public let card: ModelCard
    /// A feed-forward model's fitted preprocessing; nil for a transformer (which tokenizes: `text`).
    public let preprocessor: Preprocessor?
    /// A transformer's encoder, head and tokenizer; nil for feed-forward models.
    public let text: TextModel?
    /// The artifact's weights, kept to make a network per worker.
    private let weights: [SafeTensors.Entry]
    /// A booster's booster.json (checked), kept to make a booster per worker; nil for networks.
    let boosterModel: [UInt8]?

    public var reference: String { "\(model)@v\(version)" }

    /// Loads `reference` from the registry (checkout into a scratch directory, verified, then removed).
    public static func load(_ reference: ModelReference, registry: GitRegistry) throws -> ServedModel {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("kiln-serve-\(getpid())-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let version: RegisteredVersion
        do {
            version = try registry.checkout(reference, to: scratch)
        } catch {
            throw ServeError("cannot load \(reference): \(error)")
        }
        return try load(artifact: scratch, model: reference.model, version: version.version)
    }

    /// Loads an artifact directory (`model.safetensors` and `card.json`).
    public static func load(artifact directory: String, model: String, version: Int) throws -> ServedModel {
        let blas: BLAS
        do { blas = try BLAS.get() } catch { throw ServeError("the compute core cannot start: \(error)") }
        let card: ModelCard
        let weights: [SafeTensors.Entry]
        // Which loader: a transformer's, a booster's or a network's (each checks the card again, whole).
        let kind = try? Artifact.readCard(directory)
        if let card = kind, card.transformer != nil {
            do {
                let text = try TextModel(directory: directory, blas: blas)
                return ServedModel(model: model, version: version, card: card, text: text)
            } catch {
                throw ServeError("\(model)@v\(version): \(error)")
            }
        }
        var boosterModel: [UInt8]?
        do {
            if kind?.booster != nil {
                // The card and booster.json, checked tree by tree, and read by XGBoost once here.
                let booster = try BoosterModel.read(directory)
                _ = try Booster(model: booster.model, threads: 1)
                (card, weights, boosterModel) = (booster.card, [], booster.model)
            } else {
                // Artifact.load checks the card against the weights; the entries are kept for the workers.
                card = try Artifact.load(directory, blas: blas).1
                weights = try SafeTensors.read(directory + "/" + Artifact.weightsFile).tensors
            }
        } catch {
            throw ServeError("\(model)@v\(version): \(error)")
        }
        let preprocessor: Preprocessor
        do { preprocessor = try Preprocessor(cardValue: card.preprocessing) } catch {
            throw ServeError("\(model)@v\(version): \(error.diagnostics.map(\.message).joined(separator: "; "))")
        }
        guard preprocessor.width == card.model.inputs else {
            throw ServeError(
                "\(model)@v\(version): the card's preprocessing gives \(preprocessor.width) inputs, the model takes \(card.model.inputs)"
            )
        }
        return ServedModel(
            model: model, version: version, card: card, preprocessor: preprocessor, weights: weights,
            boosterModel: boosterModel)
    }

    private init(
        model: String, version: Int, card: ModelCard, preprocessor: Preprocessor, weights: [SafeTensors.Entry],
        boosterModel: [UInt8]?
    ) {
        self.model = model
        self.version = version
        self.card = card
        self.preprocessor = preprocessor
        self.weights = weights
        self.boosterModel = boosterModel
        text = nil
        let inputs = Dictionary(preprocessor.inputs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        featureColumns = preprocessor.features.compactMap { inputs[$0.column] }
    }

    private init(model: String, version: Int, card: ModelCard, text: TextModel) {
        self.model = model
        self.version = version
        self.card = card
        preprocessor = nil
        weights = []
        boosterModel = nil
        self.text = text
        featureColumns = [ColumnSchema(text.column, .text)]
    }

    /// A predictor of its own (a network with its own buffers) for one worker.
    public func makePredictor(maxBatch: Int) throws -> Predictor {
        let blas = try BLAS.get()
        guard text == nil, boosterModel == nil else { throw ServeError("\(reference) is not a network: use makeEngine") }
        let network = try Network(card.model, blas: blas)
        try network.load(weights, path: reference)
        return Predictor(network: network, maxBatch: max(1, maxBatch))
    }

    // MARK: The protocol's view

    /// The raw columns a client sends (features, in the card's order).
    public let featureColumns: [ColumnSchema]

    static func datatype(of column: ColumnSchema) -> InferenceProtocol.Datatype {
        switch column.type {
        case .float: .fp64
        case .int: .int64
        case .bool: .bool
        case .category, .string: .bytes
        default: .bytes
        }
    }

    public var outputMetadata: [InferenceProtocol.TensorMetadata] {
        let k = Predictor.outputWidth(card.model)
        if let text, text.tagsTokens {
            return [
                .init(name: "entities", datatype: "BYTES", shape: [-1]),
                .init(name: "tags", datatype: "BYTES", shape: [-1]),
                .init(name: "truncated", datatype: "BOOL", shape: [-1]),
            ]
        }
        if text != nil {
            return [
                .init(name: "label", datatype: "BYTES", shape: [-1]),
                .init(name: "probabilities", datatype: "FP32", shape: [-1, k]),
                .init(name: "truncated", datatype: "BOOL", shape: [-1]),
            ]
        }
        switch card.model.task {
        case .classification:
            return [
                .init(name: "label", datatype: "BYTES", shape: [-1]),
                .init(name: "probabilities", datatype: "FP32", shape: [-1, k]),
            ]
        case .binary:
            return [
                .init(name: "label", datatype: "BYTES", shape: [-1]),
                .init(name: "probability", datatype: "FP32", shape: [-1]),
            ]
        case .regression:
            return [.init(name: "prediction", datatype: "FP32", shape: k == 1 ? [-1] : [-1, k])]
        }
    }

    /// Model metadata: one input per raw feature column (named inputs), and the outputs.
    public func metadata(name: String, versions: [String]) -> InferenceProtocol.ModelMetadata {
        if let text {
            return InferenceProtocol.ModelMetadata(
                name: name, versions: versions, platform: "kiln",
                inputs: [.init(name: text.column, datatype: "BYTES", shape: [-1])], outputs: outputMetadata,
                parameters: [
                    "model": reference, "task": card.model.task.rawValue, "labels": card.labels.joined(separator: ","),
                    "architecture": "transformer", "base": text.bert.transformer.base.name,
                    "max_length": "\(text.maxLength)",
                    "text_input": "one BYTES tensor [N] named '\(text.column)': a text per row",
                ])
        }
        return InferenceProtocol.ModelMetadata(
            name: name, versions: versions, platform: "kiln",
            inputs: featureColumns.map { .init(name: $0.name, datatype: Self.datatype(of: $0).rawValue, shape: [-1]) },
            outputs: outputMetadata,
            parameters: [
                "model": reference, "task": card.model.task.rawValue,
                "labels": card.labels.joined(separator: ","),
                "features": "\(featureColumns.count)",
                "single_tensor_input": "one FP32 tensor [N, \(featureColumns.count)] of the features in this order",
            ])
    }

    // MARK: Requests to features

    /// The feature matrix (rows × `card.model.inputs`, row-major) of a request, preprocessed by the card's
    /// fitted transforms. Two forms: one numeric tensor [N, F] of the F raw features in the card's order,
    /// or one input per feature column named like it ([N] or [N, 1]).
    public func features(_ request: InferenceProtocol.InferenceRequest, unknownCategories: UnknownCategories = .warn)
        throws(InferenceProtocol.Failure) -> (rows: Int, values: [Float], unknown: [String: Int])
    {
        let columns = featureColumns
        guard let preprocessor else { throw .badRequest("\(reference) reads text: send its column as BYTES") }
        do {
            // One input not named like a column: the single-tensor form, straight through the steps.
            if request.inputs.count == 1, !columns.contains(where: { $0.name == request.inputs[0].name }) {
                let (rows, values) = try singleTensor(request.inputs[0], columns)
                if let k = values.indices.first(where: { values[$0] == nil && !columns[$0 % max(columns.count, 1)].nullable }) {
                    throw InferenceProtocol.Failure.badRequest(
                        "input '\(request.inputs[0].name)': row \(k / columns.count), column '\(columns[k % columns.count].name)' is null, and the column is not nullable")
                }
                return (rows, try preprocessor.features(values: values, rows: rows), [:])
            }
            let table = try namedInputsTable(request.inputs, columns, unknownCategories)
            return (table.rowCount, try preprocessor.features(table), Self.unknownCategories(table))
        } catch let error as DataError {
            let message = error.diagnostics.map(\.message).joined(separator: "; ")
            throw .badRequest(message.replacingOccurrences(of: " is empty here", with: " has a null value"))
        } catch let failure as InferenceProtocol.Failure {
            throw failure
        } catch {
            throw .badRequest("\(error)")
        }
    }

    /// The raw values of a single [N, F] tensor (or [F] for one row), row by row in the features' order.
    private func singleTensor(_ input: InferenceProtocol.InputTensor, _ columns: [ColumnSchema])
        throws(InferenceProtocol.Failure) -> (rows: Int, values: [Double?])
    {
        let f = columns.count
        let rows: Int
        switch input.shape.count {
        case 1 where input.shape[0] == f: rows = 1
        case 2 where input.shape[1] == f: rows = input.shape[0]
        default:
            let names = columns.prefix(6).map(\.name).joined(separator: ", ") + (f > 6 ? ", …" : "")
            throw .badRequest(
                "input '\(input.name)' has shape \(input.shape); the model takes [N, \(f)]: \(f) feature\(f == 1 ? "" : "s") (\(names)), or one input per feature named like its column"
            )
        }
        guard case .numbers(let values) = input.data else {
            throw .badRequest(
                "input '\(input.name)' is \(input.datatype.rawValue); a single tensor of features is numeric (FP32)")
        }
        if let category = columns.first(where: { !$0.type.isNumeric && $0.type != .bool }) {
            throw .badRequest(
                "the model reads the \(category.type.rawValue) column '\(category.name)': send one input per feature, named like its column"
            )
        }
        for (j, c) in columns.enumerated() {
            for r in 0..<rows {
                guard let x = values[r * f + j] else { continue }
                if c.type == .bool && x != 0 && x != 1 {
                    throw .badRequest("feature '\(c.name)' is a bool column: its values are 0 or 1, not \(x)")
                }
                if c.type == .int && x.rounded() != x {
                    throw .badRequest("feature '\(c.name)' is an int column: row \(r) has \(x), not a whole number")
                }
                try Self.checkRange(x, c, input.name, r * f + j)
            }
        }
        return (rows, values)
    }

    /// Cells of each category column outside its values (code -1, not null), by column.
    public static func unknownCategories(_ table: Table) -> [String: Int] {
        var out: [String: Int] = [:]
        for c in table.columns {
            guard case .category(let codes) = c.values else { continue }
            var n = 0
            for (r, code) in codes.enumerated() where code < 0 && !c.nulls.isNull(r) { n += 1 }
            if n > 0 { out[c.name] = n }
        }
        return out
    }

    private func namedInputsTable(
        _ inputs: [InferenceProtocol.InputTensor], _ columns: [ColumnSchema], _ unknown: UnknownCategories
    )
        throws(InferenceProtocol.Failure) -> Table
    {
        let byName = Dictionary(inputs.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let known = Set(columns.map(\.name))
        for input in inputs where !known.contains(input.name) {
            let hint = DidYouMean.suggestion(for: input.name, among: columns.map(\.name)).map {
                " (did you mean '\($0)'?)"
            }
            throw .badRequest(
                "unknown input '\(input.name)'\(hint ?? ""); the model's inputs are \(columns.map(\.name).joined(separator: ", "))"
            )
        }
        let missing = columns.map(\.name).filter { byName[$0] == nil }
        guard missing.isEmpty else {
            throw .badRequest(
                "missing input\(missing.count == 1 ? "" : "s") \(missing.map { "'\($0)'" }.joined(separator: ", "))")
        }
        var rows = -1
        var tableColumns: [Column] = []
        for c in columns {
            guard let input = byName[c.name] else { continue }
            guard input.shape.count == 1 || (input.shape.count == 2 && input.shape[1] == 1) else {
                throw .badRequest("input '\(c.name)' has shape \(input.shape); a column is [N] or [N, 1]")
            }
            let n = input.shape[0]
            if rows >= 0 && n != rows {
                throw .badRequest("input '\(c.name)' has \(n) rows; the other inputs have \(rows)")
            }
            rows = n
            let col = try column(c, input, unknown)
            // As `kiln predict` reads a file: a null in a column the training data never had one in is
            // refused (a booster would otherwise take it as a missing value it was never trained on).
            if !c.nullable, let k = (0..<n).first(where: { col.nulls.isNull($0) }) {
                throw .badRequest("input '\(c.name)': element \(k) is null, and the column is not nullable")
            }
            tableColumns.append(col)
        }
        return Table(columns: tableColumns, rowCount: max(rows, 0))
    }

    /// One column from a named input, checked against the column's type.
    private func column(_ c: ColumnSchema, _ input: InferenceProtocol.InputTensor, _ unknown: UnknownCategories)
        throws(InferenceProtocol.Failure) -> Column
    {
        var nulls = NullMask()
        let wrongType = InferenceProtocol.Failure.badRequest(
            "input '\(c.name)' is \(input.datatype.rawValue); the column is \(c.type.rawValue) (send \(Self.datatype(of: c).rawValue))"
        )
        switch (c.type, input.data) {
        case (.float, .numbers(let v)), (.int, .numbers(let v)):
            for (k, x) in v.enumerated() {
                nulls.append(null: x == nil)
                if let x { try Self.checkRange(x, c, input.name, k) }
            }
            if c.type == .int {
                var ints: [Int64] = []
                ints.reserveCapacity(v.count)
                for (k, x) in v.enumerated() {
                    guard let i = Int64(exactly: x ?? 0) else {
                        throw .badRequest("input '\(input.name)': element \(k) (\(x ?? 0)) is not a 64-bit integer")
                    }
                    ints.append(i)
                }
                return Column(schema: c, values: .int(ints), nulls: nulls)
            }
            return Column(schema: c, values: .float(v.map { $0 ?? .nan }), nulls: nulls)
        case (.bool, .bools(let v)):
            for x in v { nulls.append(null: x == nil) }
            return Column(schema: c, values: .bool(v.map { $0 ?? false }), nulls: nulls)
        case (.bool, .numbers(let v)):
            for x in v {
                guard x == nil || x == 0 || x == 1 else {
                    throw .badRequest(
                        "input '\(c.name)' is a bool column: its values are true/false (or 0/1), not \(x ?? 0)")
                }
                nulls.append(null: x == nil)
            }
            return Column(schema: c, values: .bool(v.map { $0 == 1 }), nulls: nulls)
        case (.category, .strings(let v)):
            let index = Dictionary(c.values.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { a, _ in a })
            for (k, x) in v.enumerated() {
                nulls.append(null: x == nil)
                if unknown == .error, let x, index[x] == nil {
                    let hint = DidYouMean.suggestion(for: x, among: c.values).map { "; did you mean '\($0)'?" } ?? ""
                    throw .badRequest(
                        "input '\(c.name)': element \(k) '\(x)' is not a value the model was trained on (\(c.values.prefix(8).joined(separator: ", "))\(c.values.count > 8 ? ", …" : ""))\(hint)")
                }
            }
            // A value the training data never had encodes as an all-zero one-hot block (unknown category),
            // counted by the caller.
            return Column(schema: c, values: .category(v.map { $0.flatMap { index[$0] } ?? -1 }), nulls: nulls)
        default:
            throw wrongType
        }
    }

    /// The column's `min` and `max` from the training data's schema, applied to a request as `kiln predict`
    /// applies them to a file.
    static func checkRange(_ x: Double, _ c: ColumnSchema, _ input: String, _ k: Int) throws(InferenceProtocol.Failure) {
        if let min = c.min, x < min {
            throw .badRequest("input '\(input)': element \(k) (\(x)) is below the column's minimum \(min)")
        }
        if let max = c.max, x > max {
            throw .badRequest("input '\(input)': element \(k) (\(x)) is above the column's maximum \(max)")
        }
    }

    // MARK: Results to outputs

    /// The protocol's outputs of `rows` rows of predictor results (probabilities or values), filtered to
    /// `requested` when the request names outputs.
    public func outputs(
        _ result: UnsafeBufferPointer<Float>, rows: Int, requested: [String]?, truncated: [Bool] = [],
        input: PreparedInput? = nil
    ) throws(InferenceProtocol.Failure) -> [InferenceProtocol.OutputTensor] {
        if let text, text.tagsTokens, let input {
            if result.contains(where: { !$0.isFinite }) {
                throw .badRequest("the model gave a value that is not finite: the text is far outside what it was trained on")
            }
            let (entities, tags) = text.entities(result, input)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            func json(_ value: some Encodable) -> String {
                (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? "[]"
            }
            let all: [InferenceProtocol.OutputTensor] = [
                .init(name: "entities", datatype: .bytes, shape: [rows], data: .strings(entities.map(json))),
                .init(name: "tags", datatype: .bytes, shape: [rows], data: .strings(tags.map(json))),
                .init(name: "truncated", datatype: .bool, shape: [rows], data: .bools(input.truncated)),
            ]
            return try Self.select(all, requested)
        }
        let k = Predictor.outputWidth(card.model)
        var values = Array(result.prefix(rows * k))
        mapToLabelScale(&values)
        // Never an answer that cannot be encoded (or a silent null): the row is named.
        if let bad = values.firstIndex(where: { !$0.isFinite }) {
            throw .badRequest(
                "the model gave a value that is not finite for row \(bad / max(k, 1)): its inputs are far outside what it was trained on"
            )
        }
        var all: [InferenceProtocol.OutputTensor] = []
        switch card.model.task {
        case .classification:
            var labels: [String] = []
            labels.reserveCapacity(rows)
            for r in 0..<rows {
                var best = 0
                for j in 1..<max(k, 1) where values[r * k + j] > values[r * k + best] { best = j }
                labels.append(best < card.labels.count ? card.labels[best] : "\(best)")
            }
            all.append(.init(name: "label", datatype: .bytes, shape: [rows], data: .strings(labels)))
            all.append(.init(name: "probabilities", datatype: .fp32, shape: [rows, k], data: .floats(values)))
            if text != nil {
                all.append(
                    .init(
                        name: "truncated", datatype: .bool, shape: [rows],
                        data: .bools(truncated.count == rows ? truncated : Array(repeating: false, count: rows))))
            }
        case .binary:
            let threshold = Float(card.threshold ?? 0.5)
            let labels = values.map { p in
                let i = p >= threshold ? 1 : 0
                return i < card.labels.count ? card.labels[i] : "\(i)"
            }
            all.append(.init(name: "label", datatype: .bytes, shape: [rows], data: .strings(labels)))
            all.append(.init(name: "probability", datatype: .fp32, shape: [rows], data: .floats(values)))
        case .regression:
            all.append(
                .init(name: "prediction", datatype: .fp32, shape: k == 1 ? [rows] : [rows, k], data: .floats(values)))
        }
        return try Self.select(all, requested)
    }

    /// A regression trained on a transformed target (`standardize`, `log` on the label): its predictions
    /// mapped back to the label's own scale. Nothing for other models.
    public func mapToLabelScale(_ values: inout [Float]) {
        guard card.model.task == .regression, let label = preprocessor?.label, label.steps != nil else { return }
        for i in values.indices { values[i] = label.original(values[i]) }
    }

    /// The outputs a request names (all when it names none).
    static func select(_ all: [InferenceProtocol.OutputTensor], _ requested: [String]?) throws(InferenceProtocol.Failure)
        -> [InferenceProtocol.OutputTensor]
    {
        guard let requested else { return all }
        var out: [InferenceProtocol.OutputTensor] = []
        for name in requested {
            guard let o = all.first(where: { $0.name == name }) else {
                throw .badRequest(
                    "unknown output '\(name)'; the model's outputs are \(all.map(\.name).joined(separator: ", "))")
            }
            out.append(o)
        }
        return out
    }
}

/// A serving failure outside a request: a model that cannot be loaded, a port in use, a bad deployment.
public struct ServeError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
