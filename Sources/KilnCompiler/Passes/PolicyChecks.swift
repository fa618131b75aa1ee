import Foundation
import KilnDiagnostics
import KilnSpec

extension CompilerContext {
    static let patternKinds = ["dataset", "model", "training", "deployment", "policy"]

    mutating func checkPolicy(_ policy: PolicySpec) {
        let roleNames = Set(checked.policies.flatMap { $0.roles.map(\.name) })
        var principalNames: [String: SourceSpan] = [:]
        for principal in policy.principals {
            let nameValue = principal.raw["name"]
            if let first = principalNames[principal.name], let span = nameValue?.span {
                diagnostics.error(
                    .policy(.duplicatePrincipal), "principal '\(principal.name)' is defined twice", at: span,
                    notes: [DiagnosticNote("first defined here", at: first)])
            } else if let span = nameValue?.span {
                principalNames[principal.name] = span
            }
            for role in principal.raw["roles"]?.list ?? [] {
                guard let name = role.string, !roleNames.contains(name) else { continue }
                diagnostics.error(
                    .policy(.unknownRole), "principal '\(principal.name)' has role '\(name)', which no Policy defines",
                    at: role.span, help: DidYouMean.help(for: name, among: roleNames.sorted()))
            }
        }
        // Access control is on only when some Policy declares principals or roles: keys alone leave every
        // action open, which a Policy author may not expect.
        let accessControlled = checked.policies.contains { !$0.principals.isEmpty || !$0.roles.isEmpty }
        if !accessControlled, policy.raw["signing"] != nil || policy.raw["encryption"] != nil {
            diagnostics.warning(
                .policy(.noPrincipals),
                "Policy '\(policy.name)' sets up keys but no Policy declares principals or roles: every action (run, register, promote, deploy, serve) is open to anyone",
                at: policy.raw.keySpan ?? policy.raw.span,
                help: "add principals and roles to turn access control on, e.g. {allow: [promote, deploy], on: \"model/*\", environments: [production]}")
        }
        for role in policy.roles {
            for rule in role.rules {
                if let on = rule.raw["on"] { checkPattern(on, kinds: Self.patternKinds) }
                if rule.actions.contains("infer") && !rule.on.hasPrefix("deployment/") && !rule.on.hasPrefix("*"),
                    let on = rule.raw["on"]
                {
                    diagnostics.error(
                        .policy(.actionKind), "'infer' applies to deployments, and '\(rule.on)' names none",
                        at: on.span,
                        help: "write 'on: deployment/NAME'")
                }
            }
        }
        for rule in policy.data {
            if let on = rule.raw["on"] { checkPattern(on, kinds: ["dataset"]) }
            if rule.deny.isEmpty && rule.allow.isEmpty {
                diagnostics.error(
                    .policy(.emptyRule), "a data rule needs 'deny' or 'allow'", at: rule.raw.span,
                    help: "write {deny: [feature], on: \"dataset/*\", where: {pii: true}}")
            }
        }
        if let log = policy.raw[path: ["audit", "log"]], let path = log.string {
            if !ReadConfinement.isPlainRelative(path) {
                diagnostics.error(
                    .policy(.auditOutside), "the audit log '\(Escaped(path))' must be inside the workspace", at: log.span,
                    help: "write a path relative to the workspace without '..', like logs/audit.jsonl")
            }
        }
        for key in policy.trustedKeys {
            guard checkFiles, let path = key.string else { continue }
            let resolved = Self.resolve(path, in: policyDirectories[policy.name] ?? "")
            if !FileManager.default.fileExists(atPath: resolved) {
                diagnostics.error(
                    .compiler(.missingFile), "trusted key '\(path)' does not exist", at: key.span,
                    help: "make a key pair with 'kiln keygen'; paths resolve against the spec file's directory")
            } else if let problem = confinement.problem(resolved) {
                diagnostics.error(
                    .compiler(.readRefused), "trusted key '\(path)' is not read: \(problem)", at: key.span,
                    help: "keep the public key in the workspace, or name its directory in \(ReadConfinement.allowVariable)")
            }
        }
    }

    /// A `KIND/NAME` pattern: a known lower-case kind (or `*`), then a name glob.
    private mutating func checkPattern(_ value: SpecValue, kinds: [String]) {
        guard let pattern = value.string else { return }
        let parts = pattern.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[1].isEmpty else {
            diagnostics.error(
                .policy(.invalidPattern), "'\(pattern)' is not a KIND/NAME pattern", at: value.span,
                help: "write it like 'training/*' or 'deployment/iris-api'")
            return
        }
        let kind = String(parts[0])
        if kind != "*" && !kinds.contains(kind) {
            diagnostics.error(
                .policy(.unknownKind), "unknown kind '\(kind)' in pattern '\(pattern)'", at: value.span,
                help: DidYouMean.help(for: kind, among: kinds) ?? "kinds are lower-case: "
                    + kinds.joined(separator: ", "))
        }
    }
}
