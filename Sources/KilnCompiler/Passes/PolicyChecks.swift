import Foundation
import KilnDiagnostics
import KilnSpec

extension CompilerContext {
    static let patternKinds = ["dataset", "model", "training", "deployment", "policy"]

    mutating func checkPolicy(_ policy: PolicySpec) {
        let roleNames = Set(checked.policies.flatMap { $0.roles.map(\.name) })
        var principalNames: [String: SourceSpan] = [:]
        for principal in policy.principals {
            let span = principal.nameSpan
            if let first = principalNames[principal.name] {
                diagnostics.error(
                    .policy(.duplicatePrincipal), "principal '\(principal.name)' is defined twice", at: span,
                    notes: [DiagnosticNote("first defined here", at: first)])
            } else {
                principalNames[principal.name] = span
            }
            for role in principal.roleItems {
                let name = role.text
                guard !roleNames.contains(name) else { continue }
                diagnostics.error(
                    .policy(.unknownRole), "principal '\(principal.name)' has role '\(name)', which no Policy defines",
                    at: role.span, help: DidYouMean.help(for: name, among: roleNames.sorted()))
            }
        }
        // Access control is on only when some Policy declares principals or roles: keys alone leave every
        // action open, which a Policy author may not expect.
        let accessControlled = checked.policies.contains { !$0.principals.isEmpty || !$0.roles.isEmpty }
        if !accessControlled, policy[.signing] != nil || policy[.encryption] != nil {
            diagnostics.warning(
                .policy(.noPrincipals),
                "Policy '\(policy.name)' sets up keys but no Policy declares principals or roles: every action (run, register, promote, deploy, serve) is open to anyone",
                at: policy.span,
                help: "add principals and roles to turn access control on, e.g. {allow: [promote, deploy], on: \"model/*\", environments: [production]}")
        }
        for role in policy.roles {
            for rule in role.rules {
                checkPattern(rule.on, at: rule.onSpan, kinds: Self.patternKinds)
                if rule.actions.contains("infer") && !rule.on.hasPrefix("deployment/") && !rule.on.hasPrefix("*") {
                    diagnostics.error(
                        .policy(.actionKind), "'infer' applies to deployments, and '\(rule.on)' names none",
                        at: rule.onSpan,
                        help: "write 'on: deployment/NAME'")
                }
            }
        }
        for rule in policy.data {
            checkPattern(rule.on, at: rule.onSpan, kinds: ["dataset"])
            if rule.deny.isEmpty && rule.allow.isEmpty {
                diagnostics.error(
                    .policy(.emptyRule), "a data rule needs 'deny' or 'allow'", at: rule.span,
                    help: "write {deny: [feature], on: \"dataset/*\", where: {pii: true}}")
            }
        }
        if let log = policy.auditLog {
            let path = log.text
            if !ReadConfinement.isPlainRelative(path) {
                diagnostics.error(
                    .policy(.auditOutside), "the audit log '\(Escaped(path))' must be inside the workspace", at: log.span,
                    help: "write a path relative to the workspace without '..', like logs/audit.jsonl")
            }
        }
        for key in policy.trustedKeys {
            guard checkFiles else { continue }
            let path = key.text
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
    private mutating func checkPattern(_ pattern: String, at span: SourceSpan, kinds: [String]) {
        let parts = pattern.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[1].isEmpty else {
            diagnostics.error(
                .policy(.invalidPattern), "'\(pattern)' is not a KIND/NAME pattern", at: span,
                help: "write it like 'training/*' or 'deployment/iris-api'")
            return
        }
        let kind = String(parts[0])
        if kind != "*" && !kinds.contains(kind) {
            diagnostics.error(
                .policy(.unknownKind), "unknown kind '\(kind)' in pattern '\(pattern)'", at: span,
                help: DidYouMean.help(for: kind, among: kinds) ?? "kinds are lower-case: "
                    + kinds.joined(separator: ", "))
        }
    }
}
