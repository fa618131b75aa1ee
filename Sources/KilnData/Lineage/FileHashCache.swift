#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
public import Foundation

/// SHA-256 of large files that rarely change (a pretrained model's weights), remembered by what `stat`
/// says of the file, so that `kiln check` and `kiln plan` do not read 90 MB each time. As DVC's state
/// database does, a file counts as unchanged while its device, inode, size and modification and change
/// times (to the nanosecond) are; any of them changing, the file is hashed again. One small JSON record per file, under
/// `$KILN_CACHE/hashes` (default `~/.cache/kiln/hashes`), named by the SHA-256 of the file's real path;
/// written atomically, so concurrent kilns at worst hash twice. A record that cannot be read or written
/// only costs a rehash.
public enum FileHashCache {
    struct Record: Codable, Equatable {
        var path: String
        var device: UInt64
        var inode: UInt64
        var bytes: Int64
        var modified: Int64
        var modifiedNanoseconds: Int64
        /// The inode's change time: `touch -r` can restore a modification time, not this.
        var changed: Int64
        var changedNanoseconds: Int64
        var sha256: String
    }

    /// The directory of the records.
    public static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let cache = environment["KILN_CACHE"], !cache.isEmpty { return cache + "/hashes" }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return home + "/.cache/kiln/hashes"
    }

    /// The file's SHA-256, from its record when `stat` still matches it.
    public static func sha256(_ path: String, directory: String = directory()) throws(DataError) -> String {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var info = stat()
        guard stat(real, &info) == 0 else {
            throw DataError(.data(.missingFile), "cannot read '\(path)': \(String(cString: strerror(errno)))", at: nil)
        }
        let current = Record(
            path: real, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), bytes: Int64(info.st_size),
            modified: Int64(info.st_mtim.tv_sec), modifiedNanoseconds: Int64(info.st_mtim.tv_nsec),
            changed: Int64(info.st_ctim.tv_sec), changedNanoseconds: Int64(info.st_ctim.tv_nsec), sha256: "")
        let recordPath = directory + "/" + ContentHash.bytes(Data(real.utf8)) + ".json"
        if let data = FileManager.default.contents(atPath: recordPath),
            var stored = try? JSONDecoder().decode(Record.self, from: data), stored.sha256.count == 64
        {
            let hash = stored.sha256
            stored.sha256 = ""
            if stored == current { return hash }
        }
        var record = current
        record.sha256 = try ContentHash.file(real).sha256
        if let data = try? JSONEncoder().encode(record) {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let temporary = recordPath + ".\(getpid()).tmp"
            if FileManager.default.createFile(atPath: temporary, contents: data), rename(temporary, recordPath) != 0 {
                unlink(temporary)
            }
        }
        return record.sha256
    }
}
