/// The `coalesce train` recipes of the lab models that `coalesce demo` trains and
/// `Tools/rebuild-models` ships (the script asks `coalesce demo --train-arguments-for`,
/// so this table is the one place the choice is written).
///
/// Each model uses `train`'s defaults or docs/training.md's recipe for noisy rewards,
/// whichever did better on development seeds by a rule fixed in advance
/// (docs/results/shipped-recipe). The choice was made for discrete CQL: other
/// algorithms get their defaults.
enum LabRecipe {
    /// docs/training.md's recipe for noisy rewards (issue #3's regime-switch model, the testbed).
    static let noisyRewards = ["--cql-alpha", "0.1", "--steps-per-epoch", "1000", "--epochs", "8", "--patience", "0",
                               "--average-weights", "0.002"]

    /// The lab models (`KIND-OBJECTIVE`) that the rule gave the noisy-reward recipe.
    static let noisyRewardModels: Set<String> = ["bare-metal-latency", "bare-metal-balanced", "virtualized-balanced"]

    /// The `train` arguments, beyond data, objective and output, for lab model `name`
    /// (`bare-metal-latency`, `virtualized-throughput`, …) trained with `algorithm`.
    static func trainArguments(model name: String, algorithm: String = "cql") -> [String] {
        algorithm == "cql" && noisyRewardModels.contains(name) ? noisyRewards : []
    }
}
