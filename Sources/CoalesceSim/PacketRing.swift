/// One packet in flight: where its latency clock started, its size, and what it belongs to.
struct Packet {
    /// Start of the latency clock, ns (arrival on the wire; request send time for request/response).
    var origin: UInt64
    var size: UInt32
    /// Index of the traffic source.
    var source: UInt16
    /// Flow (hashed to queues); for request/response the client, for bulk the flow.
    var flow: UInt32

    static let empty = Packet(origin: 0, size: 0, source: 0, flow: 0)
}

/// One allocation holding the slots of every ring of a simulation, so that the
/// inner loop writes packets through a pointer without copy-on-write checks.
/// `SimEngine` clones it (`makeArenaUnique`) before mutating a copied engine.
final class PacketArena {
    let capacity: Int
    let base: UnsafeMutablePointer<Packet>
    /// Bucket counters of the current interval's latency histogram (`LatencyHistogram` layout).
    let histogram: UnsafeMutablePointer<UInt64>

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        base = .allocate(capacity: self.capacity)
        base.initialize(repeating: .empty, count: self.capacity)
        histogram = .allocate(capacity: LatencyHistogram.bucketCount)
        histogram.initialize(repeating: 0, count: LatencyHistogram.bucketCount)
    }

    func copy() -> PacketArena {
        let c = PacketArena(capacity: capacity)
        c.base.update(from: base, count: capacity)
        c.histogram.update(from: histogram, count: LatencyHistogram.bucketCount)
        return c
    }

    deinit {
        base.deinitialize(count: capacity)
        base.deallocate()
        histogram.deallocate()
    }
}

/// A fixed-capacity FIFO of packets (an RX ring, a socket buffer, a backend queue)
/// whose slots live in a `PacketArena` at `offset`: no allocation per packet.
struct PacketRing {
    let offset: Int
    let capacity: Int
    private var head = 0
    private(set) var count = 0
    /// Bytes of the packets in the ring.
    private(set) var bytes: UInt64 = 0

    init(offset: Int, capacity: Int) {
        self.offset = offset
        self.capacity = max(capacity, 1)
    }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count >= capacity }

    /// Appends; false (and nothing stored) when full.
    @inline(__always)
    mutating func push(_ p: Packet, _ base: UnsafeMutablePointer<Packet>) -> Bool {
        if count >= capacity { return false }
        var i = head + count
        if i >= capacity { i -= capacity }
        base[offset + i] = p
        count += 1
        bytes &+= UInt64(p.size)
        return true
    }

    @inline(__always)
    mutating func pop(_ base: UnsafeMutablePointer<Packet>) -> Packet {
        let p = base[offset + head]
        head += 1
        if head == capacity { head = 0 }
        count -= 1
        bytes &-= UInt64(p.size)
        return p
    }

    /// Forgets the first `n` packets (already read with `peek`), which hold `bytes` bytes.
    @inline(__always)
    mutating func removeFirst(_ n: Int, bytes removed: UInt64) {
        head += n
        if head >= capacity { head -= capacity }
        count -= n
        bytes &-= removed
    }

    /// The `k`-th packet from the front.
    @inline(__always)
    func peek(_ k: Int, _ base: UnsafeMutablePointer<Packet>) -> Packet {
        var i = head + k
        if i >= capacity { i -= capacity }
        return base[offset + i]
    }
}
