import ArgumentParser
import CoalesceSim

/// `coalesce scenarios`: the built-in lab scenarios.
struct ScenariosCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenarios",
        abstract: "List the built-in simulator scenarios (docs/scenarios.md).")

    func run() throws {
        var t = TextTable(["name", "layers", "split", "duration", "description"],
                          alignments: [.left, .right, .left, .right, .left])
        for s in BuiltinScenarios.all {
            t.add([s.name, String(s.layerCount), s.split.rawValue, Format.fixed(s.durationS, 0) + " s", s.description])
        }
        print(t.render())
    }
}
