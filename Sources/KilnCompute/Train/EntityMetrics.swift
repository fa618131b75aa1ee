/// Entity-level scores for token classification, as seqeval computes them in strict mode with the IOB2
/// scheme (`classification_report(mode="strict", scheme=IOB2)`): an entity is a B-X followed by any I-X
/// of the same type; an I-X that does not continue one (after O, or after another type) starts nothing
/// and is not an entity. A predicted entity counts only when its type, start and end all match.
public struct EntityTags: Sendable, Equatable {
    public enum Prefix: Sendable, Equatable { case outside, begin, inside }

    /// The tags by label id ("O", "B-PER", "I-PER", …), their prefixes and entity types.
    public let tags: [String]
    public let prefixes: [Prefix]
    /// Per label id, the index of its type in `types` (-1 for O).
    public let typeOf: [Int]
    /// The entity types, sorted.
    public let types: [String]

    /// `tags` in IOB2: "O", or "B-" / "I-" and a type. Anything else is refused by name.
    public init(_ tags: [String]) throws(ComputeError) {
        var prefixes: [Prefix] = [], names: [String?] = []
        for tag in tags {
            if tag == "O" {
                prefixes.append(.outside)
                names.append(nil)
                continue
            }
            let parts = tag.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == "B" || parts[0] == "I", !parts[1].isEmpty else {
                throw .invalidArgument("tag '\(tag)' is not IOB2: write O, or B- or I- and a type (B-PER, I-PER)")
            }
            prefixes.append(parts[0] == "B" ? .begin : .inside)
            names.append(String(parts[1]))
        }
        guard Set(tags).count == tags.count else { throw .invalidArgument("the tags \(tags) repeat one") }
        let types = Array(Set(names.compactMap { $0 })).sorted()
        let index = Dictionary(uniqueKeysWithValues: types.enumerated().map { ($1, $0) })
        self.tags = tags
        self.prefixes = prefixes
        typeOf = names.map { $0.flatMap { index[$0] } ?? -1 }
        self.types = types
    }

    /// An entity: tokens start..<end of type `type` (an index into `types`).
    public struct Span: Hashable, Sendable {
        public var start: Int, end: Int, type: Int

        public init(start: Int, end: Int, type: Int) {
            self.start = start
            self.end = end
            self.type = type
        }
    }

    /// The entities of one sentence's label ids (strict IOB2).
    public func spans(_ labels: [Int]) -> [Span] {
        var out: [Span] = []
        var i = 0
        while i < labels.count {
            let l = labels[i]
            guard prefixes[l] == .begin else {
                i += 1
                continue
            }
            var end = i + 1
            while end < labels.count, prefixes[labels[end]] == .inside, typeOf[labels[end]] == typeOf[l] { end += 1 }
            out.append(Span(start: i, end: end, type: typeOf[l]))
            i = end
        }
        return out
    }

    public struct Scores: Sendable, Equatable {
        public var precision: Double, recall: Double, f1: Double
        /// True entities.
        public var support: Int
    }

    /// Micro-averaged and per-type precision, recall and F1 over sentences of label ids (truth and
    /// prediction of equal lengths); 0 where a ratio has nothing to divide (seqeval's zero_division).
    public func evaluate(truth: [[Int]], predicted: [[Int]]) throws(ComputeError) -> (micro: Scores, perType: [String: Scores]) {
        guard truth.count == predicted.count, zip(truth, predicted).allSatisfy({ $0.count == $1.count }) else {
            throw .shapeMismatch("truth and prediction differ in sentences or tokens")
        }
        if let bad = (truth + predicted).lazy.flatMap({ $0 }).first(where: { $0 < 0 || $0 >= tags.count }) {
            throw .invalidArgument("label \(bad) is outside the \(tags.count) tags")
        }
        var trueCount = Array(repeating: 0, count: types.count), predCount = trueCount, hits = trueCount
        for (t, p) in zip(truth, predicted) {
            let trueSpans = spans(t), predSpans = spans(p)
            let expected = Set(trueSpans)
            for s in trueSpans { trueCount[s.type] += 1 }
            for s in predSpans {
                predCount[s.type] += 1
                if expected.contains(s) { hits[s.type] += 1 }
            }
        }
        func scores(_ tp: Int, _ predicted: Int, _ actual: Int) -> Scores {
            let p = predicted > 0 ? Double(tp) / Double(predicted) : 0
            let r = actual > 0 ? Double(tp) / Double(actual) : 0
            return Scores(precision: p, recall: r, f1: p + r > 0 ? 2 * p * r / (p + r) : 0, support: actual)
        }
        var perType: [String: Scores] = [:]
        for (i, name) in types.enumerated() { perType[name] = scores(hits[i], predCount[i], trueCount[i]) }
        let micro = scores(hits.reduce(0, +), predCount.reduce(0, +), trueCount.reduce(0, +))
        return (micro, perType)
    }
}
