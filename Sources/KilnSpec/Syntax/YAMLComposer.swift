internal import CYAML
public import KilnDiagnostics

/// Composes libyaml's events into a syntax tree with positions, under the strict rules of the spec
/// language: duplicate keys are errors, aliases and merge keys expand within bounds, only scalar keys.
///
/// It is our own on purpose (not Yams): we need every node's span, the scalar style, and control of
/// expansion. It never throws: every problem becomes a diagnostic, and a file with a fatal problem
/// yields the documents composed before it.
public struct YAMLComposer {
    public let file: String
    public let limits: YAMLLimits

    public init(file: String, limits: YAMLLimits = .default) {
        self.file = file
        self.limits = limits
    }

    public struct Result: Sendable {
        public var documents: [YAMLDocument]
        public var diagnostics: [Diagnostic]
    }

    /// Parses `bytes` (UTF-8, UTF-16 with BOM are accepted by libyaml).
    public func compose(_ bytes: [UInt8]) -> Result {
        if bytes.count > limits.maxFileBytes {
            return Result(
                documents: [],
                diagnostics: [
                    Diagnostic(
                        .spec(.fileTooLarge), .error,
                        "file is \(bytes.count) bytes, over the limit of \(limits.maxFileBytes) bytes",
                        at: .fileStart(file), help: "split the specs into several files")
                ])
        }
        var state = State(file: file, limits: limits, bytes: bytes)
        bytes.withUnsafeBufferPointer { buffer in
            var parser = yaml_parser_t()
            guard yaml_parser_initialize(&parser) == 1 else {
                state.fatal(.spec(.syntax), "the YAML parser could not start (out of memory)", at: .fileStart(file))
                return
            }
            defer { yaml_parser_delete(&parser) }
            // libyaml keeps a pointer to the buffer: it must outlive the parse (it does: this closure).
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var event = yaml_event_t()
            while !state.finished {
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    state.syntaxError(parser)
                    break
                }
                state.handle(event)
                yaml_event_delete(&event)
            }
        }
        return Result(documents: state.documents, diagnostics: state.diagnostics)
    }
}

private struct State {
    let file: String
    let limits: YAMLLimits
    let bytes: [UInt8]
    var documents: [YAMLDocument] = []
    var diagnostics: [Diagnostic] = []
    var finished = false

    private enum Frame {
        case sequence(start: SourceLocation, anchor: String?, items: [YAMLNode])
        case mapping(start: SourceLocation, anchor: String?, entries: [YAMLEntry], pendingKey: YAMLNode?)
    }

    private var stack: [Frame] = []
    private var anchors: [String: YAMLNode] = [:]
    private var expanded = 0
    private var documentRoot: YAMLNode?
    private var documentStart = SourceLocation(line: 1, column: 1)
    private var documentCount = 0

    init(file: String, limits: YAMLLimits, bytes: [UInt8]) {
        self.file = file
        self.limits = limits
        self.bytes = bytes
    }

    mutating func fatal(_ id: DiagnosticID, _ message: String, at span: SourceSpan, help: String? = nil) {
        diagnostics.append(Diagnostic(id, .error, message, at: span, help: help))
        finished = true
    }

    private func location(_ mark: yaml_mark_t) -> SourceLocation {
        SourceLocation(line: Int(mark.line) + 1, column: Int(mark.column) + 1, offset: Int(mark.index))
    }

    private func span(_ event: yaml_event_t) -> SourceSpan {
        SourceSpan(file: file, start: location(event.start_mark), end: location(event.end_mark))
    }

    private static func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let p else { return nil }
        return String(cString: UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
    }

    mutating func handle(_ event: yaml_event_t) {
        switch event.type {
        case YAML_STREAM_END_EVENT:
            finished = true
        case YAML_DOCUMENT_START_EVENT:
            anchors = [:]
            documentRoot = nil
            documentStart = location(event.start_mark)
        case YAML_DOCUMENT_END_EVENT:
            documentCount += 1
            if let root = documentRoot {
                documents.append(YAMLDocument(root: root, index: documentCount))
            }
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let text: String
            if let value = s.value {
                let buffer = UnsafeBufferPointer(start: value, count: Int(s.length))
                text = String(decoding: buffer, as: UTF8.self)
            } else {
                text = ""
            }
            var style: ScalarStyle
            switch s.style {
            case YAML_SINGLE_QUOTED_SCALAR_STYLE: style = .singleQuoted
            case YAML_DOUBLE_QUOTED_SCALAR_STYLE: style = .doubleQuoted
            case YAML_LITERAL_SCALAR_STYLE: style = .literal
            case YAML_FOLDED_SCALAR_STYLE: style = .folded
            default: style = .plain
            }
            let sp = span(event)
            if let tag = Self.string(s.tag) {
                guard checkTag(tag, allowString: true, at: sp) else { return }
                if tag == "tag:yaml.org,2002:str" && style == .plain { style = .singleQuoted }
            }
            complete(YAMLNode(.scalar(text, style), span: sp), anchor: Self.string(s.anchor))
        case YAML_ALIAS_EVENT:
            let name = Self.string(event.data.alias.anchor) ?? ""
            let sp = span(event)
            guard let target = anchors[name] else {
                fatal(
                    .spec(.undefinedAlias), "alias '*\(name)' refers to no anchor defined before it", at: sp,
                    help: "define '&\(name)' on a node earlier in the same document")
                return
            }
            var node = target
            // The alias keeps the anchor's text but is reported where it is used.
            node.span = sp
            complete(node, anchor: nil, isAlias: true)
        case YAML_SEQUENCE_START_EVENT:
            let sq = event.data.sequence_start
            if let tag = Self.string(sq.tag), !checkTag(tag, allowString: false, at: span(event)) { return }
            push(.sequence(start: location(event.start_mark), anchor: Self.string(sq.anchor), items: []), event)
        case YAML_MAPPING_START_EVENT:
            let mp = event.data.mapping_start
            if let tag = Self.string(mp.tag), !checkTag(tag, allowString: false, at: span(event)) { return }
            push(
                .mapping(
                    start: location(event.start_mark), anchor: Self.string(mp.anchor), entries: [], pendingKey: nil),
                event)
        case YAML_SEQUENCE_END_EVENT:
            guard case .sequence(let start, let anchor, let items)? = stack.popLast() else { return }
            let sp = SourceSpan(file: file, start: start, end: location(event.end_mark))
            complete(YAMLNode(.sequence(items), span: sp), anchor: anchor)
        case YAML_MAPPING_END_EVENT:
            guard case .mapping(let start, let anchor, let entries, _)? = stack.popLast() else { return }
            let sp = SourceSpan(file: file, start: start, end: location(event.end_mark))
            guard let merged = resolveMerges(entries) else { return }
            complete(YAMLNode(.mapping(merged), span: sp), anchor: anchor)
        default:
            break
        }
    }

    /// Only the core schema's tags are understood; `!!str` forces a string.
    private mutating func checkTag(_ tag: String, allowString: Bool, at span: SourceSpan) -> Bool {
        let known = ["tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:str"]
        if known.contains(tag) && (allowString || tag != "tag:yaml.org,2002:str") { return true }
        let shown = tag.hasPrefix("tag:yaml.org,2002:") ? "!!" + tag.dropFirst("tag:yaml.org,2002:".count) : tag
        fatal(
            .spec(.unsupportedTag), "tag '\(shown)' is not supported in kiln specs", at: span,
            help: "remove the tag: values are typed by the schema (use quotes or '!!str' to force a string)")
        return false
    }

    private mutating func push(_ frame: Frame, _ event: yaml_event_t) {
        if stack.count >= limits.maxDepth {
            fatal(
                .spec(.nestingTooDeep), "nesting is deeper than the limit of \(limits.maxDepth) levels",
                at: span(event), help: "flatten the structure; no kiln spec needs this depth")
            return
        }
        stack.append(frame)
    }

    /// Attaches a finished node to its parent (or makes it the document root) and counts it.
    private mutating func complete(_ node: YAMLNode, anchor: String?, isAlias: Bool = false) {
        guard !finished else { return }
        // Scalars and collections count as they close; an alias adds its whole expanded subtree.
        let added = isAlias ? node.weight : 1
        expanded &+= added
        if expanded > limits.maxExpandedNodes {
            fatal(
                .spec(.aliasExpansion),
                "the file expands to more than \(limits.maxExpandedNodes) nodes (aliases are expanded)",
                at: node.span,
                help: "an alias that repeats a large anchor many times is an 'alias bomb'; use fewer aliases")
            return
        }
        if let anchor { anchors[anchor] = node }
        guard let top = stack.popLast() else {
            documentRoot = node
            return
        }
        switch top {
        case .sequence(let start, let a, var items):
            items.append(node)
            stack.append(.sequence(start: start, anchor: a, items: items))
        case .mapping(let start, let a, var entries, let pendingKey):
            if let key = pendingKey {
                entries.append(YAMLEntry(key: key, value: node))
                stack.append(.mapping(start: start, anchor: a, entries: entries, pendingKey: nil))
            } else {
                guard node.scalar != nil else {
                    fatal(
                        .spec(.complexKey), "a mapping key must be a plain value, not \(node.describedKind)",
                        at: node.span, help: "kiln specs use only string keys")
                    return
                }
                stack.append(.mapping(start: start, anchor: a, entries: entries, pendingKey: node))
            }
        }
    }

    /// Checks duplicate keys and applies merge keys (`<<`): explicit keys win over merged ones, and
    /// earlier merge sources win over later ones. Merged entries take the place of the `<<` key.
    private mutating func resolveMerges(_ entries: [YAMLEntry]) -> [YAMLEntry]? {
        // The common case, a small mapping without merge keys or duplicates, without building sets.
        if entries.count <= 16 && !entries.contains(where: { isMergeKey($0.key) }) {
            var unique = true
            for i in entries.indices where unique {
                for j in entries.indices where j < i && entries[j].name == entries[i].name { unique = false }
            }
            if unique { return entries }
        }
        var explicit: [String: YAMLNode] = [:]
        for entry in entries where !isMergeKey(entry.key) {
            if let first = explicit[entry.name] {
                diagnostics.append(
                    Diagnostic(
                        .spec(.duplicateKey), .error, "duplicate key '\(entry.name)'", at: entry.key.span,
                        notes: [DiagnosticNote("'\(entry.name)' first defined here", at: first.span)],
                        help: "a mapping holds each key once; remove or rename one of them"))
            } else {
                explicit[entry.name] = entry.key
            }
        }
        var result: [YAMLEntry] = []
        var present = Set<String>()
        for entry in entries {
            if isMergeKey(entry.key) {
                let sources: [YAMLNode]
                switch entry.value.kind {
                case .mapping: sources = [entry.value]
                case .sequence(let items): sources = items
                case .scalar:
                    sources = [entry.value]
                }
                for source in sources {
                    guard let merged = source.entries else {
                        fatal(
                            .spec(.invalidMerge),
                            "a merge key '<<' takes a mapping or a list of mappings, not \(source.describedKind)",
                            at: source.span, help: "merge an anchored mapping: '<<: *defaults'")
                        return nil
                    }
                    for m in merged where explicit[m.name] == nil && !present.contains(m.name) {
                        present.insert(m.name)
                        result.append(m)
                    }
                }
            } else if !present.contains(entry.name) {
                present.insert(entry.name)
                result.append(entry)
            }
        }
        return result
    }

    private func isMergeKey(_ key: YAMLNode) -> Bool {
        if case .scalar("<<", .plain) = key.kind { return true }
        return false
    }

    /// libyaml's own error, at its position, with a sharper message for tabs.
    mutating func syntaxError(_ parser: yaml_parser_t) {
        let mark = parser.problem_mark
        var at = SourceLocation(line: Int(mark.line) + 1, column: Int(mark.column) + 1, offset: Int(mark.index))
        // A reader error (bad UTF-8, a control character) has no mark, only the byte offset of the problem.
        if parser.error == YAML_READER_ERROR {
            at = location(ofByte: Int(parser.problem_offset))
        }
        let sp = SourceSpan(file: file, start: at, end: SourceLocation(line: at.line, column: at.column + 1))
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        if character(atLine: at.line, column: at.column) == "\t" {
            fatal(
                .spec(.tab), "tab character in indentation", at: sp,
                help: "YAML indents with spaces only; replace the tab with spaces")
            return
        }
        var notes: [DiagnosticNote] = []
        if let context = parser.context.map({ String(cString: $0) }) {
            let cm = parser.context_mark
            let start = SourceLocation(line: Int(cm.line) + 1, column: Int(cm.column) + 1, offset: Int(cm.index))
            notes.append(
                DiagnosticNote(
                    context.replacingOccurrences(of: "while ", with: "") + " that starts here",
                    at: SourceSpan(
                        file: file, start: start, end: SourceLocation(line: start.line, column: start.column + 1))))
        }
        diagnostics.append(Diagnostic(.spec(.syntax), .error, "invalid YAML: \(problem)", at: sp, notes: notes))
        finished = true
    }

    /// The character at a 1-based line and column (columns count Unicode scalars, as libyaml does).
    /// Line and column (in characters) of a byte offset of the input.
    private func location(ofByte offset: Int) -> SourceLocation {
        let end = min(max(offset, 0), bytes.count)
        var line = 1, start = 0
        for i in 0..<end where bytes[i] == 10 {
            line += 1
            start = i + 1
        }
        let column = String(decoding: bytes[start..<end], as: UTF8.self).unicodeScalars.count + 1
        return SourceLocation(line: line, column: column, offset: end)
    }

    private func character(atLine line: Int, column: Int) -> Unicode.Scalar? {
        var current = 1
        var col = 1
        for scalar in String(decoding: bytes, as: UTF8.self).unicodeScalars {
            if current == line && col == column { return scalar }
            if scalar == "\n" {
                if current == line { return nil }
                current += 1
                col = 1
            } else {
                col += 1
            }
        }
        return nil
    }
}
