import KilnCompute
import KilnDiagnostics

/// How rows are divided into train, validation and test (`split:` in the spec).
public struct SplitSpec: Sendable, Codable, Hashable {
    public enum Strategy: String, Sendable, Codable, CaseIterable { case random, stratified, group, ordered }

    public var strategy: Strategy
    /// stratified: the column (nil: the label); group: the group column (required).
    public var by: String?
    public var train: Double
    public var validation: Double
    public var test: Double
    public var seed: UInt64

    public init(
        _ strategy: Strategy = .random, by: String? = nil, train: Double = 0.8, validation: Double = 0,
        test: Double = 0.2, seed: UInt64 = 0
    ) {
        self.strategy = strategy
        self.by = by
        self.train = train
        self.validation = validation
        self.test = test
        self.seed = seed
    }
}

/// The rows of each split, ascending. The same table, spec and seed give the same indices on every
/// machine: the shuffle is kiln's own generator (xoshiro256**), never the standard library's.
public struct SplitIndices: Sendable, Codable, Equatable {
    public var train: [Int]
    public var validation: [Int]
    public var test: [Int]

    public init(train: [Int], validation: [Int], test: [Int]) {
        self.train = train
        self.validation = validation
        self.test = test
    }

    /// SHA-256 of the indices (little-endian 64-bit, the three splits in order with their counts).
    public var sha256: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity((train.count + validation.count + test.count + 3) * 8)
        for split in [train, validation, test] {
            for v in [split.count] + split { withUnsafeBytes(of: Int64(v).littleEndian) { bytes += $0 } }
        }
        return ContentHash.bytes(bytes)
    }
}

public enum Splitter {
    /// Counts for `n` rows by the fractions: floors, then the remaining rows to the largest remainders
    /// (ties: train, validation, test). They add up to `n`.
    static func counts(_ n: Int, _ spec: SplitSpec) -> [Int] {
        let fractions = [spec.train, spec.validation, spec.test]
        let total = fractions.reduce(0, +)
        guard total > 0 else { return [n, 0, 0] }
        let exact = fractions.map { Double(n) * $0 / total }
        var counts = exact.map { Int($0.rounded(.down)) }
        var left = n - counts.reduce(0, +)
        let order = (0..<3).sorted { (exact[$0] - Double(counts[$0]), -$0) > (exact[$1] - Double(counts[$1]), -$1) }
        var k = 0
        while left > 0 {
            counts[order[k % 3]] += 1
            left -= 1
            k += 1
        }
        return counts
    }

    public static func split(_ table: Table, _ spec: SplitSpec, label: String?) throws(DataError) -> SplitIndices {
        let n = table.rowCount
        var g = RandomGenerator(seed: spec.seed)
        var parts: [[Int]] = [[], [], []]
        switch spec.strategy {
        case .ordered:
            let c = counts(n, spec)
            parts = [Array(0..<c[0]), Array(c[0]..<(c[0] + c[1])), Array((c[0] + c[1])..<n)]
        case .random:
            var rows = Array(0..<n)
            g.shuffle(&rows)
            let c = counts(n, spec)
            parts = [Array(rows[0..<c[0]]), Array(rows[c[0]..<(c[0] + c[1])]), Array(rows[(c[0] + c[1])...])]
        case .stratified:
            let column = try splitColumn(spec.by ?? label, table, spec, role: "stratify")
            // Strata by value, in a fixed order (the value's text, a null last); each shuffled and cut by the
            // fractions, so every class keeps its proportion in every split.
            var strata: [String: [Int]] = [:]
            for r in 0..<n { strata[column.text(r) ?? "\u{10FFFF}", default: []].append(r) }
            for key in strata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                var rows = strata[key] ?? []
                g.shuffle(&rows)
                let c = counts(rows.count, spec)
                parts[0] += rows[0..<c[0]]
                parts[1] += rows[c[0]..<(c[0] + c[1])]
                parts[2] += rows[(c[0] + c[1])...]
            }
        case .group:
            let column = try splitColumn(spec.by, table, spec, role: "group")
            // Groups in the order they first appear, shuffled; each goes whole to the split furthest below
            // its target, so no group is in two splits.
            var groups: [String: [Int]] = [:]
            var order: [String] = []
            for r in 0..<n {
                let key = column.text(r) ?? "\u{10FFFF}"
                if groups[key] == nil { order.append(key) }
                groups[key, default: []].append(r)
            }
            var indices = Array(order.indices)
            g.shuffle(&indices)
            let target = counts(n, spec).map(Double.init)
            for i in indices {
                let rows = groups[order[i]] ?? []
                var best = 0
                var bestDeficit = -Double.infinity
                for s in 0..<3 where target[s] > 0 {
                    let deficit = (target[s] - Double(parts[s].count)) / target[s]
                    if deficit > bestDeficit {
                        best = s
                        bestDeficit = deficit
                    }
                }
                parts[best] += rows
            }
        }
        return SplitIndices(train: parts[0].sorted(), validation: parts[1].sorted(), test: parts[2].sorted())
    }

    private static func splitColumn(_ name: String?, _ table: Table, _ spec: SplitSpec, role: String) throws(DataError)
        -> Column
    {
        guard let name else {
            throw DataError(
                .data(.splitColumn), "a \(spec.strategy.rawValue) split needs 'by' (the column to \(role) by)", at: nil)
        }
        guard let column = table.column(name) else {
            throw DataError(
                .data(.splitColumn), "the split's column '\(name)' was not read", at: nil,
                help: "name a column of the schema that is not 'ignore: true'")
        }
        return column
    }
}
