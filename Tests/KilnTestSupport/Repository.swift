public import Foundation

/// Paths inside the repository, found from this file's own location.
public enum Repository {
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func path(_ relative: String) -> String { root.appendingPathComponent(relative).path }

    /// The debug `kiln` binary that `swift test` built (the CLI tests depend on the executable).
    public static var kilnBinary: String {
        let candidates = [
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("kiln").path,
            Bundle.main.bundleURL.appendingPathComponent("kiln").path,
            path(".build/debug/kiln"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[2]
    }
}
