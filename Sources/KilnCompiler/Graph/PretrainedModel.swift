public import Foundation
public import KilnCompute
import KilnData
import KilnDiagnostics

/// A transformer model's pretrained checkpoint: a folder in the Hugging Face layout (config.json,
/// model.safetensors, vocab.txt and, optionally, tokenizer_config.json), named in a Model spec as a path
/// relative to the spec's directory or as a name in kiln's model cache. `kiln check` reads the config and
/// the weights file's header only (the shapes of every tensor), and counts the vocabulary's lines.
public struct PretrainedModel: Sendable, Codable {
    public struct Location: Sendable, Codable {
        /// As the spec writes it.
        public var written: String
        /// Absolute folder.
        public var folder: String
        /// Written as a path (a spec-named read, confined to the workspace), not a cache name.
        public var isPath: Bool
    }

    public struct Problem: Error {
        public var message: String
        public var help: String?
    }

    public var location: Location
    public var config: BertConfig
    public var hasPooler: Bool
    public var vocabularySize: Int

    /// The files kiln reads from a pretrained folder.
    public static let files = ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"]

    public var weightsFile: String { location.folder + "/model.safetensors" }
    public var configFile: String { location.folder + "/config.json" }
    public var vocabularyFile: String { location.folder + "/vocab.txt" }
    public var tokenizerConfigFile: String { location.folder + "/tokenizer_config.json" }
    /// The tokenizer's files that exist (vocab.txt always; tokenizer_config.json when present).
    public var tokenizerFiles: [String] {
        [vocabularyFile] + (FileManager.default.fileExists(atPath: tokenizerConfigFile) ? [tokenizerConfigFile] : [])
    }

    /// kiln's model cache: `$KILN_MODELS`, else `~/.cache/kiln/models` (what scripts/fetch-model fills).
    public static func cacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let dir = environment["KILN_MODELS"], !dir.isEmpty { return dir }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.cache/kiln/models"
    }

    /// A name (no `/`, not starting with `.`) is a folder of the model cache; anything else a path.
    public static func locate(_ written: String, directory: String) -> Location {
        let isPath = written.contains("/") || written.hasPrefix(".") || written.hasPrefix("~")
        let folder: String
        if !isPath {
            folder = cacheDirectory() + "/" + written
        } else if written.hasPrefix("/") {
            folder = written
        } else {
            folder = (directory.isEmpty ? "." : directory) + "/" + written
        }
        return Location(written: written, folder: URL(fileURLWithPath: folder).standardizedFileURL.path, isPath: isPath)
    }

    /// Reads what a check needs; a problem says what is wrong and how to fix it.
    public static func read(_ location: Location) throws(Problem) -> PretrainedModel {
        let name = "\(Escaped(location.written))"
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: location.folder, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw Problem(
                message: location.isPath
                    ? "pretrained folder '\(name)' does not exist"
                    : "'\(name)' is not in kiln's model cache (\(Escaped(cacheDirectory())))",
                help: location.isPath
                    ? "give a folder with config.json, model.safetensors and vocab.txt (the Hugging Face layout)"
                    : "run `scripts/fetch-model \(name)`, or give a folder path (`./models/\(name)`)")
        }
        let config: BertConfig
        do { config = try BertConfig.read(location.folder + "/config.json") } catch {
            throw Problem(message: "pretrained '\(name)': \(error)", help: nil)
        }
        let weights = location.folder + "/model.safetensors"
        let header: [(name: String, dtype: String, shape: [Int])]
        do { header = try SafeTensors.header(weights) } catch {
            throw Problem(message: "pretrained '\(name)': \(error)", help: nil)
        }
        var shapes: [String: [Int]] = [:]
        for t in header { shapes[t.name.hasPrefix("bert.") ? String(t.name.dropFirst(5)) : t.name] = t.shape }
        for (tensor, shape) in BertEncoder.expectedShapes(config) where shapes[tensor] != shape {
            throw Problem(
                message: shapes[tensor] == nil
                    ? "pretrained '\(name)': tensor '\(tensor)' is missing from model.safetensors (expected shape \(shape))"
                    : "pretrained '\(name)': tensor '\(tensor)' has shape \(shapes[tensor] ?? []), config.json gives \(shape)",
                help: "the weights and config.json must come from the same checkpoint")
        }
        let vocabulary = location.folder + "/vocab.txt"
        guard let text = FileManager.default.contents(atPath: vocabulary) else {
            throw Problem(
                message: "pretrained '\(name)' has no vocab.txt: kiln's tokenizer is BERT's WordPiece",
                help: "add the checkpoint's vocab.txt to the folder")
        }
        var lines = text.reduce(0) { $1 == 10 ? $0 + 1 : $0 }
        if let last = text.last, last != 10 { lines += 1 }
        guard lines == config.vocabularySize else {
            throw Problem(
                message: "pretrained '\(name)': vocab.txt has \(lines) tokens, the embeddings \(config.vocabularySize) rows (config.json's vocab_size)",
                help: "the vocabulary and the weights must come from the same checkpoint")
        }
        return PretrainedModel(
            location: location, config: config, hasPooler: shapes["pooler.dense.weight"] != nil, vocabularySize: lines)
    }

    /// The weights' SHA-256, remembered by size and modification time (`FileHashCache`).
    public func weightsHash() -> String? { try? FileHashCache.sha256(weightsFile) }
}
