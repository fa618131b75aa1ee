public import Crypto
public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One line of the audit log.
public struct AuditEntry: Codable, Equatable, Sendable {
    /// 1 for the first line, then one more per line: a deleted or inserted line breaks the count.
    public var seq: Int
    /// UTC, ISO 8601 with milliseconds.
    public var time: String
    public var who: String
    /// `run`, `register`, `promote`, `rollback`, `alias`, `serve.start`, `serve.stop`, `infer`, …
    public var action: String
    /// `KIND/NAME`: `model/iris-mlp`, `deployment/iris-api`, `workspace/.`.
    public var resource: String
    /// `allowed`, `denied` or `failed`.
    public var outcome: String
    public var details: [String: String]
    /// SHA-256 (hex) of the previous line's bytes; 64 zeros on the first line.
    public var previous: String
    /// HMAC-SHA256 (hex) of the line as encoded without this field, under the log's key: only a holder of
    /// the key can write a line that verifies, the last line included. Absent on lines written before the
    /// log was keyed.
    public var mac: String?

    public init(
        seq: Int, time: String, who: String, action: String, resource: String, outcome: String,
        details: [String: String], previous: String, mac: String? = nil
    ) {
        self.mac = mac
        self.seq = seq
        self.time = time
        self.who = who
        self.action = action
        self.resource = resource
        self.outcome = outcome
        self.details = details
        self.previous = previous
    }
}

/// The audit log: append-only JSON lines, each holding the SHA-256 of the line before it, so that an
/// edited, deleted, inserted or reordered line breaks the chain at a line `verify` names. Appends take an
/// exclusive lock on the file and write each line with one `write` to a file opened for appending, so two
/// processes never interleave partial lines.
///
/// What the chain does not stop: someone who can write the file can rewrite it whole, chain included, or
/// cut its last lines. `head` gives the last line's hash; kept elsewhere (a ticket, a CI log, a git ref),
/// it lets `verify(expectedHead:)` catch that too (docs/security.md).
///
/// With a key, every line also carries an HMAC of itself: an edit anywhere, the last line included, fails
/// `verify` without a head kept elsewhere. The first keyed line of a log begun unkeyed says so
/// (`details.keyed_from`); after it, a line without a MAC is a break, and a key with no keyed line is too.
public struct AuditLog: Sendable {
    public let path: String
    /// The chain's HMAC key; nil: an unkeyed chain (hashes only).
    public let key: SymmetricKey?

    public static let genesis = String(repeating: "0", count: 64)

    public init(path: String, key: SymmetricKey? = nil) {
        self.path = path
        self.key = key
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
        /// The first line found bad (1-based), when the failure is one line's.
        public var line: Int?
    }

    /// Appends one entry; returns it as written.
    @discardableResult
    public func append(
        who: String, action: String, resource: String, outcome: String, details: [String: String] = [:],
        now: Date = Date()
    ) throws -> AuditEntry {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(description: "cannot open the audit log \(path): \(errnoText())") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw Failure(description: "cannot lock \(path): \(errnoText())") }
        defer { flock(fd, LOCK_UN) }
        var previous = Self.genesis
        var seq = 1
        var details = details
        if let last = try lastLine(fd) {
            previous = Self.hash(last)
            guard let entry = try? JSONDecoder().decode(AuditEntry.self, from: Data(last)) else {
                throw Failure(description: "the audit log's last line is not an entry; run `kiln audit verify`")
            }
            seq = entry.seq + 1
            if let key {
                guard let mac = entry.mac else {
                    // A log begun before it had a key: keying starts here, and says so under the MAC.
                    details["keyed_from"] = "\(seq)"
                    return try appendLine(fd, seq, now, who, action, resource, outcome, details, previous, key)
                }
                guard Self.mac(of: entry, key) == mac else {
                    throw Failure(description: "the audit log's last line does not verify under its key; run `kiln audit verify`")
                }
            }
        }
        return try appendLine(fd, seq, now, who, action, resource, outcome, details, previous, key)
    }

    private func appendLine(
        _ fd: Int32, _ seq: Int, _ now: Date, _ who: String, _ action: String, _ resource: String, _ outcome: String,
        _ details: [String: String], _ previous: String, _ key: SymmetricKey?
    ) throws -> AuditEntry {
        var entry = AuditEntry(
            seq: seq, time: Self.timeText(now), who: who, action: action, resource: resource, outcome: outcome,
            details: details, previous: previous)
        if let key { entry.mac = Self.mac(of: entry, key) }
        let line = try Self.encode(entry) + [0x0A]
        let written = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == line.count else {
            throw Failure(description: "cannot append to the audit log \(path): \(errnoText())")
        }
        return entry
    }

    /// Every entry, in order (no verification: `verify` checks).
    public func entries() throws -> [AuditEntry] {
        try lines().enumerated().map { i, line in
            guard let entry = try? JSONDecoder().decode(AuditEntry.self, from: Data(line)) else {
                throw Failure(description: "\(path):\(i + 1): not an audit entry", line: i + 1)
            }
            return entry
        }
    }

    /// Checks the chain. Returns the number of entries and the head (the last line's hash); throws naming
    /// the first bad line and what is wrong with it.
    @discardableResult
    public func verify(expectedHead: String? = nil) throws -> (count: Int, head: String) {
        let all = try lines()
        var previous = Self.genesis
        var keyed = false
        for (i, line) in all.enumerated() {
            let n = i + 1
            guard let entry = try? JSONDecoder().decode(AuditEntry.self, from: Data(line)) else {
                throw Failure(description: "\(path):\(n): not an audit entry (the line was edited)", line: n)
            }
            // kiln writes every line in one canonical form: anything else (a duplicated key that other JSON
            // readers would take, spaces, reordered keys) was edited in.
            guard (try? Self.encode(entry)) == line else {
                throw Failure(description: "\(path):\(n): the line is not as kiln writes it (a key given twice, or reformatted): it was edited", line: n)
            }
            if let mac = entry.mac {
                guard let key else {
                    throw Failure(
                        description: "\(path):\(n): the line carries a MAC, but no audit key is available to check it (the Policy's audit.key, or .kiln/keys/audit.key)",
                        line: n)
                }
                guard Self.mac(of: entry, key) == mac else {
                    throw Failure(description: "\(path):\(n): the line's MAC does not verify: the line was edited", line: n)
                }
                if !keyed && n > 1 && entry.details["keyed_from"] != "\(n)" {
                    throw Failure(
                        description: "\(path):\(n): keyed lines start here without saying so: the MACs of the lines before it were removed",
                        line: n)
                }
                keyed = true
            } else if keyed {
                throw Failure(
                    description: "\(path):\(n): the line has no MAC after keyed lines: it was edited or inserted", line: n)
            }
            guard entry.previous == previous else {
                let why =
                    n == 1
                    ? "the first line does not start the chain: lines before it were deleted, or it was edited"
                    : "it does not follow line \(n - 1): line \(n - 1) was edited, or lines were deleted, inserted or reordered here"
                throw Failure(description: "\(path):\(n): the chain breaks: \(why)", line: n)
            }
            guard entry.seq == n else {
                throw Failure(
                    description: "\(path):\(n): entry \(entry.seq) stands at line \(n): the line was edited", line: n)
            }
            previous = Self.hash(line)
        }
        if key != nil && !keyed && !all.isEmpty {
            throw Failure(
                description: "\(path): the log is keyed, but none of its \(all.count) lines carries a MAC: they were removed or the log replaced")
        }
        if let expectedHead, expectedHead != previous {
            throw Failure(
                description:
                    "\(path): the chain is whole but ends at \(previous.prefix(16))…, not at the expected head \(expectedHead.prefix(16))…: the log was cut or rewritten"
            )
        }
        return (all.count, previous)
    }

    // MARK: Reading

    private func lines() throws -> [[UInt8]] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Failure(description: "cannot read the audit log \(path)")
        }
        var out: [[UInt8]] = []
        var current: [UInt8] = []
        for byte in data {
            if byte == 0x0A {
                out.append(current)
                current.removeAll(keepingCapacity: true)
            } else {
                current.append(byte)
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// The last line of the open file: read backwards from the end in growing windows until a line starts.
    private func lastLine(_ fd: Int32) throws -> [UInt8]? {
        let size = Int(lseek(fd, 0, SEEK_END))
        guard size > 0 else { return nil }
        var window = min(size, 1 << 16)
        while true {
            var buffer = [UInt8](repeating: 0, count: window)
            let got = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, window, off_t(size - window)) }
            guard got == window else {
                throw Failure(description: "cannot read the audit log \(path): \(errnoText())")
            }
            var end = window
            if buffer[end - 1] == 0x0A { end -= 1 }
            var start = end
            while start > 0 && buffer[start - 1] != 0x0A { start -= 1 }
            if start > 0 || window == size { return Array(buffer[start..<end]) }
            window = min(size, window * 4)
        }
    }

    // MARK: Encoding

    /// The line's bytes (without its newline), as stored and hashed.
    public static func encode(_ entry: AuditEntry) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(entry))
    }

    /// The MAC of an entry: HMAC-SHA256 of its encoding without `mac`.
    static func mac(of entry: AuditEntry, _ key: SymmetricKey) -> String {
        var unsigned = entry
        unsigned.mac = nil
        let bytes = (try? encode(unsigned)) ?? []
        return HMAC<SHA256>.authenticationCode(for: bytes, using: key).map { String(format: "%02x", $0) }.joined()
    }

    /// The log's identity: the hash of its first line (nil while it is empty). Anchors name it, so a
    /// registry shared by several workspaces can tell whose log each anchor belongs to.
    public func identity() throws -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        var line: [UInt8] = []
        while let chunk = try handle.read(upToCount: 4096), !chunk.isEmpty {
            if let newline = chunk.firstIndex(of: 0x0A) {
                line += chunk[chunk.startIndex..<newline]
                return Self.hash(line)
            }
            line += chunk
        }
        return line.isEmpty ? nil : Self.hash(line)
    }

    /// Every head the chain has had (the hash of each line), for checking anchors kept elsewhere.
    public func heads() throws -> Set<String> { Set(try lines().map(Self.hash)) }

    public static func hash(_ line: [UInt8]) -> String {
        SHA256.hash(data: line).map { String(format: "%02x", $0) }.joined()
    }

    static func timeText(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    private func errnoText() -> String { String(cString: strerror(errno)) }
}
