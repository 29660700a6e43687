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
            ]
        ),
        .testTarget(name: "CoalesceCoreTests", dependencies: ["CoalesceCore"]),
        .testTarget(name: "CoalesceSimTests", dependencies: ["CoalesceSim", "CoalesceCore"]),
        .testTarget(name: "CoalesceHostTests", dependencies: ["CoalesceHost", "CoalesceCore"]),
        .testTarget(name: "CoalesceLearnTests", dependencies: ["CoalesceLearn", "CoalesceCore"]),
        .testTarget(name: "CoalesceReportTests", dependencies: ["CoalesceReport", "CoalesceCore"]),
    ],
    swiftLanguageModes: [.v6]
)
