import Foundation
import Synchronization

/// Runs an Adam update over large arrays on the calling thread and one helper thread, without
/// allocating and without spinning.
///
/// The arrays are cut into chunks that both threads claim from one atomic counter. The helper sleeps
/// on a semaphore between updates; if the other core is busy and the helper is slow to wake, the
/// calling thread claims the remaining chunks itself, so contention costs at most the chunk the helper
/// is in (no collapse as with spin-waiting pools). Elementwise work: the split cannot change a bit.
final class ParallelUpdate {
    private let shared = Shared()

    init() {
        let shared = self.shared  // the helper holds the state, not the pool: it may outlive the pool briefly
        let thread = Thread { shared.helperLoop() }
        thread.name = "kiln-update"
        thread.start()
    }

    deinit {
        shared.stopping.store(true, ordering: .releasing)
        shared.wake.signal()
    }

    /// Applies `step` to `arrays` (count elements), using both threads.
    func apply(_ step: AdamStep, _ arrays: AdamArrays, count: Int) {
        shared.step = step
        shared.arrays = arrays
        shared.count = count
        shared.finished.store(0, ordering: .relaxed)
        shared.next.store(0, ordering: .releasing)
        shared.wake.signal()
        while shared.claimAndRun() {}
        // Only the chunk the helper is in can still be running.
        while shared.finished.load(ordering: .acquiring) < Shared.chunks {}
    }

    private final class Shared: @unchecked Sendable {
        static let chunks = 16
        let wake = DispatchSemaphore(value: 0)
        let next = Atomic<Int>(Int.max)
        let finished = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        /// The job: written by the caller before `next` is reset (release), read after a claim (acquire).
        var step = AdamStep(beta1: 0, beta2: 0, epsilon: 0, stepSize: 0, invSqrtCorrection2: 0, decay: 0, l2: 0)
        var arrays: AdamArrays?
        var count = 0

        /// Claims one chunk and runs it; false when none is left.
        func claimAndRun() -> Bool {
            let c = next.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue
            guard c >= 0, c < Self.chunks, let a = arrays else { return false }
            // Chunk bounds on multiples of 8, so every chunk but the last runs whole vectors.
            let lo = count * c / Self.chunks & ~7
            let hi = c == Self.chunks - 1 ? count : count * (c + 1) / Self.chunks & ~7
            step.apply(a.w + lo, a.g + lo, a.m + lo, a.v + lo, count: hi - lo)
            finished.add(1, ordering: .releasing)
            return true
        }

        func helperLoop() {
            while true {
                wake.wait()
                if stopping.load(ordering: .acquiring) { return }
                while claimAndRun() {}
            }
        }
    }
}
