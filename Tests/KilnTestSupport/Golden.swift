import Foundation

/// Golden files: expected output kept beside its input. `KILN_RECORD_GOLDENS=1` rewrites them, and the
/// run then fails, so that nobody records by accident.
public enum Golden {
    public static var recording: Bool { ProcessInfo.processInfo.environment["KILN_RECORD_GOLDENS"] == "1" }

    /// nil when `actual` matches the golden file; otherwise a message with a unified diff.
    public static func mismatch(_ actual: String, golden path: String) -> String? {
        if recording {
            try? actual.write(toFile: path, atomically: true, encoding: .utf8)
            return "recorded \(path); run again without KILN_RECORD_GOLDENS"
        }
        guard let expected = try? String(contentsOfFile: path, encoding: .utf8) else {
            return "no golden file at \(path); record it with KILN_RECORD_GOLDENS=1\n--- actual ---\n\(actual)"
        }
        guard expected != actual else { return nil }
        return "output differs from \(path) (- expected, + actual):\n" + unifiedDiff(expected, actual)
    }

    /// A line diff (longest common subsequence), enough to read a golden mismatch.
    public static func unifiedDiff(_ a: String, _ b: String) -> String {
        let x = a.components(separatedBy: "\n"), y = b.components(separatedBy: "\n")
        var lcs = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
        for i in stride(from: x.count - 1, through: 0, by: -1) {
            for j in stride(from: y.count - 1, through: 0, by: -1) {
                lcs[i][j] = x[i] == y[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var out = ""
        var i = 0, j = 0
        while i < x.count || j < y.count {
            if i < x.count && j < y.count && x[i] == y[j] {
                out += "  \(x[i])\n"
                i += 1
                j += 1
            } else if j < y.count && (i == x.count || lcs[i][j + 1] >= lcs[i + 1][j]) {
                out += "+ \(y[j])\n"
                j += 1
            } else {
                out += "- \(x[i])\n"
                i += 1
            }
        }
        return out
    }
}
