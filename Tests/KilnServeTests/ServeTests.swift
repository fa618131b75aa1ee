import Crypto
import Foundation
import KilnCompute
import KilnData
import KilnSpec
import KilnTestSupport
import Logging
import Testing

@testable import KilnProtocol
@testable import KilnServe

/// The protocol's decoding, the model's view of a request, the canary draw and the token check, without a
/// server (the CLI tests start one).
@Suite struct InferenceProtocolDecoding {
    func decode(_ json: String) throws(InferenceProtocol.Failure) -> InferenceProtocol.InferenceRequest {
        try InferenceProtocol.decodeRequest(Data(json.utf8))
    }

    func failure(_ json: String) -> InferenceProtocol.Failure? {
        do {
            _ = try decode(json)
            return nil
        } catch { return error }
    }

    @Test func decodesFlatAndNestedData() throws {
        let flat = try decode(#"{"id":"r1","inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[1,2,3,4]}]}"#)
        let nested = try decode(#"{"inputs":[{"name":"x","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]}]}"#)
        #expect(flat.id == "r1")
        #expect(flat.inputs[0].data == .numbers([1, 2, 3, 4]))
        #expect(nested.inputs[0].data == flat.inputs[0].data)
        let typed = try decode(
            #"{"inputs":[{"name":"b","shape":[2],"datatype":"BOOL","data":[true,null]},{"name":"s","shape":[1],"datatype":"BYTES","data":["red"]}],"outputs":[{"name":"label"}]}"#
        )
        #expect(typed.inputs[0].data == .bools([true, nil]))
        #expect(typed.inputs[1].data == .strings(["red"]))
        #expect(typed.outputs?.map(\.name) == ["label"])
    }

    /// Each way a request can be wrong gets a 400 whose message names the problem.
    @Test(arguments: [
        ("{\"inputs\": [", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ("{}", "no 'inputs'"),
        (#"{"inputs": []}"#, "non-empty list"),
        (#"{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}"#, "has no 'name'"),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"FLOAT","data":[1]}]}"#, "unknown datatype 'FLOAT'"),
        (#"{"inputs":[{"name":"x","datatype":"FP32","data":[1]}]}"#, "has no 'shape'"),
        (
            #"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","data":[1]}]}"#,
            "shape [2] holds 2 elements, but 'data' has 1"
        ),
        (
            #"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":["NaN"]}]}"#,
            "NaN and infinity are not accepted"
        ),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[true]}]}"#, "element 0 is a boolean"),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1e39]}]}"#, "out of range for FP32"),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[1.5]}]}"#, "not a whole number"),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[1]}]}"#, "is BOOL, but element 0 is a number"),
        (#"{"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]}"#, "sizes ≥ 0"),
        (
            #"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}"#,
            "given twice"
        ),
        // Found by the adversarial probe (issue 14): each of these stopped the server.
        (
            #"{"inputs":[{"name":"x","shape":[999999999999999,999999999999999],"datatype":"FP32","data":[1]}]}"#,
            "holds more elements than any request can"
        ),
        (
            #"{"inputs":[{"name":"x","shape":[4294967296,4294967296,4],"datatype":"FP32","data":[1]}]}"#,
            "holds more elements than any request can"
        ),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[9.3e18]}]}"#, "out of range for INT64"),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[1e300]}]}"#, "out of range for INT64"),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1e300]}]}"#, "out of range for FP64"),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[256]}]}"#, "out of range for UINT8"),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"INT8","data":[-129]}]}"#, "out of range for INT8"),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP16","data":[70000]}]}"#, "out of range for FP16"),
        // Found by the second probe: readers that disagree must not both answer.
        (
            #"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"inputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[2]}]}"#,
            "gives the key 'inputs' twice"
        ),
        (
            #"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"d\u0061ta":[2]}]}"#,
            "gives the key 'data' twice"
        ),
        (
            #"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"inputs":[],"parameters":"#
                + String(repeating: #"{"a":"#, count: 70) + "1" + String(repeating: "}", count: 70) + "}",
            "gives the key 'inputs' twice"
        ),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"outputs":[]}"#, "non-empty list"),
        (#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":5.1}]}"#, "'data' must be a list"),
    ])
    func rejects(_ body: String, _ message: String) {
        let f = failure(body)
        #expect(f?.status == 400)
        #expect(f?.message.contains(message) == true, "\(f?.message ?? "accepted")")
        #expect((try? JSONSerialization.jsonObject(with: f?.body ?? Data())) as? [String: String] != nil)
    }
}

@Suite struct ServedModelFeatures {
    /// An artifact of a 3-class MLP over a float, a bool and a category column (one-hot), with a fitted
    /// standardisation, written by the compute core the way the runner writes one.
    static func artifact() throws -> (TemporaryDirectory, ServedModel) {
        let schema = DataSchema(
            columns: [
                ColumnSchema("size", .float, nullable: true),
                ColumnSchema("shiny", .bool),
                ColumnSchema("colour", .category, values: ["red", "green"]),
                ColumnSchema("kind", .category, values: ["a", "b", "c"]),
            ], label: "kind")
        let table = Table(
            columns: [
                Column(schema: schema.columns[0], values: .float([1, 2, 3, 4])),
                Column(schema: schema.columns[1], values: .bool([true, false, true, false])),
                Column(schema: schema.columns[2], values: .category([0, 1, 0, 1])),
                Column(schema: schema.columns[3], values: .category([0, 1, 2, 0])),
            ], rowCount: 4)
        let preprocessor = try Preprocessor.fit(
            schema: schema,
            transforms: [
                TransformSpec(.impute, columns: ["size"]), TransformSpec(.standardize, columns: ["size"]),
                TransformSpec(.oneHot, columns: ["colour"]),
            ], table: table, rows: [0, 1, 2, 3])
        let config = ModelConfig(
            task: .classification, architecture: .mlp, inputs: preprocessor.width, outputs: 3, hidden: [4])
        let network = try Network(config, blas: try BLAS.get())
        let card = ModelCard(
            model: config, inputColumns: preprocessor.outputColumns, preprocessing: preprocessor.cardValue,
            labels: ["a", "b", "c"])
        let directory = try TemporaryDirectory(files: [:])
        try Artifact.save(network, card: card, to: directory.path + "/model")
        return (directory, try ServedModel.load(artifact: directory.path + "/model", model: "things", version: 1))
    }

    func request(_ json: String) throws -> InferenceProtocol.InferenceRequest {
        try InferenceProtocol.decodeRequest(Data(json.utf8))
    }

    @Test func namedColumnsArePreprocessedLikeTraining() throws {
        let (directory, model) = try Self.artifact()
        _ = directory
        let r = try request(
            #"{"inputs":[{"name":"size","shape":[3],"datatype":"FP64","data":[2.5,null,4]},{"name":"shiny","shape":[3],"datatype":"BOOL","data":[true,false,true]},{"name":"colour","shape":[3,1],"datatype":"BYTES","data":["green","red","purple"]}]}"#
        )
        let (rows, x, unknown) = try model.features(r)
        #expect(rows == 3)
        // 'purple' is not a colour the model was trained on: counted, and refused when the policy says so.
        #expect(unknown == ["colour": 1])
        #expect(throws: InferenceProtocol.Failure.self) { try model.features(r, unknownCategories: .error) }
        #expect(model.preprocessor?.width == 4)
        // size: impute (mean 2.5), standardise → 0 for 2.5 and for the null; colour one-hot, an unknown
        // colour an all-zero block.
        #expect(x[0] == 0 && x[4] == 0)
        #expect(Array(x[2..<4]) == [0, 1])
        #expect(Array(x[6..<8]) == [1, 0])
        #expect(Array(x[10..<12]) == [0, 0])
        // The same rows through a data-layer table give the same matrix.
        let table = Table(
            columns: [
                Column(schema: model.featureColumns[0], values: .float([2.5, 2.5, 4])),
                Column(schema: model.featureColumns[1], values: .bool([true, false, true])),
                Column(schema: model.featureColumns[2], values: .category([1, 0, -1])),
            ], rowCount: 3)
        #expect(try model.preprocessor?.features(table) == x)
    }

    @Test func requestsTheModelCannotReadAreRefusedByName() throws {
        let (directory, model) = try Self.artifact()
        _ = directory
        let cases: [(String, String)] = [
            (
                #"{"inputs":[{"name":"size","shape":[1],"datatype":"FP64","data":[1]}]}"#,
                "missing inputs 'shiny', 'colour'"
            ),
            (
                #"{"inputs":[{"name":"sise","shape":[1],"datatype":"FP64","data":[1]},{"name":"shiny","shape":[1],"datatype":"BOOL","data":[true]},{"name":"colour","shape":[1],"datatype":"BYTES","data":["red"]}]}"#,
                "unknown input 'sise' (did you mean 'size'?)"
            ),
            (
                #"{"inputs":[{"name":"size","shape":[1],"datatype":"BYTES","data":["1"]},{"name":"shiny","shape":[1],"datatype":"BOOL","data":[true]},{"name":"colour","shape":[1],"datatype":"BYTES","data":["red"]}]}"#,
                "input 'size' is BYTES; the column is float (send FP64)"
            ),
            (
                #"{"inputs":[{"name":"size","shape":[2],"datatype":"FP64","data":[1,2]},{"name":"shiny","shape":[1],"datatype":"BOOL","data":[true]},{"name":"colour","shape":[1],"datatype":"BYTES","data":["red"]}]}"#,
                "has 1 rows; the other inputs have 2"
            ),
            (
                #"{"inputs":[{"name":"size","shape":[1],"datatype":"FP64","data":[1]},{"name":"shiny","shape":[1],"datatype":"BOOL","data":[null]},{"name":"colour","shape":[1],"datatype":"BYTES","data":["red"]}]}"#,
                "input 'shiny': element 0 is null, and the column is not nullable"
            ),
            (
                #"{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1,2]}]}"#,
                "the model takes [N, 3]"
            ),
            (
                #"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,0,2]}]}"#,
                "the model reads the category column 'colour'"
            ),
        ]
        for (json, message) in cases {
            let decoded = try request(json)
            do throws(InferenceProtocol.Failure) {
                _ = try model.features(decoded)
                Issue.record("accepted: \(json)")
            } catch {
                #expect(error.status == 400)
                #expect(error.message.contains(message), "\(error.message)")
            }
        }
    }

    /// Values each type holds but the model cannot use are a 400 naming the input, never a trap, a
    /// `{}` body or a null (issue 14, finding 6).
    @Test func outOfRangeValuesAreRefusedByName() throws {
        // Trained on small values: standardising divides by about 0.0008.
        let schema = DataSchema(columns: [ColumnSchema("x", .float), ColumnSchema("y", .float)], label: "y")
        let table = Table(
            columns: [
                Column(schema: schema.columns[0], values: .float([0, 0.001, 0.002])),
                Column(schema: schema.columns[1], values: .float([1, 2, 3])),
            ], rowCount: 3)
        let preprocessor = try Preprocessor.fit(
            schema: schema, transforms: [TransformSpec(.standardize, columns: ["x"])], table: table, rows: [0, 1, 2])
        let config = ModelConfig(task: .regression, architecture: .linear, inputs: preprocessor.width, outputs: 1)
        let card = ModelCard(
            model: config, inputColumns: preprocessor.outputColumns, preprocessing: preprocessor.cardValue, labels: ["y"])
        let directory = try TemporaryDirectory(files: [:])
        try Artifact.save(try Network(config, blas: try BLAS.get()), card: card, to: directory.path + "/model")
        let model = try ServedModel.load(artifact: directory.path + "/model", model: "x", version: 1)
        func refusal(_ value: String, single: Bool = false) throws -> String {
            let body =
                single
                ? #"{"inputs":[{"name":"t","shape":[1,1],"datatype":"FP32","data":[\#(value)]}]}"#
                : #"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[\#(value)]}]}"#
            let r: InferenceProtocol.InferenceRequest = try request(body)
            do {
                _ = try model.features(r)
                return "accepted"
            } catch { return "\(error.status) \(error.message)" }
        }
        // 3e38 is a valid 32-bit float, but standardised it is not: both request forms say so.
        for single in [false, true] {
            let huge = try refusal("3e38", single: single)
            #expect(huge.hasPrefix("400 feature 'x' is out of range here"), "\(huge)")
            #expect(try refusal("0.0015", single: single) == "accepted")
        }
    }

    @Test func theSchemasMinAndMaxApplyToRequestsAsToFiles() throws {
        let schema = DataSchema(columns: [ColumnSchema("n", .int, min: 0, max: 10), ColumnSchema("y", .float)], label: "y")
        let table = Table(
            columns: [Column(schema: schema.columns[0], values: .int([1, 2, 3])), Column(schema: schema.columns[1], values: .float([1, 2, 3]))],
            rowCount: 3)
        let preprocessor = try Preprocessor.fit(schema: schema, transforms: [], table: table, rows: [0, 1, 2])
        let config = ModelConfig(task: .regression, architecture: .linear, inputs: preprocessor.width, outputs: 1)
        let card = ModelCard(
            model: config, inputColumns: preprocessor.outputColumns, preprocessing: preprocessor.cardValue, labels: ["y"])
        let directory = try TemporaryDirectory(files: [:])
        try Artifact.save(try Network(config, blas: try BLAS.get()), card: card, to: directory.path + "/model")
        let model = try ServedModel.load(artifact: directory.path + "/model", model: "n", version: 1)
        for (body, message) in [
            (#"{"inputs":[{"name":"n","shape":[2],"datatype":"INT64","data":[3,11]}]}"#, "element 1 (11.0) is above the column's maximum 10"),
            (#"{"inputs":[{"name":"n","shape":[1],"datatype":"INT64","data":[-1]}]}"#, "below the column's minimum 0"),
            (#"{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[12]}]}"#, "above the column's maximum 10"),
            (#"{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[1.5]}]}"#, "not a whole number"),
        ] {
            let decoded = try request(body)
            do {
                _ = try model.features(decoded)
                Issue.record("accepted \(body)")
            } catch {
                #expect(error.status == 400 && error.message.contains(message), "\(error.message)")
            }
        }
        #expect(try model.features(try request(#"{"inputs":[{"name":"n","shape":[1],"datatype":"INT64","data":[10]}]}"#)).rows == 1)
    }

    @Test func outputsNameClassesAndHonourTheRequestedOnes() throws {
        let (directory, model) = try Self.artifact()
        _ = directory
        let probabilities: [Float] = [0.1, 0.7, 0.2, 0.6, 0.3, 0.1]
        let all = try probabilities.withUnsafeBufferPointer { try model.outputs($0, rows: 2, requested: nil) }
        #expect(all.map(\.name) == ["label", "probabilities"])
        guard case .strings(let labels) = all[0].data else { throw CancellationError() }
        #expect(labels == ["b", "a"])
        #expect(all[1].shape == [2, 3])
        let only = try probabilities.withUnsafeBufferPointer { try model.outputs($0, rows: 2, requested: ["label"]) }
        #expect(only.map(\.name) == ["label"])
        #expect(throws: InferenceProtocol.Failure.self) {
            try probabilities.withUnsafeBufferPointer { try model.outputs($0, rows: 2, requested: ["logits"]) }
        }
    }

    /// Dynamic batching answers each request with its own rows, whether it ran alone or with others.
    @Test func batchedRequestsGetTheirOwnRows() async throws {
        let (directory, model) = try Self.artifact()
        _ = directory
        let batcher = try Batcher(model, settings: .init(maxBatchSize: 64, maxDelay: 0.02), onBatch: { _ in })
        let alone = try model.makePredictor(maxBatch: 1)
        let inputs = (0..<20).map { i in (0..<4).map { Float(i * 4 + $0) / 10 } }
        let answers = try await withThrowingTaskGroup(of: (Int, [Float]).self) { group in
            for (i, x) in inputs.enumerated() {
                group.addTask { (i, try await batcher.submit(rows: 1, features: x)) }
            }
            var out: [Int: [Float]] = [:]
            for try await (i, y) in group { out[i] = y }
            return out
        }
        for (i, x) in inputs.enumerated() {
            var expected = [Float](repeating: 0, count: 3)
            try x.withUnsafeBufferPointer { f in
                try expected.withUnsafeMutableBufferPointer { try alone.predict(f, rows: 1, into: $0) }
            }
            let got = try #require(answers[i])
            for j in 0..<3 { #expect(abs(got[j] - expected[j]) < 1e-6) }
        }
        batcher.retire()
        await #expect(throws: Batcher.Retired.self) { _ = try await batcher.submit(rows: 1, features: inputs[0]) }
    }
}

@Suite struct CanaryAndTokens {
    @Test func requestIdsSpreadEvenlyAndStayPut() {
        // Ids that differ only at the end, as clients number them: every decile gets its share.
        // Binomial(10000, 0.1): sd 30; six of them either side.
        for prefix in ["request-", "req-", ""] {
            let draws = (0..<10_000).map { DeploymentHost.unitInterval("\(prefix)\($0)") }
            for decile in 0..<10 {
                let inside = draws.filter { Int($0 * 10) == decile }.count
                #expect(abs(inside - 1000) < 180, "\(prefix) decile \(decile): \(inside)")
            }
        }
        let draws = (0..<10_000).map { DeploymentHost.unitInterval("request-\($0)") }
        #expect(draws.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(DeploymentHost.unitInterval("request-7") == draws[7])
    }

    static func policy() -> [PolicySpec] {
        let token = Array(SHA256.hash(data: Data("s3cret".utf8))).map { String(format: "%02x", $0) }.joined()
        let other = Array(SHA256.hash(data: Data("other".utf8))).map { String(format: "%02x", $0) }.joined()
        let yaml = """
            apiVersion: kiln/v1
            kind: Policy
            metadata: {name: p}
            spec:
              principals:
                - {name: shop, roles: [consumer], token_sha256: "\(token)"}
                - {name: intern, roles: [reader], token_sha256: "\(other)"}
              roles:
                consumer:
                  - {allow: [infer, read], on: "deployment/iris-*", environments: [production]}
                reader:
                  - {allow: [read], on: "deployment/*"}
            """
        let workspace = TestCompile.workspace(yaml)
        return workspace.resources.filter { $0.kind == .policy }.map(PolicySpec.init)
    }

    @Test(arguments: [
        (nil as String?, "infer", "iris-api", "production", "401"),
        ("wrong", "infer", "iris-api", "production", "401"),
        ("s3cret", "infer", "iris-api", "production", "allowed shop"),
        ("s3cret", "infer", "iris-api", "staging", "403"),
        ("s3cret", "infer", "wine-api", "production", "403"),
        ("other", "read", "wine-api", "staging", "allowed intern"),
        ("other", "infer", "wine-api", "staging", "403"),
    ])
    func tokensMapToPrincipalsAndRules(
        _ token: String?, _ action: String, _ deployment: String, _ environment: String, _ expected: String
    ) throws {
        let decision = try PolicyAuthorizer(Self.policy()).authorize(
            bearerToken: token, clientCertificate: nil, action: action, deployment: deployment, environment: environment)
        switch decision {
        case .allowed(let who): #expect(expected == "allowed \(who ?? "")")
        case .unauthenticated: #expect(expected == "401")
        case .forbidden(let why):
            #expect(expected == "403")
            #expect(why.contains("may not \(action) on deployment/\(deployment)"))
        }
    }
}

/// The request reader's fast path accepts only valid JSON (never what Foundation's reader refuses), and
/// reads the values Foundation reads.
@Suite struct RequestJSONStrictness {
    static let documents = [
        #"{"a": [1, -2.5, 3e2, 0.001, -0, 1E-3], "b": "x\"y\\z\/\u00e9\ud83d\ude00\n", "c": [true, false, null]}"#,
        #"  [ ]  "#, #"{}"#, #"[[[[1]]]]"#, #""caf\u00e9""#, #"12345678901234567890"#,
        #"{"a":01}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":+1}"#, #"[1,]"#, #"{"a":1,}"#, #"{"a" 1}"#,
        "[\"\u{01}\"]", #"["\ud800"]"#, #"["\ud800\u0041"]"#, #"["\x"]"#, #"tru"#, #"{} x"#, #"[1 2]"#,
        #"{"a":1}}"#, #"[-]"#, #"[1e]"#, #"[1e+]"#, #"["abc"#, #"nul"#, #"[NaN]"#, #"[Infinity]"#,
        String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
    ]

    /// The first six documents are valid JSON; the rest are not (Foundation tolerates trailing commas,
    /// which the fast path leaves to it).
    @Test func acceptsValidJSONOnlyAndReadsWhatFoundationReads() throws {
        for (k, doc) in Self.documents.enumerated() {
            let data = Data(doc.utf8)
            let foundation = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            let ours = RequestJSON.parse(data)
            #expect((ours != nil) == (k < 6 || k == Self.documents.count - 1), "\(doc)")
            if let ours {
                let foundation = try #require(foundation, "\(doc)")
                #expect(Self.same(foundation, ours), "\(doc)")
            }
        }
        // Byte flips of a valid request: never accepted when Foundation refuses.
        let request = Array(
            #"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1.5,-2,3e1]}],"id":"r"}"#.utf8)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var bytes = request
            bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...127, using: &generator)
            let data = Data(bytes)
            let foundation = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            if foundation == nil {
                #expect(RequestJSON.parse(data) == nil, "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }

    static func same(_ a: Any, _ b: RequestJSON.Value) -> Bool {
        switch b {
        case .null: return a is NSNull
        case .bool(let v):
            return (a as? NSNumber).map { $0.objCType.pointee == CChar(UInt8(ascii: "c")) && $0.boolValue == v }
                ?? false
        case .number(let v): return (a as? NSNumber).map { $0.doubleValue == v } ?? false
        case .string(let v): return (a as? String) == v
        case .array(let items):
            guard let list = a as? [Any], list.count == items.count else { return false }
            return zip(list, items).allSatisfy { same($0, $1) }
        case .object(let members):
            guard let object = a as? [String: Any], object.count == members.count else { return false }
            return members.allSatisfy { key, value in object[key].map { same($0, value) } ?? false }
        }
    }
}

/// A log handler that keeps what it is given.
final class CapturingLog: LogHandler, @unchecked Sendable {
    var lines: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        lines.append("\(event.message) \(event.metadata ?? [:])")
    }
}

@Suite struct InternalErrors {
    struct Secret: Error, CustomStringConvertible {
        var description: String { "cannot open /srv/kiln/registry/objects/ab: Permission denied" }
    }

    @Test func aFiveHundredSaysNothingOfTheCauseAndNamesTheRequest() {
        let log = CapturingLog()
        let logger = Logger(label: "test") { _ in log }
        let (failure, id) = InferenceServer.internalFailure(
            Secret(), requestID: "req-42", path: "/v2/models/iris/infer", logger: logger)
        #expect(failure.status == 500)
        #expect(id == "req-42")
        #expect(failure.message == "internal error (request id req-42; the server's log has the detail)")
        #expect(!failure.message.contains("/srv") && !failure.message.contains("Permission"))
        #expect(log.lines.count == 1 && log.lines[0].contains("Permission denied") && log.lines[0].contains("req-42"))
        // A request id that could forge the body or the log is replaced by a fresh one.
        let (other, fresh) = InferenceServer.internalFailure(
            Secret(), requestID: "x\"\n{\"error\":1}", path: "/", logger: logger)
        #expect(fresh.count == 36 && other.message.contains(fresh))
    }
}
