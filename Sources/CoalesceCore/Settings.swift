/// Which adaptive algorithm, if any, the driver runs for one direction of a layer.
///
/// With an adaptive algorithm selected the driver (or the simulated driver) picks
/// the moderation itself at its native granularity; the static `rx-usecs` /
/// `rx-frames` values of the layer are then ignored for that direction.
public enum AdaptiveAlgorithm: String, Sendable, Hashable, Codable, CaseIterable {
    /// Static moderation: the usecs/frames values apply.
    case off
    /// Linux DIM (`lib/dim/net_dim.c`) with the EQE profile table (timer from the first event).
    case dimEQE = "dim-eqe"
    /// Linux DIM with the CQE profile table (timer restarted by every completion).
    case dimCQE = "dim-cqe"
    /// Intel adaptive ITR (e1000e/igb `*_update_itr`): three classes chosen per interrupt.
    case intelITR = "itr"
}

/// The coalescing configuration of one layer (one NIC: physical, or the virtual NIC of a guest).
///
/// Field names follow `ethtool -C` and the NAPI sysfs knobs. A value of 0 for
/// `rxFrames` means "no frame limit", as in the kernel's `struct ethtool_coalesce`.
public struct LayerSetting: Sendable, Hashable, Codable {
    /// `rx-usecs`: microseconds to delay an RX interrupt (0 = no delay).
    public var rxUsecs: UInt32
    /// `rx-frames` (`rx-max-frames`): packets after which an RX interrupt fires regardless of time (0 = no limit).
    public var rxFrames: UInt32
    /// `tx-usecs`.
    public var txUsecs: UInt32
    /// `tx-frames`.
    public var txFrames: UInt32
    /// `adaptive-rx`, with the algorithm the driver runs.
    public var adaptiveRx: AdaptiveAlgorithm
    /// `adaptive-tx`, with the algorithm the driver runs.
    public var adaptiveTx: AdaptiveAlgorithm
    /// `/sys/class/net/DEV/gro_flush_timeout`, nanoseconds (0 = off).
    public var groFlushTimeoutNs: UInt64
    /// `/sys/class/net/DEV/napi_defer_hard_irqs`: empty polls before IRQs are re-armed (0 = off).
    public var napiDeferHardIrqs: UInt32

    public init(
        rxUsecs: UInt32 = 0, rxFrames: UInt32 = 1, txUsecs: UInt32 = 0, txFrames: UInt32 = 1,
        adaptiveRx: AdaptiveAlgorithm = .off, adaptiveTx: AdaptiveAlgorithm = .off,
        groFlushTimeoutNs: UInt64 = 0, napiDeferHardIrqs: UInt32 = 0
    ) {
        self.rxUsecs = rxUsecs
        self.rxFrames = rxFrames
        self.txUsecs = txUsecs
        self.txFrames = txFrames
        self.adaptiveRx = adaptiveRx
        self.adaptiveTx = adaptiveTx
        self.groFlushTimeoutNs = groFlushTimeoutNs
        self.napiDeferHardIrqs = napiDeferHardIrqs
    }

    /// No moderation: one interrupt per packet.
    public static let unmoderated = LayerSetting()

    /// The parameter keys accepted in specs, in canonical order.
    public static let keys = [
        "rx-usecs", "rx-frames", "tx-usecs", "tx-frames", "adaptive-rx", "adaptive-tx",
        "gro-flush-timeout", "napi-defer-hard-irqs",
    ]

    /// Sets one parameter from its spec key and textual value.
    public mutating func set(_ key: String, _ value: String) throws(SettingSpecError) {
        func int<T: FixedWidthInteger>(_: T.Type) throws(SettingSpecError) -> T {
            guard let v = T(value) else { throw .badValue(key: key, value: value) }
            return v
        }
        func algorithm() throws(SettingSpecError) -> AdaptiveAlgorithm {
            switch value {
            case "on", "dim", "1", "true": return .dimEQE
            case "off", "0", "false": return .off
            default:
                guard let a = AdaptiveAlgorithm(rawValue: value) else { throw .badValue(key: key, value: value) }
                return a
            }
        }
        switch key {
        case "rx-usecs": rxUsecs = try int(UInt32.self)
        case "rx-frames": rxFrames = try int(UInt32.self)
        case "tx-usecs": txUsecs = try int(UInt32.self)
        case "tx-frames": txFrames = try int(UInt32.self)
        case "adaptive-rx": adaptiveRx = try algorithm()
        case "adaptive-tx": adaptiveTx = try algorithm()
        case "gro-flush-timeout": groFlushTimeoutNs = try int(UInt64.self)
        case "napi-defer-hard-irqs": napiDeferHardIrqs = try int(UInt32.self)
        default: throw .unknownKey(key)
        }
    }

    /// Compact spec text, listing only what differs from `unmoderated` plus rx-usecs
    /// (e.g. `rx-usecs=8,rx-frames=32`); parseable by `CoalescingSetting.parse`.
    public var specText: String {
        var parts = ["rx-usecs=\(rxUsecs)"]
        if rxFrames != 1 { parts.append("rx-frames=\(rxFrames)") }
        if txUsecs != 0 { parts.append("tx-usecs=\(txUsecs)") }
        if txFrames != 1 { parts.append("tx-frames=\(txFrames)") }
        if adaptiveRx != .off { parts.append("adaptive-rx=\(adaptiveRx.rawValue)") }
        if adaptiveTx != .off { parts.append("adaptive-tx=\(adaptiveTx.rawValue)") }
        if groFlushTimeoutNs != 0 { parts.append("gro-flush-timeout=\(groFlushTimeoutNs)") }
        if napiDeferHardIrqs != 0 { parts.append("napi-defer-hard-irqs=\(napiDeferHardIrqs)") }
        return parts.joined(separator: ",")
    }
}

/// Names of coalescing layers, outermost (wire side) first.
public enum LayerName: String, Sendable, CaseIterable {
    /// The physical NIC (bare metal, or the host side of a virtualized host).
    case nic
    /// The guest's virtual NIC (virtio-net / netfront), fed by the backend.
    case vnic

    /// The layer's index in `CoalescingSetting.layers`.
    public var index: Int { self == .nic ? 0 : 1 }
}

/// A coalescing action: the settings of every layer, set jointly.
///
/// Bare metal has one layer (`nic`); a virtualized host has two (`nic`, `vnic`).
public struct CoalescingSetting: Sendable, Hashable, Codable, CustomStringConvertible {
    /// One entry per layer, outermost first (index 0 = physical NIC).
    public var layers: [LayerSetting]

    public init(layers: [LayerSetting]) {
        precondition(!layers.isEmpty, "a setting has at least one layer")
        self.layers = layers
    }

    /// The same setting on `count` layers.
    public init(uniform layer: LayerSetting, count: Int = 1) {
        self.init(layers: Array(repeating: layer, count: count))
    }

    /// The spec text: `rx-usecs=8,rx-frames=32` for one layer, or
    /// `nic.rx-usecs=8,nic.rx-frames=32,vnic.rx-usecs=64` for two.
    public var specText: String {
        if layers.count == 1 { return layers[0].specText }
        return layers.enumerated().map { i, layer in
            let name = LayerName.allCases[min(i, LayerName.allCases.count - 1)].rawValue
            return layer.specText.split(separator: ",").map { "\(name).\($0)" }.joined(separator: ",")
        }.joined(separator: ",")
    }

    public var description: String { specText }

    /// Parses `key=value[,key=value...]`. Keys without a layer prefix apply to every
    /// layer; `nic.` and `vnic.` prefixes address one layer. Unset parameters keep
    /// the values of `base` (default: unmoderated).
    public static func parse(
        _ text: String, layerCount: Int, base: LayerSetting = .unmoderated
    ) throws(SettingSpecError) -> CoalescingSetting {
        var layers = Array(repeating: base, count: layerCount)
        let trimmed = text.trimmedWhitespace
        if trimmed.isEmpty { return CoalescingSetting(layers: layers) }
        // Unprefixed keys first, so that layer-qualified keys override them whatever the order.
        var qualified: [(Int, String, String)] = []
        for part in trimmed.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { String($0).trimmedWhitespace }
            guard kv.count == 2 else { throw .malformed(String(part)) }
            let key = kv[0], value = kv[1]
            if let dot = key.firstIndex(of: ".") {
                let layerText = String(key[..<dot])
                guard let layer = LayerName(rawValue: layerText) else { throw .unknownLayer(layerText) }
                guard layer.index < layerCount else { throw .layerOutOfRange(layerText, layerCount: layerCount) }
                qualified.append((layer.index, String(key[key.index(after: dot)...]), value))
            } else {
                for i in layers.indices { try layers[i].set(key, value) }
            }
        }
        for (i, key, value) in qualified { try layers[i].set(key, value) }
        return CoalescingSetting(layers: layers)
    }
}

/// Errors in a coalescing spec such as `rx-usecs=8,rx-frames=32`.
public enum SettingSpecError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case unknownKey(String)
    case badValue(key: String, value: String)
    case unknownLayer(String)
    case layerOutOfRange(String, layerCount: Int)

    public var description: String {
        switch self {
        case .malformed(let p): return "malformed setting '\(p)': expected key=value"
        case .unknownKey(let k): return "unknown setting key '\(k)'; known keys: \(LayerSetting.keys.joined(separator: ", "))"
        case .badValue(let k, let v): return "invalid value '\(v)' for '\(k)'"
        case .unknownLayer(let l): return "unknown layer '\(l)'; layers are 'nic' (physical) and 'vnic' (virtual)"
        case .layerOutOfRange(let l, let n): return "layer '\(l)' does not exist on a target with \(n) layer(s)"
        }
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces and tabs (no Foundation needed).
    public var trimmedWhitespace: String {
        var sub = Substring(self)
        while let f = sub.first, f == " " || f == "\t" { sub.removeFirst() }
        while let l = sub.last, l == " " || l == "\t" || l == "\r" { sub.removeLast() }
        return String(sub)
    }
}
