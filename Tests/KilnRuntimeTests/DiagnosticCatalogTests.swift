import Foundation
import KilnCompiler
import KilnData
import KilnDiagnostics
import KilnRuntime
import KilnSpec
import KilnTestSupport
import Testing

/// The diagnostic catalogs (one file per stage) and docs/cli.md's table of ids say the same thing, and no
/// source file writes an id as a string.
@Suite struct DiagnosticCatalog {
    /// Every catalog, by its file.
    static let catalogs: [(file: String, ids: [String])] = [
        ("Sources/KilnSpec/SpecDiagnostics.swift", SpecDiagnostic.allCases.map(\.rawValue)),
        ("Sources/KilnSpec/SpecDiagnostics.swift", WorkspaceDiagnostic.allCases.map(\.rawValue)),
        ("Sources/KilnCompiler/CompilerDiagnostics.swift", CompilerDiagnostic.allCases.map(\.rawValue)),
        ("Sources/KilnCompiler/CompilerDiagnostics.swift", PolicyDiagnostic.allCases.map(\.rawValue)),
        ("Sources/KilnCompiler/CompilerDiagnostics.swift", DeploymentDiagnostic.allCases.map(\.rawValue)),
        ("Sources/KilnData/DataDiagnostics.swift", DataDiagnostic.allCases.map(\.rawValue)),
        ("Sources/KilnRuntime/RunDiagnostics.swift", RunDiagnostic.allCases.map(\.rawValue)),
    ]

    /// The ids docs/cli.md's "Diagnostic ids" table names.
    static func documented() throws -> Set<String> {
        let text = try String(contentsOfFile: Repository.path("docs/cli.md"), encoding: .utf8)
        let start = try #require(text.range(of: "## Diagnostic ids"))
        let section = text[start.upperBound...]
        let end = section.range(of: "\n## ")?.lowerBound ?? section.endIndex
        var ids = Set<String>()
        for line in section[..<end].split(separator: "\n") where line.hasPrefix("| `") {
            let firstCell = line.dropFirst(2).prefix { $0 != "|" }
            for match in firstCell.matches(of: /`([a-z]+\.[a-z0-9._-]+)`/) { ids.insert(String(match.output.1)) }
        }
        return ids
    }

    @Test func everyIdIsDocumentedAndEveryDocumentedIdExists() throws {
        let catalogued = Set(Self.catalogs.flatMap(\.ids))
        let documented = try Self.documented()
        #expect(catalogued.subtracting(documented).sorted() == [], "in a catalog, not in docs/cli.md")
        #expect(documented.subtracting(catalogued).sorted() == [], "in docs/cli.md, in no catalog")
        #expect(catalogued.count == Self.catalogs.flatMap(\.ids).count, "an id in two catalogs")
    }

    @Test func catalogsAreSortedAndEachIdHasItsStagesPrefix() {
        for catalog in Self.catalogs {
            #expect(catalog.ids == catalog.ids.sorted(), "\(catalog.file) is not sorted")
            let prefixes = Set(catalog.ids.map { $0.prefix { $0 != "." } })
            #expect(prefixes.count == 1, "\(catalog.file): one enumeration, one prefix")
        }
    }

    @Test func noSourceFileWritesAnIdAsAString() throws {
        let catalogFiles = Set(Self.catalogs.map(\.file))
        let prefixes = Set(Self.catalogs.flatMap(\.ids).map { String($0.prefix { $0 != "." }) })
        let pattern = try Regex("\"(\(prefixes.sorted().joined(separator: "|")))\\.[a-z0-9._-]+\"")
        var offenders: [String] = []
        let sources = Repository.path("Sources")
        let enumerator = FileManager.default.enumerator(atPath: sources)
        while let file = enumerator?.nextObject() as? String {
            guard file.hasSuffix(".swift"), !catalogFiles.contains("Sources/" + file) else { continue }
            let text = try String(contentsOfFile: sources + "/" + file, encoding: .utf8)
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where (line.contains(pattern) && !line.contains("\"run.lock\"")) || line.contains("DiagnosticID(catalog:") {
                offenders.append("Sources/\(file):\(n + 1): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
        #expect(offenders == [], "ids are named through their stage's catalog")
    }

    /// A diagnostic that comes back as JSON (from `kiln exec-node`) still hides a secret's source line.
    @Test func redactionSurvivesJSON() throws {
        let secret = Diagnostic(.spec(.inlineSecret), .error, "a secret", at: nil)
        let back = try JSONDecoder().decode(Diagnostic.self, from: JSONEncoder().encode(secret))
        #expect(back.id == secret.id && back.id.redactsSource)
        let plain = try JSONDecoder().decode(Diagnostic.self, from: JSONEncoder().encode(Diagnostic(.run(.io), .error, "x", at: nil)))
        #expect(!plain.id.redactsSource)
    }
}
