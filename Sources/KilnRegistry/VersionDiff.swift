import Foundation
public import KilnSpec

/// What changed between two versions: spec files, params, metrics, weights.
public struct VersionDiff: Sendable {
    public struct FileChange: Sendable {
        public var path: String
        public var old: String?
        public var new: String?
    }

    public struct ValueChange: Sendable {
        public var path: String
        public var old: String
        public var new: String
    }

    public struct MetricChange: Sendable {
        public var split: String
        public var metric: String
        public var old: Double?
        public var new: Double?
    }

    public struct TensorChange: Sendable {
        public var name: String
        public var oldShape: [Int]?
        public var newShape: [Int]?
        /// Same chunks: the same bytes, known without reading them.
        public var identical: Bool
        /// ‖new − old‖₂, ‖new − old‖₂ / ‖old‖₂ and the cosine of old and new (float32 tensors of one shape).
        public var l2: Double?
        public var relative: Double?
        public var cosine: Double?
    }

    public var old: RegisteredVersion
    public var new: RegisteredVersion
    public var specs: [FileChange]
    public var params: [ValueChange]
    public var metrics: [MetricChange]
    public var tensors: [TensorChange]
}

extension GitRegistry {
    /// The version before `reference`'s (nil for v1).
    public func predecessor(of reference: ModelReference) throws -> ModelReference? {
        guard let v = try resolve(reference), v.version > 1 else { return nil }
        return ModelReference("\(v.model)@v\(v.version - 1)")
    }

    public func diff(_ a: ModelReference, _ b: ModelReference) throws -> VersionDiff {
        guard let old = try resolve(a) else { throw RegistryError.notRegistered(a.description) }
        guard let new = try resolve(b) else { throw RegistryError.notRegistered(b.description) }
        let oldSpecs = try files(a, under: "specs"), newSpecs = try files(b, under: "specs")
        var specs: [VersionDiff.FileChange] = []
        for path in Set(oldSpecs.keys).union(newSpecs.keys).sorted() where oldSpecs[path] != newSpecs[path] {
            specs.append(.init(path: path, old: oldSpecs[path], new: newSpecs[path]))
        }
        var params: [VersionDiff.ValueChange] = []
        let oldParams = flatten(try blob(a, path: "params.json")), newParams = flatten(try blob(b, path: "params.json"))
        for key in Set(oldParams.keys).union(newParams.keys).sorted() where oldParams[key] != newParams[key] {
            params.append(.init(path: key, old: oldParams[key] ?? "(absent)", new: newParams[key] ?? "(absent)"))
        }
        var metrics: [VersionDiff.MetricChange] = []
        for split in ["train", "validation", "test"] {
            let o = old.metrics[split] ?? [:], n = new.metrics[split] ?? [:]
            for metric in Set(o.keys).union(n.keys).sorted() {
                metrics.append(.init(split: split, metric: metric, old: o[metric], new: n[metric]))
            }
        }
        return VersionDiff(
            old: old, new: new, specs: specs, params: params, metrics: metrics, tensors: try tensorDiff(a, b))
    }

    private func files(_ reference: ModelReference, under directory: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for path in try paths(reference, under: directory) {
            if let data = try blob(reference, path: directory + "/" + path) {
                out[path] = String(decoding: data, as: UTF8.self)
            }
        }
        return out
    }

    /// Leaf values by dotted path, as JSON text (kiln's parser: numbers as written, not rounded).
    private func flatten(_ data: Data?) -> [String: String] {
        guard let data, let object = try? JSON.parse(String(decoding: data, as: UTF8.self)) else { return [:] }
        var out: [String: String] = [:]
        func walk(_ value: JSON, _ path: String) {
            if case .object(let fields) = value {
                for (k, v) in fields { walk(v, path.isEmpty ? k : path + "." + k) }
            } else {
                out[path] = value.serialized()
            }
        }
        walk(object, "")
        return out
    }

    private func tensorDiff(_ a: ModelReference, _ b: ModelReference) throws -> [VersionDiff.TensorChange] {
        let decoder = JSONDecoder()
        guard let ma = try blob(a, path: "weights/manifest.json"), let mb = try blob(b, path: "weights/manifest.json")
        else { return [] }
        let old = try decoder.decode(WeightStore.Manifest.self, from: ma)
        let new = try decoder.decode(WeightStore.Manifest.self, from: mb)
        for (reference, manifest) in [(a, old), (b, new)] {
            if let problem = manifest.problem { throw RegistryError.damaged("\(reference): its weights manifest \(problem)") }
        }
        let olds = Dictionary(old.tensors.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        let news = Dictionary(new.tensors.map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        var out: [VersionDiff.TensorChange] = []
        for name in Set(olds.keys).union(news.keys).sorted() {
            let o = olds[name], n = news[name]
            var change = VersionDiff.TensorChange(
                name: name, oldShape: o?.shape, newShape: n?.shape, identical: o?.chunks == n?.chunks && o != nil)
            if let o, let n, !change.identical, o.shape == n.shape, o.dtype == "F32", n.dtype == "F32" {
                let x = try floats(o), y = try floats(n)
                var dd = 0.0, xx = 0.0, yy = 0.0, xy = 0.0
                for i in 0..<min(x.count, y.count) {
                    let p = Double(x[i]), q = Double(y[i])
                    dd += (q - p) * (q - p)
                    xx += p * p
                    yy += q * q
                    xy += p * q
                }
                change.l2 = dd.squareRoot()
                change.relative = xx > 0 ? dd.squareRoot() / xx.squareRoot() : nil
                change.cosine = xx > 0 && yy > 0 ? xy / (xx.squareRoot() * yy.squareRoot()) : nil
            }
            out.append(change)
        }
        return out
    }

    private func floats(_ tensor: WeightStore.Manifest.Tensor) throws -> [Float] {
        let data = try withRepository { repo in try WeightStore.tensorBytes(tensor, from: repo) }
        return data.withUnsafeBytes { raw in
            (0..<(raw.count / 4)).map {
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
            }
        }
    }
}

/// A line diff (longest common subsequence) as unified-diff hunks with `context` lines around changes.
public enum LineDiff {
    public static func unified(old: String, new: String, oldName: String, newName: String, context: Int = 3) -> [String]
    {
        let a = old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // LCS table (spec files are small).
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        enum Op { case same(String), del(String), add(String) }
        var ops: [Op] = []
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count && j < b.count && a[i] == b[j] {
                ops.append(.same(a[i])); i += 1; j += 1
            } else if i < a.count && (j == b.count || lcs[i + 1][j] >= lcs[i][j + 1]) {
                // A deletion before the addition that replaces it, as diff(1) and git print a changed line.
                ops.append(.del(a[i])); i += 1
            } else {
                ops.append(.add(b[j])); j += 1
            }
        }
        var lines = ["--- \(oldName)", "+++ \(newName)"]
        var k = 0
        var oldLine = 1, newLine = 1
        var positions: [(Int, Int)] = []
        for op in ops {
            positions.append((oldLine, newLine))
            switch op {
            case .same: oldLine += 1; newLine += 1
            case .del: oldLine += 1
            case .add: newLine += 1
            }
        }
        while k < ops.count {
            guard case .same = ops[k] else {
                let start = max(0, k - context)
                var end = k
                var quiet = 0
                while end < ops.count {
                    if case .same = ops[end] { quiet += 1 } else { quiet = 0 }
                    if quiet > 2 * context { break }
                    end += 1
                }
                end = min(ops.count, end - max(0, quiet - context))
                let (os, ns) = positions[start]
                var body: [String] = []
                var oc = 0, nc = 0
                for op in ops[start..<end] {
                    switch op {
                    case .same(let s): body.append(" " + s); oc += 1; nc += 1
                    case .del(let s): body.append("-" + s); oc += 1
                    case .add(let s): body.append("+" + s); nc += 1
                    }
                }
                lines.append("@@ -\(os),\(oc) +\(ns),\(nc) @@")
                lines += body
                k = end
                continue
            }
            k += 1
        }
        return lines
    }
}
