// swift-tools-version:6.1
// Kiln: a declarative pipeline-spec compiler and runner for machine learning.
// Targets are listed lowest stage first; see docs/architecture.md for the data flow.

import Foundation
import PackageDescription

/// Settings every Swift target shares.
let swiftSettings: [SwiftSetting] = [
    // C shims stay out of public APIs: no yaml_event_t or git_oid leaks across modules.
    .enableUpcomingFeature("InternalImportsByDefault"),
    // `any P` everywhere an existential is meant, so costs are visible.
    .enableUpcomingFeature("ExistentialAny"),
]

var targets: [Target] = [
    // MARK: System libraries (Debian packages; scripts/setup installs them)
    /// libyaml's event parser, under our own composer.
    .systemLibrary(
        name: "CYAML", pkgConfig: "yaml-0.1",
        providers: [.apt(["libyaml-dev"])]),
    /// OpenBLAS (cblas_* lives in libopenblas.so); the compute core's kernels.
    .systemLibrary(
        name: "COpenBLAS", pkgConfig: "openblas",
        providers: [.apt(["libopenblas-dev"])]),
    /// libgit2; the model and spec registry.
    .systemLibrary(
        name: "CGit2", pkgConfig: "libgit2",
        providers: [.apt(["libgit2-dev"])]),
    /// XGBoost's C API (libxgboost.so); gradient-boosted trees.
    .systemLibrary(
        name: "CXGBoost", pkgConfig: "xgboost",
        providers: [.apt(["libxgboost-dev"])]),

    // MARK: Front end
    /// Diagnostics: positioned messages, the engine that sorts them, text/json/github renderers.
    .target(name: "KilnDiagnostics", exclude: ["README.md"], swiftSettings: swiftSettings),
    // Text to token ids (BERT's WordPiece): Foundation only.
    .target(name: "KilnText", exclude: ["README.md"], swiftSettings: swiftSettings),
    /// YAML on libyaml -> syntax tree with positions -> typed resources, by one schema definition.
    .target(
        name: "KilnSpec",
        dependencies: ["CYAML", "KilnDiagnostics"], exclude: ["README.md"],
        swiftSettings: swiftSettings),
    /// Passes: resolve, check, infer shapes, expand matrices, lower to the execution graph.
    .target(
        name: "KilnCompiler",
        dependencies: ["KilnSpec", "KilnData", "KilnCompute", .product(name: "Crypto", package: "swift-crypto")], exclude: ["README.md"],
        swiftSettings: swiftSettings),

    // MARK: Compute
    /// The compute core: tensors, OpenBLAS kernels (loaded at run time with the right core type), layers,
    /// losses, optimisers, training, safetensors artifacts. Imports nothing of YAML.
    .target(name: "KilnCompute", exclude: ["README.md"], swiftSettings: swiftSettings),

    /// Gradient-boosted trees through XGBoost's C API: training with early stopping, prediction, the
    /// model in XGBoost's own JSON, feature importance. Its configs and cards live in KilnCompute.
    .target(name: "KilnBoost", dependencies: ["CXGBoost", "KilnCompute"], exclude: ["README.md"], swiftSettings: swiftSettings),

    // MARK: Data
    /// The data layer: readers (csv/tsv/jsonl) into typed columns, contract checks, deterministic splits,
    /// transforms fitted on the train split, content hashes and lineage. Its output is the compute core's input.
    .target(
        name: "KilnData",
        dependencies: ["KilnDiagnostics", "KilnCompute", .product(name: "Crypto", package: "swift-crypto")],
        exclude: ["README.md"], swiftSettings: swiftSettings),

    // MARK: Registry
    /// Model and spec registry on libgit2: versions as commits, aliases as refs, chunked tensor storage.
    .target(
        name: "KilnRegistry",
        dependencies: ["CGit2", "KilnCompute", "KilnDiagnostics", "KilnSpec", .product(name: "Crypto", package: "swift-crypto")],
        exclude: ["README.md"], swiftSettings: swiftSettings),

    // MARK: Security
    /// Policy enforcement pieces: the hash-chained audit log (more with the security issue: RBAC evaluation,
    /// signing, encryption at rest, secret references).
    .target(
        name: "KilnSecurity", dependencies: ["KilnSpec", .product(name: "Crypto", package: "swift-crypto")],
        exclude: ["README.md"], swiftSettings: swiftSettings),

    // MARK: Running
    /// The runner: planner, content-addressed cache, kiln.lock, scheduler, node executors, run records,
    /// progress; the registry seam the register and release nodes call.
    .target(
        name: "KilnRuntime",
        dependencies: [
            "KilnCompiler", "KilnData", "KilnCompute", "KilnBoost", "KilnRegistry", "KilnSecurity", "KilnText",
            .product(name: "Crypto", package: "swift-crypto"),
        ],
        exclude: ["README.md"], swiftSettings: swiftSettings),

    // MARK: Serving
    /// The Open Inference Protocol v2's JSON: request decoding (a fast strict reader and an explaining one)
    /// and the response types. No server, so the decoder is fuzzed on its own (scripts/fuzz).
    .target(
        name: "KilnProtocol", dependencies: ["KilnCompute", "KilnData"], exclude: ["README.md"],
        swiftSettings: swiftSettings),
    /// The HTTP server (Hummingbird 2): Open Inference Protocol v2, dynamic batching, canary split, hot
    /// version switch, Prometheus metrics; and the model loading `kiln predict` shares with it.
    .target(
        name: "KilnServe",
        dependencies: [
            "KilnProtocol", "KilnRegistry", "KilnCompute", "KilnBoost", "KilnData", "KilnSpec", "KilnDiagnostics",
            "KilnSecurity", "KilnText",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
        ],
        exclude: ["README.md"], swiftSettings: swiftSettings),

    // MARK: Edges
    /// The commands; one file per subcommand.
    .target(
        name: "KilnCLI",
        dependencies: [
            "KilnCompiler", "KilnCompute", "KilnData", "KilnRegistry", "KilnRuntime", "KilnSecurity", "KilnServe",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ],
        exclude: ["README.md"],
        swiftSettings: swiftSettings),
    .executableTarget(name: "kiln", dependencies: ["KilnCLI"], swiftSettings: swiftSettings),

    // MARK: Benchmarks (programs, never timed tests)
    .executableTarget(
        name: "kiln-bench-compiler",
        path: "Benchmarks/CompilerBench", swiftSettings: swiftSettings),

    .executableTarget(
        name: "kiln-bench-datasets", dependencies: ["KilnCompute", "KilnData"], path: "Benchmarks/DatasetBench",
        swiftSettings: swiftSettings),
    .executableTarget(
        name: "kiln-bench-data", dependencies: ["KilnData"], path: "Benchmarks/DataBench", swiftSettings: swiftSettings),
    .executableTarget(
        name: "kiln-bench-registry", dependencies: ["KilnRegistry", "KilnCompute", "KilnSpec"],
        path: "Benchmarks/RegistryBench", swiftSettings: swiftSettings),
    .executableTarget(
        name: "kiln-bench-text", dependencies: ["KilnText"], path: "Benchmarks/TextBench", swiftSettings: swiftSettings),
    .executableTarget(
        name: "kiln-bench-bert", dependencies: ["KilnCompute", "AllocationCounter"], path: "Benchmarks/BertBench",
        swiftSettings: swiftSettings),
    .target(name: "AllocationCounter", path: "Benchmarks/AllocationCounter"),
    .executableTarget(
        name: "kiln-bench-compute", dependencies: ["KilnCompute", "AllocationCounter"], path: "Benchmarks/ComputeBench",
        swiftSettings: swiftSettings),

    // MARK: Tests
    .target(
        name: "KilnTestSupport", dependencies: ["KilnCompiler"], path: "Tests/KilnTestSupport",
        swiftSettings: swiftSettings),
    .testTarget(name: "KilnBoostTests", dependencies: ["KilnBoost", "KilnCompute"], swiftSettings: swiftSettings),
    .testTarget(
        name: "KilnComputeTests", dependencies: ["KilnCompute"], exclude: ["Goldens"], swiftSettings: swiftSettings),
    .testTarget(
        name: "KilnDataTests", dependencies: ["KilnData", "KilnTestSupport"], exclude: ["Fixtures", "Goldens"],
        swiftSettings: swiftSettings),
    .testTarget(
        name: "KilnRuntimeTests", dependencies: ["KilnRuntime", "KilnRegistry", "KilnServe", "KilnTestSupport"],
        swiftSettings: swiftSettings),
    .testTarget(
        name: "KilnRegistryTests", dependencies: ["KilnRegistry", "KilnCompute", "KilnTestSupport"],
        swiftSettings: swiftSettings),
    .testTarget(
        name: "KilnSpecTests", dependencies: ["KilnSpec", "KilnTestSupport"], swiftSettings: swiftSettings),
    .testTarget(
        name: "KilnTextTests", dependencies: ["KilnText"], exclude: ["Goldens"], swiftSettings: swiftSettings),
    .testTarget(
        name: "KilnCompilerTests", dependencies: ["KilnCompiler", "KilnTestSupport"],
        swiftSettings: swiftSettings),
    .testTarget(
        name: "KilnConformanceTests", dependencies: ["KilnCompiler", "KilnTestSupport"],
        swiftSettings: swiftSettings),
    /// The libgit2 and libyaml shims link and answer. OpenBLAS is never linked into a process: KilnCompute
    /// loads it at run time after choosing its kernel (a linked copy would load first, with the wrong one).
    .testTarget(name: "SystemLibraryTests", dependencies: ["CGit2", "CYAML", "CXGBoost"], swiftSettings: swiftSettings),
    .testTarget(
        name: "KilnSecurityTests", dependencies: ["KilnSecurity", "KilnTestSupport", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: swiftSettings),
    .testTarget(
        name: "KilnServeTests", dependencies: ["KilnServe", "KilnProtocol", "KilnRegistry", "KilnCompute", "KilnData", "KilnTestSupport"],
        swiftSettings: swiftSettings),
    .testTarget(
        name: "KilnCLITests", dependencies: ["KilnTestSupport", "KilnRuntime", "kiln"], swiftSettings: swiftSettings),
]

// The libFuzzer harness exists only in fuzz builds (scripts/fuzz sets KILN_FUZZ=1): a plain build
// would turn it into an executable without a main.
if ProcessInfo.processInfo.environment["KILN_FUZZ"] != nil {
    targets.append(
        .executableTarget(
            name: "kiln-fuzz", dependencies: ["KilnCompiler"], path: "Sources/KilnFuzz",
            swiftSettings: swiftSettings))
    targets.append(
        .executableTarget(
            name: "kiln-fuzz-request", dependencies: ["KilnProtocol"], path: "Sources/KilnFuzzRequest",
            swiftSettings: swiftSettings))
    targets.append(
        .executableTarget(
            name: "kiln-fuzz-data", dependencies: ["KilnData"], path: "Sources/KilnFuzzData",
            swiftSettings: swiftSettings))
}

let package = Package(
    name: "kiln",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "kiln", targets: ["kiln"]),
        .library(name: "KilnCompiler", targets: ["KilnCompiler"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // Serving. Hummingbird's default traits pull swift-configuration, which kiln does not use.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // TLS and mutual TLS for kiln serve (BoringSSL, through Hummingbird's TLS channel).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: targets
)
