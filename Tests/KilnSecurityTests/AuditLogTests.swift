import Crypto
import Foundation
import Testing

@testable import KilnSecurity

/// The audit log's chain: every kind of edit is found at the line it breaks; writers never interleave.
@Suite struct AuditLogTests {
    func log(_ entries: Int) throws -> (AuditLog, String) {
        let directory = NSTemporaryDirectory() + "kiln-audit-" + UUID().uuidString
        let log = AuditLog(path: directory + "/.kiln/audit.log")
        for i in 1...entries {
            try log.append(
                who: "alice", action: i % 2 == 0 ? "promote" : "run", resource: "model/iris-mlp", outcome: "allowed",
                details: ["version": "v\(i)"])
        }
        return (log, directory)
    }

    func lines(_ log: AuditLog) throws -> [String] {
        try String(contentsOfFile: log.path, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func write(_ lines: [String], to log: AuditLog) throws {
        try (lines.joined(separator: "\n") + "\n").write(toFile: log.path, atomically: true, encoding: .utf8)
    }

    func firstBadLine(_ log: AuditLog) -> Int? {
        do {
            try log.verify()
            return nil
        } catch let failure as AuditLog.Failure {
            return failure.line ?? -1
        } catch {
            return -2
        }
    }

    @Test func anIntactLogVerifiesAndChains() throws {
        let (log, directory) = try log(5)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (count, head) = try log.verify()
        #expect(count == 5)
        let entries = try log.entries()
        #expect(entries.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(entries[0].previous == AuditLog.genesis)
        let raw = try lines(log)
        #expect(entries[1].previous == AuditLog.hash(Array(raw[0].utf8)))
        #expect(head == AuditLog.hash(Array(raw[4].utf8)))
        #expect(entries[3].action == "promote" && entries[3].who == "alice" && entries[3].details["version"] == "v4")
    }

    @Test func eachKindOfEditIsFoundAtTheLineItBreaks() throws {
        let (log, directory) = try log(6)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let original = try lines(log)

        // Edited: line 3's outcome changed; line 4 no longer follows it.
        var edited = original
        edited[2] = edited[2].replacingOccurrences(of: "\"allowed\"", with: "\"denied\"")
        try write(edited, to: log)
        #expect(firstBadLine(log) == 4)

        // Edited into something that is not an entry.
        edited = original
        edited[1] = "{\"seq\": 2"
        try write(edited, to: log)
        #expect(firstBadLine(log) == 2)

        // Deleted: line 3 gone; the old line 4 (now 3) does not follow line 2.
        var deleted = original
        deleted.remove(at: 2)
        try write(deleted, to: log)
        #expect(firstBadLine(log) == 3)

        // The first line deleted.
        try write(Array(original.dropFirst()), to: log)
        #expect(firstBadLine(log) == 1)

        // Inserted: a copy of line 2 after it.
        var inserted = original
        inserted.insert(original[1], at: 2)
        try write(inserted, to: log)
        #expect(firstBadLine(log) == 3)

        // Reordered: lines 4 and 5 swapped.
        var reordered = original
        reordered.swapAt(3, 4)
        try write(reordered, to: log)
        #expect(firstBadLine(log) == 4)

        // The seq edited (the chain holds, the count does not).
        var renumbered = original
        renumbered[5] = renumbered[5].replacingOccurrences(of: "\"seq\":6", with: "\"seq\":7")
        try write(renumbered, to: log)
        #expect(firstBadLine(log) == 6)

        // Cut short: the chain is whole, but it does not end at the head kept elsewhere.
        try write(original, to: log)
        let head = try log.verify().head
        try write(Array(original.prefix(4)), to: log)
        #expect(throws: AuditLog.Failure.self) { try log.verify(expectedHead: head) }
        #expect(firstBadLine(log) == nil)
    }

    @Test func concurrentWritersNeverInterleave() throws {
        let (log, directory) = try log(1)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writers = 4
        let each = 100
        DispatchQueue.concurrentPerform(iterations: writers) { w in
            for i in 0..<each {
                // Long details, so that a line is several kilobytes: a torn write would show.
                _ = try? log.append(
                    who: "writer-\(w)", action: "run", resource: "workspace/w", outcome: "allowed",
                    details: ["i": "\(i)", "padding": String(repeating: "x", count: 3000)])
            }
        }
        let (count, _) = try log.verify()
        #expect(count == 1 + writers * each)
    }

    @Test func appendingRefusesAfterABrokenLastLine() throws {
        let (log, directory) = try log(2)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var raw = try lines(log)
        raw[1] = "garbage"
        try write(raw, to: log)
        #expect(throws: AuditLog.Failure.self) {
            try log.append(who: "bob", action: "run", resource: "workspace/w", outcome: "allowed")
        }
    }

    /// Keyed: an edit of the last line, which an unkeyed chain cannot see without a head kept elsewhere,
    /// fails (finding 10); so do stripped MACs and a key that is missing or wrong.
    @Test func aKeyedChainCatchesAnEditOfTheLastLine() throws {
        let directory = NSTemporaryDirectory() + "kiln-audit-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = SymmetricKey(size: .bits256)
        let keyed = AuditLog(path: directory + "/audit.log", key: key)
        for i in 1...4 {
            try keyed.append(who: "alice", action: "promote", resource: "model/m", outcome: "allowed", details: ["v": "\(i)"])
        }
        #expect(try keyed.verify().count == 4)
        var all = try lines(keyed)
        let original = all
        // Unkeyed, the edited last line would verify: the chain only covers the lines before it.
        all[3] = all[3].replacingOccurrences(of: "alice", with: "mallory")
        try write(all, to: keyed)
        #expect(firstBadLine(keyed) == 4)
        // The same edit in an unkeyed log passes: what the key adds.
        let (plain, plainDirectory) = try log(4)
        defer { try? FileManager.default.removeItem(atPath: plainDirectory) }
        var plainLines = try lines(plain)
        plainLines[3] = plainLines[3].replacingOccurrences(of: "alice", with: "mallory")
        try write(plainLines, to: plain)
        #expect(firstBadLine(plain) == nil)
        // MACs removed from the end, or from the whole log.
        func stripped(_ line: String) throws -> String {
            var entry = try JSONDecoder().decode(AuditEntry.self, from: Data(line.utf8))
            entry.mac = nil
            return String(decoding: try AuditLog.encode(entry), as: UTF8.self)
        }
        try write(original.dropLast() + [try stripped(original[3])], to: keyed)
        #expect(firstBadLine(keyed) == 4)
        try write([try stripped(original[0])], to: keyed)
        #expect(firstBadLine(keyed) == -1, "a key with no keyed line")
        // The wrong key, and no key for a keyed log.
        try write(original, to: keyed)
        #expect(firstBadLine(AuditLog(path: keyed.path, key: SymmetricKey(size: .bits256))) == 1)
        #expect(firstBadLine(AuditLog(path: keyed.path)) == 1)
    }

    /// A log begun unkeyed is keyed from its next line on, which says so under its MAC.
    @Test func keyingStartsMidLogAndSaysSo() throws {
        let (plain, directory) = try log(3)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keyed = AuditLog(path: plain.path, key: SymmetricKey(size: .bits256))
        let entry = try keyed.append(who: "bob", action: "run", resource: "workspace/w", outcome: "allowed")
        #expect(entry.details["keyed_from"] == "4" && entry.mac != nil)
        try keyed.append(who: "bob", action: "run", resource: "workspace/w", outcome: "allowed")
        #expect(try keyed.verify().count == 5)
        // Removing keyed_from (and re-MACing is impossible without the key) breaks it.
        var all = try lines(keyed)
        all[3] = all[3].replacingOccurrences(of: "\"keyed_from\":\"4\"", with: "\"keyed_from\":\"1\"")
        try write(all, to: keyed)
        #expect(firstBadLine(keyed) == 4)
    }

    /// A key given twice on a line (which other JSON readers take the last of) is an edit (second probe).
    @Test func aLineNotInKilnsFormIsAnEdit() throws {
        let (log, directory) = try log(3)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var all = try lines(log)
        all[2] = String(all[2].dropLast()) + #","who":"evil"}"#
        try write(all, to: log)
        #expect(firstBadLine(log) == 3)
    }
}
