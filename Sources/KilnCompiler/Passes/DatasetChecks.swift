import Foundation
import KilnData
import KilnDiagnostics
import KilnSpec

extension CompilerContext {
    /// Reports a column name that the schema does not declare; true when it exists.
    mutating func requireColumn(_ name: String, in spec: DatasetSpec, at span: SourceSpan, role: String) -> Bool {
        if spec.column(name) != nil { return true }
        diagnostics.error(
            .compiler(.unknownColumn), "\(role) '\(name)' is not a column of dataset '\(spec.name)'", at: span,
            help: DidYouMean.help(for: name, among: spec.columns.map(\.name)))
        return false
    }

    mutating func checkDataset(_ resource: Resource) {
        let spec = DatasetSpec(resource)

        // Label.
        var classes: [String]?
        // An unknown label would make every later feature message a cascade of the first.
        let labelUnknown = spec.label.map { spec.column($0) == nil } ?? false
        if let label = spec.label, let labelSpan = spec.span(.label),
            requireColumn(label, in: spec, at: labelSpan, role: "label"), let column = spec.column(label)
        {
            switch column.type {
            case .category: classes = column.values
            case .bool: classes = ["false", "true"]
            default: break
            }
            if column.type == .category && column.values.count == 1 {
                diagnostics.error(
                    .compiler(.labelClasses), "label '\(label)' is a category with fewer than two values",
                    at: column.span(.values) ?? column.span, help: "list the classes under 'values:'")
            }
            if column.pii || column.ignore {
                diagnostics.warning(
                    .compiler(.labelFlags), "label '\(label)' is marked \(column.pii ? "pii" : "ignore")",
                    at: column.span, help: "the label is never a feature; the flag has no effect")
            }
        }

        // Features.
        var features: [String] = []
        if let explicit = spec.featureItems {
            var seen = Set<String>()
            for (name, span) in explicit {
                guard seen.insert(name).inserted else {
                    diagnostics.error(.compiler(.duplicateFeature), "feature '\(name)' is listed twice", at: span)
                    continue
                }
                guard requireColumn(name, in: spec, at: span, role: "feature") else { continue }
                if name == spec.label {
                    diagnostics.error(
                        .compiler(.labelIsFeature), "the label '\(name)' cannot also be a feature", at: span,
                        notes: [DiagnosticNote("'\(name)' is the label here", at: spec.span(.label))],
                        help: "remove '\(name)' from 'features'")
                    continue
                }
                if let column = spec.column(name), column.pii {
                    checkPIIFeature(column, dataset: spec, resource: resource, at: span)
                }
                features.append(name)
            }
        } else {
            features = spec.columns.filter { $0.name != spec.label && !$0.pii && !$0.ignore }.map(\.name)
        }

        // Transforms and the input width: the data layer's feature plan, its problems at their place.
        let plan = FeaturePlan(
            schema: DataSchema(columns: spec.dataColumns, label: spec.label, features: features),
            transforms: spec.dataTransforms)
        for problem in plan.problems {
            // With an unknown label, what the features would be is a guess: no cascade of feature errors.
            if labelUnknown, case .unencoded = problem { continue }
            if labelUnknown, case .unusable = problem { continue }
            report(problem, spec, resource)
        }
        let width = labelUnknown ? nil : plan.width

        // Column constraints.
        for column in spec.columns {
            if (column.min != nil || column.max != nil) && !column.isNumeric {
                diagnostics.error(
                    .compiler(.columnBounds),
                    "'min'/'max' apply to numeric columns, and '\(column.name)' is \(column.type.rawValue)",
                    at: column.keySpan(.min) ?? column.keySpan(.max) ?? column.span)
            }
            if let min = column.min, let max = column.max, min > max {
                diagnostics.error(
                    .compiler(.columnBounds),
                    "'min' (\(min.diagnosticText)) is greater than 'max' (\(max.diagnosticText)) for '\(column.name)'",
                    at: column.span(.min) ?? column.span)
            }
            if !column.values.isEmpty && column.type != .category && column.type != .tags {
                diagnostics.error(
                    .compiler(.columnValues),
                    "'values' applies to category columns, and '\(column.name)' is \(column.type.rawValue)",
                    at: column.keySpan(.values) ?? column.span, help: "declare 'type: category'")
            }
            if column.type == .category && column.values.isEmpty {
                diagnostics.error(
                    .compiler(.columnValues), "category column '\(column.name)' needs its 'values'", at: column.span,
                    help: "list the categories: values: [a, b, c]")
            }
            if Set(column.values).count != column.values.count, let valuesSpan = column.span(.values) {
                diagnostics.error(
                    .compiler(.columnValues), "'values' of '\(column.name)' lists a value twice", at: valuesSpan)
            }
            if column.pattern != nil && column.type != .string {
                diagnostics.error(
                    .compiler(.columnPattern),
                    "'pattern' applies to string columns, and '\(column.name)' is \(column.type.rawValue)",
                    at: column.keySpan(.pattern) ?? column.span)
            }
        }

        checkTokenSource(spec, resource: resource)
        checkDataChecks(spec)
        checkSplit(spec, resource: resource)
        if spec.encrypt && !checked.policies.contains(where: { $0.encryptionKey != nil }) {
            diagnostics.error(
                .policy(.encryptWithoutKey),
                "dataset '\(spec.name)' asks for encryption, but no Policy declares a key",
                at: spec.span(.encrypt) ?? resource.nameSpan,
                help: "add 'encryption: {key: ${env:KILN_DATA_KEY}}' to a Policy")
        }
        let files = checkSource(spec, resource: resource)

        checked.datasets[spec.name] = CheckedDataset(
            resource: resource, spec: spec,
            featureColumns: plan.outputColumns, inputWidth: width, textColumns: plan.texts, tokenColumns: plan.sequences,
            classes: classes, sourceFiles: files)
    }

    /// A token source (CoNLL or tokens/tags jsonl): one tokens and one tags column and nothing else, the
    /// tag set declared as IOB2 tags, the tags the label.
    private mutating func checkTokenSource(_ spec: DatasetSpec, resource: Resource) {
        let tokens = spec.columns.filter { $0.type == .tokens }, tags = spec.columns.filter { $0.type == .tags }
        let format = spec.format.map(SourceFormat.init) ?? SourceFormat(extensionOf: spec.path)
        guard format == .conll || !tokens.isEmpty || !tags.isEmpty else { return }
        func error(_ message: String, at span: SourceSpan?, help: String? = nil) {
            diagnostics.error(.compiler(.tokenSource), message, at: span ?? resource.nameSpan, help: help)
        }
        if tokens.count != 1 || tags.count != 1 || spec.columns.count != 2 {
            error(
                "a token source has two columns, one 'tokens' and one 'tags'; this schema has \(spec.columns.map { "\($0.name) (\($0.type.rawValue))" }.joined(separator: ", "))",
                at: spec[.columns]?.keySpan,
                help: "columns: {tokens: {type: tokens}, tags: {type: tags, values: [O, B-PER, I-PER]}}")
            return
        }
        if let format, format != .conll && format != .jsonl {
            error(
                "tokens and tags are read from a 'conll' or a 'jsonl' source, not '\(format.rawValue)'",
                at: spec.span(.format) ?? spec.span(.path), help: "write 'format: conll'")
        }
        let tagColumn = tags[0]
        if tagColumn.values.isEmpty {
            error(
                "tags column '\(tagColumn.name)' needs its tag set in 'values'", at: tagColumn.span,
                help: "values: [O, B-PER, I-PER, B-LOC, I-LOC]")
        }
        if !tagColumn.values.isEmpty, tagColumn.values.count < 2 || !tagColumn.values.contains(where: { $0.hasPrefix("B-") }) {
            error(
                "tags column '\(tagColumn.name)' needs 'O' and at least one entity's B- tag", at: tagColumn.span(.values),
                help: "values: [O, B-PER, I-PER]")
        }
        for value in tagColumn.values where !(value == "O" || ((value.hasPrefix("B-") || value.hasPrefix("I-")) && value.count > 2)) {
            error(
                "tag '\(value)' of '\(tagColumn.name)' is not O, B-TYPE or I-TYPE (IOB2)",
                at: tagColumn.span(.values) ?? tagColumn.span)
            break
        }
        if let label = spec.label, label != tagColumn.name {
            error(
                "a token source's label is its tags column '\(tagColumn.name)', not '\(label)'", at: spec.span(.label),
                help: "write 'label: \(tagColumn.name)'")
        }
        if spec.split.strategy == .stratified || spec.split.strategy == .group {
            error(
                "a token source's sentences are split 'random' or 'ordered', not '\(spec.split.strategy.rawValue)'",
                at: spec.split.span, help: "write 'strategy: random'")
        }
    }

    /// A feature-plan problem as a diagnostic, at the transform (or its column) that causes it.
    private mutating func report(
        _ problem: FeaturePlan.Problem, _ spec: DatasetSpec, _ resource: Resource
    ) {
        func transform(_ place: FeaturePlan.Place) -> DatasetSpec.Transform { spec.transforms[place.transform] }
        func op(_ place: FeaturePlan.Place) -> String { transform(place).op }
        func span(_ place: FeaturePlan.Place) -> SourceSpan {
            let t = transform(place)
            if let item = place.item, item < t.columnSpans.count { return t.columnSpans[item] }
            return t.span(.columns) ?? t.span
        }
        switch problem {
        case .unknownColumn(let name, let place):
            _ = requireColumn(name, in: spec, at: span(place), role: "transform column")
        case .transformsLabel(let name, let place):
            let numeric = spec.column(name).map { $0.type == .float || $0.type == .int } ?? false
            diagnostics.error(
                .compiler(.transformLabel), "'\(op(place))' applies to features, and '\(name)' is the label",
                at: span(place),
                help: numeric
                    ? "a numeric label takes 'standardize', 'min_max' or 'log' (trained on the scaled target, predictions mapped back); remove '\(op(place))' here"
                    : "the label is encoded by its 'values'; remove it here")
        case .notAFeature(let name, let place):
            diagnostics.error(
                .compiler(.transformNotFeature), "'\(op(place))' names '\(name)', which is not a feature",
                at: span(place), help: "transforms apply to features; add '\(name)' to 'features' or remove it here")
        case .wrongType(let name, let type, .numeric, let place):
            diagnostics.error(
                .compiler(.transformType), "'\(op(place))' needs a numeric column, and '\(name)' is \(type.rawValue)",
                at: span(place), help: type == .category ? "encode categories with 'one_hot' or 'ordinal'" : nil)
        case .wrongType(let name, let type, .category, let place):
            diagnostics.error(
                .compiler(.transformType), "'\(op(place))' needs a category column, and '\(name)' is \(type.rawValue)",
                at: span(place), help: "declare it 'type: category' with its 'values'")
        case .encodedTwice(let name, let place):
            diagnostics.error(.compiler(.transformTwice), "'\(name)' is encoded twice", at: span(place))
        case .imputeWithoutValue(let place):
            diagnostics.error(
                .compiler(.imputeValue), "'impute' with strategy 'constant' needs a 'value'", at: transform(place).span,
                help: "add 'value:' (the fill value)")
        case .imputeStrategyType(let name, let type, let strategy, let place):
            diagnostics.error(
                .compiler(.transformType),
                "strategy '\(strategy.rawValue)' needs a numeric column, and '\(name)' is \(type.rawValue)",
                at: span(place), help: "use 'most_frequent' or 'constant'")
        case .unencoded(let name):
            diagnostics.error(
                .compiler(.unencodedFeature), "category feature '\(name)' is not encoded",
                at: spec.column(name)?.span ?? resource.nameSpan,
                help: "add a transform {op: one_hot, columns: [\(name)]} (or ordinal), or drop it")
        case .unusable(let name, let type):
            diagnostics.error(
                .compiler(.unusableFeature), "\(type.rawValue) column '\(name)' cannot be a feature",
                at: spec.column(name)?.span ?? resource.nameSpan,
                help: "mark it 'ignore: true', or drop it with {op: drop, columns: [\(name)]}")
        case .noFeatures:
            diagnostics.error(
                .compiler(.noFeatures), "dataset '\(spec.name)' has no features after transforms",
                at: spec.span(.features) ?? resource.nameSpan)
        }
    }

    private mutating func checkDataChecks(_ spec: DatasetSpec) {
        for check in spec.checks {
            for (name, span) in check.columnItems {
                guard requireColumn(name, in: spec, at: span, role: "check column"), let column = spec.column(name) else {
                    continue
                }
                // An ignored column is not read, so the check would pass `kiln check` and fail the run.
                if column.ignore {
                    diagnostics.error(
                        .compiler(.checkIgnoredColumn), "the check names '\(name)', which is 'ignore: true' and never read",
                        at: span, help: "drop 'ignore: true' (and keep it out of 'features'), or check another column")
                    continue
                }
                if column.type == .tokens || column.type == .tags {
                    if case .bio = check.rule {} else if case .notNull = check.rule {} else {
                        diagnostics.error(
                            .compiler(.checkType),
                            "'\(check.raw["check"]?.string ?? "")' compares whole cells, and '\(name)' holds a sentence's \(column.type.rawValue)",
                            at: span, help: "check a token source's tags with {check: bio}; its tag set is the column's 'values'")
                        continue
                    }
                }
                switch check.rule {
                case .range where !column.isNumeric:
                    diagnostics.error(
                        .compiler(.checkType),
                        "'range' needs a numeric column, and '\(name)' is \(column.type.rawValue)", at: span)
                case .allowedValues(_, nil) where column.values.isEmpty:
                    diagnostics.error(
                        .compiler(.checkValues), "'allowed_values' on '\(name)' has no values to allow", at: check.span,
                        help: "add 'values:' to the check, or declare the column as a category with 'values'")
                case .pattern where column.type != .string && column.type != .text:
                    diagnostics.error(
                        .compiler(.checkType),
                        "'pattern' needs a string column, and '\(name)' is \(column.type.rawValue)", at: span)
                case .bio where column.type != .tags:
                    diagnostics.error(
                        .compiler(.checkType), "'bio' needs a tags column, and '\(name)' is \(column.type.rawValue)",
                        at: span)
                case .notNull, .range, .unique, .rowCount, .classBalance, .allowedValues, .pattern, .bio: break
                }
            }
            switch check.rule {
            case .range(_, nil, nil):
                diagnostics.error(.compiler(.checkBounds), "'range' needs 'min', 'max' or both", at: check.span)
            case .rowCount(nil, nil):
                diagnostics.error(.compiler(.checkBounds), "'row_count' needs 'min', 'max' or both", at: check.span)
            case .classBalance(nil, _) where spec.label == nil:
                diagnostics.error(
                    .compiler(.checkColumn), "'class_balance' needs a 'column' when the dataset has no label",
                    at: check.span)
            case .classBalance(nil, _) where spec.label.flatMap(spec.column)?.type == .tags:
                diagnostics.error(
                    .compiler(.checkType), "'class_balance' counts a label's classes, and this label is a sentence's tags",
                    at: check.span, help: "remove it: a token source's balance is its tags' counts, which kiln does not check")
            case .bio(nil) where spec.label.flatMap(spec.column)?.type != .tags:
                diagnostics.error(
                    .compiler(.checkColumn), "'bio' needs a 'column' when the label is not a tags column",
                    at: check.span)
            case .notNull, .range, .unique, .rowCount, .classBalance, .allowedValues, .pattern, .bio: break
            }
        }
    }

    private mutating func checkSplit(_ spec: DatasetSpec, resource: Resource) {
        let split = spec.split
        let (train, validation, test) = (split.train, split.validation, split.test)
        let sum = train + validation + test
        if abs(sum - 1) > 1e-9 {
            diagnostics.error(
                .compiler(.splitSum),
                "split fractions add up to \(sum.diagnosticText), not 1 (train \(train.diagnosticText) + validation \(validation.diagnosticText) + test \(test.diagnosticText))",
                at: split.span, help: "make train + validation + test equal 1")
        }
        if train <= 0 {
            diagnostics.error(
                .compiler(.emptyTrainSplit), "the train split is empty", at: split.span(.train) ?? split.raw.span,
                help: "give 'train' a fraction above 0")
        }
        let by = split[.by]
        let strategySpan = split.span(.strategy) ?? split.raw.span
        switch split.strategy {
        case .stratified:
            if let by, let name = by.string {
                if requireColumn(name, in: spec, at: by.span, role: "stratify column"), let column = spec.column(name),
                    ![.category, .bool, .int].contains(column.type)
                {
                    diagnostics.error(
                        .compiler(.splitColumn), "cannot stratify by \(column.type.rawValue) column '\(name)'",
                        at: by.span,
                        help: "stratify by a category, bool or int column")
                }
            } else if spec.label == nil {
                diagnostics.error(
                    .compiler(.splitColumn), "a stratified split needs 'by' when the dataset has no label",
                    at: strategySpan)
            }
        case .group:
            if let by, let name = by.string {
                _ = requireColumn(name, in: spec, at: by.span, role: "group column")
            } else {
                diagnostics.error(
                    .compiler(.splitColumn), "a group split needs 'by': the column whose groups stay together",
                    at: strategySpan, help: "add 'by: COLUMN'")
            }
        case .random, .ordered:
            if let by {
                diagnostics.warning(
                    .compiler(.splitByUnused), "'by' has no effect with strategy '\(split.strategy.rawValue)'",
                    at: by.keySpan ?? by.span)
            }
        }
    }

    /// The source files (resolved); checks they exist and, for CSV/TSV with a header, that it names
    /// the declared columns.
    private mutating func checkSource(_ spec: DatasetSpec, resource: Resource) -> [String] {
        let pathSpan = spec.span(.path) ?? resource.nameSpan
        // The data layer's map from extension to format: one rule for `kiln check` and the readers.
        let format = spec.format.map(SourceFormat.init) ?? SourceFormat(extensionOf: spec.path)
        if format == nil {
            diagnostics.error(
                .compiler(.unknownFormat), "cannot tell the format of '\(spec.path)' from its extension", at: pathSpan,
                help: "add 'format: csv' (or tsv, jsonl) to 'source'")
        }
        let resolved = Self.resolve(spec.path, in: resource.directory)
        guard checkFiles else { return [resolved] }
        let files = Self.expand(resolved)
        guard let first = files.first else {
            diagnostics.error(
                .compiler(.missingFile), "data source '\(spec.path)' matches no file", at: pathSpan,
                help:
                    "paths resolve against the spec file's directory ('\(resource.directory.isEmpty ? "." : resource.directory)')"
            )
            return []
        }
        // Nothing outside the workspace (or a special file) is read, hashed or quoted because a spec says so.
        for file in files {
            if let problem = confinement.problem(file) {
                diagnostics.error(
                    .compiler(.readRefused), "data source '\(Escaped(spec.path))' is not read: \(problem)",
                    at: pathSpan,
                    help:
                        "keep data inside the workspace, or name its directory in \(ReadConfinement.allowVariable) (a ':'-separated list)"
                )
                return []
            }
        }
        guard spec.header, format == .csv || format == .tsv else { return files }
        let delimiter = spec.delimiter ?? (format == .tsv ? "\t" : ",")
        guard let header = Self.headerRow(first, delimiter: delimiter) else { return files }
        let declared = spec.columns.map(\.name)
        for column in spec.columns where !header.contains(column.name) {
            diagnostics.error(
                .compiler(.headerMismatch), "column '\(column.name)' is not in the header of '\(first)'",
                at: column.span,
                notes: [DiagnosticNote("the header is: \(Self.quoted(header, delimiter))", at: pathSpan)],
                help: DidYouMean.help(for: column.name, among: header.filter { !declared.contains($0) }, listing: false)
            )
        }
        let undeclared = header.filter { !declared.contains($0) && !$0.isEmpty }
        if !undeclared.isEmpty {
            diagnostics.warning(
                .compiler(.undeclaredColumns),
                "'\(first)' has columns the schema does not declare: \(undeclared.map { "'\($0)'" }.joined(separator: ", ")); they are not read",
                at: spec[.columns]?.keySpan ?? pathSpan,
                help: "declare them (with 'ignore: true' to keep them out of the features)")
        }
        return files
    }

    /// A header as a note shows it: escaped, and at most 300 characters (a file without line breaks has
    /// one very long "header", which is not what the note is about).
    static func quoted(_ header: [String], _ delimiter: String) -> String {
        let text = "\(Escaped(header.joined(separator: delimiter)))"
        return text.count > 300 ? text.prefix(300) + "… (\(header.count) columns)" : text
    }

    /// A csv/tsv file's header, read by the data layer's own tokenizer (what `kiln run` will read).
    static func headerRow(_ path: String, delimiter: String) -> [String]? {
        guard delimiter.utf8.count == 1, let byte = delimiter.utf8.first else { return nil }
        return TableReader.header(of: path, delimiter: byte)
    }

    /// A pii column listed as a feature: an error, citing the Policy rule that denies it if there is one.
    mutating func checkPIIFeature(_ column: ColumnSpec, dataset: DatasetSpec, resource: Resource, at span: SourceSpan) {
        var denying: PolicySpec.DataRule?
        var allowed = false
        for policy in checked.policies {
            for rule in policy.data where globMatches(rule.on, resource.id) && (rule.pii ?? true) {
                if rule.classification != nil && rule.classification != dataset.classification.rawValue { continue }
                if rule.allow.contains("feature") { allowed = true }
                if rule.deny.contains("feature") && denying == nil { denying = rule }
            }
        }
        if !allowed, let denying {
            diagnostics.error(
                .policy(.piiAsFeature), "pii column '\(column.name)' is used as a feature, which a Policy denies",
                at: span,
                notes: [
                    DiagnosticNote("denied by this rule", at: denying.span),
                    DiagnosticNote("'\(column.name)' is marked pii here", at: column.span(.pii) ?? column.span),
                ],
                help: "remove '\(column.name)' from 'features'")
        } else if !allowed {
            diagnostics.error(
                .policy(.piiAsFeature),
                "pii column '\(column.name)' is used as a feature without a Policy allowing it",
                at: span,
                notes: [
                    DiagnosticNote("'\(column.name)' is marked pii here", at: column.span(.pii) ?? column.span)
                ],
                help:
                    "remove it from 'features', or allow it in a Policy: {allow: [feature], on: \(resource.id), where: {pii: true}}"
            )
        }
    }
}
