import Foundation
import KilnCompute
import KilnDiagnostics
import KilnSpec

extension CompilerContext {
    mutating func checkModel(_ resource: Resource) {
        let spec = ModelSpec(resource)
        // Fields that only one architecture reads, written by the user (defaults do not count).
        let mlpOnly: [ModelSpec.Part] = [.hidden, .activation, .dropout, .normalization]
        let transformerOnly: [ModelSpec.Part] = [
            .pretrained, .pooling, .maxLength, .hiddenDropout, .attentionDropout, .fineTuning,
        ]
        let boosterOnly: [ModelSpec.Part] = [
            .trees, .maxDepth, .learningRate, .subsample, .columnSample, .minChildWeight, .l1, .l2, .minSplitLoss,
            .maxBins,
        ]
        func refuse(_ parts: [ModelSpec.Part], owner: String, id: CompilerDiagnostic) {
            for part in parts where spec.writes(part) {
                let field = part.field
                diagnostics.error(
                    .compiler(id), "'\(field)' applies to architecture '\(owner)', and this model is '\(spec.architecture.name)'",
                    at: spec.keySpan(part), help: "remove '\(field)', or use 'type: \(owner)'")
            }
        }
        switch spec.architecture {
        case .linear:
            refuse(mlpOnly, owner: "mlp", id: .mlpOnlyField)
            refuse(transformerOnly, owner: "transformer", id: .transformerOnlyField)
            refuse(boosterOnly, owner: "gradient_boosting", id: .boosterOnlyField)
        case .gradientBoosting:
            refuse(mlpOnly, owner: "mlp", id: .mlpOnlyField)
            refuse(transformerOnly, owner: "transformer", id: .transformerOnlyField)
            for part in [ModelSpec.Part.initScheme, .initSeed] where spec.writes(part) {
                diagnostics.error(
                    .compiler(.boosterOnlyField), "a gradient_boosting model has no weights to initialise",
                    at: spec.keySpan(part),
                    help: "remove 'init': the Training's 'seed' draws the booster's row and column samples")
            }
        case .mlp(let mlp):
            refuse(transformerOnly, owner: "transformer", id: .transformerOnlyField)
            refuse(boosterOnly, owner: "gradient_boosting", id: .boosterOnlyField)
            if mlp.hidden.isEmpty {
                diagnostics.error(
                    .compiler(.missingHidden), "an 'mlp' needs 'hidden': the widths of its hidden layers",
                    at: spec.span(.architecture) ?? resource.nameSpan, help: "add 'hidden: [64, 32]'")
            }
            if spec.initialisation == .zeros {
                diagnostics.error(
                    .compiler(.zerosInit),
                    "'zeros' initialisation is for 'linear' models: an mlp would never break symmetry",
                    at: spec.span(.initScheme), help: "use 'he' (relu, gelu) or 'xavier' (tanh, sigmoid)")
            }
        case .transformer(let t):
            refuse(mlpOnly, owner: "mlp", id: .mlpOnlyField)
            refuse(boosterOnly, owner: "gradient_boosting", id: .boosterOnlyField)
            checkTransformer(spec, t, resource)
        }
        if spec.task == .tokenClassification, spec.architecture.name != "transformer" {
            diagnostics.error(
                .compiler(.transformerTask),
                "the 'token_classification' task needs a transformer, and this model is '\(spec.architecture.name)'",
                at: spec.span(.task), help: "use 'architecture: {type: transformer, pretrained: …}'")
        }
        checked.models[spec.name] = resource
    }

    private mutating func checkTransformer(_ spec: ModelSpec, _ t: ArchitectureSpec.Transformer, _ resource: Resource) {
        switch spec.task {
        case .classification, .tokenClassification: break
        case .binary, .regression:
            diagnostics.error(
                .compiler(.transformerTask),
                "a transformer does 'classification' (a label per text) or 'token_classification' (a tag per token), not '\(spec.task.rawValue)'",
                at: spec.span(.task),
                help: spec.task == .binary
                    ? "write 'task: classification': two classes are a softmax over two labels" : nil)
        }
        if spec.task == .tokenClassification, spec.writes(.pooling) {
            diagnostics.error(
                .compiler(.transformerOnlyField), "'pooling' applies to 'classification'; a token task tags every token",
                at: spec.keySpan(.pooling), help: "remove 'pooling'")
        }
        let tuning = spec.fineTuning
        if case .full = tuning.method {
            for part in [ModelSpec.Part.loraRank, .loraAlpha, .loraDropout, .loraTargets] where spec.writes(part) {
                diagnostics.error(
                    .compiler(.fineTuning), "'\(part.field)' applies to 'method: lora', and this model fine-tunes fully",
                    at: spec.keySpan(part), help: "add 'method: lora', or remove '\(part.field)'")
            }
        } else if spec.writes(.freezeEmbeddings) {
            diagnostics.error(
                .compiler(.fineTuning), "'freeze_embeddings' applies to 'method: full': with LoRA the embeddings are frozen",
                at: spec.keySpan(.freezeEmbeddings))
        }
        if case .lora(_, _, _, let targets) = tuning.method, Set(targets).count != targets.count {
            diagnostics.error(
                .compiler(.fineTuning), "'fine_tuning.targets' names a projection twice", at: spec.span(.loraTargets))
        }
        guard checkFiles else { return }
        let at = spec.span(.pretrained) ?? spec.span(.architecture) ?? resource.nameSpan
        guard !t.pretrained.isEmpty else {
            diagnostics.error(
                .compiler(.pretrained), "a transformer needs 'pretrained': the model to start from", at: at,
                help: "add 'pretrained: all-MiniLM-L6-v2' (a name in kiln's model cache) or a folder path")
            return
        }
        let location = PretrainedModel.locate(t.pretrained, directory: resource.directory)
        // Every file kiln reads from the folder: inside the workspace when the spec names a path (a cache
        // name is the user's own directory), and a regular file wherever it is.
        for name in PretrainedModel.files {
            let file = location.folder + "/" + name
            guard FileManager.default.fileExists(atPath: file) else { continue }
            if let problem = location.isPath ? confinement.problem(file) : ReadConfinement.special(file) {
                diagnostics.error(
                    .compiler(.readRefused), "pretrained '\(Escaped(t.pretrained))': \(name) is not read: \(problem)",
                    at: at,
                    help: location.isPath
                        ? "keep the model inside the workspace, name its directory in \(ReadConfinement.allowVariable), or put it in kiln's model cache"
                        : nil)
                return
            }
        }
        let model: PretrainedModel
        do {
            model = try PretrainedModel.read(location)
        } catch {
            diagnostics.error(.compiler(.pretrained), error.message, at: at, help: error.help)
            return
        }
        if t.maxLength > model.config.maxPositions {
            diagnostics.error(
                .compiler(.pretrained),
                "'max_length' \(t.maxLength) is longer than the \(model.config.maxPositions) positions of '\(Escaped(t.pretrained))'",
                at: spec.span(.maxLength) ?? at, help: "use at most 'max_length: \(model.config.maxPositions)'")
        }
        if tuning.freezeLayers > model.config.layers {
            diagnostics.error(
                .compiler(.fineTuning),
                "'freeze_layers' \(tuning.freezeLayers) is more than the \(model.config.layers) layers of '\(Escaped(t.pretrained))'",
                at: spec.span(.freezeLayers))
        }
        if case .lora(let rank, _, _, _) = tuning.method, rank > model.config.hiddenSize {
            diagnostics.error(
                .compiler(.fineTuning),
                "LoRA rank \(rank) is more than the hidden size \(model.config.hiddenSize) of '\(Escaped(t.pretrained))'",
                at: spec.span(.loraRank))
        }
        if spec.task == .classification, t.pooling == .pooler, !model.hasPooler {
            diagnostics.error(
                .compiler(.pretrained), "'\(Escaped(t.pretrained))' has no pooler to pool by",
                at: spec.span(.pooling) ?? at, help: "write 'pooling: cls' or 'pooling: mean'")
        }
        checked.pretrained[spec.name] = model
    }
}
