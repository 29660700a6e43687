import CoalesceCore
import CoalesceHost
import CoalesceSim

/// What the agent needs from a target beyond `Target`: putting the original
/// coalescing back, and knowing which actions the device accepts.
protocol AgentTarget: Target {
    /// Whether samples carry latency (a probe runs, or the simulator's ground truth).
    var latencyAvailable: Bool { get }
    /// The ids of `space`'s actions the device accepts, and notes on the rest.
    mutating func acceptedActions(_ space: ActionSpace) throws -> (ids: Set<Int>, notes: [String])
    /// Restores the settings found when the agent started.
    mutating func restoreOriginal() throws
    /// Interrupt sources per observation (dataset `irq_columns`).
    var interruptColumns: Int { get }
}

/// The simulator as an agent target: accelerated time (the simulation runs as fast
/// as it can), every action accepted. `--target sim:SCENARIO`.
struct SimAgentTarget: AgentTarget {
    var sim: SimTarget
    private var original: CoalescingSetting?

    init(scenario: Scenario, seed: UInt64) throws {
        sim = try SimTarget(scenario: scenario, seed: seed)
    }

    /// Starts from the action closest to the scenario's initial setting, exactly as
    /// `coalesce simulate` does, so agent and simulator runs match decision for decision.
    mutating func startWithin(_ space: ActionSpace) throws {
        try sim.apply(space.settings[space.closest(to: sim.setting)])
    }

    var layerCount: Int { sim.layerCount }
    var name: String { sim.name }
    var latencyAvailable: Bool { true }
    var interruptColumns: Int { sim.scenario.simulatedLayerCount }

    mutating func advance(intervalNs: UInt64) throws { try sim.advance(intervalNs: intervalNs) }

    mutating func sample() throws -> Sample {
        let s = try sim.sample()
        if original == nil { original = s.observation.setting }
        return s
    }

    mutating func apply(_ setting: CoalescingSetting) throws { try sim.apply(setting) }

    mutating func acceptedActions(_ space: ActionSpace) throws -> (ids: Set<Int>, notes: [String]) {
        (Set(space.settings.indices), [])
    }

    mutating func restoreOriginal() throws {
        if let o = original { try sim.apply(o) }
    }
}

/// A live Linux interface as an agent target. A model action is applied as far as
/// the device can take it: parameters it cannot set (hardware coalescing on veth,
/// say) stay at their current values, and the start-up notes say so per action.
struct HostAgentTarget: AgentTarget {
    var host: HostTarget
    let latencyAvailable: Bool

    init(interface: String, options: HostTargetOptions) throws {
        host = try HostTarget(interface: interface, options: options)
        latencyAvailable = options.probePeer != nil
    }

    var layerCount: Int { host.layerCount }
    var name: String { host.name }
    var interruptColumns: Int { 1 }

    mutating func advance(intervalNs: UInt64) throws { try host.advance(intervalNs: intervalNs) }
    mutating func sample() throws -> Sample { try host.sample() }

    mutating func apply(_ setting: CoalescingSetting) throws {
        try host.apply(CoalescingSetting(layers: [try project(setting.layers[0])]))
    }

    /// `desired` with what the device cannot set left at its current values.
    func project(_ desired: LayerSetting) throws -> LayerSetting {
        let actuator = host.actuator
        let current = try actuator.read()
        var layer = desired
        if !actuator.hardware.unsupportedChanges(from: current, to: layer).isEmpty {
            layer.rxUsecs = current.rxUsecs; layer.rxFrames = current.rxFrames
            layer.txUsecs = current.txUsecs; layer.txFrames = current.txFrames
            layer.adaptiveRx = current.adaptiveRx; layer.adaptiveTx = current.adaptiveTx
        }
        if !actuator.software.unsupportedChanges(from: current, to: layer).isEmpty {
            layer.groFlushTimeoutNs = current.groFlushTimeoutNs
            layer.napiDeferHardIrqs = current.napiDeferHardIrqs
        }
        return layer
    }

    mutating func acceptedActions(_ space: ActionSpace) throws -> (ids: Set<Int>, notes: [String]) {
        let restricted = try host.actuator.restrict(space)
        return (Set(space.settings.indices), restricted.adjustments)
    }

    mutating func restoreOriginal() throws { try host.restore() }
}

/// Dry-run (shadow) mode: decisions are made and logged, nothing is ever set.
/// `apply` records the setting the agent would have applied.
struct ShadowTarget<Base: AgentTarget>: Target {
    var base: Base
    let dryRun: Bool
    /// The last (at most 64) settings applied, or decided in dry-run.
    private(set) var intended: [CoalescingSetting] = []
    /// Settings applied (or decided in dry-run) so far; unlike `intended.count`, never capped.
    private(set) var changes = 0
    /// Calls to `apply`, failed ones included.
    private(set) var attempts = 0

    init(base: Base, dryRun: Bool) {
        self.base = base
        self.dryRun = dryRun
    }

    var layerCount: Int { base.layerCount }
    var name: String { base.name }
    mutating func advance(intervalNs: UInt64) throws { try base.advance(intervalNs: intervalNs) }
    mutating func sample() throws -> Sample { try base.sample() }

    mutating func apply(_ setting: CoalescingSetting) throws {
        // Recorded once it is done (or, in dry-run, decided): a failed apply is not
        // logged or counted as applied.
        attempts += 1
        if !dryRun { try base.apply(setting) }
        changes += 1
        intended.append(setting)
        if intended.count > 64 { intended.removeFirst(intended.count - 64) }
    }
}
