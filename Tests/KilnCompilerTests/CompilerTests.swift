import KilnCompiler
import KilnSpec
import KilnTestSupport
import Testing

let dataset = """
    apiVersion: kiln/v1
    kind: Dataset
    metadata: {name: iris, description: first}
    spec:
      source: {path: iris.csv}
      schema:
        columns:
          a: {type: float}
          b: {type: float}
          colour: {type: category, values: [red, green, blue]}
          species: {type: category, values: [x, y, z]}
        label: species
      checks:
        - {check: row_count, min: 10}
      transforms:
        - {op: standardize, columns: auto}
        - {op: one_hot, columns: [colour]}
      split: {train: 0.8, test: 0.2}
    """

let model = """
    apiVersion: kiln/v1
    kind: Model
    metadata: {name: net}
    spec: {task: classification, architecture: {type: mlp, hidden: [8]}}
    """

let training = """
    apiVersion: kiln/v1
    kind: Training
    metadata: {name: fit}
    spec:
      model: net
      dataset: iris
      epochs: 10
      gates: [{metric: accuracy, min: 0.5}]
      register: {alias: staging}
    """

func workspace(_ d: String = dataset, _ m: String = model, _ t: String = training) -> String {
    [d, m, t].joined(separator: "\n---\n")
}

func fingerprints(_ yaml: String) throws -> [String: String] {
    let graph = try #require(TestCompile.graph(yaml), Comment(rawValue: "\(TestCompile.diagnostics(yaml))"))
    return Dictionary(uniqueKeysWithValues: graph.nodes.map { ($0.id.description, $0.fingerprint) })
}

/// Which nodes' fingerprints differ between two workspaces.
func changed(_ a: String, _ b: String) throws -> Set<String> {
    let fa = try fingerprints(a), fb = try fingerprints(b)
    return Set(fa.keys.filter { fa[$0] != fb[$0] })
}

@Suite struct Fingerprints {
    @Test func areStableAcrossCompilations() throws {
        #expect(try fingerprints(workspace()) == fingerprints(workspace()))
    }

    @Test func ignoreDescriptionsCommentsAndFieldOrder() throws {
        let reordered = workspace().replacingOccurrences(of: "epochs: 10\n  gates", with: "epochs: 10 # ten\n  gates")
            .replacingOccurrences(of: "model: net\n  dataset: iris", with: "dataset: iris\n  model: net")
        #expect(try changed(workspace(), reordered).isEmpty)
        #expect(try changed(workspace(), workspace(dataset.replacingOccurrences(of: "first", with: "second"))).isEmpty)
    }

    @Test func anExplicitDefaultIsTheSameAsTheDefault() throws {
        let explicit = training.replacingOccurrences(of: "epochs: 10", with: "epochs: 10\n  batch_size: 32")
        #expect(try changed(workspace(), workspace(dataset, model, explicit)).isEmpty)
    }

    @Test func aTrainingFieldChangesFitAndWhatFollowsOnly() throws {
        let t = training.replacingOccurrences(of: "epochs: 10", with: "epochs: 11")
        #expect(
            try changed(workspace(), workspace(dataset, model, t)) == [
                "training/fit:fit", "training/fit:gate", "training/fit:register",
            ])
    }

    @Test func aGateChangesGateAndRegisterButNotFit() throws {
        let t = training.replacingOccurrences(of: "min: 0.5", with: "min: 0.6")
        #expect(
            try changed(workspace(), workspace(dataset, model, t)) == ["training/fit:gate", "training/fit:register"])
    }

    @Test func aDataCheckChangesEverythingDownstreamOfTheCheck() throws {
        let d = dataset.replacingOccurrences(of: "min: 10", with: "min: 20")
        #expect(
            try changed(workspace(), workspace(d))
                == [
                    "dataset/iris:check", "dataset/iris:split", "training/fit:fit", "training/fit:gate",
                    "training/fit:register",
                ])
    }

    @Test func aModelChangeDoesNotTouchTheDataset() throws {
        let m = model.replacingOccurrences(of: "hidden: [8]", with: "hidden: [16]")
        #expect(
            try changed(workspace(), workspace(dataset, m)) == [
                "training/fit:fit", "training/fit:gate", "training/fit:register",
            ])
    }
}

@Suite struct Shapes {
    @Test func inputWidthCountsOneHotColumns() throws {
        let graph = try #require(TestCompile.graph(workspace()))
        let fit = try #require(graph.node("training/fit:fit"))
        let text = fit.config.serialized()
        #expect(text.contains("\"inputs\":5"))
        #expect(text.contains("\"outputs\":3"))
    }

    @Test func aDeclaredWidthThatDisagreesNamesBothPositions() throws {
        let m = model.replacingOccurrences(of: "hidden: [8]}", with: "hidden: [8]}, inputs: 4")
        let d = try #require(
            TestCompile.diagnostics(workspace(dataset, m)).first { $0.id == "compiler.shape-mismatch" })
        #expect(d.message.contains("declares 4 inputs") && d.message.contains("gives 5"))
        #expect(d.notes.count == 2)
    }
}

@Suite struct Matrix {
    @Test func expandsToTheCartesianProductWithStableNames() throws {
        let t = training + "\n  matrix:\n    optimizer.learning_rate: [0.1, 0.01]\n    batch_size: [16, 32, 64]\n"
        let graph = try #require(TestCompile.graph(workspace(dataset, model, t)))
        let fits = graph.nodes.filter { $0.kind == .fit }.map(\.id)
        #expect(fits.count == 6)
        #expect(fits.contains("training/fit[batch_size=16,optimizer.learning_rate=0.1]:fit"))
        let configs = Set(graph.nodes.filter { $0.kind == .fit }.map(\.fingerprint))
        #expect(configs.count == 6)
    }
}

@Suite struct GraphExport {
    @Test func exportsEveryNodeAndEdge() throws {
        let graph = try #require(TestCompile.graph(workspace()))
        #expect(graph.nodes.count == 6)
        #expect(graph.edges.count == 5)
        let dot = graph.render(.dot)
        #expect(dot.contains("\"dataset/iris:split\" -> \"training/fit:fit\""))
        let mermaid = graph.render(.mermaid)
        #expect(mermaid.hasPrefix("flowchart LR") && mermaid.contains("-->"))
        #expect(graph.render(.json).contains("\"version\": 1"))
    }
}

/// Resources are checked and lowered on every core: the diagnostics and the graph are those of one
/// resource after the other.
@Suite struct ParallelCompilation {
    static func big(_ n: Int) -> String {
        var docs = [model]
        for i in 0..<n {
            // Every seventh dataset has an error, every eleventh training a warning-worthy or wrong field.
            let label = i % 7 == 0 ? "labl" : "species"
            docs.append(
                dataset.replacingOccurrences(of: "name: iris", with: "name: iris\(i)")
                    .replacingOccurrences(of: "label: species", with: "label: \(label)"))
            docs.append(
                training.replacingOccurrences(of: "name: fit}", with: "name: fit\(i)}")
                    .replacingOccurrences(of: "dataset: iris", with: "dataset: iris\(i)")
                    .replacingOccurrences(of: "epochs: 10", with: i % 11 == 0 ? "epochs: 0" : "epochs: \(i + 1)"))
        }
        return docs.joined(separator: "\n---\n")
    }

    @Test func givesWhatOneAfterTheOtherGives() throws {
        for yaml in [Self.big(150), Self.big(150).replacingOccurrences(of: "labl", with: "species")
            .replacingOccurrences(of: "epochs: 0\n", with: "epochs: 1\n")] {
            let workspace = TestCompile.workspace(yaml)
            var serial = Compiler(), parallel = Compiler()
            serial.checkFiles = false
            parallel.checkFiles = false
            serial.parallel = false
            let (a, ga) = serial.lower(workspace, hashFiles: false)
            let (b, gb) = parallel.lower(workspace, hashFiles: false)
            #expect(a.diagnostics.sorted == b.diagnostics.sorted)
            #expect(a.checked.trainings.map(\.nodeName) == b.checked.trainings.map(\.nodeName))
            #expect(ga?.json().serialized() == gb?.json().serialized())
            if let gb { #expect(gb.nodes.count == 150 * 5 + 150) }  // ingest, check, split, fit, gate, register
        }
    }
}

/// A fit node's payload carries the training as the compute core reads it, the schema's defaults applied
/// where a variant reads a field the spec leaves out.
@Suite struct FitPayloads {
    func fit(_ optimizer: String, _ schedule: String = "{type: constant}") throws -> FitPayload {
        let yaml = workspace(
            dataset, model,
            training.replacingOccurrences(
                of: "epochs: 10", with: "epochs: 10\n  optimizer: \(optimizer)\n  schedule: \(schedule)"))
        let graph = try #require(TestCompile.graph(yaml), Comment(rawValue: "\(TestCompile.diagnostics(yaml))"))
        let node = try #require(graph.nodes.first { $0.kind == .fit })
        guard case .fit(let payload) = node.payload else { Issue.record("not a fit payload"); throw CancellationError() }
        return payload
    }

    @Test func variantDefaultsComeFromTheSchema() throws {
        let momentum = try fit("{type: momentum, learning_rate: 0.1}").training.optimizer
        #expect(momentum.kind == .momentum && momentum.momentum == 0.9 && !momentum.nesterov)
        #expect(momentum.learningRate == 0.1)
        let adam = try fit("{type: adamw, beta2: 0.99}").training.optimizer
        #expect(adam.kind == .adamw && adam.beta1 == 0.9 && adam.beta2 == 0.99 && adam.epsilon == 1e-8)
        #expect(adam.learningRate == 0.001)
        let step = try fit("{type: sgd}", "{type: step, step_epochs: 5}").training.schedule
        #expect(step.kind == .step && step.stepEpochs == 5 && step.gamma == 0.1)
        let cosine = try fit("{type: sgd}", "{type: cosine, warmup_epochs: 2}").training.schedule
        #expect(cosine.kind == .cosine && cosine.minLearningRate == 0 && cosine.warmupEpochs == 2)
    }
}
