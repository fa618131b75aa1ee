import Foundation
import KilnTestSupport
import Testing

/// The spec language's conformance suite (specs/): each invalid case gives its golden diagnostics,
/// each valid case checks without errors. A case is a `.yaml` file or a folder; `_`-folders hold data.
@Suite struct Conformance {
    static func cases(in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Repository.path(directory))) ?? []
        return names.filter {
            !$0.hasPrefix("_") && !$0.hasPrefix(".") && !$0.hasSuffix(".expected") && !$0.hasSuffix(".md")
        }
        .sorted()
    }

    static let invalid = cases(in: "specs/invalid")
    static let valid = cases(in: "specs/valid")

    static func golden(_ directory: String, _ name: String) -> String {
        let stem = name.hasSuffix(".yaml") ? String(name.dropLast(5)) : name
        return Repository.path("\(directory)/\(stem).expected")
    }

    @Test func suiteHasAtLeastSixtyInvalidCases() {
        #expect(Self.invalid.count >= 60)
    }

    @Test(arguments: invalid)
    func invalidCaseGivesItsGoldenDiagnostics(_ name: String) {
        let base = Repository.path("specs/invalid")
        let (text, errors) = TestCompile.rendered(path: "\(base)/\(name)", relativeTo: base)
        #expect(errors > 0, "an invalid case must produce an error")
        if let mismatch = Golden.mismatch(text, golden: Self.golden("specs/invalid", name)) {
            Issue.record(Comment(rawValue: mismatch))
        }
    }

    @Test(arguments: valid)
    func validCaseChecksWithoutErrors(_ name: String) {
        let base = Repository.path("specs/valid")
        let (text, errors) = TestCompile.rendered(path: "\(base)/\(name)", relativeTo: base)
        #expect(errors == 0, Comment(rawValue: text))
        // Warnings of valid cases are golden too, when the case has a golden file.
        let golden = Self.golden("specs/valid", name)
        if FileManager.default.fileExists(atPath: golden) || Golden.recording && !text.isEmpty,
            let mismatch = Golden.mismatch(text, golden: golden)
        {
            Issue.record(Comment(rawValue: mismatch))
        }
    }
}
