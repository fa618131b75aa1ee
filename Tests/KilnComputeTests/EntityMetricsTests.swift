import Foundation
import KilnCompute
import Testing

/// Entity-level precision, recall and F1 against seqeval in strict IOB2 mode (scripts/entity-golden: 12
/// seeded cases of random sentences with invalid transitions), and the span rules on their own.
@Suite struct EntityMetricsTests {
    struct Golden: Decodable {
        struct Case: Decodable {
            var truth: [[String]]
            var predicted: [[String]]
            var report: [String: [String: Double]]
        }
        var tags: [String]
        var cases: [Case]
    }

    @Test func scoresEqualSeqevalsStrictMode() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Goldens/entity-metrics.json").path
        let golden = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        let tags = try EntityTags(golden.tags)
        let id = Dictionary(uniqueKeysWithValues: golden.tags.enumerated().map { ($1, $0) })
        #expect(golden.cases.count == 12)
        for (n, c) in golden.cases.enumerated() {
            let (micro, perType) = try tags.evaluate(
                truth: c.truth.map { $0.map { id[$0]! } }, predicted: c.predicted.map { $0.map { id[$0]! } })
            func expectEqual(_ s: EntityTags.Scores, _ peer: [String: Double]?, _ what: String) {
                guard let peer else {
                    Issue.record("case \(n): seqeval has no \(what)")
                    return
                }
                #expect(abs(s.precision - peer["precision"]!) < 1e-9, "case \(n) \(what) precision")
                #expect(abs(s.recall - peer["recall"]!) < 1e-9, "case \(n) \(what) recall")
                #expect(abs(s.f1 - peer["f1-score"]!) < 1e-9, "case \(n) \(what) f1")
                #expect(Double(s.support) == peer["support"]!, "case \(n) \(what) support")
            }
            expectEqual(micro, c.report["micro avg"], "micro avg")
            for (type, scores) in perType where c.report[type] != nil { expectEqual(scores, c.report[type], type) }
            // seqeval lists a type when the truth or the prediction has one.
            let listed = Set(c.report.keys).subtracting(["micro avg", "macro avg", "weighted avg"])
            #expect(listed.isSubset(of: Set(perType.keys)))
        }
    }

    @Test func strictSpansAndBadTags() throws {
        let tags = try EntityTags(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
        // B-PER I-PER | O | I-LOC alone (nothing) | B-LOC I-PER (LOC of one, then a stray I-PER).
        let spans = tags.spans([1, 2, 0, 4, 3, 2])
        #expect(spans == [.init(start: 0, end: 2, type: 1), .init(start: 4, end: 5, type: 0)])
        #expect(tags.types == ["LOC", "PER"])
        #expect(throws: ComputeError.self) { _ = try EntityTags(["O", "PER"]) }
        #expect(throws: ComputeError.self) { _ = try EntityTags(["O", "B-"]) }
        #expect(throws: ComputeError.self) { _ = try EntityTags(["O", "O"]) }
        #expect(throws: ComputeError.self) { _ = try tags.evaluate(truth: [[0, 1]], predicted: [[0]]) }
        #expect(throws: ComputeError.self) { _ = try tags.evaluate(truth: [[9]], predicted: [[0]]) }
        let none = try tags.evaluate(truth: [[0, 0]], predicted: [[0, 0]])
        #expect(none.micro.precision == 0 && none.micro.recall == 0 && none.micro.f1 == 0 && none.micro.support == 0)
    }
}
