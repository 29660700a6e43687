/// What a scheduled event does (see `SimEngine.handle`).
enum EventKind: UInt8 {
    /// An RX moderation timer of queue `a` may expire.
    case rxTimer
    /// A TX completion moderation timer of queue `a` may expire.
    case txTimer
    /// Core `a` finishes its current work item.
    case coreDone
    /// A request of closed-loop source `a`, client `b`, reaches the NIC.
    case requestArrival
    /// An ACK for bulk flow `b` of source `a` reaches the sender, acknowledging `c` bytes.
    case ackArrival
    /// The `gro_flush_timeout` timer of queue `a` schedules a deferred NAPI poll.
    case napiDeferTimer
    /// A paused source `a` (phase scale 0) or client `b` checks again.
    case resume
}

/// One scheduled event. `seq` breaks ties so that runs are deterministic.
struct Event {
    var time: UInt64
    var seq: UInt64
    var kind: EventKind
    var a: Int32
    var b: Int32
    var c: UInt64

    @inline(__always)
    static func before(_ x: Event, _ y: Event) -> Bool {
        x.time < y.time || (x.time == y.time && x.seq < y.seq)
    }
}

/// A binary min-heap of events in one preallocated array (no allocation per event
/// once the array has grown to the run's high-water mark).
///
/// Hand-written: the standard library has no priority queue, and swift-collections'
/// `Heap` would be a new dependency for 40 lines.
struct EventQueue {
    private var heap: ContiguousArray<Event> = []
    private var nextSeq: UInt64 = 0

    init() { heap.reserveCapacity(1024) }

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }
    /// Time of the earliest event, or `UInt64.max`.
    @inline(__always) var nextTime: UInt64 { heap.isEmpty ? .max : heap[0].time }

    mutating func push(_ time: UInt64, _ kind: EventKind, _ a: Int32 = 0, _ b: Int32 = 0, _ c: UInt64 = 0) {
        let e = Event(time: time, seq: nextSeq, kind: kind, a: a, b: b, c: c)
        nextSeq &+= 1
        heap.append(e)
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) >> 1
            if !Event.before(e, heap[p]) { break }
            heap[i] = heap[p]
            i = p
        }
        heap[i] = e
    }

    mutating func pop() -> Event {
        let top = heap[0]
        let last = heap.removeLast()
        let n = heap.count
        if n > 0 {
            var i = 0
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                let r = l + 1
                let c = (r < n && Event.before(heap[r], heap[l])) ? r : l
                if !Event.before(heap[c], last) { break }
                heap[i] = heap[c]
                i = c
            }
            heap[i] = last
        }
        return top
    }
}
