import CoalesceCore
import Glibc
import Synchronization

/// What `coalesce collect` should do.
public struct CollectConfiguration: Sendable {
    /// Record the settings in effect, never set anything (`--observe-only`, the default),
    /// or run the policy and restore the original settings at the end (`--apply`).
    public enum Mode: String, Sendable { case observeOnly = "observe-only", apply }

    /// The interface to record.
    public var interface: String
    /// Control interval, ns.
    public var intervalNs: UInt64
    /// Length of the recording, ns.
    public var durationNs: UInt64
    /// The behaviour policy (`--policy`); ignored in observe-only mode.
    public var policy: PolicySpec?
    /// Observe only, or apply the policy.
    public var mode: Mode
    /// `HOST:PORT` of a probe server, nil = no latency.
    public var probePeer: String?
    /// Probe requests per second.
    public var probeRate: Double
    /// IRQs to count instead of the discovered ones.
    public var irqOverride: [Int]?
    /// The dataset file to write.
    public var outputPath: String
    /// The objective the rewards are computed under.
    public var objective: Objective
    /// The actions to explore; nil = `ActionSpace.bareMetal` when the device has hardware
    /// coalescing, `HostActionSpaces.software` otherwise.
    public var actionSpace: ActionSpace?
    /// Exploration seed.
    public var seed: UInt64
    /// Where apply mode keeps the interface's restore journal (`InterfaceClaim`).
    public var stateDirectory: String

    /// A configuration; everything but the interface and output path has a default.
    public init(interface: String, intervalNs: UInt64 = 100_000_000, durationNs: UInt64 = 60_000_000_000,
                policy: PolicySpec? = nil, mode: Mode = .observeOnly, probePeer: String? = nil, probeRate: Double = 200,
                irqOverride: [Int]? = nil, outputPath: String, objective: Objective = .balanced,
                actionSpace: ActionSpace? = nil, seed: UInt64 = 1,
                stateDirectory: String = RestoreJournalStore.defaultDirectory) {
        self.interface = interface
        self.intervalNs = intervalNs
        self.durationNs = durationNs
        self.policy = policy
        self.mode = mode
        self.probePeer = probePeer
        self.probeRate = probeRate
        self.irqOverride = irqOverride
        self.outputPath = outputPath
        self.objective = objective
        self.actionSpace = actionSpace
        self.seed = seed
        self.stateDirectory = stateDirectory
    }
}

/// What a collection run did.
public struct CollectReport: Sendable {
    /// The dataset written.
    public var path: String
    /// Rows written.
    public var rows: Int
    /// The control loop's totals (changes, fallbacks, apply errors).
    public var summary: LoopSummary
    /// What the device supports.
    public var capabilities: DeviceCapabilities
    /// The action space the rows' action ids refer to.
    public var actionSpace: ActionSpace
    /// Actions that had to be adjusted to what the device supports (apply mode).
    public var adjustments: [String]
    /// Whether the original settings were put back (apply mode; true when nothing was changed).
    public var restored: Bool
    /// The run ended early on SIGINT/SIGTERM.
    public var stoppedBySignal: Bool
    /// Probe requests sent and answered, when a probe ran.
    public var probe: (sent: UInt64, received: UInt64)?
}

/// Action spaces for hosts.
public enum HostActionSpaces {
    /// Software-only moderation for devices without hardware coalescing (veth, many
    /// virtual NICs): `gro_flush_timeout` × `napi_defer_hard_irqs`, least to most, on top of
    /// the device's unchangeable hardware values `hardware`.
    public static func software(hardware: LayerSetting = .unmoderated) -> ActionSpace {
        let grid: [(UInt64, UInt32)] = [(0, 0), (20_000, 1), (50_000, 2), (100_000, 2), (200_000, 4), (500_000, 8)]
        let settings = grid.map { gro, napi -> CoalescingSetting in
            var layer = hardware
            layer.groFlushTimeoutNs = gro
            layer.napiDeferHardIrqs = napi
            return CoalescingSetting(layers: [layer])
        }
        return try! ActionSpace(name: "software-6", settings: settings)
    }
}

/// Why a collection could not start.
public enum CollectError: Error, CustomStringConvertible {
    case invalidOption(String)
    case unsupportedPolicy(interface: String, driver: String, detail: String)

    public var description: String {
        switch self {
        case .invalidOption(let m): return m
        case .unsupportedPolicy(let i, let d, let m): return "\(i) (driver \(d)): \(m)"
        }
    }
}

/// `coalesce collect`: runs the control loop on a live interface and records dataset schema v1.
public enum HostCollector {
    /// Runs one collection. `shouldStop` is polled every interval (signals); `log` gets
    /// operator messages (capabilities, adjusted actions). In apply mode the original
    /// settings are restored on every exit path, and a restore failure is reported.
    public static func run(_ config: CollectConfiguration, shouldStop: @escaping () -> Bool = { false },
                           log: (String) -> Void = { _ in }) throws -> CollectReport {
        guard config.intervalNs >= 1_000_000 else { throw CollectError.invalidOption("--interval must be at least 1 ms") }
        guard config.durationNs >= 2 * config.intervalNs else {
            throw CollectError.invalidOption("--duration must cover at least two intervals")
        }
        // Apply mode claims the interface first: refused while another program controls it,
        // and what a run that died without restoring left is put back before the settings
        // to restore are read.
        var claim: InterfaceClaim?
        if config.mode == .apply {
            let (c, recovery) = try InterfaceClaim.acquire(
                interface: config.interface, store: RestoreJournalStore(directory: config.stateDirectory), program: "coalesce collect")
            if let recovery { log(recovery.message) }
            claim = c
        }
        let options = HostTargetOptions(irqOverride: config.irqOverride, probePeer: config.probePeer, probeRate: config.probeRate)
        let host = try HostTarget(interface: config.interface, options: options)
        let capabilities = host.capabilities
        log("device: \(capabilities)")
        log("interrupts: \(host.interrupts.isEmpty ? "none (virtual device)" : host.interrupts.map(\.description).joined(separator: ", ")); CPUs \(host.irqCPUs.isEmpty ? "all" : host.irqCPUs.description)")
        let original = CoalescingSetting(layers: [host.actuator.original])

        var adjustments: [String] = []
        var space: ActionSpace
        let policy: AnyPolicy
        switch config.mode {
        case .observeOnly:
            space = try (config.actionSpace ?? ActionSpace.bareMetal).extended(with: [original])
            policy = AnyPolicy(StaticPolicy(action: space.index(of: original)!, identity: "observe:" + original.specText))
        case .apply:
            let requested = config.actionSpace
                ?? (capabilities.hardwareParameters.contains(.rxUsecs) ? ActionSpace.bareMetal
                    : HostActionSpaces.software(hardware: host.actuator.original))
            let restricted = try host.actuator.restrict(requested)
            adjustments = restricted.adjustments
            for note in adjustments { log("unsupported: \(note)") }
            space = try restricted.space.extended(with: [original])
            let spec = config.policy ?? .explore(base: nil, mode: .epsilonGreedy(epsilon: 1), hold: 1, allowed: nil, seed: nil)
            let required = try spec.requiredSettings(in: space)
            for setting in required {
                let missing = host.actuator.unsupportedChanges(from: host.actuator.original, to: setting.layers[0])
                if !missing.isEmpty {
                    throw CollectError.unsupportedPolicy(interface: config.interface, driver: capabilities.driver,
                                                         detail: "policy '\(spec)' needs \(missing.joined(separator: ", ")), which the device does not support")
                }
            }
            space = try space.extended(with: required)
            policy = try spec.makePolicy(space: space, seed: config.seed) { path in
                throw CollectError.invalidOption("model policies are run by coalesce-agent, not collect (\(path))")
            }
        }

        let header = DatasetHeader(
            target: "host:\(config.interface)", scenario: config.interface, seed: config.mode == .apply ? config.seed : 0,
            intervalNs: config.intervalNs, layerCount: 1, latencyFeatures: config.probePeer != nil,
            actionSpace: space, objective: config.objective, policy: policy.identity)
        let writer = try DatasetWriter(path: config.outputPath, header: header)
        let target = ModeGuardedTarget(host: host, allowApply: config.mode == .apply)
        var loop = ControlLoop(
            target: target, policy: policy,
            config: ControlLoopConfig(intervalNs: config.intervalNs, objective: config.objective, actionSpace: space,
                                      episode: "\(config.interface)-\(MonotonicClock.now() / 1_000_000)"))
        let steps = max(1, Int(config.durationNs / config.intervalNs) - 1)
        var stopped = false
        let stop = { () -> Bool in
            if shouldStop() { stopped = true }
            return stopped
        }
        var outcome: Result<LoopSummary, any Error>
        do {
            try claim?.record(original: original.layers[0], watching: loop.target.host.actuator)
            outcome = .success(try loop.run(steps: steps, onRecord: { try writer.append($0) }, shouldStop: stop))
        } catch {
            outcome = .failure(error)
        }
        var restored = true
        if config.mode == .apply {
            do {
                let changed = loop.target.host.actuator.modified
                try loop.target.host.restore()
                if changed { log("restored original settings: \(original.specText)") }
                do { try claim?.release() } catch { log("original settings restored, but the restore journal could not be removed: \(error)") }
            } catch {
                restored = false
                log("FAILED to restore original settings (\(original.specText)) on \(config.interface): \(error)"
                    + (claim.map { "; their restore journal is kept: \($0.restoreOnlyCommand) retries" } ?? ""))
                if case .success = outcome { outcome = .failure(error) }
            }
        }
        let summary = try outcome.get()
        return CollectReport(
            path: config.outputPath, rows: writer.rowsWritten, summary: summary, capabilities: capabilities,
            actionSpace: space, adjustments: adjustments, restored: restored, stoppedBySignal: stopped,
            probe: loop.target.host.probeCounts)
    }
}

/// A `HostTarget` that refuses every `apply` in observe-only mode, so that no code path
/// (policy, guard fallback) can change the host's settings.
struct ModeGuardedTarget: Target {
    var host: HostTarget
    let allowApply: Bool

    var layerCount: Int { host.layerCount }
    var name: String { host.name }
    mutating func advance(intervalNs: UInt64) throws { try host.advance(intervalNs: intervalNs) }
    mutating func sample() throws -> Sample { try host.sample() }
    mutating func apply(_ setting: CoalescingSetting) throws {
        guard allowApply else {
            throw HostError.unsupported(interface: host.interface, driver: host.capabilities.driver,
                                        parameters: ["any change in --observe-only mode (wanted \(setting.specText))"])
        }
        try host.apply(setting)
    }
}

/// SIGINT, SIGTERM and SIGHUP as a flag the collector polls: the handler only stores
/// into a lock-free atomic (async-signal-safe); the collector stops at the next interval
/// and restores the original settings on its normal exit path. SIGHUP is among them
/// because a terminal that goes away (a dropped SSH session) sends it, and its default
/// action would end the process without restoring. SIGPIPE is ignored for the same
/// reason: a write to a closed pipe then fails with EPIPE instead of killing us.
public enum StopSignals {
    static let received = Atomic<Int32>(0)

    /// Installs the handlers for SIGINT, SIGTERM and SIGHUP, and ignores SIGPIPE.
    public static func install() {
        // The signal mask is inherited across exec: a parent that blocked these (test
        // runners do) would otherwise keep SIGTERM from ever reaching the handler.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblock, sig) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        Glibc.signal(SIGPIPE, SIG_IGN)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { sig in StopSignals.received.store(sig, ordering: .relaxed) }
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            sigaction(sig, &action, nil)
        }
    }

    /// The signal received, or 0.
    public static var signal: Int32 { received.load(ordering: .relaxed) }

    /// True once SIGINT, SIGTERM or SIGHUP arrived.
    public static var stopRequested: Bool { signal != 0 }
}
