// Intel adaptive interrupt throttling (ITR), as the e1000e driver runs it.
//
// Source (Linux, drivers/net/ethernet/intel/e1000e/netdev.c):
//   e1000_update_itr()   the per-direction class transition from the packets and bytes
//                        cleaned since the last interrupt
//   e1000_set_itr()      class = max(rx, tx), the rate of the class, conservative mode,
//                        and the smoothing that raises the rate in quarter steps
//   e1000e_write_itr()   the ITR register value, in 256 ns units
//   e1000e_poll()        calls e1000_set_itr() when NAPI completes, if itr_setting & 3
//   e1000_intr_msi()     zeroes total_{rx,tx}_{packets,bytes} when it schedules NAPI,
//                        so the counts cover exactly one interrupt
// Initial values: drivers/net/ethernet/intel/e1000e/param.c (itr = 20000 for modes 1
// and 3) and the zero-filled adapter (rx_itr = tx_itr = lowest_latency = 0).

/// The e1000e latency class (`enum latency_range`), one per direction.
public enum ITRClass: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    /// `lowest_latency`: 70,000 interrupts/s.
    case lowest = 0
    /// `low_latency`: 20,000 interrupts/s ("50 usec").
    case low = 1
    /// `bulk_latency`: 4,000 interrupts/s ("250 usec").
    case bulk = 2

    public static func < (a: ITRClass, b: ITRClass) -> Bool { a.rawValue < b.rawValue }

    /// The interrupt rate `e1000_set_itr()` targets for this class.
    public var interruptsPerSecond: UInt32 {
        switch self {
        case .lowest: return 70_000
        case .low: return 20_000
        case .bulk: return 4_000
        }
    }

    public var description: String {
        switch self {
        case .lowest: return "lowest"
        case .low: return "low"
        case .bulk: return "bulk"
        }
    }

    /// `e1000_update_itr()`: the next class of one direction from the packets and
    /// bytes cleaned since the previous interrupt. No packets: the class stays.
    public func next(packets: Int, bytes: Int) -> ITRClass {
        if packets == 0 { return self }
        let bytesPerPacket = bytes / packets
        switch self {
        case .lowest:
            // TSO and jumbo frames go straight to bulk.
            if bytesPerPacket > 8000 { return .bulk }
            if packets < 5 && bytes > 512 { return .low }
            return .lowest
        case .low:
            if bytes > 10000 {
                if bytesPerPacket > 8000 { return .bulk }
                if packets < 10 || bytesPerPacket > 1200 { return .bulk }
                if packets > 35 { return .lowest }
                return .low
            }
            if bytesPerPacket > 2000 { return .bulk }
            if packets <= 2 && bytes < 512 { return .lowest }
            return .low
        case .bulk:
            if bytes > 25000 {
                return packets > 35 ? .low : .bulk
            }
            return bytes < 6000 ? .low : .bulk
        }
    }
}

/// The dynamic ITR modes of e1000e (`InterruptThrottleRate` / `ethtool -C rx-usecs`).
public enum ITRMode: Sendable, Hashable {
    /// `rx-usecs 1`: dynamic, all three classes.
    case dynamic
    /// `rx-usecs 3` (the driver's default): dynamic conservative; `lowest` is replaced by `low`.
    case conservative

    /// The `ethtool -C DEV rx-usecs` value that selects the mode on e1000e.
    public var ethtoolRxUsecs: UInt32 { self == .dynamic ? 1 : 3 }
}

/// Intel adaptive ITR for one interrupt vector, as e1000e runs it (gigabit link,
/// adaptive moderation enabled).
///
/// Call `update` once per interrupt (when NAPI completes) with the packets and
/// bytes cleaned since the previous interrupt. The class of each direction moves
/// by `ITRClass.next`; the vector's class is the larger of the two; the rate drops
/// at once to the class's rate but rises by at most a quarter of the target per
/// interrupt ("bias the interrupt rate towards bulk").
public struct IntelITR: Sendable {
    /// The rate e1000e programs before the first adaptation (`adapter->itr = 20000`).
    public static let initialInterruptsPerSecond: UInt32 = 20_000
    /// Unit of the hardware ITR register, nanoseconds.
    public static let registerUnitNs: UInt64 = 256

    /// The mode.
    public let mode: ITRMode
    /// `adapter->rx_itr`: the receive direction's class.
    public private(set) var rxClass: ITRClass
    /// `adapter->tx_itr`: the transmit direction's class.
    public private(set) var txClass: ITRClass
    /// `current_itr` of the last update: max(rx, tx). Before the first update, the
    /// class whose rate is in force (`low`, 20,000/s).
    public private(set) var itrClass: ITRClass
    /// `adapter->itr`: the current target rate, interrupts per second.
    public private(set) var interruptsPerSecond: UInt32

    /// The minimum interval between interrupts (throttle), 1e9 / rate, nanoseconds.
    public var intervalNs: UInt64 { 1_000_000_000 / UInt64(interruptsPerSecond) }

    /// The value `e1000e_write_itr()` writes to the ITR register: 1e9 / (rate × 256).
    public var registerValue: UInt32 { UInt32(1_000_000_000 / (UInt64(interruptsPerSecond) * Self.registerUnitNs)) }

    /// The interval the hardware actually enforces: the register value × 256 ns
    /// (slightly below `intervalNs` because the register truncates).
    public var hardwareIntervalNs: UInt64 { UInt64(registerValue) * Self.registerUnitNs }

    /// ITR as the driver sets it up: rate 20,000/s, both directions in `lowest`
    /// (the adapter structure is zero-filled and `lowest_latency` is 0).
    public init(mode: ITRMode = .dynamic) {
        self.mode = mode
        self.rxClass = .lowest
        self.txClass = .lowest
        self.itrClass = .low
        self.interruptsPerSecond = Self.initialInterruptsPerSecond
    }

    /// Call once per interrupt with what was processed since the previous one;
    /// returns true when the rate changed (`e1000_set_itr()`).
    @discardableResult
    public mutating func update(rxPackets: Int, rxBytes: Int, txPackets: Int, txBytes: Int) -> Bool {
        // e1000_set_itr() updates tx first, then rx; each is clamped in conservative mode.
        txClass = conservativeClamp(txClass.next(packets: txPackets, bytes: txBytes))
        rxClass = conservativeClamp(rxClass.next(packets: rxPackets, bytes: rxBytes))
        itrClass = max(rxClass, txClass)
        let target = itrClass.interruptsPerSecond
        if target == interruptsPerSecond { return false }
        // Rising rates move by a quarter of the target per interrupt; falling rates at once.
        interruptsPerSecond = target > interruptsPerSecond
            ? min(interruptsPerSecond + (target >> 2), target)
            : target
        return true
    }

    /// "conservative mode (itr 3) eliminates the lowest_latency setting".
    private func conservativeClamp(_ c: ITRClass) -> ITRClass {
        mode == .conservative && c == .lowest ? .low : c
    }
}
