// The WordPiece tokenizer's throughput: every text of the tokenizer golden (5,000 texts of real and
// generated text), encoded ROUNDS times on one thread; median texts/s and MB/s. scripts/bench-text runs
// it beside Hugging Face `tokenizers` (single-threaded) on the same texts.
// Usage: kiln-bench-text MODEL_FOLDER TEXTS_JSONL [ROUNDS]
import Foundation
import KilnText

#if DEBUG
    FileHandle.standardError.write(Data("kiln-bench-text: refusing to report from a debug build; use -c release\n".utf8))
    exit(1)
#endif

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: kiln-bench-text MODEL_FOLDER TEXTS_JSONL [ROUNDS]\n".utf8))
    exit(2)
}
let rounds = arguments.count > 3 ? Int(arguments[3]) ?? 9 : 9
let tokenizer = try WordPieceTokenizer(folder: arguments[1])
struct Line: Decodable { var text: String }
let texts = try String(contentsOfFile: arguments[2], encoding: .utf8).split(separator: "\n").dropFirst()
    .map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)).text }
let bytes = texts.reduce(0) { $0 + $1.utf8.count }
var times: [Double] = []
var tokens = 0
for _ in 0..<rounds {
    let start = DispatchTime.now().uptimeNanoseconds
    tokens = 0
    for text in texts { tokens += tokenizer.encode(text).ids.count }
    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
}
let median = times.sorted()[times.count / 2]
print(
    "kiln  texts \(texts.count)  tokens \(tokens)  median \(String(format: "%.4f", median)) s  "
        + "\(String(format: "%.0f", Double(texts.count) / median)) texts/s  "
        + "\(String(format: "%.2f", Double(bytes) / median / 1e6)) MB/s")
