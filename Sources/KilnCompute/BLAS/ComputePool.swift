import Foundation
import Synchronization

/// Kiln's own compute threads: the calling thread plus `threads − 1` helpers that sleep on a semaphore.
///
/// A job (one GEMM, one optimiser update) is cut into chunks that every thread claims from one atomic
/// counter; the caller claims too, and takes whatever the helpers have not reached. So when another
/// process holds a core and a helper is slow to wake, the caller does that helper's share instead of
/// waiting for it: contention costs at most the chunk a helper is in, never a spin-wait collapse like a
/// pool whose threads must meet at barriers (measured: scripts/bench-contention). OpenBLAS itself runs
/// single-threaded under it, so its threaded driver (its barriers, its per-call job table) is never used.
///
/// Chunk boundaries depend on the job and the thread count only, and each output element is computed
/// by exactly one chunk, so the result is the same bits whichever thread ran which chunk.
/// One caller at a time: a second concurrent caller runs its job single-threaded on its own thread.
final class ComputePool: @unchecked Sendable {
    let threads: Int
    private let shared: Shared
    private let inUse = Mutex(false)

    init(threads: Int, blas: BLAS) {
        self.threads = threads
        shared = Shared(blas: blas)
        for i in 1..<max(threads, 1) {
            let shared = self.shared  // helpers hold the state, not the pool
            let thread = Thread { shared.helperLoop() }
            thread.name = "kiln-compute-\(i)"
            thread.start()
        }
    }

    deinit {
        shared.stopping.store(true, ordering: .releasing)
        for _ in 1..<max(threads, 1) { shared.wake.signal() }
    }

    /// Runs `job` in `chunks` pieces on every thread; false when the pool is busy with another caller
    /// (the caller then runs the job itself).
    func run(_ job: Job, chunks: Int) -> Bool {
        guard threads > 1, chunks > 1 else { return false }
        let acquired = inUse.withLock { busy -> Bool in
            if busy { return false }
            busy = true
            return true
        }
        guard acquired else { return false }
        defer { inUse.withLock { $0 = false } }
        shared.job = job
        shared.finished.store(0, ordering: .relaxed)
        // The chunk count travels in the counter with the index: a helper's late, failing claim on the
        // previous job reads that job's count from the same atomic value, never this one's (it would
        // otherwise run a chunk of this job that the counter also hands to another thread).
        shared.next.store(chunks << 32, ordering: .releasing)
        for _ in 1..<threads { shared.wake.signal() }
        while shared.claimAndRun() {}
        // Only chunks helpers are already in can still be running.
        var spins = 0
        while shared.finished.load(ordering: .acquiring) < chunks {
            spins += 1
            if spins > 64 { sched_yield() }
        }
        return true
    }

    enum Job {
        case none
        case gemm(GEMMJob)
        case adam(AdamStep, AdamArrays, count: Int)
        case attention(AttentionJob)
        case gelu(UnsafeMutablePointer<Float>, count: Int)
        /// Work an object made once describes (a reference: sharing it allocates nothing).
        case work(any ChunkedWork)
    }

    private final class Shared: @unchecked Sendable {
        let blas: BLAS
        let wake = DispatchSemaphore(value: 0)
        /// The job's chunk count in the high 32 bits, the next chunk to claim in the low 32.
        let next = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        let stopping = Atomic<Bool>(false)
        /// Written by the caller before `next` is reset (release), read after a claim (acquire).
        var job = Job.none

        init(blas: BLAS) { self.blas = blas }

        /// Claims one chunk and runs it; false when none is left.
        func claimAndRun() -> Bool {
            let claimed = next.wrappingAdd(1, ordering: .acquiringAndReleasing).oldValue
            let c = claimed & 0xFFFF_FFFF, chunks = claimed >> 32
            guard c < chunks else { return false }
            switch job {
            case .none: break
            case .gemm(let g): g.run(chunk: c, of: chunks, blas: blas)
            case .adam(let step, let a, let count):
                // Bounds on multiples of 8, so every chunk but the last runs whole vectors.
                let lo = count * c / chunks & ~7
                let hi = c == chunks - 1 ? count : count * (c + 1) / chunks & ~7
                step.apply(a.w + lo, a.g + lo, a.m + lo, a.v + lo, count: hi - lo)
            case .attention(let a): a.run(chunk: c, of: chunks, blas: blas)
            case .gelu(let x, let count):
                let lo = count * c / chunks & ~15
                let hi = c == chunks - 1 ? count : count * (c + 1) / chunks & ~15
                if hi > lo { VectorMath.gelu(x + lo, count: hi - lo) }
            case .work(let w): w.run(chunk: c, of: chunks, blas: blas)
            }
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

/// Work cut into chunks, each writing its own outputs, so the result does not depend on which thread ran
/// which chunk. A class, made once and reused: handing it to the pool allocates nothing.
protocol ChunkedWork: AnyObject, Sendable {
    func run(chunk: Int, of chunks: Int, blas: BLAS)
}

extension BLAS {
    /// Runs `work` in `chunks` pieces on the compute threads, or on this thread alone in order.
    func run(_ work: any ChunkedWork, chunks: Int) {
        if !share(.work(work), chunks: chunks) {
            for c in 0..<chunks { work.run(chunk: c, of: chunks, blas: self) }
        }
    }
}

/// C = alpha · op(A) · op(B) + beta · C, row-major, cut into column blocks (or row blocks when C is
/// taller than wide); each block is an independent single-threaded sgemm over the full K.
struct GEMMJob: @unchecked Sendable {
    var transA: BLAS.Transpose, transB: BLAS.Transpose
    var m: Int, n: Int, k: Int
    var alpha: Float, beta: Float
    var a: UnsafePointer<Float>, lda: Int
    var b: UnsafePointer<Float>, ldb: Int
    var c: UnsafeMutablePointer<Float>, ldc: Int

    /// Rows when C has more rows than columns, else columns.
    var splitsRows: Bool { m > n }

    func run(chunk: Int, of chunks: Int, blas: BLAS) {
        let extent = splitsRows ? m : n
        // Block edges on multiples of 16 (the kernels' register blocking).
        let lo = extent * chunk / chunks & ~15
        let hi = chunk == chunks - 1 ? extent : extent * (chunk + 1) / chunks & ~15
        guard hi > lo else { return }
        if splitsRows {
            let aBlock = transA == .none ? a + lo * lda : a + lo
            blas.sgemmOneThread(
                transA, transB, m: hi - lo, n: n, k: k, alpha: alpha, a: aBlock, lda: lda, b: b, ldb: ldb, beta: beta,
                c: c + lo * ldc, ldc: ldc)
        } else {
            let bBlock = transB == .none ? b + lo : b + lo * ldb
            blas.sgemmOneThread(
                transA, transB, m: m, n: hi - lo, k: k, alpha: alpha, a: a, lda: lda, b: bBlock, ldb: ldb, beta: beta,
                c: c + lo, ldc: ldc)
        }
    }
}

/// Self-attention of a padded batch, one (sequence, head) pair at a time: scores = Q·Kᵀ·scale over the
/// sequence's own keys, softmax, context = P·V, each pair's context written by exactly one chunk (into
/// its columns of the [rows, hidden] context), each chunk with its own scores buffer.
struct AttentionJob: @unchecked Sendable {
    var q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>
    var context: UnsafeMutablePointer<Float>
    var lengths: UnsafePointer<Int>
    var sequences: Int, heads: Int, headSize: Int, hidden: Int, longest: Int
    var scale: Float
    /// `chunks` buffers of `longest × longest` floats, `scratchStride` apart.
    var scratch: UnsafeMutablePointer<Float>, scratchStride: Int

    func run(chunk: Int, of chunks: Int, blas: BLAS) {
        let pairs = sequences * heads
        let scores = scratch + chunk * scratchStride
        for p in (pairs * chunk / chunks)..<(pairs * (chunk + 1) / chunks) {
            let b = p / heads, head = p % heads, n = lengths[b]
            let offset = b * longest * hidden + head * headSize
            blas.sgemmOneThread(
                .none, .transpose, m: longest, n: n, k: headSize, alpha: scale, a: q + offset, lda: hidden,
                b: k + offset, ldb: hidden, c: scores, ldc: n)
            VectorMath.softmaxRows(scores, rows: longest, cols: n)
            blas.sgemmOneThread(
                .none, .none, m: longest, n: headSize, k: n, a: scores, lda: n, b: v + offset, ldb: hidden,
                c: context + offset, ldc: hidden)
        }
    }
}
