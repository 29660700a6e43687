/// A coalescing parameter of `struct ethtool_coalesce`, numbered as its
/// `ETHTOOL_A_COALESCE_*` netlink attribute (include/uapi/linux/ethtool_netlink.h).
public enum CoalesceParameter: UInt16, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    case rxUsecs = 2
    case rxMaxFrames = 3
    case rxUsecsIrq = 4
    case rxMaxFramesIrq = 5
    case txUsecs = 6
    case txMaxFrames = 7
    case txUsecsIrq = 8
    case txMaxFramesIrq = 9
    case statsBlockUsecs = 10
    case useAdaptiveRx = 11
    case useAdaptiveTx = 12
    case pktRateLow = 13
    case rxUsecsLow = 14
    case rxMaxFramesLow = 15
    case txUsecsLow = 16
    case txMaxFramesLow = 17
    case pktRateHigh = 18
    case rxUsecsHigh = 19
    case rxMaxFramesHigh = 20
    case txUsecsHigh = 21
    case txMaxFramesHigh = 22
    case rateSampleInterval = 23
    case useCQEModeTx = 24
    case useCQEModeRx = 25

    /// u8 (boolean) attributes; every other one here is a u32.
    public var isBoolean: Bool {
        switch self {
        case .useAdaptiveRx, .useAdaptiveTx, .useCQEModeTx, .useCQEModeRx: return true
        default: return false
        }
    }

    /// The name `ethtool -c` prints.
    public var ethtoolName: String {
        switch self {
        case .rxUsecs: return "rx-usecs"
        case .rxMaxFrames: return "rx-frames"
        case .rxUsecsIrq: return "rx-usecs-irq"
        case .rxMaxFramesIrq: return "rx-frames-irq"
        case .txUsecs: return "tx-usecs"
        case .txMaxFrames: return "tx-frames"
        case .txUsecsIrq: return "tx-usecs-irq"
        case .txMaxFramesIrq: return "tx-frames-irq"
        case .statsBlockUsecs: return "stats-block-usecs"
        case .useAdaptiveRx: return "adaptive-rx"
        case .useAdaptiveTx: return "adaptive-tx"
        case .pktRateLow: return "pkt-rate-low"
        case .rxUsecsLow: return "rx-usecs-low"
        case .rxMaxFramesLow: return "rx-frame-low"
        case .txUsecsLow: return "tx-usecs-low"
        case .txMaxFramesLow: return "tx-frame-low"
        case .pktRateHigh: return "pkt-rate-high"
        case .rxUsecsHigh: return "rx-usecs-high"
        case .rxMaxFramesHigh: return "rx-frame-high"
        case .txUsecsHigh: return "tx-usecs-high"
        case .txMaxFramesHigh: return "tx-frame-high"
        case .rateSampleInterval: return "sample-interval"
        case .useCQEModeTx: return "cqe-mode-tx"
        case .useCQEModeRx: return "cqe-mode-rx"
        }
    }

    public var description: String { ethtoolName }

    /// Ordered by attribute number.
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// Index of the field in the ioctl's `struct ethtool_coalesce` (after `cmd`), if it has one.
    var ioctlField: Int? {
        rawValue <= 23 ? Int(rawValue) - 1 : nil
    }
}

/// The hardware coalescing of a device as the kernel reports it: the values of the
/// parameters present, by parameter.
///
/// Over netlink the kernel includes a parameter in COALESCE_GET_REPLY when the
/// driver declares it in `supported_coalesce_params` or its value is non-zero
/// (`coalesce_put_u32` in net/ethtool/coalesce.c), so the keys present are the
/// device's supported parameters — `ethtool -c` prints "n/a" for the others.
public struct EthtoolCoalesce: Sendable, Hashable {
    /// Parameter values (booleans as 0/1).
    public var values: [CoalesceParameter: UInt32]

    /// Parameters with values (booleans as 0/1).
    public init(values: [CoalesceParameter: UInt32] = [:]) { self.values = values }

    /// The value of `p`, nil when absent (unsupported, or not to be changed in a SET).
    public subscript(_ p: CoalesceParameter) -> UInt32? {
        get { values[p] }
        set { values[p] = newValue }
    }

    /// The parameters present.
    public var parameters: Set<CoalesceParameter> { Set(values.keys) }
}

/// How the hardware coalescing of a device is reached.
public enum CoalescingBackend: String, Sendable, Hashable {
    /// Generic netlink family "ethtool" (kernel ≥ 5.6).
    case netlink
    /// The legacy `SIOCETHTOOL` ioctl (`ETHTOOL_GCOALESCE`/`ETHTOOL_SCOALESCE`).
    case ioctl
}
