import Foundation
public import KilnCompute
public import KilnSpec

/// One registered version as `kiln show` (and, next, the UI) reads it: its log entry, its card, what
/// its lineage says of where it came from, and the stored documents themselves. A document that is
/// there but cannot be read is damage (`RegistryError.damaged`), never a blank.
public struct VersionDetails: Sendable {
    public var version: RegisteredVersion
    public var summary: GitRegistry.VersionSummary
    public var card: ModelCard
    public var lineage: Lineage?
    /// card.json, lineage.json and params.json as stored (those present), for a JSON view.
    public var documents: [String: JSON]

    /// What a version's lineage.json says of its origin.
    public struct Lineage: Sendable, Decodable {
        public struct Source: Sendable, Decodable {
            public var path: String
            public var sha256: String
            public var rows: Int?
        }

        /// The workspace's git commit when the version was registered, and whether it had changes.
        public var workspaceCommit: String?
        public var workspaceDirty: Bool?
        public var kiln: String?
        /// The data files the model was trained on.
        public var sources: [Source]

        private enum CodingKeys: String, CodingKey {
            case workspaceCommit = "workspace_commit", workspaceDirty = "workspace_dirty", kiln, data
        }

        private struct Data: Decodable { var sources: [Source]? }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            workspaceCommit = try c.decodeIfPresent(String.self, forKey: .workspaceCommit)
            workspaceDirty = try c.decodeIfPresent(Bool.self, forKey: .workspaceDirty)
            kiln = try c.decodeIfPresent(String.self, forKey: .kiln)
            sources = try c.decodeIfPresent(Data.self, forKey: .data)?.sources ?? []
        }
    }

    public static let documentNames = ["card.json", "lineage.json", "params.json"]
}

extension GitRegistry {
    /// The details of the version `reference` names.
    public func details(_ reference: ModelReference) throws -> VersionDetails {
        guard let version = try resolve(reference) else { throw RegistryError.notRegistered(reference.description) }
        let name = "\(version.model)@v\(version.version)"
        guard let pinned = ModelReference(name),
            let summary = try log(version.model).first(where: { $0.version == version.version })
        else { throw RegistryError.damaged("\(name) is not in \(version.model)'s history: the registry is damaged") }
        var documents: [String: JSON] = [:]
        var raw: [String: Data] = [:]
        for file in VersionDetails.documentNames {
            guard let data = try blob(pinned, path: file) else { continue }
            guard let json = try? JSON.parse(String(decoding: data, as: UTF8.self)), case .object = json else {
                throw RegistryError.damaged("\(name): \(file) is not a JSON object: the registry is damaged")
            }
            documents[file] = json
            raw[file] = data
        }
        guard let cardData = raw["card.json"] else {
            throw RegistryError.damaged("\(name) has no card.json: the registry is damaged")
        }
        let card: ModelCard
        do { card = try Artifact.decodeCard(cardData, path: "\(name)/card.json") } catch {
            throw RegistryError.damaged("\(name): \(error)")
        }
        var lineage: VersionDetails.Lineage?
        if let data = raw["lineage.json"] {
            do { lineage = try JSONDecoder().decode(VersionDetails.Lineage.self, from: data) } catch {
                throw RegistryError.damaged("\(name): lineage.json is not kiln's lineage: the registry is damaged")
            }
        }
        return VersionDetails(version: version, summary: summary, card: card, lineage: lineage, documents: documents)
    }
}

extension GitRegistry {
    /// What a version's weights take in the registry: their bytes, and the bytes of their chunks that no
    /// other version holds (what registering it added). A LoRA version shares every chunk of its frozen
    /// base with the versions before it, so it adds about its adapters and head.
    public func weightStorage(_ reference: ModelReference) throws -> (bytes: Int, unshared: Int) {
        guard let version = try resolve(reference) else { throw RegistryError.notRegistered(reference.description) }
        func chunks(_ model: String, _ number: Int) throws -> [String: Int] {
            guard let ref = ModelReference("\(model)@v\(number)"),
                let data = try blob(ref, path: "weights/manifest.json")
            else { return [:] }
            let manifest: WeightStore.Manifest
            do { manifest = try JSONDecoder().decode(WeightStore.Manifest.self, from: data) } catch {
                throw RegistryError.damaged("\(model)@v\(number): its weights manifest cannot be read")
            }
            var sizes: [String: Int] = [:]
            for t in manifest.tensors {
                for (i, chunk) in t.chunks.enumerated() {
                    sizes[chunk] = min(manifest.chunkBytes, t.end - t.begin - i * manifest.chunkBytes)
                }
            }
            return sizes
        }
        let own = try chunks(version.model, version.version)
        var elsewhere = Set<String>()
        for model in try models() {
            for other in try log(model) where !(model == version.model && other.version == version.version) {
                elsewhere.formUnion(try chunks(model, other.version).keys)
            }
        }
        let bytes = own.values.reduce(0, +)
        let unshared = own.filter { !elsewhere.contains($0.key) }.values.reduce(0, +)
        return (bytes, unshared)
    }
}
