import CoalesceCore

/// A small FIFO of queue ids (hard-IRQ list, NAPI poll list of one core).
struct IntFIFO {
    private var slots: [Int32]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) { slots = Array(repeating: 0, count: max(capacity, 1)) }

    var isEmpty: Bool { count == 0 }

    mutating func push(_ v: Int) {
        if count == slots.count {  // grow (rare: only if a queue is listed twice)
            var bigger = [Int32](repeating: 0, count: slots.count * 2)
            for k in 0..<count { bigger[k] = slots[(head + k) % slots.count] }
            slots = bigger
            head = 0
        }
        slots[(head + count) % slots.count] = Int32(v)
        count += 1
    }

    mutating func pop() -> Int {
        let v = slots[head]
        head = (head + 1) % slots.count
        count -= 1
        return Int(v)
    }
}

/// The moderation in effect on one RX queue, derived from the layer's setting,
/// the device's timer semantic and (when adaptive) the driver's algorithm.
struct Moderation {
    var semantic: TimerSemantic
    /// RX delay or minimum interval, ns (0 = interrupt at once).
    var intervalNs: UInt64
    /// RX frame limit (0 = none; unused by throttling devices).
    var frames: Int
}

/// One RX/TX queue pair of one NIC layer, with its moderation and NAPI state.
struct NICQueue {
    let layer: Int
    /// Core whose IRQ and NAPI serve this queue (and, for the innermost layer, the application).
    let core: Int
    /// For a virtualized host's physical queues: the core running the backend (vhost) for it.
    let backendCore: Int
    var ring: PacketRing
    let deviceSemantic: TimerSemantic
    let floorNs: UInt64
    let txRing: Int

    // Configuration (the layer's setting).
    var setting: LayerSetting
    var dim: NetDIM?
    var itr: IntelITR?
    /// The moderation in effect, cached (`refreshModeration()` after any change).
    var semantic: TimerSemantic = .eqe
    var intervalNs: UInt64 = 0
    var frames = 0

    // Moderation / NAPI state.
    var irqArmed = true
    var pending = 0
    var timerDeadline: UInt64 = 0
    var timerEventAt: UInt64 = 0
    var lastIRQ: UInt64 = 0
    var hadIRQ = false
    var deferCount = 0

    // TX completions awaiting cleaning (descriptors in use).
    var txUncleaned = 0
    var txUncleanedBytes: UInt64 = 0
    var txTimerDeadline: UInt64 = 0
    var txTimerEventAt: UInt64 = 0

    // Counters.
    var interrupts: UInt64 = 0
    var rxPackets: UInt64 = 0
    var rxBytes: UInt64 = 0
    var itrRxPackets = 0, itrRxBytes = 0, itrTxPackets = 0, itrTxBytes = 0

    init(layer: Int, core: Int, backendCore: Int, nic: NICConfig, setting: LayerSetting, ringOffset: Int) {
        self.layer = layer
        self.core = core
        self.backendCore = backendCore
        self.ring = PacketRing(offset: ringOffset, capacity: nic.rxRing)
        self.deviceSemantic = nic.timer
        self.floorNs = UInt64(nic.minIntervalUs * 1000)
        self.txRing = nic.txRing
        self.setting = setting
        configureAdaptive(previous: nil)
        refreshModeration()
    }

    /// Applies a new layer setting as a driver would: timers already running keep
    /// their deadline; the new values apply at the next arming.
    mutating func apply(_ new: LayerSetting) {
        let old = setting
        setting = new
        configureAdaptive(previous: old)
        refreshModeration()
    }

    /// Recomputes the cached moderation from the setting and the adaptive algorithm's state.
    mutating func refreshModeration() {
        let m = moderation
        semantic = m.semantic
        intervalNs = m.intervalNs
        frames = m.frames
    }

    private mutating func configureAdaptive(previous: LayerSetting?) {
        let changed = previous?.adaptiveRx != setting.adaptiveRx
        switch setting.adaptiveRx {
        case .off: dim = nil; itr = nil
        case .dimEQE: if changed || dim == nil { dim = NetDIM(table: .rxEQE); itr = nil }
        case .dimCQE: if changed || dim == nil { dim = NetDIM(table: .rxCQE); itr = nil }
        case .intelITR: if changed || itr == nil { itr = IntelITR(mode: .dynamic); dim = nil }
        }
        if previous == nil || previous?.napiDeferHardIrqs != setting.napiDeferHardIrqs { deferCount = 0 }
    }

    /// The RX moderation in effect now.
    var moderation: Moderation {
        var m: Moderation
        switch setting.adaptiveRx {
        case .off:
            m = Moderation(semantic: deviceSemantic, intervalNs: UInt64(setting.rxUsecs) * 1000, frames: Int(setting.rxFrames))
        case .dimEQE, .dimCQE:
            let p = dim!.profile
            let sem: TimerSemantic = deviceSemantic == .throttle ? .throttle : (setting.adaptiveRx == .dimEQE ? .eqe : .cqe)
            m = Moderation(semantic: sem, intervalNs: UInt64(p.usecs) * 1000, frames: Int(p.packets))
        case .intelITR:
            m = Moderation(semantic: .throttle, intervalNs: itr!.hardwareIntervalNs, frames: 0)
        }
        if m.semantic == .throttle { m.frames = 0 }
        if m.intervalNs > 0 { m.intervalNs = max(m.intervalNs, floorNs) }
        return m
    }
}

/// The kind of work item a core is running.
enum WorkKind: UInt8 {
    case idle
    /// Hard interrupt of a queue.
    case irq
    /// A NAPI poll of a queue.
    case poll
    /// Application: receive (and answer) a batch of packets from the socket.
    case app
    /// Backend (vhost): move a batch of packets into the guest's ring.
    case backend
}

/// One simulated CPU (a host core or a guest vCPU) with priority scheduling:
/// hard IRQs, then NAPI softirq, then threads (the application or the backend).
/// Work items are short and run to completion (an approximation of preemption
/// whose error is bounded by `thread_slice_us` and the longest poll).
struct Core {
    let isGuest: Bool
    /// Threads here are the application (true) or the virtualization backend (false).
    let runsApp: Bool
    var hardIRQs: IntFIFO
    var pollList: IntFIFO
    /// Socket receive buffer (application cores) or backend input queue.
    var threadQueue: PacketRing

    var work = WorkKind.idle
    var workQueue = 0
    var workStart: UInt64 = 0
    var workEnd: UInt64 = 0
    var workUserNs: UInt64 = 0
    var workSystemNs: UInt64 = 0
    /// Packets the running poll/thread item processes (they stay at the head of their
    /// ring or queue until it completes), with their finish offsets (ns from start) for app items.
    var batchCount = 0
    var batchFinish: ContiguousArray<UInt64> = []
    var batchTx = 0

    // NAPI softirq run accounting (`net_rx_action`).
    var ksoftirqd = false
    var lastWasThread = false
    var runPackets = 0
    var runStart: UInt64 = 0
    var inSoftirqRun = false

    // CPU time, ns, completed items.
    var userNs: UInt64 = 0
    var systemNs: UInt64 = 0
    var irqNs: UInt64 = 0
    var softirqNs: UInt64 = 0

    init(isGuest: Bool, runsApp: Bool, queues: Int, threadCapacity: Int, batchCapacity: Int, queueOffset: Int) {
        self.isGuest = isGuest
        self.runsApp = runsApp
        hardIRQs = IntFIFO(capacity: queues + 1)
        pollList = IntFIFO(capacity: queues + 1)
        threadQueue = PacketRing(offset: queueOffset, capacity: threadCapacity)
        batchFinish.reserveCapacity(batchCapacity)
    }

    var busy: Bool { work != .idle }
    var busyNs: UInt64 { userNs &+ systemNs &+ irqNs &+ softirqNs }
}
