import Foundation
import KilnSpec

/// Lowers a checked workspace to the execution graph of spec-language.md:
/// dataset ingest → check → split; training fit → gate → register; deployment release.
struct Lowering {
    let checked: CheckedWorkspace
    let hashFiles: Bool

    func graph() -> ExecutionGraph {
        var nodes: [GraphNode] = []
        var fingerprints: [String: String] = [:]
        // Datasets often share a file: hash each once.
        var fileHashes: [String: String] = [:]
        func hash(_ path: String) -> String {
            guard hashFiles else { return "unhashed" }
            if let known = fileHashes[path] { return known }
            let h = Fingerprint.file(path) ?? "missing"
            fileHashes[path] = h
            return h
        }

        func add(
            _ id: String, _ kind: GraphNode.Kind, _ resource: String, config: JSON, inputs: [String],
            files: [String] = [], provenance: [([String], SpecValue?)] = []
        ) {
            let hashed = files.map { (path: $0, sha256: hash($0)) }
            let fp = Fingerprint.node(
                kind: kind, config: config, files: hashed, inputs: inputs.map { fingerprints[$0] ?? $0 })
            fingerprints[id] = fp
            nodes.append(
                GraphNode(
                    id: id, kind: kind, resource: resource, inputs: inputs, config: config, files: hashed,
                    fingerprint: fp, provenance: provenance.compactMap { p in p.1.map { (path: p.0, value: $0) } }))
        }

        for name in checked.datasets.keys.sorted() {
            guard let d = checked.datasets[name] else { continue }
            let r = "dataset/\(name)", v = d.resource.spec
            let source = v["source"]?.json ?? .null
            add(
                "\(r):ingest", .ingest, r,
                config: .object([
                    ("source", source),
                    ("columns", v[path: ["schema", "columns"]]?.json ?? .null),
                    ("governance", v["governance"]?.json ?? .null),
                ]), inputs: [], files: d.sourceFiles,
                provenance: [
                    (["source"], v["source"]), (["columns"], v[path: ["schema", "columns"]]),
                    (["governance"], v["governance"]), ([], v),
                ])
            add(
                "\(r):check", .check, r, config: .object([("checks", v["checks"]?.json ?? .array([]))]),
                inputs: ["\(r):ingest"], provenance: [(["checks"], v["checks"]), ([], v)])
            add(
                "\(r):split", .split, r,
                config: .object([
                    ("split", v["split"]?.json ?? .null), ("label", v[path: ["schema", "label"]]?.json ?? .null),
                ]),
                inputs: ["\(r):check"],
                provenance: [(["split"], v["split"]), (["label"], v[path: ["schema", "label"]]), ([], v)])
        }

        for t in checked.trainings.sorted(by: { $0.nodeName < $1.nodeName }) {
            guard let dataset = checked.datasets[t.dataset], let model = checked.models[t.model] else { continue }
            let r = "training/\(t.nodeName)"
            // What changes the trained weights; gates, registration and execution policy do not.
            let excluded: Set = ["gates", "register", "matrix", "timeout", "retry", "checkpoint"]
            let training = JSON.object(
                (t.spec.fields ?? []).filter { !excluded.contains($0.name) }.map { ($0.name, $0.value.json) })
            let ds = dataset.resource.spec
            add(
                "\(r):fit", .fit, r,
                config: .object([
                    ("training", training), ("model", model.spec.json),
                    (
                        "features",
                        .object([
                            ("label", ds[path: ["schema", "label"]]?.json ?? .null),
                            ("features", ds[path: ["schema", "features"]]?.json ?? .null),
                            ("transforms", ds["transforms"]?.json ?? .array([])),
                            ("columns", .array(dataset.featureColumns.map(JSON.string))),
                        ])
                    ),
                    ("loss", .string(t.loss)), ("metrics", .array(t.metrics.map(JSON.string))),
                    ("inputs", .int(t.inputs)), ("outputs", .int(t.outputs)),
                ]), inputs: ["dataset/\(t.dataset):split"],
                provenance: [
                    (["training"], t.spec), (["model"], model.spec),
                    (["features", "label"], ds[path: ["schema", "label"]]),
                    (["features", "features"], ds[path: ["schema", "features"]]),
                    (["features", "transforms"], ds["transforms"]), (["features", "columns"], ds["schema"]),
                    (["loss"], t.spec["loss"]), (["metrics"], t.spec["metrics"]), (["inputs"], model.spec["inputs"]),
                    (["outputs"], model.spec["outputs"]), ([], t.spec),
                ])
            add(
                "\(r):gate", .gate, r, config: .object([("gates", t.spec["gates"]?.json ?? .array([]))]),
                inputs: ["\(r):fit"], provenance: [(["gates"], t.spec["gates"]), ([], t.spec)])
            if let name = t.registerName {
                var register = (t.spec["register"]?.fields ?? []).map { ($0.name, $0.value.json) }
                if !register.contains(where: { $0.0 == "name" }) { register.insert(("name", .string(name)), at: 0) }
                add(
                    "\(r):register", .register, r, config: .object(register), inputs: ["\(r):gate"],
                    provenance: [([], t.spec["register"] ?? t.spec)])
            }
        }

        for d in checked.deployments.sorted(by: { $0.resource.name < $1.resource.name }) {
            let r = "deployment/\(d.resource.name)", v = d.resource.spec
            let names = Set([d.spec.model?.model, d.spec.canary?.model].compactMap { $0 })
            let upstream = checked.trainings.filter { $0.registerName.map(names.contains) ?? false }
                .map { "training/\($0.nodeName):register" }.sorted()
            add(
                "\(r):release", .release, r,
                config: .object([
                    ("model", v["model"]?.json ?? .null), ("canary", v["canary"]?.json ?? .null),
                    ("environment", v["environment"]?.json ?? .null), ("signing_required", .bool(d.signingRequired)),
                ]), inputs: upstream, files: d.trustedKeyFiles, provenance: [([], v)])
        }
        return ExecutionGraph(nodes: nodes)
    }
}
