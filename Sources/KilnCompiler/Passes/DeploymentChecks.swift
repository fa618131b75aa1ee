import Foundation
import KilnDiagnostics
import KilnSpec

extension CompilerContext {
    /// Model names that can be registered: every Model's name and every Training's `register.name`.
    var registrableModels: Set<String> {
        var names = Set(byName[.model]?.keys.map { $0 } ?? [])
        for r in resources(.training) {
            if let name = TrainingSpec(name: r.name, r.spec).register?.name { names.insert(name) }
        }
        return names
    }

    mutating func checkDeployment(_ resource: Resource) {
        let spec = DeploymentSpec(resource)
        let known = registrableModels
        for (reference, span) in [(spec.model, spec.span(.model)), (spec.canary, spec.span(.canaryModel))] {
            guard let reference, let span, !known.contains(reference.model) else { continue }
            if isBroken(.model, reference.model) { continue }
            diagnostics.error(
                .compiler(.unknownModel), "'\(reference)' names no model that this workspace registers", at: span,
                help: DidYouMean.help(for: reference.model, among: known.sorted()).map {
                    $0 + " (a version reference is NAME@REF)"
                }
                    ?? "a deployed model is a Model, or a Training's 'register.name'")
        }
        if let canary = spec.canary, let model = spec.model, canary == model {
            diagnostics.warning(
                .compiler(.canarySameVersion), "the canary '\(canary)' is the same reference as the model",
                at: spec.span(.canaryModel),
                help: "point the canary at another version or alias")
        }

        // Plain HTTP off this machine would carry bearer tokens in clear.
        let host = spec.server.host
        if spec.server.tls == nil && !ModelNames.isLoopback(host) && spec.auth != .none {
            diagnostics.error(
                .deployment(.plainHTTPExposed),
                "'auth: required' on \(host) without TLS: bearer tokens would cross the network in clear",
                at: spec.span(.host) ?? resource.nameSpan,
                help: "add server: {tls: {certificate: certs/server.pem, key: ${file:../secrets/server.key}}}, or listen on 127.0.0.1")
        }
        if spec.server.tls != nil, checkFiles {
            for part in [DeploymentSpec.Part.certificate, .clientCA] {
                guard let value = spec[part], let path = value.string else { continue }
                let field = part.field
                let full = Self.resolve(path, in: resource.directory)
                if !FileManager.default.fileExists(atPath: full) {
                    diagnostics.error(
                        .compiler(.missingFile), "tls.\(field) '\(Escaped(path))' does not exist", at: value.span,
                        help: "paths resolve against the spec file's directory")
                } else if let problem = confinement.problem(full) {
                    diagnostics.error(
                        .compiler(.readRefused), "tls.\(field) '\(Escaped(path))' is not read: \(problem)", at: value.span)
                }
            }
        }

        // Policies: which protect this environment, and whether signing is required.
        var signingRequired = false
        var keyFiles: [String] = []
        for policy in checked.policies {
            let protects =
                policy.protectedEnvironments.contains(spec.environment)
                || policy.roles.contains {
                    $0.rules.contains { $0.actions.contains("infer") && globMatches($0.on, resource.id) }
                }
            // `@latest` moves at every registration, which needs only `register`: in a protected
            // environment it would let a registration change what part of the traffic gets.
            if protects, spec.canary?.target == .latest, let c = spec[.canaryModel] {
                diagnostics.error(
                    .policy(.latestCanaryProtected),
                    "the canary '\(spec.canary?.description ?? "")' follows every registration, in environment '\(spec.environment)', which Policy '\(policy.name)' protects",
                    at: c.span,
                    help: "name an alias that only a promote moves (iris-mlp@candidate), or a version")
            }
            if protects && spec.auth == .none, let auth = spec[.auth] {
                diagnostics.error(
                    .policy(.authNoneProtected),
                    "'auth: none' in environment '\(spec.environment)', which Policy '\(policy.name)' protects",
                    at: auth.span,
                    notes: [DiagnosticNote("the Policy is defined here", at: policy.span)],
                    help: "use 'auth: required'; clients send 'Authorization: Bearer <token>'")
            }
            if policy.signingRequiredFor.contains(spec.environment) {
                signingRequired = true
                for key in policy.trustedKeys {
                    keyFiles.append(Self.resolve(key.text, in: policyDirectories[policy.name] ?? ""))
                }
            }
        }
        if signingRequired && keyFiles.isEmpty, let env = spec[.environment] {
            diagnostics.error(
                .policy(.noTrustedKeys),
                "environment '\(spec.environment)' requires signed versions, but no Policy lists 'trusted_keys'",
                at: env.span,
                help: "add 'trusted_keys: [keys/release.pub]' under 'signing' (make a pair with 'kiln keygen')")
        }
        checked.deployments.append(
            CheckedDeployment(
                resource: resource, spec: spec, signingRequired: signingRequired, trustedKeyFiles: keyFiles))
    }

    var policyDirectories: [String: String] {
        Dictionary(resources(.policy).map { ($0.name, $0.directory) }, uniquingKeysWith: { a, _ in a })
    }
}
