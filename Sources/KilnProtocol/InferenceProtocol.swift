public import Foundation
import KilnCompute

/// The JSON of the Open Inference Protocol v2, REST dialect (the protocol KServe, Triton and Seldon
/// MLServer speak): https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
public enum InferenceProtocol {
    /// The tensor datatypes of the protocol.
    public enum Datatype: String, Sendable, Codable, CaseIterable {
        case bool = "BOOL"
        case uint8 = "UINT8", uint16 = "UINT16", uint32 = "UINT32", uint64 = "UINT64"
        case int8 = "INT8", int16 = "INT16", int32 = "INT32", int64 = "INT64"
        case fp16 = "FP16", fp32 = "FP32", fp64 = "FP64"
        case bytes = "BYTES"

        public var isNumeric: Bool { self != .bool && self != .bytes }
        public var isInteger: Bool { isNumeric && !isFloat }
        public var isFloat: Bool { self == .fp16 || self == .fp32 || self == .fp64 }

        /// Whether `v` is a value of this type: finite, whole for integer types, within the type's range.
        /// FP64 values must also fit 32-bit floats, which every kiln model computes in.
        func holds(_ v: Double) -> Bool {
            guard v.isFinite else { return false }
            if isInteger && v.rounded() != v { return false }
            switch self {
            case .int8: return v >= -128 && v <= 127
            case .int16: return v >= -32768 && v <= 32767
            case .int32: return v >= -2_147_483_648 && v <= 2_147_483_647
            // 2^63 is the first Double past Int64.max.
            case .int64: return v >= -9_223_372_036_854_775_808 && v < 9_223_372_036_854_775_808
            case .uint8: return v >= 0 && v <= 255
            case .uint16: return v >= 0 && v <= 65535
            case .uint32: return v >= 0 && v <= 4_294_967_295
            case .uint64: return v >= 0 && v < 18_446_744_073_709_551_616
            case .fp16: return abs(v) <= 65504
            case .fp32, .fp64: return Float(v).isFinite
            case .bool, .bytes: return false
            }
        }
    }

    /// A tensor's elements, flattened in row-major order (the protocol allows nested arrays too).
    public enum TensorData: Sendable, Equatable {
        /// Numbers; nil: a JSON null (a missing value, imputed or refused by the model's preprocessing).
        case numbers([Double?])
        case bools([Bool?])
        case strings([String?])

        public var count: Int {
            switch self {
            case .numbers(let v): v.count
            case .bools(let v): v.count
            case .strings(let v): v.count
            }
        }
    }

    public struct InputTensor: Sendable {
        public var name: String
        public var shape: [Int]
        public var datatype: Datatype
        public var data: TensorData
    }

    public struct RequestedOutput: Sendable, Decodable {
        public var name: String
    }

    public struct InferenceRequest: Sendable {
        public var id: String?
        public var inputs: [InputTensor]
        public var outputs: [RequestedOutput]?
    }

    public struct OutputTensor: Sendable, Encodable {
        public var name: String
        public var datatype: String
        public var shape: [Int]
        public var data: OutputData

        public init(name: String, datatype: Datatype, shape: [Int], data: OutputData) {
            self.name = name
            self.datatype = datatype.rawValue
            self.shape = shape
            self.data = data
        }
    }

    public enum OutputData: Sendable, Encodable {
        case floats([Float])
        case strings([String])
        case bools([Bool])

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .floats(let v): try c.encode(v)
            case .strings(let v): try c.encode(v)
            case .bools(let v): try c.encode(v)
            }
        }
    }

    public struct InferenceResponse: Sendable, Encodable {
        public var modelName: String
        public var modelVersion: String
        public var id: String?
        public var parameters: [String: String]
        public var outputs: [OutputTensor]

        enum CodingKeys: String, CodingKey {
            case modelName = "model_name", modelVersion = "model_version", id, parameters, outputs
        }

        public init(modelName: String, modelVersion: String, id: String?, parameters: [String: String], outputs: [OutputTensor]) {
            self.modelName = modelName
            self.modelVersion = modelVersion
            self.id = id
            self.parameters = parameters
            self.outputs = outputs
        }
    }

    public struct TensorMetadata: Sendable, Encodable, Equatable {
        public var name: String
        public var datatype: String
        /// -1: any size (the batch dimension).
        public var shape: [Int]

        public init(name: String, datatype: String, shape: [Int]) {
            self.name = name
            self.datatype = datatype
            self.shape = shape
        }
    }

    public struct ModelMetadata: Sendable, Encodable {
        public var name: String
        public var versions: [String]
        public var platform: String
        public var inputs: [TensorMetadata]
        public var outputs: [TensorMetadata]
        public var parameters: [String: String]

        public init(name: String, versions: [String], platform: String, inputs: [TensorMetadata], outputs: [TensorMetadata], parameters: [String: String]) {
            self.name = name
            self.versions = versions
            self.platform = platform
            self.inputs = inputs
            self.outputs = outputs
            self.parameters = parameters
        }
    }

    public struct ServerMetadata: Sendable, Encodable {
        public var name: String
        public var version: String
        public var extensions: [String]

        public init(name: String, version: String, extensions: [String]) {
            self.name = name
            self.version = version
            self.extensions = extensions
        }
    }

    /// A request the protocol rejects: the HTTP status and a message naming the problem.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var status: Int
        public var message: String
        /// Seconds a client should wait before retrying (503).
        public var retryAfter: Int?

        public init(_ status: Int, _ message: String, retryAfter: Int? = nil) {
            self.status = status
            self.message = message
            self.retryAfter = retryAfter
        }

        public var description: String { message }

        /// The protocol's error body: `{"error": "..."}`.
        public var body: Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .withoutEscapingSlashes
            return (try? encoder.encode(["error": message])) ?? Data("{\"error\":\"internal error\"}".utf8)
        }

        public static func badRequest(_ message: String) -> Failure { Failure(400, message) }
    }

    // MARK: Decoding

    /// Decodes an inference request, with a message naming the problem (the input, the field, the
    /// element) for each way it can be wrong. A well-formed request takes the fast path (`RequestJSON`);
    /// anything else goes through the element-by-element reading that explains what is wrong.
    public static func decodeRequest(_ body: Data) throws(Failure) -> InferenceRequest {
        if let value = RequestJSON.parse(body), let request = fastRequest(value) { return request }
        return try decodeExplaining(body)
    }

    /// The request, when everything in it is as it should be; nil sends it to the explaining path.
    private static func fastRequest(_ value: RequestJSON.Value) -> InferenceRequest? {
        guard case .array(let list)? = value["inputs"], !list.isEmpty else { return nil }
        var id: String?
        switch value["id"] {
        case .none: break
        case .string(let s)?: id = s
        default: return nil
        }
        var inputs: [InputTensor] = []
        var names = Set<String>()
        for item in list {
            guard case .string(let name)? = item["name"], !name.isEmpty, names.insert(name).inserted,
                case .string(let typeText)? = item["datatype"], let datatype = Datatype(rawValue: typeText),
                case .array(let shapeValues)? = item["shape"], case .array(let elements)? = item["data"]
            else { return nil }
            var shape: [Int] = []
            for s in shapeValues {
                guard case .number(let d) = s, d >= 0, d.rounded() == d, d < 1e15 else { return nil }
                shape.append(Int(d))
            }
            guard let count = Shape.elementCount(shape), count == elements.count else { return nil }
            let data: TensorData
            switch datatype {
            case .bool:
                var values: [Bool?] = []
                values.reserveCapacity(elements.count)
                for e in elements {
                    guard case .bool(let b) = e else { return nil }
                    values.append(b)
                }
                data = .bools(values)
            case .bytes:
                var values: [String?] = []
                values.reserveCapacity(elements.count)
                for e in elements {
                    guard case .string(let t) = e else { return nil }
                    values.append(t)
                }
                data = .strings(values)
            default:
                var values: [Double?] = []
                values.reserveCapacity(elements.count)
                for e in elements {
                    guard case .number(let v) = e, datatype.holds(v) else { return nil }
                    values.append(v)
                }
                data = .numbers(values)
            }
            inputs.append(InputTensor(name: name, shape: shape, datatype: datatype, data: data))
        }
        var outputs: [RequestedOutput]?
        if let requested = value["outputs"] {
            guard case .array(let list) = requested, !list.isEmpty else { return nil }
            outputs = []
            for o in list {
                guard case .string(let name)? = o["name"] else { return nil }
                outputs?.append(RequestedOutput(name: name))
            }
        }
        return InferenceRequest(id: id, inputs: inputs, outputs: outputs)
    }

    private static func decodeExplaining(_ body: Data) throws(Failure) -> InferenceRequest {
        if let key = RequestJSON.firstDuplicateKey(body) {
            throw .badRequest("the body gives the key '\(key.prefix(60))' twice in one object; give each key once")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: body, options: [])
        } catch {
            throw .badRequest("the body is not valid JSON: \(Self.describe(error))")
        }
        guard let object = json as? [String: Any] else {
            throw .badRequest("the body must be a JSON object with 'inputs'")
        }
        let id = object["id"]
        guard id == nil || id is String else { throw .badRequest("'id' must be a string") }
        guard let rawInputs = object["inputs"] else { throw .badRequest("the request has no 'inputs'") }
        guard let inputList = rawInputs as? [Any], !inputList.isEmpty else {
            throw .badRequest("'inputs' must be a non-empty list of tensors")
        }
        var inputs: [InputTensor] = []
        for (i, raw) in inputList.enumerated() {
            inputs.append(try decodeInput(raw, index: i))
        }
        var seen = Set<String>()
        for input in inputs where !seen.insert(input.name).inserted {
            throw .badRequest("the input '\(input.name)' is given twice")
        }
        var outputs: [RequestedOutput]?
        if let rawOutputs = object["outputs"] {
            guard let list = rawOutputs as? [Any], !list.isEmpty else {
                throw .badRequest("'outputs' must be a non-empty list (leave it out for every output)")
            }
            outputs = []
            for (i, o) in list.enumerated() {
                guard let o = o as? [String: Any], let name = o["name"] as? String else {
                    throw .badRequest("outputs[\(i)] must be an object with a 'name'")
                }
                outputs?.append(RequestedOutput(name: name))
            }
        }
        return InferenceRequest(id: id as? String, inputs: inputs, outputs: outputs)
    }

    private static func decodeInput(_ raw: Any, index: Int) throws(Failure) -> InputTensor {
        guard let o = raw as? [String: Any] else { throw .badRequest("inputs[\(index)] must be an object") }
        guard let name = o["name"] as? String, !name.isEmpty else {
            throw .badRequest("inputs[\(index)] has no 'name'")
        }
        let what = "input '\(name)'"
        guard let typeText = o["datatype"] as? String else { throw .badRequest("\(what) has no 'datatype'") }
        guard let datatype = Datatype(rawValue: typeText) else {
            throw .badRequest(
                "\(what): unknown datatype '\(typeText)' (one of \(Datatype.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        guard let shapeList = o["shape"] as? [Any] else {
            throw .badRequest("\(what) has no 'shape' (a list of sizes)")
        }
        var shape: [Int] = []
        for s in shapeList {
            guard let n = Self.integer(s), n >= 0 else {
                throw .badRequest("\(what): 'shape' must hold sizes ≥ 0, not \(s)")
            }
            shape.append(n)
        }
        guard let rawData = o["data"] else { throw .badRequest("\(what) has no 'data'") }
        guard rawData is [Any] else { throw .badRequest("\(what): 'data' must be a list of elements") }
        var flat: [Any] = []
        flatten(rawData, into: &flat)
        let data: TensorData
        switch datatype {
        case .bool:
            var values: [Bool?] = []
            values.reserveCapacity(flat.count)
            for (k, v) in flat.enumerated() {
                if v is NSNull {
                    values.append(nil)
                } else if let b = Self.boolean(v) {
                    values.append(b)
                } else {
                    throw .badRequest("\(what) is BOOL, but element \(k) is \(Self.describe(value: v))")
                }
            }
            data = .bools(values)
        case .bytes:
            var values: [String?] = []
            values.reserveCapacity(flat.count)
            for (k, v) in flat.enumerated() {
                if v is NSNull {
                    values.append(nil)
                } else if let s = v as? String {
                    values.append(s)
                } else {
                    throw .badRequest("\(what) is BYTES, but element \(k) is \(Self.describe(value: v))")
                }
            }
            data = .strings(values)
        default:
            var values: [Double?] = []
            values.reserveCapacity(flat.count)
            for (k, v) in flat.enumerated() {
                if v is NSNull {
                    values.append(nil)
                    continue
                }
                guard let d = Self.number(v) else {
                    throw .badRequest(
                        "\(what) is \(typeText), but element \(k) is \(Self.describe(value: v))"
                            + (v is String ? " (NaN and infinity are not accepted)" : ""))
                }
                if datatype.isInteger && d.isFinite && d.rounded() != d {
                    throw .badRequest("\(what) is \(typeText), but element \(k) is \(v), not a whole number")
                }
                guard datatype.holds(d) else {
                    throw .badRequest(
                        "\(what): element \(k) (\(v)) is out of range for \(typeText)"
                            + (datatype == .fp64 ? " as the model reads it (32-bit floats, at most about 3.4e38)" : ""))
                }
                values.append(d)
            }
            data = .numbers(values)
        }
        guard let expected = Shape.elementCount(shape) else {
            throw .badRequest("\(what): shape \(shape) holds more elements than any request can")
        }
        guard expected == data.count else {
            throw .badRequest(
                "\(what): shape \(shape) holds \(expected) element\(expected == 1 ? "" : "s"), but 'data' has \(data.count)"
            )
        }
        return InputTensor(name: name, shape: shape, datatype: datatype, data: data)
    }

    private static func flatten(_ value: Any, into out: inout [Any]) {
        if let list = value as? [Any] {
            for v in list { flatten(v, into: &out) }
        } else {
            out.append(value)
        }
    }

    /// JSONSerialization gives numbers and booleans both as NSNumber (and `1 is Bool` holds): a boolean
    /// is the one whose stored type is `c`.
    private static func isBoolean(_ v: Any) -> Bool {
        guard let n = v as? NSNumber else { return false }
        return n.objCType.pointee == CChar(UInt8(ascii: "c"))
    }

    private static func boolean(_ v: Any) -> Bool? {
        guard isBoolean(v), let n = v as? NSNumber else { return nil }
        return n.boolValue
    }

    private static func number(_ v: Any) -> Double? {
        guard !isBoolean(v), let n = v as? NSNumber else { return nil }
        return n.doubleValue
    }

    private static func integer(_ v: Any) -> Int? {
        guard let d = number(v), d.rounded() == d, abs(d) < 1e15 else { return nil }
        return Int(d)
    }

    static func describe(value v: Any) -> String {
        if v is NSNull { return "null" }
        if isBoolean(v) { return "a boolean" }
        if let s = v as? String { return "the string \"\(s.prefix(40))\"" }
        if v is NSNumber { return "a number" }
        if v is [String: Any] { return "an object" }
        return "\(type(of: v))"
    }

    static func describe(_ error: any Error) -> String {
        let text = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}
