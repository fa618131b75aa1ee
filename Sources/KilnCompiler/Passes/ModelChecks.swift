import KilnDiagnostics
import KilnSpec

extension CompilerContext {
    mutating func checkModel(_ resource: Resource) {
        let spec = ModelSpec(resource)
        switch spec.architecture {
        case .linear:
            // Fields that only an mlp reads, written by the user (defaults do not count).
            let mlpOnly: [ModelSpec.Part] = [.hidden, .activation, .dropout, .normalization]
            for part in mlpOnly where spec.writes(part) {
                let field = part.field
                diagnostics.error(
                    .compiler(.mlpOnlyField), "'\(field)' applies to architecture 'mlp', and this model is 'linear'",
                    at: spec.keySpan(part), help: "remove '\(field)', or use 'type: mlp'")
            }
        case .mlp(let mlp):
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
        }
        checked.models[spec.name] = resource
    }
}
