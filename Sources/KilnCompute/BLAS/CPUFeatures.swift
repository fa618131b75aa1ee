import Foundation

/// What the CPU can do, read from /proc/cpuinfo, and the OpenBLAS kernel that fits it.
public struct CPUFeatures: Sendable {
    public var flags: Set<String>

    public init(flags: Set<String>) {
        self.flags = flags
    }

    /// The flags of the first processor in /proc/cpuinfo (empty elsewhere).
    public static func current() -> CPUFeatures {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else {
            return CPUFeatures(flags: [])
        }
        for line in text.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return CPUFeatures(flags: Set(line[line.index(after: colon)...].split(separator: " ").map(String.init)))
        }
        return CPUFeatures(flags: [])
    }

    /// The OpenBLAS core type to force, or nil to let OpenBLAS decide. Debian's OpenBLAS 0.3.21 does not
    /// recognise recent AVX-512 Xeons and falls back to a generic kernel 4x slower; a kernel is chosen
    /// here only if the CPU has every instruction set it uses (never one the CPU lacks).
    public var openBLASCoreType: String? {
        if ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"].allSatisfy(flags.contains) {
            return "SkylakeX"
        }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        if flags.contains("avx") { return "Sandybridge" }
        return nil
    }
}
