/// A named, finite, ordered set of coalescing settings: the actions a policy chooses among.
///
/// Actions are identified by their index. Order matters: it runs from least to most
/// moderation for the static settings (so "one step" is meaningful to the `Guard`),
/// followed by the adaptive (driver-run) settings.
public struct ActionSpace: Sendable, Hashable, Codable {
    /// A short identifier, e.g. `bare-metal-16`.
    public var name: String
    /// How many layers each setting configures.
    public var layerCount: Int
    /// The settings, indexed by action id.
    public var settings: [CoalescingSetting]

    public init(name: String, settings: [CoalescingSetting]) throws(ActionSpaceError) {
        guard let first = settings.first else { throw .empty(name) }
        let layerCount = first.layers.count
        for (i, s) in settings.enumerated() where s.layers.count != layerCount {
            throw .inconsistentLayers(name, index: i, expected: layerCount, found: s.layers.count)
        }
        var seen: [CoalescingSetting: Int] = [:]
        for (i, s) in settings.enumerated() {
            if let j = seen[s] { throw .duplicate(name, first: j, second: i) }
            seen[s] = i
        }
        self.name = name
        self.layerCount = layerCount
        self.settings = settings
    }

    /// Number of actions.
    public var count: Int { settings.count }

    /// The action id of `setting`, if the space contains it.
    public func index(of setting: CoalescingSetting) -> Int? {
        settings.firstIndex(of: setting)
    }

    /// The action id of a setting written as `key=value,…` (`CoalescingSetting.parse`, unset
    /// parameters unmoderated), if it parses and the space contains it.
    public func index(ofSpec text: String) -> Int? {
        (try? index(parsing: text)) ?? nil
    }

    /// The action id of the setting `text` writes, nil when the space does not contain it;
    /// throws `CoalescingSetting.parse`'s error when `text` is not a setting.
    public func index(parsing text: String) throws(SettingSpecError) -> Int? {
        index(of: try CoalescingSetting.parse(text, layerCount: layerCount))
    }

    /// This space with `extra` settings appended (those not already present), renamed.
    public func extended(with extra: [CoalescingSetting]) throws(ActionSpaceError) -> ActionSpace {
        var all = settings
        for s in extra where !all.contains(s) { all.append(s) }
        if all.count == settings.count { return self }
        return try ActionSpace(name: name + "+\(all.count - settings.count)", settings: all)
    }

    /// The action closest to `setting`: the same setting when present, else the static
    /// action whose rx-usecs and rx-frames are nearest on a log scale, summed over layers.
    /// The lab starts runs from it so that every dataset of a layer count shares one space.
    public func closest(to setting: CoalescingSetting) -> Int {
        if let i = index(of: setting) { return i }
        func distance(_ a: CoalescingSetting) -> Double {
            var d = 0.0
            for (x, y) in zip(a.layers, setting.layers) {
                d += abs(CoreMath.log(Double(x.rxUsecs) + 1) - CoreMath.log(Double(y.rxUsecs) + 1))
                d += 0.5 * abs(CoreMath.log(Double(x.rxFrames) + 1) - CoreMath.log(Double(y.rxFrames) + 1))
                if x.adaptiveRx != y.adaptiveRx { d += 10 }
                if x.groFlushTimeoutNs != y.groFlushTimeoutNs || x.napiDeferHardIrqs != y.napiDeferHardIrqs { d += 1 }
            }
            return d
        }
        return settings.indices.min { distance(settings[$0]) < distance(settings[$1]) } ?? 0
    }

    /// The static (non-adaptive) RX settings used for the bare-metal space, from
    /// no moderation to heavy moderation: (rx-usecs, rx-frames).
    public static let bareMetalStaticGrid: [(UInt32, UInt32)] = [
        (0, 1), (2, 4), (4, 8), (8, 16), (16, 32), (24, 48), (32, 64), (50, 64),
        (64, 128), (100, 128), (128, 256), (256, 256),
    ]

    /// The default bare-metal space (16 actions): 12 static RX settings
    /// (`bareMetalStaticGrid`), DIM EQE, DIM CQE, Intel ITR, and a software-only
    /// action (rx-usecs 8 with `napi_defer_hard_irqs` 2 and `gro_flush_timeout` 50 µs).
    /// TX moderation stays at tx-usecs 16 / tx-frames 32 throughout.
    public static let bareMetal: ActionSpace = {
        var settings: [CoalescingSetting] = bareMetalStaticGrid.map { usecs, frames in
            CoalescingSetting(layers: [LayerSetting(rxUsecs: usecs, rxFrames: frames, txUsecs: 16, txFrames: 32)])
        }
        for algorithm in [AdaptiveAlgorithm.dimEQE, .dimCQE, .intelITR] {
            settings.append(CoalescingSetting(layers: [LayerSetting(
                rxUsecs: 8, rxFrames: 16, txUsecs: 16, txFrames: 32, adaptiveRx: algorithm)]))
        }
        settings.append(CoalescingSetting(layers: [LayerSetting(
            rxUsecs: 8, rxFrames: 16, txUsecs: 16, txFrames: 32,
            groFlushTimeoutNs: 50_000, napiDeferHardIrqs: 2)]))
        return try! ActionSpace(name: "bare-metal-16", settings: settings)
    }()

    /// The default two-layer virtualized space (16 actions): the physical NIC's
    /// rx-usecs in {0, 16, 64, DIM} × the virtual NIC's rx-usecs in {0, 16, 64, DIM},
    /// with rx-frames scaled alongside (1, 32, 128; DIM EQE for the adaptive entry).
    public static let virtualized: ActionSpace = {
        let options: [LayerSetting] = [
            LayerSetting(rxUsecs: 0, rxFrames: 1, txUsecs: 16, txFrames: 32),
            LayerSetting(rxUsecs: 16, rxFrames: 32, txUsecs: 16, txFrames: 32),
            LayerSetting(rxUsecs: 64, rxFrames: 128, txUsecs: 16, txFrames: 32),
            LayerSetting(rxUsecs: 8, rxFrames: 16, txUsecs: 16, txFrames: 32, adaptiveRx: .dimEQE),
        ]
        var settings: [CoalescingSetting] = []
        for nic in options { for vnic in options { settings.append(CoalescingSetting(layers: [nic, vnic])) } }
        return try! ActionSpace(name: "virtualized-16", settings: settings)
    }()

    /// The static rx-usecs values of the `e1000e` space, least to most moderation.
    ///
    /// The Intel e1000e driver (Linux 6.1) accepts rx-usecs 0, 1, 3, 4 and 10–10000
    /// (2 and 5–9 are EINVAL) and has no rx-frames, tx-* or adaptive-rx parameter. It
    /// turns rx-usecs N ≥ 10 into an interrupt rate `itr = 1_000_000 / N`, stores
    /// `itr & ~3` and reports `1_000_000 / stored` back, so only values whose `itr` is a
    /// multiple of 4 read back unchanged; all of these do. QEMU's emulated 82574L
    /// (`-device e1000e`, QEMU 7.2) never throttles below 128 µs between interrupts,
    /// so 10–128 behave like 0 there: above 0 the grid starts at 200 µs and is roughly
    /// log-spaced, so that every static action gives a different interrupt rate under
    /// QEMU as well as on real hardware. rx-usecs 4 (the driver's "simplified" mode) is
    /// left out.
    public static let e1000eRxUsecs: [UInt32] = [0, 200, 500, 1000, 2000, 5000]

    /// The Intel e1000e space (8 actions, one layer): the static rx-usecs values of
    /// `e1000eRxUsecs`, then the driver's own adaptive ITR — rx-usecs 1 ("dynamic") and
    /// rx-usecs 3 ("dynamic conservative", the driver's default), recorded as
    /// `adaptive-rx=itr` with the rx-usecs value that selects the mode. Every other
    /// parameter stays at the unmoderated defaults, which is what the driver reports
    /// (`HardwareActuator` reads a device's missing parameters that way), so each
    /// action reads back from the kernel as exactly itself.
    public static let e1000e: ActionSpace = {
        var settings = e1000eRxUsecs.map { CoalescingSetting(layers: [LayerSetting(rxUsecs: $0)]) }
        for mode: UInt32 in [1, 3] {
            settings.append(CoalescingSetting(layers: [LayerSetting(rxUsecs: mode, adaptiveRx: .intelITR)]))
        }
        return try! ActionSpace(name: "e1000e-8", settings: settings)
    }()

    /// The built-in spaces that can be chosen by name (`coalesce collect --actions NAME`).
    /// Each answers to a short name and to its full `name`.
    public static let builtin: [(names: [String], space: ActionSpace)] = [
        (["bare-metal", bareMetal.name], bareMetal),
        (["virtualized", virtualized.name], virtualized),
        (["e1000e", e1000e.name], e1000e),
    ]

    /// The built-in space called `name` (a short name such as `e1000e`, or a full name
    /// such as `e1000e-8`).
    public static func named(_ name: String) throws(ActionSpaceError) -> ActionSpace {
        if let entry = builtin.first(where: { $0.names.contains(name) }) { return entry.space }
        throw .unknownName(name, known: builtin.map { $0.names[0] })
    }

    /// The default space for a target with `layerCount` layers.
    public static func defaultSpace(layerCount: Int) -> ActionSpace {
        layerCount >= 2 ? virtualized : bareMetal
    }
}

/// Errors building an `ActionSpace`.
public enum ActionSpaceError: Error, Equatable, CustomStringConvertible {
    case empty(String)
    case inconsistentLayers(String, index: Int, expected: Int, found: Int)
    case duplicate(String, first: Int, second: Int)
    /// `ActionSpace.named` was given a name no built-in space has.
    case unknownName(String, known: [String])

    public var description: String {
        switch self {
        case .empty(let n): return "action space '\(n)' has no settings"
        case .inconsistentLayers(let n, let i, let e, let f):
            return "action space '\(n)': action \(i) sets \(f) layer(s), the others \(e)"
        case .duplicate(let n, let a, let b): return "action space '\(n)': actions \(a) and \(b) are the same setting"
        case .unknownName(let n, let known): return "no built-in action space '\(n)'; known: \(known.joined(separator: ", "))"
        }
    }
}
