import CoalesceCore
import Glibc

/// Which mechanism an actuator drives.
public enum ActuatorKind: String, Sendable, Hashable {
    /// NIC interrupt moderation through ethtool (netlink, or the ioctl fallback).
    case hardware
    /// NAPI software mitigation through sysfs (`gro_flush_timeout`, `napi_defer_hard_irqs`).
    case software
}

/// Something that reads and writes part of a `LayerSetting` on a live interface.
public protocol CoalescingActuator {
    var kind: ActuatorKind { get }
    /// The `LayerSetting` spec keys this actuator owns.
    var keys: [String] { get }
    /// Fills the fields this actuator owns from the kernel.
    func read(into setting: inout LayerSetting) throws(HostError)
    /// Writes the owned fields of `desired` that differ from what the kernel has now.
    func apply(_ desired: LayerSetting) throws(HostError)
    /// Spec keys (with values) of owned fields that `desired` changes relative to
    /// `current` but the device cannot set.
    func unsupportedChanges(from current: LayerSetting, to desired: LayerSetting) -> [String]
}

/// Hardware coalescing through the ethtool netlink family (ioctl when the family is missing).
///
/// Mapping to `LayerSetting`: rx-usecs, rx-frames, tx-usecs, tx-frames as-is; adaptive-rx/tx
/// on is recorded as `dim-cqe` when the device reports CQE mode on, else `dim-eqe`; on
/// Intel drivers with ITR semantics (e1000, e1000e, igb, igc, ixgbe) rx-usecs 1 or 3
/// ("dynamic", "dynamic conservative") is recorded as `itr`, and `itr` is applied as
/// rx-usecs 3, or as rx-usecs 1 when the setting's rx-usecs is 1 (so both of the
/// driver's modes, e.g. the two ITR actions of `ActionSpace.e1000e`, can be set and
/// read back as themselves). Parameters the device does not report are recorded with the
/// `LayerSetting.unmoderated` values.
public final class HardwareActuator: CoalescingActuator {
    /// The interface name.
    public let interface: String
    /// The driver bound to it (`driverName`).
    public let driver: String
    /// Netlink or ioctl; nil when the device has no coalescing operations at all.
    public let backend: CoalescingBackend?
    /// Parameters the device supports (netlink: those present in COALESCE_GET_REPLY).
    public let supported: Set<CoalesceParameter>
    /// Why there is no hardware coalescing (the kernel's refusal of COALESCE_GET), if so.
    public let unavailableReason: HostError?
    private let netlink: EthtoolNetlinkClient?

    static let intelITRDrivers: Set<String> = ["e1000", "e1000e", "igb", "igc", "ixgbe"]

    /// Always `.hardware`.
    public var kind: ActuatorKind { .hardware }
    /// The ethtool fields of `LayerSetting`.
    public var keys: [String] { ["rx-usecs", "rx-frames", "tx-usecs", "tx-frames", "adaptive-rx", "adaptive-tx"] }

    /// Opens the netlink client (or falls back to the ioctl) and discovers the supported parameters.
    public init(interface: String, forceIoctl: Bool = false) throws(HostError) {
        self.interface = interface
        self.driver = driverName(interface)
        var client: EthtoolNetlinkClient?
        if !forceIoctl {
            do {
                client = try EthtoolNetlinkClient()
            } catch {
                guard case .ethtoolFamilyMissing = error else { throw error }
            }
        }
        netlink = client
        let backend: CoalescingBackend = client != nil ? .netlink : .ioctl
        do {
            let current: EthtoolCoalesce
            if let client { current = try client.coalesce(interface) } else { current = try EthtoolIoctl.coalesce(interface) }
            self.backend = backend
            self.supported = current.parameters
            self.unavailableReason = nil
        } catch {
            guard error.isNotSupported else { throw error }
            self.backend = nil
            self.supported = []
            self.unavailableReason = error
        }
    }

    /// The raw parameters as the kernel reports them now.
    public func readRaw() throws(HostError) -> EthtoolCoalesce {
        switch backend {
        case .netlink: return try netlink!.coalesce(interface)
        case .ioctl: return try EthtoolIoctl.coalesce(interface)
        case nil: return EthtoolCoalesce()
        }
    }

    /// Reads the hardware fields (see the type's mapping).
    public func read(into setting: inout LayerSetting) throws(HostError) {
        Self.decode(try readRaw(), driver: driver, into: &setting)
    }

    /// Maps raw ethtool values onto the hardware fields of `setting`.
    static func decode(_ raw: EthtoolCoalesce, driver: String, into setting: inout LayerSetting) {
        let base = LayerSetting.unmoderated
        setting.rxUsecs = raw[.rxUsecs] ?? base.rxUsecs
        setting.rxFrames = raw[.rxMaxFrames] ?? base.rxFrames
        setting.txUsecs = raw[.txUsecs] ?? base.txUsecs
        setting.txFrames = raw[.txMaxFrames] ?? base.txFrames
        func adaptive(_ on: UInt32?, _ cqe: UInt32?) -> AdaptiveAlgorithm {
            guard on == 1 else { return .off }
            return cqe == 1 ? .dimCQE : .dimEQE
        }
        setting.adaptiveRx = adaptive(raw[.useAdaptiveRx], raw[.useCQEModeRx])
        setting.adaptiveTx = adaptive(raw[.useAdaptiveTx], raw[.useCQEModeTx])
        setting = canonical(setting, driver: driver)
    }

    /// `setting` as `driver` reports it once applied: on Intel drivers with ITR
    /// semantics a static rx-usecs 1 or 3 is the driver's adaptive ITR, recorded as
    /// `adaptive-rx=itr` (with the rx-usecs that selects the mode).
    public static func canonical(_ setting: LayerSetting, driver: String) -> LayerSetting {
        var s = setting
        if s.adaptiveRx == .off, intelITRDrivers.contains(driver), s.rxUsecs == 1 || s.rxUsecs == 3 {
            s.adaptiveRx = .intelITR
        }
        return s
    }

    /// The ethtool parameters to send to move from `raw` to `desired`, and the changes
    /// the device cannot make.
    func plan(from raw: EthtoolCoalesce, to desired: LayerSetting) -> (changes: EthtoolCoalesce, unsupported: [String]) {
        Self.plan(from: raw, to: desired, driver: driver)
    }

    /// `plan(from:to:)` for a device bound to `driver`.
    static func plan(from raw: EthtoolCoalesce, to desired: LayerSetting, driver: String) -> (changes: EthtoolCoalesce, unsupported: [String]) {
        var changes = EthtoolCoalesce()
        var unsupported: [String] = []
        var current = LayerSetting.unmoderated
        decode(raw, driver: driver, into: &current)
        func want(_ p: CoalesceParameter, _ value: UInt32, key: String, currentValue: UInt32) {
            if let have = raw[p] {
                if have != value { changes[p] = value }
            } else if value != currentValue {
                unsupported.append("\(key)=\(value)")
            }
        }
        var rxUsecs = desired.rxUsecs
        if desired.adaptiveRx == .intelITR {
            if intelITRDrivers.contains(driver) { rxUsecs = desired.rxUsecs == 1 ? 1 : 3 } else { unsupported.append("adaptive-rx=itr") }
        }
        want(.rxUsecs, rxUsecs, key: "rx-usecs", currentValue: current.rxUsecs)
        want(.rxMaxFrames, desired.rxFrames, key: "rx-frames", currentValue: current.rxFrames)
        want(.txUsecs, desired.txUsecs, key: "tx-usecs", currentValue: current.txUsecs)
        want(.txMaxFrames, desired.txFrames, key: "tx-frames", currentValue: current.txFrames)
        func adaptive(_ algorithm: AdaptiveAlgorithm, currentAlgorithm: AdaptiveAlgorithm, flag: CoalesceParameter,
                      cqe: CoalesceParameter, key: String) {
            guard algorithm != .intelITR else { return }
            guard algorithm != currentAlgorithm || (algorithm != .off && raw[flag] != 1) else { return }
            let on: UInt32 = algorithm == .off ? 0 : 1
            if raw[flag] != nil { if raw[flag] != on { changes[flag] = on } } else if on == 1 {
                unsupported.append("\(key)=\(algorithm.rawValue)")
            }
            if algorithm == .dimCQE || algorithm == .dimEQE {
                let mode: UInt32 = algorithm == .dimCQE ? 1 : 0
                if raw[cqe] != nil { if raw[cqe] != mode { changes[cqe] = mode } } else if mode == 1 {
                    unsupported.append("\(key)=\(algorithm.rawValue) (no CQE mode)")
                }
            }
        }
        adaptive(desired.adaptiveRx, currentAlgorithm: current.adaptiveRx, flag: .useAdaptiveRx, cqe: .useCQEModeRx, key: "adaptive-rx")
        adaptive(desired.adaptiveTx, currentAlgorithm: current.adaptiveTx, flag: .useAdaptiveTx, cqe: .useCQEModeTx, key: "adaptive-tx")
        return (changes, unsupported)
    }

    /// Hardware changes from `current` to `desired` that need a parameter the device lacks.
    public func unsupportedChanges(from current: LayerSetting, to desired: LayerSetting) -> [String] {
        var raw = EthtoolCoalesce()
        for p in supported {
            switch p {
            case .rxUsecs: raw[p] = current.rxUsecs
            case .rxMaxFrames: raw[p] = current.rxFrames
            case .txUsecs: raw[p] = current.txUsecs
            case .txMaxFrames: raw[p] = current.txFrames
            case .useAdaptiveRx: raw[p] = current.adaptiveRx == .off || current.adaptiveRx == .intelITR ? 0 : 1
            case .useAdaptiveTx: raw[p] = current.adaptiveTx == .off || current.adaptiveTx == .intelITR ? 0 : 1
            case .useCQEModeRx: raw[p] = current.adaptiveRx == .dimCQE ? 1 : 0
            case .useCQEModeTx: raw[p] = current.adaptiveTx == .dimCQE ? 1 : 0
            default: raw[p] = 0
            }
        }
        return plan(from: raw, to: desired).unsupported
    }

    /// Sends one COALESCE_SET with the parameters that differ (nothing when none do);
    /// throws `.unsupported` before sending when a change needs a missing parameter.
    public func apply(_ desired: LayerSetting) throws(HostError) {
        let raw = try readRaw()
        let (changes, unsupported) = plan(from: raw, to: desired)
        if !unsupported.isEmpty {
            throw .unsupported(interface: interface, driver: driver, parameters: unsupported)
        }
        guard !changes.values.isEmpty else { return }
        switch backend {
        case .netlink: try netlink!.setCoalesce(interface, changes)
        case .ioctl: try EthtoolIoctl.setCoalesce(interface, changes)
        case nil: throw .unsupported(interface: interface, driver: driver, parameters: changes.values.keys.sorted().map(\.ethtoolName))
        }
    }

    /// Sends a COALESCE_SET with exactly these raw parameters, bypassing the support check
    /// (tests use it to provoke the kernel's own refusal).
    public func setRaw(_ changes: EthtoolCoalesce) throws(HostError) {
        if let netlink { try netlink.setCoalesce(interface, changes) } else { try EthtoolIoctl.setCoalesce(interface, changes) }
    }
}

/// NAPI software mitigation through sysfs: `/sys/class/net/IF/gro_flush_timeout` (ns)
/// and `/sys/class/net/IF/napi_defer_hard_irqs` (empty polls before IRQs are re-armed).
/// Present on every netdev since Linux 5.10; writing needs CAP_NET_ADMIN.
public struct SoftwareActuator: CoalescingActuator {
    /// The interface name.
    public let interface: String
    let groPath: KernelPath
    let deferPath: KernelPath
    private let reader = KernelFileReader(initialCapacity: 64)

    /// Always `.software`.
    public var kind: ActuatorKind { .software }
    /// The NAPI fields of `LayerSetting`.
    public var keys: [String] { ["gro-flush-timeout", "napi-defer-hard-irqs"] }

    /// The knobs of `interface` under `sysClassNet`.
    public init(interface: String, sysClassNet: String = "/sys/class/net") {
        self.interface = interface
        groPath = KernelPath("\(sysClassNet)/\(interface)/gro_flush_timeout")
        deferPath = KernelPath("\(sysClassNet)/\(interface)/napi_defer_hard_irqs")
    }

    /// True when both knobs exist for this interface.
    public var isAvailable: Bool { kernelPathExists(groPath.text) && kernelPathExists(deferPath.text) }

    /// Reads both knobs (leaves `setting` as is when they do not exist).
    public func read(into setting: inout LayerSetting) throws(HostError) {
        guard isAvailable else { return }
        setting.groFlushTimeoutNs = try reader.readUInt64(groPath, keepOpen: true)
        setting.napiDeferHardIrqs = UInt32(clamping: try reader.readUInt64(deferPath, keepOpen: true))
    }

    /// Writes the knobs whose value differs.
    public func apply(_ desired: LayerSetting) throws(HostError) {
        var now = LayerSetting.unmoderated
        try read(into: &now)
        let unsupported = unsupportedChanges(from: now, to: desired)
        if !unsupported.isEmpty {
            throw .unsupported(interface: interface, driver: driverName(interface), parameters: unsupported)
        }
        if desired.groFlushTimeoutNs != now.groFlushTimeoutNs {
            try writeKernelFile(groPath.text, String(desired.groFlushTimeoutNs))
        }
        if desired.napiDeferHardIrqs != now.napiDeferHardIrqs {
            try writeKernelFile(deferPath.text, String(desired.napiDeferHardIrqs))
        }
    }

    /// Knob changes that cannot be made because the knobs do not exist.
    public func unsupportedChanges(from current: LayerSetting, to desired: LayerSetting) -> [String] {
        guard !isAvailable else { return [] }
        var out: [String] = []
        if desired.groFlushTimeoutNs != current.groFlushTimeoutNs { out.append("gro-flush-timeout=\(desired.groFlushTimeoutNs)") }
        if desired.napiDeferHardIrqs != current.napiDeferHardIrqs { out.append("napi-defer-hard-irqs=\(desired.napiDeferHardIrqs)") }
        return out
    }
}

/// What an interface's coalescing can do, found up front.
public struct DeviceCapabilities: Sendable, Hashable, CustomStringConvertible {
    /// The interface name.
    public var interface: String
    /// Its driver.
    public var driver: String
    /// How hardware coalescing is reached; nil when the driver has none.
    public var hardwareBackend: CoalescingBackend?
    /// Hardware parameters the device supports.
    public var hardwareParameters: Set<CoalesceParameter>
    /// The kernel's refusal when the driver has no coalescing (e.g. EOPNOTSUPP on veth).
    public var hardwareUnavailable: String?
    /// Whether the NAPI sysfs knobs exist.
    public var softwareKnobs: Bool

    public var description: String {
        var parts = ["\(interface) (driver \(driver))"]
        if let backend = hardwareBackend {
            let names = hardwareParameters.sorted().map(\.ethtoolName).joined(separator: ", ")
            parts.append("hardware via \(backend.rawValue): \(names.isEmpty ? "none" : names)")
        } else {
            parts.append("no hardware coalescing (\(hardwareUnavailable ?? "not supported"))")
        }
        parts.append(softwareKnobs ? "software: gro-flush-timeout, napi-defer-hard-irqs" : "software knobs missing")
        return parts.joined(separator: "; ")
    }
}

/// Told by `HostActuator.apply` before and after it changes the device. Throwing from
/// `willApply` stops the change.
public protocol ApplyObserver: AnyObject {
    /// `desired` is about to be applied.
    func willApply(_ desired: LayerSetting) throws(HostError)
    /// The change is done; `now` is the setting read back from the device.
    func didApply(_ now: LayerSetting) throws(HostError)
}

/// The actuators of one interface together: reads the whole `LayerSetting`, applies
/// a setting through whichever actuator owns each field, remembers the setting found
/// at start and puts it back with `restore()`.
public final class HostActuator {
    /// The interface name.
    public let interface: String
    /// The ethtool side.
    public let hardware: HardwareActuator
    /// The NAPI sysfs side.
    public let software: SoftwareActuator
    /// The setting in effect when this actuator was created.
    public let original: LayerSetting
    /// True once `apply` changed something that `restore` has not yet put back.
    public private(set) var modified = false
    /// Told before and after every `apply`: the interface's claim, which keeps its
    /// restore journal naming the setting the device has (`InterfaceClaim`).
    public var observer: (any ApplyObserver)?

    /// Opens both actuators of `interface` and reads the original setting.
    public init(interface: String, forceIoctl: Bool = false) throws(HostError) {
        self.interface = interface
        hardware = try HardwareActuator(interface: interface, forceIoctl: forceIoctl)
        software = SoftwareActuator(interface: interface)
        var s = LayerSetting.unmoderated
        try hardware.read(into: &s)
        try software.read(into: &s)
        original = s
    }

    /// What the device supports.
    public var capabilities: DeviceCapabilities {
        DeviceCapabilities(
            interface: interface, driver: hardware.driver, hardwareBackend: hardware.backend,
            hardwareParameters: hardware.supported, hardwareUnavailable: hardware.unavailableReason?.description,
            softwareKnobs: software.isAvailable)
    }

    /// The full setting now in effect.
    public func read() throws(HostError) -> LayerSetting {
        var s = LayerSetting.unmoderated
        try hardware.read(into: &s)
        try software.read(into: &s)
        return s
    }

    /// Parts of `desired` this device cannot set, relative to `current`.
    public func unsupportedChanges(from current: LayerSetting, to desired: LayerSetting) -> [String] {
        hardware.unsupportedChanges(from: current, to: desired) + software.unsupportedChanges(from: current, to: desired)
    }

    /// Applies `desired`: checks every part first (nothing is written when any part is
    /// unsupported), then hardware, then software. Returns the setting read back from the
    /// device afterwards (what the journal records, and what `HostTarget` caches).
    @discardableResult
    public func apply(_ desired: LayerSetting) throws(HostError) -> LayerSetting {
        let current = try read()
        let unsupported = unsupportedChanges(from: current, to: desired)
        if !unsupported.isEmpty {
            throw .unsupported(interface: interface, driver: hardware.driver, parameters: unsupported)
        }
        try observer?.willApply(desired)
        modified = true
        do {
            try hardware.apply(desired)
            try software.apply(desired)
        } catch {
            // The change failed, perhaps halfway: the journal names what the device has
            // now, so that a recovery tells it from a setting made by hand later.
            if let observer, let now = try? read() { try? observer.didApply(now) }
            throw error
        }
        let now = try read()
        try observer?.didApply(now)
        return now
    }

    /// Puts the original setting back (both actuators are attempted; the first error is thrown).
    public func restore() throws(HostError) {
        guard modified else { return }
        // The journal names the restore as a change in flight, so that one that fails
        // halfway is finished by the next claimant rather than taken for a newer choice.
        // A journal that cannot be written does not stop the restore.
        try? observer?.willApply(original)
        var first: HostError?
        do { try hardware.apply(original) } catch { first = error }
        do { try software.apply(original) } catch { first = first ?? error }
        if let first { throw first }
        modified = false
    }

    /// `space` restricted to what this device can do: each setting's unsupported fields
    /// are replaced by the values in effect now, duplicates dropped. Returns the space and
    /// one line per setting that had to be changed (for the operator).
    public func restrict(_ space: ActionSpace) throws -> (space: ActionSpace, adjustments: [String]) {
        let current = try read()
        var kept: [CoalescingSetting] = []
        var notes: [String] = []
        for (i, setting) in space.settings.enumerated() {
            var layer = setting.layers[0]
            let before = layer
            if !hardware.unsupportedChanges(from: current, to: layer).isEmpty {
                layer.rxUsecs = current.rxUsecs; layer.rxFrames = current.rxFrames
                layer.txUsecs = current.txUsecs; layer.txFrames = current.txFrames
                layer.adaptiveRx = current.adaptiveRx; layer.adaptiveTx = current.adaptiveTx
            }
            if !software.unsupportedChanges(from: current, to: layer).isEmpty {
                layer.groFlushTimeoutNs = current.groFlushTimeoutNs
                layer.napiDeferHardIrqs = current.napiDeferHardIrqs
            }
            let projected = CoalescingSetting(layers: [layer])
            if layer != before {
                let parts = unsupportedChanges(from: current, to: before)
                notes.append("action \(i) (\(setting.specText)): \(interface) (driver \(hardware.driver)) cannot set \(parts.joined(separator: ", ")); using \(projected.specText)")
            }
            if !kept.contains(projected) { kept.append(projected) }
        }
        let name = kept.count == space.count ? space.name : "\(space.name)@\(interface)"
        return (try ActionSpace(name: name, settings: kept), notes)
    }
}
