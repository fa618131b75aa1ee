import ArgumentParser
import Foundation
import KilnCompute
import KilnSpec

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the machine as kiln sees it: CPU features, the OpenBLAS kernel in use, threads.",
        discussion: """
            kiln chooses OpenBLAS's kernel from the CPU's flags before the library
            loads (OPENBLAS_CORETYPE), unless you set the variable yourself.
            """)

    func run() throws {
        print("kiln \(KilnVersion.string)")
        let cpu = CPUFeatures.current()
        let simd = ["avx512f", "avx2", "fma", "avx", "neon", "asimd"].filter(cpu.flags.contains)
        print("cpu: \(ProcessInfo.processInfo.activeProcessorCount) cores, \(simd.joined(separator: " "))")
        switch BLAS.shared {
        case .success(let blas):
            print("blas: OpenBLAS \(blas.libraryPath)")
            print("blas core: \(blas.coreName) — chosen by \(blas.coreChoice)")
            print("compute threads: \(blas.threads) (kiln's; OpenBLAS runs \(blas.openBLASThreads) per call)")
            print("blas config: \(blas.config)")
        case .failure(let error):
            print("blas: \(error)")
            throw ExitStatus.failure
        }
    }
}
