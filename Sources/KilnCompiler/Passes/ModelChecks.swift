import KilnDiagnostics
import KilnSpec

extension CompilerContext {
    mutating func checkModel(_ resource: Resource) {
        let spec = ModelSpec(resource)
        let architecture = resource.spec["architecture"]
        switch spec.architecture {
        case .linear:
            // Fields that only an mlp reads, written by the user (defaults do not count).
            for field in ["hidden", "activation", "dropout", "normalization"] {
                if let v = architecture?[field], !v.isDefault {
                    diagnostics.error(
                        .compiler(.mlpOnlyField),
                        "'\(field)' applies to architecture 'mlp', and this model is 'linear'",
                        at: v.keySpan ?? v.span, help: "remove '\(field)', or use 'type: mlp'")
                }
            }
        case .mlp(let mlp):
            if mlp.hidden.isEmpty {
                diagnostics.error(
                    .compiler(.missingHidden), "an 'mlp' needs 'hidden': the widths of its hidden layers",
                    at: architecture?.span ?? resource.nameSpan, help: "add 'hidden: [64, 32]'")
            }
            if let scheme = resource.spec[path: ["init", "scheme"]], scheme.string == "zeros" {
                diagnostics.error(
                    .compiler(.zerosInit),
                    "'zeros' initialisation is for 'linear' models: an mlp would never break symmetry",
                    at: scheme.span, help: "use 'he' (relu, gelu) or 'xavier' (tanh, sigmoid)")
            }
        }
        checked.models[spec.name] = resource
    }
}
