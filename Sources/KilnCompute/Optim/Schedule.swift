import Foundation

/// The learning rate over training: linear warm-up from 0 over `warmupEpochs`, then constant, step
/// decay (×`gamma` every `stepEpochs` epochs) or cosine decay to `minLearningRate` at the last step.
/// Evaluated per step, so warm-up and cosine are smooth within an epoch.
public struct LearningRateSchedule: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case constant, step, cosine
    }

    public var kind: Kind
    public var base: Float
    public var warmupEpochs: Int
    public var stepEpochs: Int
    public var gamma: Float
    public var minLearningRate: Float

    public init(
        _ kind: Kind, base: Float, warmupEpochs: Int = 0, stepEpochs: Int = 30, gamma: Float = 0.1,
        minLearningRate: Float = 0
    ) {
        self.kind = kind
        self.base = base
        self.warmupEpochs = warmupEpochs
        self.stepEpochs = stepEpochs
        self.gamma = gamma
        self.minLearningRate = minLearningRate
    }

    /// The rate at `step` (0-based, global) of a run of `epochs` epochs of `stepsPerEpoch` steps.
    public func rate(step: Int, stepsPerEpoch: Int, epochs: Int) -> Float {
        let warmup = warmupEpochs * stepsPerEpoch
        if step < warmup { return base * Float(step + 1) / Float(warmup) }
        switch kind {
        case .constant:
            return base
        case .step:
            let epoch = step / max(stepsPerEpoch, 1)
            return base * Float(pow(Double(gamma), Double((epoch - warmupEpochs) / max(stepEpochs, 1))))
        case .cosine:
            let total = max(epochs * stepsPerEpoch - warmup - 1, 1)
            let progress = min(Double(step - warmup) / Double(total), 1)
            return minLearningRate + (base - minLearningRate) * Float(0.5 * (1 + cos(Double.pi * progress)))
        }
    }
}
