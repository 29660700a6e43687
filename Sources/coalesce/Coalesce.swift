import ArgumentParser

/// The `coalesce` command: record, train, evaluate, compare and simulate NIC
/// interrupt-coalescing policies.
@main
struct Coalesce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coalesce",
        abstract: "Learn NIC interrupt coalescing from data, and prove it side by side.",
        discussion: """
            The lab (simulator) is the default target: `coalesce demo` runs the whole pipeline on it.
            See README.md and docs/ for file formats and operations.
            """,
        version: "0.1.0",
        subcommands: CommandRegistry.all
    )
}
