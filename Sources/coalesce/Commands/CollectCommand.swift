import ArgumentParser
import CoalesceCore
import CoalesceHost

/// `coalesce collect`: record a dataset (schema v1) from a live Linux interface.
struct CollectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Record a dataset from a live interface (observe only, or run an exploring policy).",
        discussion: """
            --observe-only (the default) records the coalescing already in effect and changes nothing; \
            it needs no privileges beyond reading /sys and /proc. --apply runs the policy (typically \
            explore:epsilon=0.2,hold=5) within what the device supports — unsupported parameters are \
            reported up front with the interface and driver — and restores the original settings on exit, \
            SIGINT and SIGTERM; it needs CAP_NET_ADMIN. See docs/collecting.md.
            """)

    @Option(name: .long, help: "The interface to observe (e.g. eth0).")
    var interface: String

    @Option(name: .long, help: "Control interval in milliseconds.")
    var interval: Double = 100

    @Option(name: .long, help: "Seconds to record.")
    var duration: Double = 60

    @Option(name: .long, help: "Behaviour policy with --apply: explore:..., static:..., dim, dim-cqe, itr (default: explore:epsilon=1, uniform).")
    var policy: String?

    @Flag(name: .long, help: "Record only; never change a setting (default).")
    var observeOnly = false

    @Flag(name: .long, help: "Run the policy, changing coalescing (needs CAP_NET_ADMIN); originals are restored on exit.")
    var apply = false

    @Option(name: .long, help: "HOST:PORT of a `coalesce probe-server` for round-trip latency (default: no latency).")
    var probe: String?

    @Option(name: .long, help: "Probe requests per second.")
    var probeRate: Double = 200

    @Option(name: .long, parsing: .singleValue, help: "Count these IRQs instead of the discovered ones (N,N,...).")
    var irq: [String] = []

    @Option(name: .long, help: "Action space: bare-metal (ethtool), e1000e (the Intel e1000e driver's accepted rx-usecs and its ITR modes), software (gro_flush_timeout × napi_defer_hard_irqs); default by device.")
    var actions: String?

    @OptionGroup var objectiveOption: ObjectiveOption

    @Option(name: .long, help: "Exploration seed.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Output dataset (CSV, schema v1); default collect-IF.csv in the current directory.")
    var out: String?

    @Option(name: .long, help: "With --apply: directory of the restore journals (docs/restore-journal.md).")
    var stateDir: String = RestoreJournalStore.defaultDirectory

    func validate() throws {
        if observeOnly && apply { throw ValidationError("give --observe-only or --apply, not both") }
        if policy != nil && !apply { throw ValidationError("--policy runs only with --apply (observe-only records the settings in effect)") }
        guard interval >= 1 else { throw ValidationError("--interval must be at least 1 ms") }
        guard duration * 1000 >= 2 * interval else { throw ValidationError("--duration must cover at least two intervals") }
        _ = try irqNumbers()
    }

    func irqNumbers() throws -> [Int]? {
        let parts = irq.flatMap { $0.split(separator: ",") }.map(String.init)
        if parts.isEmpty { return nil }
        return try parts.map { p in
            guard let n = Int(p), n >= 0 else { throw ValidationError("--irq takes IRQ numbers like 38,39 ('\(p)')") }
            return n
        }
    }

    func configuration() throws -> CollectConfiguration {
        let space: ActionSpace?
        switch actions {
        case nil: space = nil
        case "software": space = HostActionSpaces.software()
        case let name?:
            do { space = try ActionSpace.named(name) } catch {
                throw ValidationError("--actions: \(error) or software")
            }
            if let s = space, s.layerCount != 1 {
                throw ValidationError("--actions \(name) sets \(s.layerCount) layers; a host interface has one")
            }
        }
        return CollectConfiguration(
            interface: interface, intervalNs: UInt64(interval * 1e6), durationNs: UInt64(duration * 1e9),
            policy: try policy.map { try PolicySpec.parse($0) }, mode: apply ? .apply : .observeOnly,
            probePeer: probe, probeRate: probeRate, irqOverride: try irqNumbers(), outputPath: out ?? "collect-\(interface).csv",
            objective: try objectiveOption.resolve(), actionSpace: space, seed: seed, stateDirectory: stateDir)
    }

    func run() throws {
        let config = try configuration()
        StopSignals.install()
        let report = try HostCollector.run(config, shouldStop: { StopSignals.stopRequested }, log: { Terminal.error("collect: \($0)") })
        var line = "wrote \(report.rows) rows to \(report.path) (\(config.mode.rawValue), \(report.summary.changes) setting changes"
        if let p = report.probe { line += ", probe \(p.received)/\(p.sent) answered" }
        if report.stoppedBySignal { line += ", stopped by signal" }
        print(line + ")")
        for e in report.summary.applyErrors.prefix(5) { Terminal.error("collect: apply failed: \(e)") }
        if !report.restored { throw ExitCode(3) }
    }
}
