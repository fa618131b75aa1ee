import KilnSecurity
import KilnSpec
import KilnTestSupport
import Testing

/// The evaluator, table-driven: deny by default, globs, environment scoping, unknown principals, admin.
@Suite struct PolicyEvaluatorTests {
    static let evaluator: PolicyEvaluator = {
        let yaml = """
            apiVersion: kiln/v1
            kind: Policy
            metadata: {name: default}
            spec:
              principals:
                - {name: alice, roles: [ml-engineer]}
                - {name: release-bot, roles: [release-manager]}
                - {name: ops, roles: [admin]}
                - {name: nobody, roles: []}
              roles:
                ml-engineer:
                  - {allow: [run, register], on: "training/*"}
                  - {allow: [read], on: "dataset/iris-*"}
                release-manager:
                  - {allow: [promote, deploy], on: "model/*", environments: [production]}
                admin:
                  - {allow: [admin], on: "*/*"}
            """
        return PolicyEvaluator(TestCompile.workspace(yaml).resources.filter { $0.kind == .policy }.map(PolicySpec.init))
    }()

    @Test(arguments: [
        ("alice", "run", "training/iris-train", nil as String?, true),
        ("alice", "register", "training/wine-train", nil, true),
        ("alice", "promote", "model/iris-mlp", "production", false),
        ("alice", "read", "dataset/iris-raw", nil, true),
        ("alice", "read", "dataset/wine", nil, false),
        ("alice", "run", "model/iris-mlp", nil, false),
        ("release-bot", "promote", "model/iris-mlp", "production", true),
        ("release-bot", "promote", "model/iris-mlp", "staging", false),
        ("release-bot", "promote", "model/iris-mlp", nil, false),
        ("release-bot", "deploy", "model/iris-mlp", "production", true),
        ("release-bot", "run", "training/iris-train", nil, false),
        ("ops", "promote", "model/anything", "production", true),
        ("ops", "infer", "deployment/iris-api", "staging", true),
        ("nobody", "read", "dataset/iris-raw", nil, false),
        ("mallory", "run", "training/iris-train", nil, false),
    ])
    func decides(_ who: String, _ action: String, _ resource: String, _ environment: String?, _ allowed: Bool) {
        let d = Self.evaluator.decide(principal: who, action: action, on: [resource], environment: environment)
        #expect(d.allowed == allowed, "\(who) \(action) \(resource) \(environment ?? "-"): \(d.reason)")
        if !allowed {
            #expect(d.reason.contains("'\(action)' on \(resource)"), "\(d.reason)")
        }
    }

    @Test func anyOfSeveralNamesGrants() {
        let d = Self.evaluator.decide(
            principal: "release-bot", action: "deploy", on: ["deployment/iris-api", "model/iris-mlp"],
            environment: "production")
        #expect(d.allowed)
        let unknown = Self.evaluator.decide(principal: "mallory", action: "run", on: ["training/x"])
        #expect(unknown.reason.contains("'mallory' is not a principal of the Policy (default)"))
        #expect(Self.evaluator.isActive)
        #expect(!PolicyEvaluator([]).isActive)
        let keysOnly = TestCompile.workspace(
            "apiVersion: kiln/v1\nkind: Policy\nmetadata: {name: keys}\nspec:\n  encryption: {key: \"${env:K}\"}\n")
        #expect(!PolicyEvaluator(keysOnly.resources.map(PolicySpec.init)).isActive)
    }
}
