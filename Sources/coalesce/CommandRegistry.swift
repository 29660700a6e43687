import ArgumentParser

/// Every subcommand of `coalesce`, in the order `--help` lists them.
enum CommandRegistry {
    static let all: [any ParsableCommand.Type] = [
        DemoCommand.self,
        ScenariosCommand.self,
        SimulateCommand.self,
        BenchCommand.self,
    ]
}
