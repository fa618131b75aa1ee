import ArgumentParser
import Foundation
import KilnCompute
import KilnData
import KilnDiagnostics
import KilnRegistry
import KilnServe

/// `kiln predict MODEL@REF --input FILE [--output FILE]`: batch inference over a csv/tsv/jsonl file, read
/// in batches (memory bounded by the batch, not the file), preprocessed by the card's fitted transforms,
/// written as csv or jsonl.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Predict over a csv, tsv or jsonl file with a registered version.",
        discussion: """
            The file holds the model's raw feature columns, or a transformer's text column (other columns are
            ignored; the label may be absent). A text longer than the model's max_length is cut, and the output's
            `truncated` column says so.
            Output: csv (default, or an --output ending in .csv) with `label` and one `p_CLASS` column per class for
            a classifier, or `prediction` for a regressor; jsonl (an --output ending in .jsonl, or --format jsonl)
            with the same fields.

            --keep copies columns of the input (an id, a name) into each output row, first, so that the
            predictions can be joined back. A category value the model was not trained on is answered with an
            all-zero one-hot block and counted in the summary on standard error (--unknown-categories warn,
            the default), refused at its file and line (error), or answered without a word (zero).

            Examples:
              kiln predict iris-mlp@staging --input data/new.csv
              kiln predict iris-mlp@v2 --input rows.jsonl --output predictions.jsonl
              kiln predict risk@production --input loans.csv --keep id,name --unknown-categories error
            """)

    @Argument(help: "The version: NAME@vN, NAME@ALIAS or NAME@latest.") var reference: String
    @Option(name: .shortAndLong, help: "The rows to predict: a .csv, .tsv or .jsonl file.") var input: String
    @Option(name: .shortAndLong, help: "Where to write (default: standard output).") var output: String?
    @Option(help: "csv or jsonl (default: from --output's extension, else csv).") var format: String?
    @Option(help: "Rows per batch through the compute core.") var batchRows = 4096
    @Option(help: "Input columns to copy into each output row, comma-separated (an id to join on).")
    var keep: String?
    @Option(help: "A category value the model was not trained on: error, warn or zero.")
    var unknownCategories = "warn"
    @OptionGroup var registry: RegistryOptions

    func run() throws {
        let ref = try RegistryOptions.reference(reference)
        let outputFormat = format ?? (output.map { $0.hasSuffix(".jsonl") ? "jsonl" : "csv" } ?? "csv")
        guard ["csv", "jsonl", "conll"].contains(outputFormat) else {
            throw ValidationError("--format is csv or jsonl (conll for a token classifier), not '\(outputFormat)'")
        }
        guard let unknownPolicy = UnknownCategories(rawValue: unknownCategories) else {
            throw ValidationError("--unknown-categories is error, warn or zero, not '\(unknownCategories)'")
        }
        let kept = (keep ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard Set(kept).count == kept.count else { throw ValidationError("--keep names a column twice") }
        guard FileManager.default.fileExists(atPath: input) else {
            throw fail("no file '\(input)'")
        }
        _ = try registry.resolve(ref)
        let model: ServedModel
        do { model = try ServedModel.load(ref, registry: registry.open()) } catch {
            throw fail("\(error)")
        }
        // A transformer's buffers grow with batch × max_length: it takes the file's rows 32 at a time.
        let engine = try model.makeEngine(
            maxBatch: model.text == nil ? min(batchRows, 4096) : 32, threads: ProcessInfo.processInfo.activeProcessorCount)
        if let text = model.text, text.tagsTokens {
            try tag(text, engine, model)
            return
        }
        let features = Set(model.featureColumns.map(\.name))
        if let header = TableReader.header(of: input, delimiter: input.hasSuffix(".tsv") ? 0x09 : 0x2C), !input.hasSuffix(".jsonl") {
            for name in kept where !header.contains(name) {
                throw fail(
                    "--keep names '\(name)', which '\(input)' has no column of",
                    help: DidYouMean.help(for: name, among: header))
            }
        }
        let sink: PredictionSink
        do { sink = try PredictionSink(path: output, format: outputFormat, model: model, kept: kept) } catch {
            throw fail("cannot write '\(output ?? "-")': \(error.localizedDescription)")
        }
        // The feature columns, and the kept ones as text; unknown categories become all-zero one-hot blocks
        // (or errors at their line, with --unknown-categories error).
        let schema = DataSchema(
            columns: model.featureColumns + kept.filter { !features.contains($0) }.map { ColumnSchema($0, .string, nullable: true) })
        var reader = TableReader(source: SourceConfig(path: input, nullValues: model.preprocessor?.nullValues), schema: schema)
        reader.allowUnknownCategories = unknownPolicy != .error
        let width = engine.outputWidth
        var results: [Float] = []
        var unknown: [String: Int] = [:]
        do {
            let rows = try reader.stream(batchRows: model.text == nil ? batchRows : 1024) { table in
                let input = try Self.prepare(table, model)
                for (column, n) in ServedModel.unknownCategories(table) where features.contains(column) {
                    unknown[column, default: 0] += n
                }
                results = [Float](repeating: 0, count: table.rowCount * width)
                try results.withUnsafeMutableBufferPointer { r in
                    try engine.predict([input], into: r, inputsPerRow: model.card.model.inputs)
                }
                model.mapToLabelScale(&results)
                let keptValues = kept.map { name in
                    (0..<table.rowCount).map { r in table.column(name).flatMap { $0.nulls.isNull(r) ? nil : $0.text(r) } }
                }
                try results.withUnsafeBufferPointer {
                    try sink.write($0, rows: table.rowCount, truncated: input.truncated, kept: keptValues)
                }
            }
            try sink.close()
            if let output {
                Terminal.standardError("kiln: \(rows) predictions by \(model.reference) in \(output)\n")
            }
            if unknownPolicy == .warn, !unknown.isEmpty {
                let list = unknown.sorted { $0.key < $1.key }.map { "\($0.value) in '\($0.key)'" }.joined(separator: ", ")
                Terminal.standardError(
                    "kiln: warning: \(unknown.values.reduce(0, +)) cells held a category value the model was not trained on (\(list)); they were predicted with an all-zero one-hot block (--unknown-categories error refuses them at their line)\n")
            }
        } catch let error as DataError {
            sink.abandon()
            Terminal.standardError(
                DiagnosticRenderer(sources: [:], colour: Terminal.colour(for: 2)).text(error.diagnostics))
            throw ExitStatus.failure
        } catch {
            sink.abandon()
            throw fail("\(error)")
        }
    }
}

extension Predict {
    /// A token classifier over a CoNLL file (a token per line, in the first field; a blank line between
    /// sentences; any other fields ignored), written back as `token<TAB>tag`; or over a csv/jsonl file's
    /// `text` column, written as jsonl (or csv) with each row's entities as JSON.
    func tag(_ text: TextModel, _ engine: InferenceEngine, _ model: ServedModel) throws {
        let conll = input.hasSuffix(".conll") || input.hasSuffix(".txt")
        if let format, format != (conll ? "conll" : "jsonl") {
            throw ValidationError("a token classifier writes \(conll ? "CoNLL (token<TAB>tag)" : "jsonl (entities per row)") for this input, not \(format)")
        }
        var out = ""
        var cut = 0
        func run(_ prepared: PreparedInput) throws -> (entities: [[FoundEntity]], tags: [[String]]) {
            var result = [Float](repeating: 0, count: prepared.rows * engine.outputWidth)
            try result.withUnsafeMutableBufferPointer { try engine.predict([prepared], into: $0, inputsPerRow: 1) }
            cut += prepared.truncated.filter { $0 }.count
            return result.withUnsafeBufferPointer { text.entities($0, prepared) }
        }
        if conll {
            guard let data = FileManager.default.contents(atPath: input),
                let content = String(data: data, encoding: .utf8)
            else { throw fail("cannot read '\(input)' as UTF-8 text") }
            var sentences: [[String]] = [[]]
            for line in content.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
                let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " || $0 == "\r" })
                if let token = fields.first { sentences[sentences.count - 1].append(String(token)) } else if !(sentences.last?.isEmpty ?? true) {
                    sentences.append([])
                }
            }
            sentences.removeAll { $0.isEmpty }
            for start in stride(from: 0, to: sentences.count, by: 256) {
                let part = Array(sentences[start..<min(start + 256, sentences.count)])
                let prepared = text.tokenizeTokens(part)
                let (_, tags) = try run(prepared)
                for (sentence, tagged) in zip(part, tags) {
                    for (i, token) in sentence.enumerated() { out += "\(token)\t\(i < tagged.count ? tagged[i] : "O")\n" }
                    out += "\n"
                }
            }
        } else {
            let schema = DataSchema(columns: [ColumnSchema(text.column, .text)])
            let reader = TableReader(source: SourceConfig(path: input, nullValues: model.preprocessor?.nullValues), schema: schema)
            _ = try reader.stream(batchRows: 1024) { table in
                guard let column = table.column(text.column) else { return }
                var texts: [String] = []
                for r in 0..<table.rowCount {
                    guard let t = column.text(r) else {
                        throw PredictionFailure(description: "\(table.origins.describe(r)): the text ('\(text.column)') is empty")
                    }
                    texts.append(t)
                }
                let prepared: PreparedInput
                do throws(TextProblem) { prepared = try text.tokenizeWords(texts, refuseLong: false) } catch {
                    throw PredictionFailure(
                        description: "\(table.origins.describe(error.row)): the text ('\(text.column)') \(error.message)")
                }
                let (entities, _) = try run(prepared)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for (i, found) in entities.enumerated() {
                    let json = String(decoding: try encoder.encode(found), as: UTF8.self)
                    out += "{\"entities\":\(json),\"truncated\":\(prepared.truncated[i])}\n"
                }
            }
        }
        if let output {
            do { try Data(out.utf8).write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
                throw fail("cannot write '\(output)': \(error.localizedDescription)")
            }
            Terminal.standardError("kiln: tagged by \(model.reference) in \(output)\n")
        } else {
            Terminal.standardOutput(out)
        }
        if cut > 0 {
            Terminal.standardError("kiln: \(cut) texts were cut at the model's \(text.maxLength) tokens; their last words are tagged O\n")
        }
    }

    /// A batch of the file as the model takes it: features through the card's preprocessing, or a
    /// transformer's texts tokenized (an empty text is an error at its file and line; a long one is cut,
    /// and the output's `truncated` says so).
    static func prepare(_ table: Table, _ model: ServedModel) throws -> PreparedInput {
        guard let text = model.text else {
            guard let preprocessor = model.preprocessor else { throw PredictionFailure(description: "no preprocessing") }
            return PreparedInput(rows: table.rowCount, features: try preprocessor.features(table))
        }
        guard let column = table.column(text.column) else {
            throw PredictionFailure(description: "the file has no column '\(text.column)', the text the model reads")
        }
        var texts: [String] = []
        texts.reserveCapacity(table.rowCount)
        for r in 0..<table.rowCount {
            guard let t = column.text(r) else {
                throw PredictionFailure(description: "\(table.origins.describe(r)): the text ('\(text.column)') is empty")
            }
            texts.append(t)
        }
        do {
            let (ids, truncated) = try text.tokenize(texts, refuseLong: false)
            return PreparedInput(rows: ids.count, tokens: ids, truncated: truncated)
        } catch {
            throw PredictionFailure(
                description: "\(table.origins.describe(error.row)): the text ('\(text.column)') \(error.message)")
        }
    }
}

struct PredictionFailure: Error, CustomStringConvertible {
    var description: String
}

/// Writes predictions as csv or jsonl, through a buffer; to a temporary file renamed into place on
/// success, so a failed run leaves no half-written output.
final class PredictionSink {
    private let handle: FileHandle
    private let path: String?
    private let temporary: String?
    private let jsonl: Bool
    private let model: ServedModel
    private var buffer = Data()

    /// Input columns copied into each row, first.
    private let kept: [String]

    init(path: String?, format: String, model: ServedModel, kept: [String] = []) throws {
        self.path = path
        self.model = model
        self.kept = kept
        jsonl = format == "jsonl"
        if let path {
            let temporary = path + ".kiln-tmp-\(getpid())"
            guard FileManager.default.createFile(atPath: temporary, contents: nil) else {
                throw CocoaError(.fileWriteNoPermission)
            }
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: temporary))
            self.temporary = temporary
        } else {
            handle = FileHandle.standardOutput
            temporary = nil
        }
        if !jsonl {
            let header =
                switch model.card.model.task {
                case .classification, .binary: ["label"] + classColumns + (model.text == nil ? [] : ["truncated"])
                case .regression: model.card.labels.count > 1 ? model.card.labels : ["prediction"]
                }
            buffer.append(contentsOf: ((kept + header).map(Self.csvField).joined(separator: ",") + "\n").utf8)
        }
    }

    private var classColumns: [String] {
        model.card.model.task == .binary
            ? ["p_\(model.card.labels.last ?? "1")"] : model.card.labels.map { "p_\($0)" }
    }

    /// Rows written so far (to name a bad one).
    private var written = 0

    func write(_ result: UnsafeBufferPointer<Float>, rows: Int, truncated: [Bool] = [], kept keptValues: [[String?]] = [])
        throws
    {
        let k = result.count / max(rows, 1)
        let labels = model.card.labels
        for r in 0..<rows {
            let row = UnsafeBufferPointer(rebasing: result[r * k..<(r + 1) * k])
            guard row.allSatisfy(\.isFinite) else {
                throw PredictionFailure(
                    description:
                        "row \(written + r + 1): the model gave a value that is not finite: the row's inputs are far outside what it was trained on; stopped there"
                )
            }
            var line: String
            switch model.card.model.task {
            case .classification, .binary:
                let index =
                    model.card.model.task == .binary
                    ? (row[0] >= Float(model.card.threshold ?? 0.5) ? 1 : 0) : (row.indices.max { row[$0] < row[$1] } ?? 0)
                let label = index < labels.count ? labels[index] : "\(index)"
                if jsonl {
                    let probabilities = zip(classColumns, row).map {
                        "\(Self.jsonString(String($0.0.dropFirst(2)))):\(Self.number($0.1))"
                    }
                    line =
                        "{\"label\":\(Self.jsonString(label)),\"\(model.card.model.task == .binary ? "probability" : "probabilities")\":"
                        + (model.card.model.task == .binary
                            ? Self.number(row[0]) : "{\(probabilities.joined(separator: ","))}")
                        + (r < truncated.count ? ",\"truncated\":\(truncated[r])" : "") + "}"
                } else {
                    line = ([Self.csvField(label)] + row.map(Self.number)).joined(separator: ",")
                    if r < truncated.count { line += truncated[r] ? ",true" : ",false" }
                }
            case .regression:
                if jsonl {
                    line =
                        k == 1
                        ? "{\"prediction\":\(Self.number(row[0]))}"
                        : "{\"prediction\":[\(row.map(Self.number).joined(separator: ","))]}"
                } else {
                    line = row.map(Self.number).joined(separator: ",")
                }
            }
            if !kept.isEmpty {
                // The kept columns first: `id,label,p_…` in csv, `{"id": …, "label": …}` in jsonl.
                let values = kept.indices.map { j in r < (keptValues.count > j ? keptValues[j].count : 0) ? keptValues[j][r] : nil }
                if jsonl {
                    let fields = zip(kept, values).map { "\(Self.jsonString($0)):\($1.map(Self.jsonString) ?? "null")" }
                    line = "{" + fields.joined(separator: ",") + "," + line.dropFirst()
                } else {
                    line = values.map { Self.csvField($0 ?? "") }.joined(separator: ",") + "," + line
                }
            }
            buffer.append(contentsOf: (line + "\n").utf8)
            if buffer.count > 1 << 16 { try flush() }
        }
        written += rows
    }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        if let temporary, let path {
            try handle.close()
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: temporary, toPath: path)
        }
    }

    func abandon() {
        if let temporary {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: temporary)
        }
    }

    /// Only finite values reach here (`write` refuses the others).
    static func number(_ x: Float) -> String { "\(x)" }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func jsonString(_ s: String) -> String {
        (try? String(decoding: JSONEncoder().encode(s), as: UTF8.self)) ?? "\"\""
    }
}
