import ArgumentParser
import KilnSpec

struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the JSON Schema of the spec language (for editors), or its reference.",
        discussion: """
            Point yaml-language-server at it with a modeline at the top of a spec file:
              # yaml-language-server: $schema=./kiln.schema.json

            Examples:
              kiln schema > kiln.schema.json
              kiln schema --format markdown > docs/spec-reference.md
            """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case json, markdown
    }

    @Option(help: "json (JSON Schema draft-07) or markdown (the reference).")
    var format: Format = .json

    func run() throws {
        switch format {
        case .json: Terminal.standardOutput(JSONSchemaExporter.document().serialized(pretty: true) + "\n")
        case .markdown: Terminal.standardOutput(ReferenceWriter.markdown())
        }
    }
}
