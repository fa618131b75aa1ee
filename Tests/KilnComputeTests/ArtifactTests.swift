import Foundation
import Testing

@testable import KilnCompute

/// Where the artifact for scripts/check-artifact is written (`make test` runs that script afterwards).
let artifactCheckDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent(".build/artifact-check").path

@Suite(.serialized) struct Artifacts {
    func model() throws -> Network {
        try Network(
            ModelConfig(
                task: .classification, architecture: .mlp, inputs: 5, outputs: 3, hidden: [8, 6], activation: .gelu,
                dropout: 0.2, layerNorm: true, seed: 3), blas: blas)
    }

    func card(_ n: Network) -> ModelCard {
        ModelCard(
            model: n.config, inputColumns: ["a", "b", "c", "d", "e"],
            preprocessing: .object(["standardize": .object(["a": .array([.number(1.5), .number(0.5)])])]),
            labels: ["x", "y", "z"], metrics: ["accuracy": 0.9])
    }

    @Test func roundTripsWeightsCardAndLogits() throws {
        let dir = NSTemporaryDirectory() + "kiln-artifact-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let network = try model()
        try Artifact.save(network, card: card(network), to: dir)
        let (loaded, loadedCard) = try Artifact.load(dir, blas: blas)
        #expect(loadedCard == card(network))
        let x = randomTensor([4, 5], seed: 9)
        let a = try network.forward(x, training: false).array
        let b = try loaded.forward(x, training: false).array
        #expect(a == b)
    }

    @Test func truncatedOrMismatchedArtifactsAreErrors() throws {
        let dir = NSTemporaryDirectory() + "kiln-artifact-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let network = try model()
        try Artifact.save(network, card: card(network), to: dir)
        let weights = dir + "/" + Artifact.weightsFile
        let bytes = try #require(FileManager.default.contents(atPath: weights))
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: weights))
        #expect(throws: ComputeError.self) { try Artifact.load(dir, blas: blas) }
        // A card for another architecture than the weights.
        var other = card(network)
        other.model.hidden = [8, 7]
        let otherNetwork = try Network(other.model, blas: blas)
        try Artifact.save(otherNetwork, card: other, to: dir + "/other")
        try FileManager.default.copyItem(atPath: dir + "/other/" + Artifact.cardFile, toPath: dir + "/mixed-card.json")
        try Artifact.save(network, card: card(network), to: dir + "/mixed")
        try FileManager.default.removeItem(atPath: dir + "/mixed/" + Artifact.cardFile)
        try FileManager.default.copyItem(atPath: dir + "/mixed-card.json", toPath: dir + "/mixed/" + Artifact.cardFile)
        #expect(throws: ComputeError.self) { try Artifact.load(dir + "/mixed", blas: blas) }
        #expect(throws: ComputeError.self) { try Artifact.load(dir + "/missing", blas: blas) }
    }

    /// Writes an artifact, inputs and kiln's logits for scripts/check-artifact, which recomputes the
    /// logits with Python's safetensors + numpy from the artifact alone.
    @Test func writesAnArtifactForThePythonCheck() throws {
        let network = try model()
        try Artifact.save(network, card: card(network), to: artifactCheckDirectory)
        let x = randomTensor([16, 5], seed: 11)
        let logits = try network.forward(x, training: false)
        let bytes = SafeTensors.encode([("inputs", x), ("logits", logits)])
        try SafeTensors.write(bytes, to: artifactCheckDirectory + "/expected.safetensors")
        #expect(FileManager.default.fileExists(atPath: artifactCheckDirectory + "/expected.safetensors"))
    }
}
