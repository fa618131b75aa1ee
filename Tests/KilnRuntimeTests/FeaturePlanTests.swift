import Foundation
import KilnCompiler
import KilnData
import KilnRuntime
import KilnSpec
import KilnTestSupport
import Testing

/// The compiler's shape inference and the fitted preprocessing follow one feature plan: for every valid
/// conformance case and every example, `kiln check`'s input width and columns are the fitted model's.
@Suite struct OneFeaturePlan {
    static let workspaces: [String] = {
        var out: [String] = []
        for base in ["specs/valid", "examples"] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: Repository.path(base))) ?? []
            for name in names.sorted() where !name.hasPrefix("_") && !name.hasPrefix(".") {
                out.append(base + "/" + name)
            }
        }
        return out
    }()

    @Test func theCompilersInputWidthIsTheFittedPreprocessors() throws {
        var compared: [String] = []
        for path in Self.workspaces {
            let (result, _) = Compiler().lower(WorkspaceLoader().load(path: Repository.path(path)))
            for (name, checked) in result.checked.datasets.sorted(by: { $0.key < $1.key }) {
                guard let width = checked.inputWidth, checked.spec.label != nil, checked.textColumns.isEmpty,
                    checked.tokenColumns.isEmpty
                else { continue }
                let config = try DatasetConfig(checked)
                // Some valid cases check the spec language only: their files do not fit the schema.
                guard let data = try? IngestedDataset.read(config) else { continue }
                let split = try Splitter.split(data.table, config.split, label: config.schema.label)
                let fitted = try Preprocessor.fit(
                    schema: config.schema, transforms: config.transforms, table: data.table, rows: split.train)
                #expect(fitted.width == width, "\(path): dataset \(name)")
                #expect(fitted.outputColumns == checked.featureColumns, "\(path): dataset \(name)")
                compared.append("\(path):\(name)")
            }
        }
        #expect(compared.count >= 8, "compared: \(compared)")
    }

    /// The rule that had drifted: `standardize` applies to float and int columns, not to bool, for both.
    @Test func standardizeOnABoolIsRefusedByBoth() throws {
        let schema = DataSchema(
            columns: [ColumnSchema("x", .float), ColumnSchema("flag", .bool), ColumnSchema("y", .category, values: ["a", "b"])],
            label: "y")
        let plan = FeaturePlan(schema: schema, transforms: [TransformSpec(.standardize, columns: ["x", "flag"])])
        #expect(plan.problems == [.wrongType("flag", .bool, needs: .numeric, at: .init(transform: 0, item: 1))])
        let yaml = """
            apiVersion: kiln/v1
            kind: Dataset
            metadata: {name: d}
            spec:
              source: {path: d.csv}
              schema:
                columns: {x: {type: float}, flag: {type: bool}, y: {type: category, values: [a, b]}}
                label: y
              transforms:
                - {op: standardize, columns: [x, flag]}
            """
        #expect(TestCompile.diagnostics(yaml).map(\.id) == ["compiler.transform-type"])
        let table = Table(columns: [], rowCount: 0)
        #expect(throws: DataError.self) {
            try Preprocessor.fit(schema: schema, transforms: [TransformSpec(.standardize, columns: ["flag"])], table: table, rows: [])
        }
    }
}
