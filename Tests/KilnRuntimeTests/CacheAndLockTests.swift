import Foundation
import KilnRuntime
import KilnTestSupport
import Testing

@Suite struct CacheAndLockTests {
    func manifest(_ key: String) -> CacheManifest {
        CacheManifest(
            node: "dataset/x:ingest", kind: "ingest", key: key, kiln: "test", config: "{}", files: [:], inputs: [:],
            outputs: [:], summary: "", metrics: [:], created: "", seconds: 0)
    }

    @Test func anEntryAppearsWholeOrNotAtAll() throws {
        let dir = try TemporaryDirectory()
        let cache = Cache(directory: dir.path + "/cache")
        let key = String(repeating: "ab", count: 32)
        let pending = try cache.begin(key)
        try Data("hello".utf8).write(to: URL(fileURLWithPath: pending + "/a.txt"))
        // Killed before the commit: the build directory is not an entry.
        #expect(!cache.contains(key))
        let committed = try cache.commit(pending, manifest: manifest(key))
        #expect(cache.contains(key))
        #expect(committed.outputs["a.txt"]?.bytes == 5)
        #expect(try cache.read(key, "a.txt") == Data("hello".utf8))
        #expect(!FileManager.default.fileExists(atPath: pending))
    }

    @Test func aDamagedOutputIsDetectedAndTheEntryRemoved() throws {
        let dir = try TemporaryDirectory()
        let cache = Cache(directory: dir.path + "/cache")
        let key = String(repeating: "cd", count: 32)
        let pending = try cache.begin(key)
        try Data("weights".utf8).write(to: URL(fileURLWithPath: pending + "/w.bin"))
        try cache.commit(pending, manifest: manifest(key))
        try Data("weighTs".utf8).write(to: URL(fileURLWithPath: cache.outputs(key) + "/w.bin"))
        #expect(throws: CacheError.self) { try cache.read(key, "w.bin") }
        #expect(!cache.contains(key))  // the next run rebuilds it
    }

    @Test func leftoversOfAKilledRunAreCleaned() throws {
        let dir = try TemporaryDirectory()
        let cache = Cache(directory: dir.path + "/cache")
        let pending = try cache.begin(String(repeating: "ef", count: 32))
        cache.cleanTemporary()
        #expect(!FileManager.default.fileExists(atPath: pending))
    }

    @Test func theLockFileIsSortedAndRoundTrips() throws {
        let lock = LockFile(entries: [
            "training/t:fit": .init(key: "k2", outputs: ["model/model.safetensors": "h2", "metrics.json": "h3"]),
            "dataset/d:ingest": .init(key: "k1", outputs: ["table.bin": "h1"]),
        ])
        let text = lock.text
        let ingest = try #require(text.range(of: "[dataset/d:ingest]"))
        let fit = try #require(text.range(of: "[training/t:fit]"))
        #expect(ingest.lowerBound < fit.lowerBound)
        let metrics = try #require(text.range(of: "output metrics.json h3"))
        let weights = try #require(text.range(of: "output model/model.safetensors h2"))
        #expect(metrics.lowerBound < weights.lowerBound)
        #expect(try LockFile(text: text) == lock)
        #expect(lock.text == LockFile(entries: lock.entries).text)  // deterministic
    }

    @Test func aMergeConflictInTheLockIsAClearError() {
        let text = "kiln-lock 1\n\n[a]\n<<<<<<< HEAD\nkey x\n=======\nkey y\n>>>>>>> other\n"
        #expect {
            try LockFile(text: text)
        } throws: { error in
            "\(error)".contains("kiln.lock:4") && "\(error)".contains("merge conflict")
        }
    }

    @Test func aSecondHolderOfTheWorkspaceLockFailsFast() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/.kiln/run.lock"
        let first = try WorkspaceLock(path: path, wait: false)
        #expect {
            _ = try WorkspaceLock(path: path, wait: false)
        } throws: { error in
            "\(error)".contains("another kiln run holds the workspace") && "\(error)".contains("pid \(getpid())")
        }
        withExtendedLifetime(first) {}
    }
}
