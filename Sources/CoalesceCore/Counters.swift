/// What happened to a cumulative counter between two samples.
public enum CounterEvent: String, Sendable, Hashable {
    /// The counter grew (or stayed): the delta is `current - previous`.
    case normal
    /// The counter wrapped at 2³²: the delta is `current + 2³² - previous`.
    case wrapped32
    /// The counter went backwards by more than a 32-bit wrap can explain — the
    /// device was reset or recreated. The delta is `current` (counts since the reset).
    case reset
}

/// The difference between two readings of a cumulative kernel counter, safe
/// against wraps and resets: never negative.
///
/// Counters in `/proc/interrupts` are 32-bit; most `/sys/class/net/*/statistics`
/// counters are 64-bit, but some drivers still keep 32-bit ones. A decrease is a
/// 32-bit wrap only when the previous reading fits in 32 bits and the wrapped
/// delta is plausible (below 2³¹); anything else is a reset.
public struct CounterDelta: Sendable, Hashable {
    public var value: UInt64
    public var event: CounterEvent

    public init(previous: UInt64, current: UInt64) {
        if current >= previous {
            value = current - previous
            event = .normal
            return
        }
        let limit32: UInt64 = 1 << 32
        if previous < limit32 {
            let wrapped = (limit32 - previous) + current
            if wrapped < (1 << 31) {
                value = wrapped
                event = .wrapped32
                return
            }
        }
        value = current
        event = .reset
    }
}
