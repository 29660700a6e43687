import ArgumentParser

/// Every subcommand of `coalesce`, in the order `--help` lists them.
enum CommandRegistry {
    static let all: [any ParsableCommand.Type] = [
        DemoCommand.self,
        ScenariosCommand.self,
        SimulateCommand.self,
        CollectCommand.self,
        ProbeServerCommand.self,
        TrainCommand.self,
        EvaluateCommand.self,
        InspectCommand.self,
        CompareCommand.self,
        BenchCommand.self,
    ]
}
