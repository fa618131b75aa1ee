import ArgumentParser
import Foundation
import KilnCompiler
import KilnData
import KilnDiagnostics
import KilnRuntime
import KilnSpec

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Inspect data: infer a Dataset spec from a file, or check data against its specs.",
        subcommands: [Infer.self, CheckData.self])
}

extension DataCommand {
    struct Infer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a Dataset spec inferred from a data file (csv, tsv or jsonl), ready to paste.",
            discussion: """
                Reads the whole file: each column's type (bool, int, float, category when a
                text column takes at most --max-categories values, each about five times on
                average, string or text), whether it has missing cells, and its observed range.
                Cells written NA, N/A, NaN, null, None or ? (and --null-values) are read as
                missing, and the spec lists those the file holds in 'source.null_values'. The
                last column becomes the label when it is a category (or name one with --label).
                Text and identifier columns are marked 'ignore: true', each with the reason, on
                standard error and in the spec; numbers are imputed and standardized, categories
                one-hot encoded. With --output the source path is written relative to the spec
                file's directory (as kiln reads it); on standard output, relative to the current
                directory.

                Examples:
                  kiln data infer data/iris.csv -o specs/iris.yaml
                  kiln data infer data/iris.csv > iris.yaml
                  kiln data infer events.jsonl --name events --label outcome
                  kiln data infer export.txt --format csv --delimiter ';'
                """)

        @Argument(help: "The data file (or a quoted glob of files with the same columns).")
        var file: String

        @Option(help: "The Dataset's name (default: from the file name).")
        var name: String?

        @Option(help: "The label column (default: the last column, when it is a category).")
        var label: String?

        @Option(help: "csv, tsv or jsonl (default: from the extension).")
        var format: SourceFormat?

        @Option(help: "csv/tsv: the field delimiter, one character.")
        var delimiter: String?

        @Flag(help: "csv/tsv: the first row is data, not a header.")
        var noHeader = false

        @Option(help: "A text column with at most this many distinct values is a category.")
        var maxCategories = SchemaInference().maxCategories

        @Option(parsing: .singleValue, help: "A cell that means a missing value, besides the usual ones (repeatable).")
        var nullValues: [String] = []

        @Option(name: .shortAndLong, help: "Write the spec to this file (not over an existing one) instead of standard output.")
        var output: String?

        func validate() throws {
            if let delimiter, delimiter.utf8.count != 1 {
                throw ValidationError("--delimiter must be one (ASCII) character")
            }
            if maxCategories < 1 { throw ValidationError("--max-categories must be at least 1") }
        }

        func run() throws {
            let source = SourceConfig(
                path: file, format: format, header: !noHeader, delimiter: delimiter?.utf8.first,
                nullValues: nullValues)
            var inference = SchemaInference()
            inference.maxCategories = maxCategories
            if let output, FileManager.default.fileExists(atPath: output) {
                throw fail("'\(output)' exists; kiln data infer does not write over a spec", help: "remove it, or name another file")
            }
            do {
                let result = try inference.infer(source, label: label)
                // The path as kiln will resolve it: from the spec file's directory.
                let path = output.map { Self.relative(file, from: ($0 as NSString).deletingLastPathComponent) } ?? file
                let yaml = result.yaml(name: name ?? Self.name(for: file), path: path, source: source)
                for note in result.notes { Terminal.standardError("kiln: note: \(note)\n") }
                if let output {
                    do {
                        try FileManager.default.createDirectory(
                            atPath: (output as NSString).deletingLastPathComponent.isEmpty
                                ? "." : (output as NSString).deletingLastPathComponent,
                            withIntermediateDirectories: true)
                        try Data(yaml.utf8).write(to: URL(fileURLWithPath: output), options: .withoutOverwriting)
                    } catch {
                        throw fail("cannot write '\(output)': \(error.localizedDescription)")
                    }
                    Terminal.standardError("kiln: wrote \(output) (\(result.rows) rows, \(result.schema.columns.count) columns)\n")
                } else {
                    Terminal.standardOutput(yaml)
                    if !file.hasPrefix("/") {
                        Terminal.standardError(
                            "kiln: note: the spec's source path '\(file)' is relative to the current directory: a spec saved elsewhere needs it relative to its own folder (--output FILE writes it so)\n")
                    }
                }
            } catch let error as DataError {
                Terminal.standardError(
                    DiagnosticRenderer(sources: [:], colour: Terminal.colour(for: 2)).text(error.diagnostics))
                throw ExitStatus.failure
            }
        }

        /// `path` relative to `directory` (both taken from the current directory when relative).
        static func relative(_ path: String, from directory: String) -> String {
            let cwd = FileManager.default.currentDirectoryPath
            func components(_ p: String) -> [String] {
                let absolute = p.hasPrefix("/") ? p : cwd + "/" + p
                var out: [String] = []
                for c in absolute.split(separator: "/").map(String.init) where c != "." && !c.isEmpty {
                    if c == ".." { if !out.isEmpty { out.removeLast() } } else { out.append(c) }
                }
                return out
            }
            let target = components(path), base = components(directory.isEmpty ? "." : directory)
            var common = 0
            while common < min(target.count, base.count) && target[common] == base[common] { common += 1 }
            let up = Array(repeating: "..", count: base.count - common)
            return (up + target[common...]).joined(separator: "/")
        }

        /// A resource name from a file name: lower case, `-` for anything else, starting with a letter.
        static func name(for path: String) -> String {
            var base = (path as NSString).lastPathComponent
            if let dot = base.firstIndex(of: ".") { base = String(base[..<dot]) }
            var out = ""
            for c in base.lowercased().unicodeScalars {
                let ok = (c >= "a" && c <= "z") || (c >= "0" && c <= "9")
                out += ok ? String(c) : (out.hasSuffix("-") || out.isEmpty ? "" : "-")
            }
            while out.hasSuffix("-") { out.removeLast() }
            if out.first.map({ !$0.isLetter }) ?? true { out = "data" + (out.isEmpty ? "" : "-" + out) }
            return String(out.prefix(63))
        }
    }

    struct CheckData: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Read each Dataset's files by its schema, run its contract, split it and fit its transforms.",
            discussion: """
                What a run does before training, without training: every cell parsed by its
                column's type (a cell that does not parse is an error at its file and line),
                the 'checks:' contract, the split and the transforms fitted on the train split.
                Prints each dataset's rows, source hashes, checks and split sizes; --json prints
                the lineage records. Exit 1 when specs or data are invalid or an error-severity
                check fails.

                Examples:
                  kiln data check examples/iris
                  kiln data check . iris wine --json
                """)

        @Argument(help: "A workspace directory or a spec file.")
        var path: String = "."

        @Argument(help: "Datasets to check (default: all).")
        var datasets: [String] = []

        @Flag(help: "Print the lineage records as JSON (one document, keyed by dataset).")
        var json = false

        func run() throws {
            let workspace = WorkspaceLoader().load(path: path)
            let result = Compiler().compile(workspace)
            let renderer = DiagnosticRenderer(sources: workspace.sources, colour: Terminal.colour(for: 2))
            guard !result.diagnostics.hasErrors else {
                Terminal.standardError(renderer.text(result.diagnostics.sorted))
                throw ExitStatus.failure
            }
            let names = datasets.isEmpty ? result.checked.datasets.keys.sorted() : datasets
            var failed = false
            var lineages: [String: Lineage] = [:]
            let masker = PIIMasker(key: WorkspacePaths(path: path).piiMaskKey())
            for name in names {
                guard let checked = result.checked.datasets[name] else {
                    let known = result.checked.datasets.keys.sorted()
                    throw fail(
                        "no dataset '\(name)' in \(path)" + (DidYouMean.help(for: name, among: known).map { "; \($0)" } ?? ""))
                }
                do {
                    let config = try DatasetConfig(checked)
                    let ingested = try IngestedDataset.load(config, masker: masker)
                    let report = renderer.text(ingested.report.diagnostics)
                    if !report.isEmpty { Terminal.standardError(report) }
                    if ingested.report.failed {
                        failed = true
                        Terminal.standardError("dataset \(name): the contract failed; the data is not used\n")
                        continue
                    }
                    let prepared = try ingested.prepare()
                    let lineage = prepared.lineage
                    lineages[name] = lineage
                    if !json { Terminal.standardOutput(Self.summary(lineage, prepared)) }
                } catch {
                    failed = true
                    Terminal.standardError(renderer.text(error.diagnostics))
                }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                Terminal.standardOutput(String(decoding: try encoder.encode(lineages), as: UTF8.self) + "\n")
            }
            if failed { throw ExitStatus.failure }
        }

        static func summary(_ l: Lineage, _ p: PreparedDataset) -> String {
            var out = "dataset \(l.dataset): \(l.rows) rows\n"
            for s in l.sources {
                out += "  source  \(s.path)  \(s.rows) rows, \(s.bytes) bytes, sha256 \(s.sha256.prefix(16))\n"
            }
            let passed = l.checks.count { $0.passed }
            out += "  checks  \(passed) of \(l.checks.count) passed\n"
            if let s = l.split {
                out +=
                    "  split   \(s.spec.strategy.rawValue) (seed \(s.spec.seed)): train \(s.train), validation \(s.validation), test \(s.test)\n"
            }
            out +=
                "  inputs  \(p.preprocessor.width) (\(p.preprocessor.outputColumns.prefix(6).joined(separator: ", "))"
            out += p.preprocessor.width > 6 ? ", ...)\n" : ")\n"
            return out
        }
    }
}
