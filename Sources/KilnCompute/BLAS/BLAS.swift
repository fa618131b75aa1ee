import Foundation
import Synchronization

/// OpenBLAS, loaded on first use with the right kernel.
///
/// OpenBLAS picks its kernel in the library's load-time constructor, from `OPENBLAS_CORETYPE`. Kiln
/// does not link it: it sets the variable (unless the user already did) and then `dlopen`s the
/// library, so the choice is made for every user, test and benchmark without a re-exec, and commands
/// that never compute (check, graph) never start OpenBLAS's threads.
public final class BLAS: @unchecked Sendable {
    public enum Transpose: Int32, Sendable {
        case none = 111
        case transpose = 112
    }

    private typealias Sgemm =
        @convention(c) (
            Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
            Float, UnsafeMutablePointer<Float>?, Int32
        ) -> Void
    private typealias Sgemv =
        @convention(c) (
            Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32, Float,
            UnsafeMutablePointer<Float>?, Int32
        ) -> Void
    private typealias SetThreads = @convention(c) (Int32) -> Void
    private typealias GetInt = @convention(c) () -> Int32
    private typealias GetString = @convention(c) () -> UnsafePointer<CChar>?

    private let sgemmFunction: Sgemm
    private let sgemvFunction: Sgemv
    private let setThreadsFunction: SetThreads?
    private let getThreadsFunction: GetInt?
    private let coreNameFunction: GetString?
    private let configFunction: GetString?
    /// Where the choice of kernel came from: "kiln (SkylakeX)", "user (Haswell)", "openblas".
    public let coreChoice: String
    public let libraryPath: String

    /// The library, loaded once per process; the error says what to install when it is missing.
    public static let shared: Result<BLAS, ComputeError> = load()

    /// The loaded library, or a thrown error naming the fix.
    public static func get() throws(ComputeError) -> BLAS { try shared.get() }

    private static let candidates = [
        "libopenblas.so.0", "/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
        "libopenblas.so", "libopenblas.dylib",
    ]

    private static func load() -> Result<BLAS, ComputeError> {
        var choice = "openblas (its own detection)"
        if let user = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"], !user.isEmpty {
            choice = "user (OPENBLAS_CORETYPE=\(user))"
        } else if let core = CPUFeatures.current().openBLASCoreType {
            setenv("OPENBLAS_CORETYPE", core, 1)
            choice = "kiln (\(core), from the CPU's flags)"
        }
        // Idle OpenBLAS threads go to sleep after 2^THREAD_TIMEOUT cycles of spinning; the default (2^28)
        // burns a core other work needs. A user's value is respected.
        if ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"] == nil {
            setenv("OPENBLAS_THREAD_TIMEOUT", "8", 1)
        }
        for path in candidates {
            guard let handle = dlopen(path, RTLD_NOW | RTLD_GLOBAL) else { continue }
            guard let sgemm = dlsym(handle, "cblas_sgemm"), let sgemv = dlsym(handle, "cblas_sgemv") else { continue }
            func symbol<T>(_ name: String, _: T.Type) -> T? {
                dlsym(handle, name).map { unsafeBitCast($0, to: T.self) }
            }
            return .success(
                BLAS(
                    sgemm: unsafeBitCast(sgemm, to: Sgemm.self), sgemv: unsafeBitCast(sgemv, to: Sgemv.self),
                    setThreads: symbol("openblas_set_num_threads", SetThreads.self),
                    getThreads: symbol("openblas_get_num_threads", GetInt.self),
                    coreName: symbol("openblas_get_corename", GetString.self),
                    config: symbol("openblas_get_config", GetString.self), choice: choice, path: path))
        }
        return .failure(
            .libraryMissing(
                "OpenBLAS (libopenblas.so.0) could not be loaded",
                fix: "install it: apt-get install libopenblas-dev (scripts/setup does)"))
    }

    private init(
        sgemm: Sgemm, sgemv: Sgemv, setThreads: SetThreads?, getThreads: GetInt?, coreName: GetString?,
        config: GetString?,
        choice: String, path: String
    ) {
        sgemmFunction = sgemm
        sgemvFunction = sgemv
        setThreadsFunction = setThreads
        getThreadsFunction = getThreads
        coreNameFunction = coreName
        configFunction = config
        coreChoice = choice
        libraryPath = path
        // Kiln shares products among its own threads; OpenBLAS runs one thread per call.
        let environment = ProcessInfo.processInfo.environment
        let requested = (environment["OPENBLAS_NUM_THREADS"] ?? environment["OMP_NUM_THREADS"]).flatMap { Int($0) }
        parallelism = Mutex((threads: max(1, requested ?? ProcessInfo.processInfo.activeProcessorCount), pool: nil))
        setThreads?(1)
    }

    /// The kernel in use (`SkylakeX`, `Haswell`, `Prescott`…).
    public var coreName: String { coreNameFunction?().map { String(cString: $0) } ?? "unknown" }
    /// OpenBLAS's build configuration string.
    public var config: String { configFunction?().map { String(cString: $0) } ?? "unknown" }

    /// Kiln's compute threads (the Training spec's `threads`; default: all cores, or OPENBLAS_NUM_THREADS
    /// when the user set it). Products large enough to be worth it are cut into blocks that these threads
    /// share (`ComputePool`); OpenBLAS itself always runs one thread per call.
    public var threads: Int {
        get { parallelism.withLock { $0.threads } }
        set { parallelism.withLock { $0.threads = max(1, newValue) } }
    }

    /// The pool for the current thread count (nil at one thread), made on first use.
    var pool: ComputePool? {
        parallelism.withLock { state -> ComputePool? in
            guard state.threads > 1 else { return nil }
            if let p = state.pool, p.threads == state.threads { return p }
            let p = ComputePool(threads: state.threads, blas: self)
            state.pool = p
            return p
        }
    }

    private let parallelism: Mutex<(threads: Int, pool: ComputePool?)>
    /// Below this many multiply-adds a product runs on the calling thread: waking another costs more.
    static let parallelThreshold = 1 << 21

    /// The threads OpenBLAS reports it was built to use (informational: kiln sets it to 1).
    public var openBLASThreads: Int { Int(getThreadsFunction?() ?? 1) }

    /// C = alpha · op(A) · op(B) + beta · C, row-major; op is a transpose by BLAS flag, never a copy.
    /// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored. Large products are shared among
    /// the compute threads.
    public func sgemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m * n * k >= Self.parallelThreshold, let pool {
            let job = GEMMJob(
                transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta, a: a, lda: lda, b: b,
                ldb: ldb, c: c, ldc: ldc)
            if pool.run(.gemm(job), chunks: pool.threads * 2) { return }
        }
        sgemmOneThread(
            transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
    }

    /// Runs `job` on the compute threads in `chunks` pieces; false when it must run on the caller alone
    /// (one thread, or the pool busy).
    func share(_ job: ComputePool.Job, chunks: Int) -> Bool {
        guard let pool else { return false }
        return pool.run(job, chunks: chunks)
    }

    /// One OpenBLAS call on the calling thread.
    @inline(__always)
    func sgemmOneThread(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        sgemmFunction(
            101, transA.rawValue, transB.rawValue, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc))
    }

    /// y = alpha · op(A) · x + beta · y, A row-major m×n with row stride `lda`; x and y contiguous.
    @inline(__always)
    public func sgemv(
        _ trans: Transpose, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        sgemvFunction(101, trans.rawValue, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }
}
