// Linux Dynamic Interrupt Moderation (DIM) for network devices, as the kernel runs it.
//
// Sources (Linux, lib/dim/net_dim.c, lib/dim/dim.c, include/linux/dim.h):
//   net_dim()                 the measurement state machine, called once per interrupt/NAPI completion
//   dim_calc_stats()          rates per millisecond from the start and end samples
//   net_dim_stats_compare()   better / same / worse, in the order bpms, ppms, epms
//   net_dim_decision()        the tuning state machine (parking, going right/left, turning)
//   net_dim_step()            one step along the profile table, "tired" and "on edge"
//   net_dim_exit_parking()    leave a parking state towards the other side of the table
//   dim_on_top(), dim_turn(), dim_park_on_top(), dim_park_tired()
//   NET_DIM_{RX,TX}_{EQE,CQE}_PROFILES   the four five-entry profile tables
//
// Everything here is integer arithmetic with the kernel's widths (u16 event counter,
// u32 packet and byte counters, u32 microseconds, 10 % significance rule with integer
// division), so a sequence of samples moves this model exactly as it moves the kernel.

/// One DIM moderation profile: the interrupt delay and the completion count the
/// driver programs into the device (`struct dim_cq_moder`: `usec`, `pkts`).
public struct DimProfile: Hashable, Sendable, CustomStringConvertible {
    /// Interrupt delay in microseconds (`rx-usecs` / `tx-usecs`).
    public var usecs: UInt32
    /// Completions after which the interrupt fires regardless of time (`rx-frames` / `tx-frames`).
    public var packets: UInt32

    public init(usecs: UInt32, packets: UInt32) {
        self.usecs = usecs
        self.packets = packets
    }

    public var description: String { "(\(usecs) us, \(packets) pkts)" }
}

/// Where the device's moderation timer starts (`DIM_CQ_PERIOD_MODE_START_FROM_EQE/CQE`).
public enum DimTimerMode: String, Sendable, Hashable {
    /// The timer starts at the first event after the interrupt was re-armed.
    case startFromEQE
    /// Every completion restarts the timer.
    case startFromCQE
}

/// The four profile tables of `lib/dim/net_dim.c`, five profiles each.
///
/// Index 0 is the least moderation (lowest latency), index 4 the most.
/// "Going right" in DIM's terms means moving to a higher index.
public enum DimProfileTable: String, Sendable, CaseIterable {
    /// `NET_DIM_RX_EQE_PROFILES`.
    case rxEQE
    /// `NET_DIM_RX_CQE_PROFILES`.
    case rxCQE
    /// `NET_DIM_TX_EQE_PROFILES`.
    case txEQE
    /// `NET_DIM_TX_CQE_PROFILES`.
    case txCQE

    /// `NET_DIM_PARAMS_NUM_PROFILES`.
    public static let profileCount = 5

    /// The table's five profiles, least moderation first.
    public var profiles: [DimProfile] {
        switch self {
        case .rxEQE: return Self.rxEQEProfiles
        case .rxCQE: return Self.rxCQEProfiles
        case .txEQE: return Self.txEQEProfiles
        case .txCQE: return Self.txCQEProfiles
        }
    }

    /// The profile at `index` (0...4), without going through an array.
    public func profile(at index: Int) -> DimProfile {
        precondition((0..<Self.profileCount).contains(index), "DIM profile index \(index) outside 0...4")
        switch self {
        case .rxEQE: return Self.rxEQEProfiles[index]
        case .rxCQE: return Self.rxCQEProfiles[index]
        case .txEQE: return Self.txEQEProfiles[index]
        case .txCQE: return Self.txCQEProfiles[index]
        }
    }

    private static func table(_ pairs: [(UInt32, UInt32)]) -> [DimProfile] {
        pairs.map { DimProfile(usecs: $0.0, packets: $0.1) }
    }

    // NET_DIM_DEFAULT_RX_CQ_PKTS_FROM_EQE = 256, NET_DIM_DEFAULT_TX_CQ_PKTS_FROM_EQE = 128.
    private static let rxEQEProfiles = table([(1, 256), (8, 256), (64, 256), (128, 256), (256, 256)])
    private static let rxCQEProfiles = table([(2, 256), (8, 128), (16, 64), (32, 64), (64, 64)])
    private static let txEQEProfiles = table([(1, 128), (8, 128), (32, 128), (64, 128), (128, 128)])
    private static let txCQEProfiles = table([(5, 128), (8, 64), (16, 32), (32, 32), (64, 32)])

    /// The timer semantic the table is meant for.
    public var timerMode: DimTimerMode {
        switch self {
        case .rxEQE, .txEQE: return .startFromEQE
        case .rxCQE, .txCQE: return .startFromCQE
        }
    }

    /// The index drivers start at (`NET_DIM_DEF_PROFILE_EQE` = `NET_DIM_DEF_PROFILE_CQE` = 1).
    public static let defaultIndex = 1
}

/// DIM's tuning state (`DIM_PARKING_ON_TOP`, `DIM_PARKING_TIRED`, `DIM_GOING_RIGHT`, `DIM_GOING_LEFT`).
public enum DimTuneState: String, Sendable {
    /// Parked at a local optimum; leaves when the traffic changes significantly.
    case parkingOnTop
    /// Parked after too many steps without finding an optimum; leaves after 10 measurements.
    case parkingTired
    /// Stepping towards more moderation (higher profile index).
    case goingRight
    /// Stepping towards less moderation (lower profile index).
    case goingLeft
}

/// DIM's measurement state (`DIM_START_MEASURE`, `DIM_MEASURE_IN_PROGRESS`, `DIM_APPLY_NEW_PROFILE`).
public enum DimMeasurementState: String, Sendable {
    /// The next sample becomes the start of a measurement.
    case startMeasure
    /// Waiting for at least `NetDIM.eventsPerMeasurement` events since the start sample.
    case measureInProgress
    /// A new profile was chosen; samples are ignored until the driver has applied it.
    case applyNewProfile
}

/// How the driver's work item that applies a new profile is modelled.
///
/// In the kernel, `net_dim()` schedules `dim->work`; the driver's handler programs
/// the device and sets `dim->state = DIM_START_MEASURE`. Samples that arrive before
/// the handler ran are ignored.
public enum DimProfileApplication: Sendable, Hashable {
    /// The work item has run before the next interrupt (the usual case: a work
    /// item runs within microseconds, interrupts of a moderated queue are further apart).
    /// The next `update` starts a new measurement with its sample.
    case beforeNextSample
    /// The caller models the work item's latency and calls `NetDIM.profileApplied()`
    /// when it runs; until then `update` ignores samples.
    case explicit
}

/// Cumulative counters, like the kernel's `struct dim_sample` (time, pkt_ctr, byte_ctr, event_ctr).
///
/// Drivers fill it from running totals of the queue (packets and bytes completed,
/// interrupts or NAPI completions seen). The kernel keeps the event counter in 16
/// bits and the packet and byte counters in 32 bits; `NetDIM` truncates the same way
/// and takes differences modulo those widths (`BIT_GAP`), so wrapping counters work.
public struct DimSample: Sendable, Hashable {
    /// Monotonic time of the sample, nanoseconds.
    public var timeNs: UInt64
    /// Packets completed so far.
    public var packets: UInt64
    /// Bytes completed so far.
    public var bytes: UInt64
    /// Events (interrupts / NAPI completions) so far.
    public var events: UInt64

    public init(timeNs: UInt64, packets: UInt64, bytes: UInt64, events: UInt64) {
        self.timeNs = timeNs
        self.packets = packets
        self.bytes = bytes
        self.events = events
    }
}

/// Rates measured over one DIM measurement (`struct dim_stats`).
public struct DimStats: Sendable, Hashable, CustomStringConvertible {
    /// Packets per millisecond, rounded up.
    public var ppms: Int
    /// Bytes per millisecond, rounded up.
    public var bpms: Int
    /// Events per millisecond, rounded up, computed from `DIM_NEVENTS` (64), not the
    /// exact event count — as `dim_calc_stats()` does.
    public var epms: Int

    public init(ppms: Int, bpms: Int, epms: Int) {
        self.ppms = ppms
        self.bpms = bpms
        self.epms = epms
    }

    /// All zero: the kernel's initial `prev_stats`.
    public static let zero = DimStats(ppms: 0, bpms: 0, epms: 0)

    public var description: String { "bpms=\(bpms) ppms=\(ppms) epms=\(epms)" }
}

/// The outcome of comparing two measurements (`DIM_STATS_WORSE/SAME/BETTER`).
public enum DimStatsComparison: Sendable, Hashable {
    case worse, same, better
}

/// Linux net DIM for one queue direction, as `lib/dim/net_dim.c` runs it.
///
/// Call `update` once per interrupt / NAPI completion with the queue's cumulative
/// counters (drivers call `net_dim()` from their NAPI poll when it completes).
/// After at least 64 events since the start of a measurement, DIM computes the
/// rates, compares them with the previous measurement and may step to a
/// neighbouring profile; `update` then returns the profile to program.
public struct NetDIM: Sendable {
    /// `DIM_NEVENTS`: events per measurement.
    public static let eventsPerMeasurement = 64
    /// `NET_DIM_PARAMS_NUM_PROFILES * 2`: steps without parking before DIM parks tired.
    public static let tiredLimit = DimProfileTable.profileCount * 2

    /// The profile table in use.
    public let table: DimProfileTable
    /// How the driver's profile-applying work item is modelled.
    public let application: DimProfileApplication

    /// `dim->profile_ix`: the index of the current profile in `table.profiles`.
    public private(set) var profileIndex: Int {
        didSet { profile = table.profile(at: profileIndex) }
    }
    /// The profile in effect (`table.profile(at: profileIndex)`, kept as a plain value
    /// so that the struct holds no reference and copies cost nothing).
    public private(set) var profile: DimProfile
    /// `dim->tune_state`.
    public private(set) var tuneState: DimTuneState
    /// `dim->state`.
    public private(set) var measurementState: DimMeasurementState
    /// `dim->steps_right`: steps taken right since the last turn to the right.
    public private(set) var stepsRight: Int
    /// `dim->steps_left`: steps taken left since the last turn to the left.
    public private(set) var stepsLeft: Int
    /// `dim->tired`: steps since DIM last parked on top (counts down while parked tired).
    public private(set) var tired: Int
    /// `dim->prev_stats`: the measurement the next one is compared with.
    public private(set) var previousStats: DimStats
    /// The stats of the most recent completed measurement, if any (for inspection; not kernel state).
    public private(set) var lastStats: DimStats?
    /// Number of measurements completed and decided on (for inspection; not kernel state).
    public private(set) var decisions: Int

    // dim->start_sample, in the kernel's widths.
    private var startTimeNs: UInt64
    private var startPackets: UInt32
    private var startBytes: UInt32
    private var startEvents: UInt16

    /// A DIM instance as a driver sets it up: the state zeroed (`DIM_START_MEASURE`,
    /// `DIM_PARKING_ON_TOP`, all counters and `prev_stats` zero) and the profile index
    /// at the table default (1).
    ///
    /// - Parameters:
    ///   - table: the profile table (RX/TX, EQE/CQE).
    ///   - startIndex: the initial profile index, clamped to 0...4.
    ///   - application: how the profile-applying work item is modelled.
    public init(table: DimProfileTable, startIndex: Int = DimProfileTable.defaultIndex,
                application: DimProfileApplication = .beforeNextSample) {
        self.table = table
        self.application = application
        let index = min(max(startIndex, 0), DimProfileTable.profileCount - 1)
        self.profileIndex = index
        self.profile = table.profile(at: index)
        self.tuneState = .parkingOnTop
        self.measurementState = .startMeasure
        self.stepsRight = 0
        self.stepsLeft = 0
        self.tired = 0
        self.previousStats = .zero
        self.lastStats = nil
        self.decisions = 0
        self.startTimeNs = 0
        self.startPackets = 0
        self.startBytes = 0
        self.startEvents = 0
    }

    /// Feed one sample per NAPI completion/interrupt, as drivers call `net_dim()`.
    ///
    /// Returns the new profile when DIM decides to move (a measurement of at least
    /// 64 events completed and the decision changed the profile index); the caller
    /// programs it into the (simulated) device. Returns nil otherwise.
    public mutating func update(_ sample: DimSample) -> DimProfile? {
        if measurementState == .applyNewProfile {
            // DIM_APPLY_NEW_PROFILE ignores samples until the driver's work handler
            // has set DIM_START_MEASURE.
            guard application == .beforeNextSample else { return nil }
            measurementState = .startMeasure
        }
        if measurementState == .measureInProgress {
            // nevents = BIT_GAP(16, end.event_ctr, start.event_ctr)
            let nevents = UInt16(truncatingIfNeeded: sample.events) &- startEvents
            if Int(nevents) < Self.eventsPerMeasurement { return nil }
            // dim_calc_stats() returns false when no microsecond has passed: keep measuring.
            guard let stats = calcStats(to: sample) else { return nil }
            lastStats = stats
            decisions += 1
            if decide(stats) {
                measurementState = .applyNewProfile
                return profile
            }
            // fall through to DIM_START_MEASURE
        }
        // DIM_START_MEASURE: dim_update_sample() into dim->start_sample.
        startTimeNs = sample.timeNs
        startPackets = UInt32(truncatingIfNeeded: sample.packets)
        startBytes = UInt32(truncatingIfNeeded: sample.bytes)
        startEvents = UInt16(truncatingIfNeeded: sample.events)
        measurementState = .measureInProgress
        return nil
    }

    /// The driver's work handler has programmed the new profile: the next sample
    /// starts a measurement (`dim->state = DIM_START_MEASURE`). Needed only with
    /// `.explicit` application; harmless otherwise.
    public mutating func profileApplied() {
        if measurementState == .applyNewProfile { measurementState = .startMeasure }
    }

    // MARK: - dim_calc_stats()

    /// Rates between the start sample and `end`, or nil when less than one
    /// microsecond passed (`dim_calc_stats()` returns false).
    private func calcStats(to end: DimSample) -> DimStats? {
        // u32 delta_us = ktime_us_delta(end->time, start->time): signed ns difference / 1000, stored in u32.
        let deltaNs = Int64(bitPattern: end.timeNs &- startTimeNs)
        let deltaUs = UInt64(UInt32(truncatingIfNeeded: deltaNs / 1000))
        if deltaUs == 0 { return nil }
        // BIT_GAP(32, end, start)
        let npkts = UInt64(UInt32(truncatingIfNeeded: end.packets) &- startPackets)
        let nbytes = UInt64(UInt32(truncatingIfNeeded: end.bytes) &- startBytes)
        // DIV_ROUND_UP(x * USEC_PER_MSEC, delta_us); USEC_PER_MSEC is a long, so no u32 overflow.
        func perMs(_ x: UInt64) -> Int { Int((x * 1000 + deltaUs - 1) / deltaUs) }
        return DimStats(ppms: perMs(npkts), bpms: perMs(nbytes),
                        epms: perMs(UInt64(Self.eventsPerMeasurement)))
    }

    // MARK: - net_dim_stats_compare()

    /// `IS_SIGNIFICANT_DIFF(val, ref)`: `100 * |val - ref| / ref > 10` in integer arithmetic.
    static func isSignificantDifference(_ value: Int, _ reference: Int) -> Bool {
        (100 * abs(value - reference)) / reference > 10
    }

    /// `net_dim_stats_compare()`: bytes per ms decide first (higher is better), then
    /// packets per ms (higher is better), then events per ms (lower is better); a
    /// difference counts only when it exceeds 10 % of the previous value. A zero
    /// previous rate makes any non-zero current byte/packet rate "better".
    public static func compare(_ current: DimStats, with previous: DimStats) -> DimStatsComparison {
        if previous.bpms == 0 { return current.bpms != 0 ? .better : .same }
        if isSignificantDifference(current.bpms, previous.bpms) {
            return current.bpms > previous.bpms ? .better : .worse
        }
        if previous.ppms == 0 { return current.ppms != 0 ? .better : .same }
        if isSignificantDifference(current.ppms, previous.ppms) {
            return current.ppms > previous.ppms ? .better : .worse
        }
        if previous.epms == 0 { return .same }
        if isSignificantDifference(current.epms, previous.epms) {
            return current.epms < previous.epms ? .better : .worse
        }
        return .same
    }

    // MARK: - net_dim_decision() and helpers

    private enum StepResult { case stepped, tooTired, onEdge }

    /// `net_dim_step()`: one step in the current direction.
    private mutating func step() -> StepResult {
        if tired == Self.tiredLimit { return .tooTired }
        switch tuneState {
        case .parkingOnTop, .parkingTired:
            break
        case .goingRight:
            if profileIndex == DimProfileTable.profileCount - 1 { return .onEdge }
            profileIndex += 1
            stepsRight += 1
        case .goingLeft:
            if profileIndex == 0 { return .onEdge }
            profileIndex -= 1
            stepsLeft += 1
        }
        tired += 1
        return .stepped
    }

    /// `net_dim_exit_parking()`: head left unless already at index 0, and take one step.
    private mutating func exitParking() {
        tuneState = profileIndex != 0 ? .goingLeft : .goingRight
        _ = step()
    }

    /// `dim_on_top()`: parked, or just turned back after more than one step the other way.
    private var isOnTop: Bool {
        switch tuneState {
        case .parkingOnTop, .parkingTired: return true
        case .goingRight: return stepsLeft > 1 && stepsRight == 1
        case .goingLeft: return stepsRight > 1 && stepsLeft == 1
        }
    }

    /// `dim_turn()`: reverse the direction and reset the new direction's step count.
    private mutating func turn() {
        switch tuneState {
        case .parkingOnTop, .parkingTired: break
        case .goingRight:
            tuneState = .goingLeft
            stepsLeft = 0
        case .goingLeft:
            tuneState = .goingRight
            stepsRight = 0
        }
    }

    /// `dim_park_on_top()`.
    private mutating func parkOnTop() {
        stepsRight = 0
        stepsLeft = 0
        tired = 0
        tuneState = .parkingOnTop
    }

    /// `dim_park_tired()`: `tired` is kept and counts the parked measurements down.
    private mutating func parkTired() {
        stepsRight = 0
        stepsLeft = 0
        tuneState = .parkingTired
    }

    /// `net_dim_decision()`: returns true when the profile index changed.
    private mutating func decide(_ current: DimStats) -> Bool {
        let previousState = tuneState
        let previousIndex = profileIndex
        switch tuneState {
        case .parkingOnTop:
            if Self.compare(current, with: previousStats) != .same { exitParking() }
        case .parkingTired:
            tired -= 1
            if tired == 0 { exitParking() }
        case .goingRight, .goingLeft:
            if Self.compare(current, with: previousStats) != .better { turn() }
            if isOnTop {
                parkOnTop()
                break
            }
            switch step() {
            case .onEdge: parkOnTop()
            case .tooTired: parkTired()
            case .stepped: break
            }
        }
        // While DIM stays parked on top, the reference measurement stays the one it parked with.
        if previousState != .parkingOnTop || tuneState != .parkingOnTop {
            previousStats = current
        }
        return profileIndex != previousIndex
    }
}
