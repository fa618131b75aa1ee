import Foundation
import KilnCompute

/// Dynamic batching for one loaded version. Requests queue here with their feature rows; one worker
/// thread (its own predictor, so no locking around the network) takes the first request, waits up to
/// `maxDelay` for more to arrive, gathers up to `maxBatchSize` rows, runs them through the compute core
/// as one batch, and answers each request with its own rows. `maxBatchSize: 1` is batching off: one
/// request at a time, no waiting. A request larger than the batch runs alone, whole.
///
/// The wait is cut short when no other request is on its way: `inFlight` tells how many requests the
/// deployment has admitted and not yet answered; when all of them are already queued here, waiting would
/// only add latency (one client alone never waits `maxDelay`).
///
/// Retiring (a hot switch to another version) stops new submissions and lets the worker finish what is
/// queued before it exits: no request is dropped.
final class Batcher: @unchecked Sendable {
    struct Settings: Sendable {
        var maxBatchSize: Int
        /// Seconds.
        var maxDelay: Double
    }

    /// Thrown by `submit` after `retire`: the caller routes the request again (to the new version).
    struct Retired: Error {}

    let served: ServedModel
    let settings: Settings
    /// Called on the worker thread with each batch's row count (metrics).
    private let onBatch: @Sendable (Int) -> Void
    /// Requests admitted to the deployment and not yet answered.
    private let inFlight: @Sendable () -> Int
    private let engine: InferenceEngine
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var head = 0
    private var retired = false

    private struct Job {
        var input: PreparedInput
        var rows: Int { input.rows }
        var arrived: UInt64
        var continuation: CheckedContinuation<[Float], any Error>
    }

    init(
        _ served: ServedModel, settings: Settings, inFlight: @escaping @Sendable () -> Int = { 0 },
        onBatch: @escaping @Sendable (Int) -> Void
    ) throws {
        self.served = served
        self.settings = settings
        self.inFlight = inFlight
        self.onBatch = onBatch
        engine = try served.makeEngine(maxBatch: settings.maxBatchSize)
        let thread = Thread { [self] in work() }
        thread.name = "kiln-batcher \(served.reference)"
        thread.stackSize = 1 << 21
        thread.start()
    }

    /// The result rows (rows × the predictor's output width) of `rows` rows of features.
    func submit(rows: Int, features: [Float]) async throws -> [Float] {
        try await submit(PreparedInput(rows: rows, features: features))
    }

    /// The result rows (rows × the engine's output width) of a prepared request.
    func submit(_ input: PreparedInput) async throws -> [Float] {
        try await withCheckedThrowingContinuation { continuation in
            condition.lock()
            defer { condition.unlock() }
            guard !retired else {
                continuation.resume(throwing: Retired())
                return
            }
            queue.append(
                Job(input: input, arrived: DispatchTime.now().uptimeNanoseconds, continuation: continuation))
            condition.signal()
        }
    }

    /// Wakes the worker to look again at what is on its way (a request was answered elsewhere).
    func poke() {
        condition.lock()
        condition.signal()
        condition.unlock()
    }

    /// No more submissions; the worker finishes the queue, then exits.
    func retire() {
        condition.lock()
        retired = true
        condition.signal()
        condition.unlock()
    }

    private func work() {
        var results: [Float] = []
        let width = engine.outputWidth
        let inputsPerRow = served.card.model.inputs
        condition.lock()
        while true {
            while queue.count == head && !retired { condition.wait() }
            if queue.count == head && retired {
                condition.unlock()
                return
            }
            // Gather: until the batch is full, the first request has waited maxDelay, or every request the
            // deployment holds is queued here.
            if settings.maxBatchSize > 1 && settings.maxDelay > 0 {
                let deadline = queue[head].arrived + UInt64(settings.maxDelay * 1e9)
                while !retired && pendingRows() < settings.maxBatchSize && queue.count - head < inFlight() {
                    let now = DispatchTime.now().uptimeNanoseconds
                    guard now < deadline else { break }
                    _ = condition.wait(until: Date(timeIntervalSinceNow: Double(deadline - now) / 1e9))
                }
            }
            var batch: [Job] = []
            var rows = 0
            while head < queue.count && (batch.isEmpty || rows + queue[head].rows <= settings.maxBatchSize) {
                batch.append(queue[head])
                rows += queue[head].rows
                head += 1
            }
            if head > 1024 && head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            condition.unlock()

            results = [Float](repeating: 0, count: rows * width)
            do {
                let inputs = batch.map(\.input)
                try results.withUnsafeMutableBufferPointer { r in
                    try engine.predict(inputs, into: r, inputsPerRow: inputsPerRow)
                }
                onBatch(rows)
                var offset = 0
                for job in batch {
                    job.continuation.resume(returning: Array(results[offset..<offset + job.rows * width]))
                    offset += job.rows * width
                }
            } catch {
                for job in batch { job.continuation.resume(throwing: error) }
            }
            condition.lock()
        }
    }

    private func pendingRows() -> Int {
        var n = 0
        for i in head..<queue.count { n += queue[i].rows }
        return n
    }
}
