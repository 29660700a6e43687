import ArgumentParser
import CoalesceCore
import CoalesceHost
import CoalesceSim
import Logging
import Metrics
import Prometheus
#if canImport(Glibc)
import Glibc
#endif

/// `coalesce-agent`: applies a trained model to a host's NIC coalescing, safely.
@main
struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coalesce-agent",
        abstract: "Apply a Coalesce model to a NIC's interrupt coalescing, with guardrails.",
        discussion: """
            Every interval: sample → features → model → guard → apply (only when the choice differs \
            from the setting in effect). The original settings are restored on SIGTERM, SIGINT and fatal \
            errors. Before its first change the agent records them in a restore journal (--state-dir); \
            after a kill -9 or a crash, the next start, or --restore-only, puts them back. SIGHUP or a \
            changed model file reloads the model after full verification. See docs/deploying.md.
            """,
        version: CoalesceVersion.current)

    @Option(name: .long, help: "The model file to apply (watched for changes).")
    var model: String?

    @Option(name: .long, help: "The network interface to control.")
    var interface: String?

    @Option(name: .long, help: "Drive the simulator instead of a host: sim:SCENARIO (name or JSON file), accelerated time.")
    var target: String?

    @Option(name: .long, help: "Control interval in milliseconds (default 100; with --target sim, the scenario's).")
    var intervalMs: Double?

    @Option(name: .long, help: "Stop after this many seconds (default: run until SIGTERM; with --target sim, the scenario's duration).")
    var duration: Double?

    @Flag(name: .long, help: "Shadow mode: decide and log, never set anything.")
    var dryRun = false

    @Option(name: .long, help: "Record dataset rows (schema v1) to this CSV file.")
    var record: String?

    @Option(name: .long, help: "Exploration rate ε for recording (π_b is logged); 0 = greedy.")
    var epsilon: Double = 0

    @Option(name: .long, help: "Seed for exploration and the simulator.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Minimum time between two changes, milliseconds.")
    var minDwellMs: Double = 1000

    @Option(name: .long, help: "Largest move between static settings per change, in action-id steps (default: unlimited).")
    var maxStep: Int?

    @Option(name: .long, help: "Safe setting for fallbacks, as a static spec (default: the settings found at start).")
    var fallback: String?

    @Option(name: .long, help: "For an ensemble model (train --ensemble): the setting it keeps unless another is confidently better: model (its own default), start (the settings found at start, i.e. what the operator runs today) or a setting of the model's space.")
    var ensembleDefault: String = "model"

    @Option(name: .long, help: "p99 latency SLO in µs; breaching it --slo-breach-intervals times in a row falls back.")
    var sloP99Us: Double?

    @Option(name: .long, help: "Overload rule: while CPU busy ≥ this fraction and packets drop, moves to less interrupt moderation are held back (fewer interrupts is the way out of a livelock). Above 1 turns it off.")
    var overloadCpu: Double = 0.95

    @Option(name: .long, help: "Consecutive SLO breaches that trigger the fallback.")
    var sloBreachIntervals: Int = 3

    @Option(name: .long, help: "A sample whose interval exceeds this many ms is stale (default: 3 intervals).")
    var maxSampleAgeMs: Double?

    @Option(name: .long, help: "Serve Prometheus metrics on ADDRESS:PORT (opt-in; e.g. 127.0.0.1:9464).")
    var metricsListen: String?

    @Option(name: .long, help: "Latency probe peer HOST:PORT running `coalesce probe-server`.")
    var probe: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Use these IRQ numbers instead of discovering the interface's.")
    var irq: [Int] = []

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"

    @Option(name: .long, help: "Directory of the restore journals and claims (IF/journal.json: the settings to put back if the agent dies without restoring them; IF/lock); keep it on tmpfs.")
    var stateDir: String = RestoreJournalStore.defaultDirectory

    @Flag(name: .long, help: "Only put back the settings an agent that died without restoring left in --interface's restore journal, then exit (systemd ExecStopPost).")
    var restoreOnly = false

    func validate() throws {
        if (interface == nil) == (target == nil) { throw ValidationError("give exactly one of --interface IF or --target sim:SCENARIO") }
        if restoreOnly {
            if interface == nil { throw ValidationError("--restore-only needs --interface IF") }
        } else if model == nil {
            throw ValidationError("missing --model FILE (only --restore-only runs without one)")
        }
        if let t = target, !t.hasPrefix("sim:") { throw ValidationError("--target takes sim:SCENARIO") }
        if !(0...1).contains(epsilon) { throw ValidationError("--epsilon must be in [0, 1]") }
        if let i = intervalMs, i <= 0 { throw ValidationError("--interval-ms must be > 0") }
        if minDwellMs < 0 { throw ValidationError("--min-dwell-ms must be ≥ 0") }
        if let l = Logger.Level(rawValue: logLevel) { _ = l } else { throw ValidationError("unknown --log-level '\(logLevel)'") }
    }

    func run() throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var h = LogfmtHandler(label: label)
            h.logLevel = level
            return h
        }
        if restoreOnly {
            SignalFlags.install()
            try restoreLeftBehind(interface: interface!, log: Logger(label: "coalesce-agent"))
            return
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let log = Logger(label: "coalesce-agent")
        let metrics = AgentMetrics(registry: registry)
        if let listen = metricsListen {
            let server = try MetricsServer(listen: listen, registry: registry)
            server.start()
            log.info("serving metrics", metadata: ["listen": "\(listen)"])
        }
        SignalFlags.install()
        do {
            if let t = target {
                let name = String(t.dropFirst(4))
                let scenario = try BuiltinScenarios.named(name) ?? Scenario.load(path: name)
                var base = try SimAgentTarget(scenario: scenario, seed: seed)
                try base.startWithin(try ModelSource(path: model!).peekActionSpace())
                let interval = intervalMs ?? scenario.intervalMs
                try runAgent(base: base, intervalMs: interval, duration: duration ?? scenario.durationS,
                             targetLabel: "sim:\(scenario.name)", log: log, metrics: metrics)
            } else {
                let claim = try claimInterface(interface!, log: log)
                let options = HostTargetOptions(irqOverride: irq.isEmpty ? nil : irq, probePeer: probe)
                let base = try HostAgentTarget(interface: interface!, options: options)
                try runAgent(base: base, intervalMs: intervalMs ?? 100, duration: duration,
                             targetLabel: "host:\(interface!)", log: log, metrics: metrics,
                             journal: claim.map { ($0, base.host.actuator.original, base.host.actuator) })
            }
        } catch {
            log.error("fatal", metadata: ["error": "\(error)"])
            throw ExitCode(1)
        }
    }

    /// Claims `interface` through its restore journal before its settings are read:
    /// refuses while another program controls it, and first puts back what an agent that
    /// died without restoring left. In dry-run nothing is claimed or changed; a journal
    /// left behind is only reported. nil in dry-run.
    func claimInterface(_ interface: String, log: Logger) throws -> InterfaceClaim? {
        let (store, journalMeta) = journalStore(for: interface)
        guard !dryRun else {
            // Shadow mode changes nothing, so a journal it cannot read only earns a warning.
            do {
                if case .leftBehind(let j) = try store.state(interface: interface) {
                    log.warning("an earlier run changed the coalescing and did not restore it; coalesce-agent --restore-only puts it back",
                                metadata: journalMeta.merging(["program": "\(j.program)", "pid": "\(j.pid)", "original": "\(j.original)"]) { a, _ in a })
                }
            } catch {
                log.warning("cannot check the restore journal", metadata: journalMeta.merging(["error": "\(error)"]) { a, _ in a })
            }
            return nil
        }
        let (claim, recovery) = try InterfaceClaim.acquire(interface: interface, store: store, program: "coalesce-agent")
        if let recovery { log.notice("\(recovery.message)", metadata: journalMeta) }
        return claim
    }

    /// The `--state-dir` journals, and the log metadata naming `interface`'s journal.
    func journalStore(for interface: String) -> (RestoreJournalStore, Logger.Metadata) {
        let store = RestoreJournalStore(directory: stateDir)
        return (store, ["interface": "\(interface)", "journal": "\(store.path(for: interface))"])
    }

    /// `--restore-only`: puts back what an agent that died without restoring left.
    func restoreLeftBehind(interface: String, log: Logger) throws {
        let (store, journalMeta) = journalStore(for: interface)
        do {
            if let recovery = try InterfaceClaim.recover(interface: interface, store: store) {
                log.notice("\(recovery.message)", metadata: journalMeta)
            } else {
                log.info("nothing to restore: no restore journal", metadata: journalMeta)
            }
        } catch {
            log.error("restore failed", metadata: journalMeta.merging(["error": "\(error)"]) { a, _ in a })
            throw ExitCode(1)
        }
    }

    func runAgent<Base: AgentTarget>(
        base: Base, intervalMs: Double, duration: Double?, targetLabel: String, log: Logger, metrics: AgentMetrics,
        journal: (claim: InterfaceClaim, original: LayerSetting, actuator: HostActuator)? = nil
    ) throws {
        let model = self.model!
        var base = base
        var source = ModelSource(path: model)
        let loaded = try source.load(layerCount: base.layerCount, latencyAvailable: base.latencyAvailable)
        log.info("model loaded", metadata: ["path": "\(model)", "version": "\(loaded.version)", "sha256": "\(loaded.sha256)"])
        metrics.model(loaded)
        let space = loaded.file.metadata.actionSpace

        let accepted = try base.acceptedActions(space)
        for note in accepted.notes { log.notice("device limits the action space", metadata: ["detail": "\(note)"]) }
        var allowed = accepted.ids
        if allowed.isEmpty {
            log.warning("the device accepts none of the model's actions; the agent will only observe",
                        metadata: ["target": "\(targetLabel)"])
        }
        var fallbackAction: Int?
        var extendedSpace = space
        if let f = fallback {
            let spec = try PolicySpec.parse(f.hasPrefix("static:") ? f : "static:" + f)
            let setting = try spec.requiredSettings(in: space)[0]
            extendedSpace = try space.extended(with: [setting])
            fallbackAction = extendedSpace.index(of: setting)
            allowed.insert(fallbackAction!)
        }
        let intervalNs = UInt64(intervalMs * 1e6)
        let guardConfig = GuardConfig(
            allowed: allowed, minDwellNs: UInt64(minDwellMs * 1e6), maxStep: maxStep, fallbackAction: fallbackAction,
            maxSampleIntervalNs: UInt64((maxSampleAgeMs ?? 3 * intervalMs) * 1e6), sloP99Us: sloP99Us,
            sloBreachIntervals: sloBreachIntervals, overloadCPUFraction: overloadCpu <= 1 ? overloadCpu : nil)
        // The operator's choice of the setting an ensemble keeps, resolved once against the
        // model's space (a reload must keep that space) and used for every ensemble loaded.
        let isEnsemble = loaded.file.metadata.ensemble != nil
        let choice = EnsembleDefaultChoice(ensembleDefault)
        var ensembleDefaultId: Int?
        if case .setting(let text) = choice {
            ensembleDefaultId = space.index(ofSpec: text)
            if ensembleDefaultId == nil && isEnsemble {
                throw AgentModelError.invalid(path: model, reason: "--ensemble-default '\(text)' is not an action of the model's space '\(space.name)'")
            }
        }
        if !isEnsemble && choice != .model {
            log.notice("--ensemble-default has no effect until an ensemble model is loaded", metadata: ["value": "\(ensembleDefault)"])
        }
        let policy = try SwappablePolicy(model: loaded, epsilon: epsilon, seed: seed, ensembleDefault: ensembleDefaultId)
        let config = ControlLoopConfig(intervalNs: intervalNs, objective: loaded.file.metadata.objective,
                                       actionSpace: extendedSpace, guardConfig: guardConfig,
                                       episode: "\(targetLabel.replacingAll(",", "_"))-s\(seed)")
        var loop = ControlLoop(target: ShadowTarget(base: base, dryRun: dryRun), policy: policy, config: config)
        var writer: DatasetWriter?
        // Written down before the first change, removed once the settings are back; a
        // failure here leaves nothing changed and nothing to restore.
        if let journal { try journal.claim.record(original: journal.original, watching: journal.actuator) }
        defer { if !dryRun { restore(&loop, journal: journal?.claim, log: log) } }
        try loop.begin()
        if choice == .start {
            // Keep what the operator runs today unless the model is confident.
            ensembleDefaultId = loop.initialSetting.flatMap { space.index(of: $0) }
            if ensembleDefaultId == nil && isEnsemble {
                throw AgentModelError.invalid(path: model, reason: "--ensemble-default start: the setting found at start (\(loop.initialSetting?.specText ?? "unknown")) is not an action of the model's space '\(space.name)'; name one of its settings or use model")
            }
            if isEnsemble { try loop.policy.replace(with: loaded, ensembleDefault: ensembleDefaultId) }
        }
        if let path = record {
            writer = try DatasetWriter(path: path, header: DatasetHeader(
                target: targetLabel, scenario: targetLabel, seed: seed, intervalNs: intervalNs,
                layerCount: base.layerCount, latencyFeatures: base.latencyAvailable,
                actionSpace: loop.recordedActionSpace, objective: loaded.file.metadata.objective,
                policy: loop.policy.identity, irqColumns: base.interruptColumns))
        }
        log.info("agent started", metadata: [
            "target": "\(targetLabel)", "interval_ms": "\(intervalMs)", "dry_run": "\(dryRun)",
            "allowed_actions": "\(allowed.count)/\(space.count)", "start_setting": "\(loop.initialSetting?.specText ?? "?")",
            "ensemble_default": "\(loop.policy.ensembleDefault.map { "\($0) (\(space.settings[$0].specText))" } ?? "-")",
        ])
        let maxSteps = duration.map { max(1, Int($0 * 1e3 / intervalMs) - 1) }
        var steps = 0
        var lastChanges = loop.target.changes
        // An ensemble keeps its default outside its training support: count those decisions
        // and say when the traffic leaves and re-enters what the model was trained on.
        var support = loaded.file.metadata.ensembleSupport
        var outside = false
        let onRecord: (StepRecord) throws -> Void = { r in
            try writer?.append(r)
            guard let box = support else { return }
            let isOutside = !r.state.withUnsafeBufferPointer { box.contains($0.baseAddress!) }
            if isOutside { metrics.decidedOutsideSupport() }
            if isOutside != outside {
                outside = isOutside
                log.notice(isOutside ? "state outside the model's training support: keeping its default"
                                     : "state back inside the model's training support", metadata: ["step": "\(r.step)"])
            }
        }
        while !SignalFlags.stopRequested {
            if let m = maxSteps, steps >= m { break }
            if SignalFlags.takeReload() || source.changed() {
                do {
                    let next = try source.load(layerCount: base.layerCount, latencyAvailable: base.latencyAvailable)
                    guard next.file.metadata.actionSpace == space else {
                        throw AgentModelError.invalid(path: model, reason: "its action space differs from the running model's; restart the agent to change action spaces")
                    }
                    try loop.policy.replace(with: next, ensembleDefault: ensembleDefaultId)
                    support = next.file.metadata.ensembleSupport
                    metrics.model(next)
                    metrics.reloaded(ok: true)
                    log.notice("model reloaded", metadata: ["version": "\(next.version)", "sha256": "\(next.sha256)"])
                } catch {
                    metrics.reloaded(ok: false)
                    log.error("model reload refused; the running model stays", metadata: ["error": "\(error)"])
                }
            }
            let before = loop.totals
            let t0 = Self.nowNs()
            try loop.step(onRecord: onRecord)
            metrics.stepped(nanoseconds: Int64(Self.nowNs() - t0))
            steps += 1
            let after = loop.totals
            for (reason, count) in after.fallbacks where count > (before.fallbacks[reason] ?? 0) {
                metrics.guardEvent(reason)
                log.warning("fallback", metadata: ["reason": "\(reason.rawValue)", "step": "\(steps)"])
            }
            for e in after.applyErrors.dropFirst(before.applyErrors.count) {
                log.error("apply failed", metadata: ["error": "\(e)"])
            }
            let changesNow = loop.target.changes
            let changed = changesNow != lastChanges
            metrics.decided(changed: changed && !dryRun)
            if changed, let s = loop.target.intended.last {
                let id = loop.recordedActionSpace.index(of: s) ?? -1
                metrics.setting(s, action: id)
                log.info(dryRun ? "would apply" : "applied", metadata: ["action": "\(id)", "setting": "\(s.specText)", "step": "\(steps)"])
            }
            lastChanges = changesNow
        }
        let totals = try loop.finish(measureLast: false, onRecord: onRecord)
        log.info("agent stopping", metadata: [
            "steps": "\(totals.steps)", "changes": "\(totals.changes)",
            "signal": "\(SignalFlags.stop.load(ordering: .relaxed))",
        ])
    }

    func restore<P: Policy, B: AgentTarget>(_ loop: inout ControlLoop<ShadowTarget<B>, P>, journal: InterfaceClaim?, log: Logger) {
        do {
            try loop.target.base.restoreOriginal()
            if loop.target.attempts == 0 {
                log.debug("nothing was applied, so nothing to restore")
            } else {
                log.info("original coalescing restored", metadata: ["setting": "\(loop.initialSetting?.specText ?? "?")"])
            }
        } catch {
            var meta: Logger.Metadata = ["error": "\(error)"]
            if let journal { meta["retry"] = "\(journal.restoreOnlyCommand)" }
            log.critical("could not restore the original coalescing; its restore journal is kept", metadata: meta)
            return
        }
        do { try journal?.release() } catch {
            log.error("could not remove the restore journal", metadata: ["error": "\(error)"])
        }
    }

    static func nowNs() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// What `--ensemble-default` asks for: the model's own default, the settings found at
/// start, or a named setting of the model's space.
enum EnsembleDefaultChoice: Equatable {
    case model
    case start
    case setting(String)

    init(_ text: String) {
        switch text {
        case "model": self = .model
        case "start": self = .start
        default: self = .setting(text)
        }
    }
}
