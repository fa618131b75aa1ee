import Foundation
import KilnCompute
import KilnRegistry
import KilnSpec
import KilnTestSupport
import Testing

/// What the registry gives back is what was registered, to the last bit: a gate compares a new value with
/// a registered one (`compare_to`, `max_drop: 0`), and kiln diff prints changes line by line.
@Suite struct RegistryNumbersTests {
    /// Foundation's JSONSerialization on Linux rounds 0.8173369023904382 to 0.8173369023904383 (and about
    /// half of all doubles to a neighbour); a version's metrics must not pass through it.
    @Test func metricsReadBackBitForBit() throws {
        let dir = try TemporaryDirectory()
        let registry = GitRegistry(path: dir.path + "/registry")
        let artifact = try GitRegistryTests().artifact(dir.path, seed: 5)
        let values: [Double] = [0.8173369023904382, 0.1 + 0.2, 1 / 3, 2.2250738585072014e-308]
        let json = "{\"final\":{\"test\":{" + values.enumerated().map { "\"m\($0)\":\($1)" }.joined(separator: ",") + "}}}"
        var r = GitRegistryTests().registration(artifact, alias: "staging")
        r.records["metrics.json"] = Data(json.utf8)
        let v = try registry.register(r)
        let reference = try #require(ModelReference("m@staging"))
        let read = try #require(try registry.resolve(reference))
        for (i, x) in values.enumerated() {
            #expect(v.metrics["test"]?["m\(i)"] == x)
            #expect(read.metrics["test"]?["m\(i)"] == x, "m\(i): \(read.metrics["test"]?["m\(i)"] ?? Double.nan) against \(x)")
        }
    }

    /// A changed line reads as its removal, then its replacement, as diff(1) and git print it.
    @Test func aChangedLineIsMinusThenPlus() {
        let lines = LineDiff.unified(
            old: "a: 1\nrate: 0.01\nc: 3\n", new: "a: 1\nrate: 0.001\nc: 3\n", oldName: "old", newName: "new")
        let body = lines.filter { $0.hasPrefix("-r") || $0.hasPrefix("+r") }
        #expect(body == ["-rate: 0.01", "+rate: 0.001"])
    }
}
