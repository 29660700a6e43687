// swift-tools-version:6.2
import PackageDescription

// Dependency direction: executables → libraries; CoalesceSim, CoalesceHost,
// CoalesceLearn and CoalesceReport → CoalesceCore. `coalesce-agent` links only
// CoalesceCore + CoalesceHost (+ small packages): never CoalesceLearn or BLAS.
let package = Package(
    name: "coalesce",
    products: [
        .executable(name: "coalesce", targets: ["coalesce"]),
        .executable(name: "coalesce-agent", targets: ["coalesce-agent"]),
        .library(name: "CoalesceCore", targets: ["CoalesceCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
    ],
    targets: [
        .target(name: "CoalesceCore"),
        .target(name: "CoalesceSim", dependencies: ["CoalesceCore"]),
        .target(name: "CoalesceHost", dependencies: ["CoalesceCore"]),
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(name: "CoalesceLearn", dependencies: ["CoalesceCore", "CBLAS"]),
        .target(name: "CoalesceReport", dependencies: ["CoalesceCore"]),
        .executableTarget(
            name: "coalesce",
            dependencies: [
                "CoalesceCore", "CoalesceSim", "CoalesceHost", "CoalesceLearn", "CoalesceReport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "coalesce-agent",
            dependencies: [
                "CoalesceCore", "CoalesceHost", "CoalesceSim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Atomics", package: "swift-atomics"),
            ]
        ),
        .testTarget(name: "CoalesceCoreTests", dependencies: ["CoalesceCore"]),
        .testTarget(name: "CoalesceSimTests", dependencies: ["CoalesceSim", "CoalesceCore"]),
        .testTarget(name: "CoalesceHostTests", dependencies: ["CoalesceHost", "CoalesceCore"]),
        .testTarget(name: "CoalesceLearnTests", dependencies: ["CoalesceLearn", "CoalesceCore"]),
        .testTarget(name: "CoalesceReportTests", dependencies: ["CoalesceReport", "CoalesceCore"]),
        // End-to-end tests of the `coalesce` and `coalesce-agent` executables (run as
        // processes; Tools/run-tests builds them before `swift test`).
        .testTarget(name: "EndToEndTests", dependencies: ["CoalesceCore", "CoalesceHost"]),
    ],
    swiftLanguageModes: [.v6]
)
