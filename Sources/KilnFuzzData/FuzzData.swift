import Foundation
import KilnData

/// libFuzzer entry for the data layer: arbitrary bytes read as csv (with a header), tsv (without one) and
/// jsonl by a schema of every column type, and given to schema inference. Every input must end in a table
/// or a DataError: no crash, no read out of bounds (ASan), no hang (-timeout).
let schema = DataSchema(
    columns: [
        ColumnSchema("a", .float, nullable: true, min: -1e6, max: 1e6),
        ColumnSchema("b", .int, nullable: true),
        ColumnSchema("c", .bool, nullable: true),
        ColumnSchema("d", .category, nullable: true, values: ["x", "y", "z"]),
        ColumnSchema("e", .string, nullable: true, pattern: "[a-z]*"),
        ColumnSchema("f", .text, nullable: true),
    ], label: "d")

let path = NSTemporaryDirectory() + "kiln-fuzz-data-\(getpid())"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes: data, count: size)) else { return 0 }
    for (format, header) in [(SourceFormat.csv, true), (.tsv, false), (.jsonl, true)] {
        let source = SourceConfig(path: path, format: format, header: header)
        if let table = try? TableReader(source: source, schema: schema).read() {
            // What a run does next: the contract, a split, transforms fitted on it.
            let checks = [
                CheckSpec(.notNull, columns: ["a"]), CheckSpec(.unique, columns: ["b", "e"]),
                CheckSpec(.classBalance, maxRatio: 3), CheckSpec(.pattern, columns: ["f"], pattern: "[a-z ]+"),
            ]
            _ = try? ContractChecker(schema: schema).run(checks, on: table)
            for strategy in SplitSpec.Strategy.allCases {
                let by = strategy == .group ? "b" : nil
                if let split = try? Splitter.split(table, SplitSpec(strategy, by: by, seed: 1), label: "d"),
                    let p = try? Preprocessor.fit(
                        schema: schema,
                        transforms: [
                            TransformSpec(.impute), TransformSpec(.standardize), TransformSpec(.oneHot, columns: ["d"]),
                            TransformSpec(.drop, columns: ["e", "f"]),
                        ],
                        table: table, rows: split.train)
                {
                    _ = try? p.features(table, rows: split.test)
                }
            }
        }
        _ = try? SchemaInference().infer(source)
    }
    return 0
}
