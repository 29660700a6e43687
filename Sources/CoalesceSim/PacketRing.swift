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

/// A fixed-capacity FIFO of packets (an RX ring, a socket buffer, a backend queue):
/// preallocated once, no allocation per packet.
struct PacketRing {
    private var slots: ContiguousArray<Packet>
    private var head = 0
    private(set) var count = 0
    let capacity: Int
    /// Bytes of the packets in the ring.
    private(set) var bytes: UInt64 = 0

    init(capacity: Int) {
        self.capacity = capacity
        slots = ContiguousArray(repeating: .empty, count: max(capacity, 1))
    }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count >= capacity }

    /// Appends; false (and nothing stored) when full.
    @inline(__always)
    mutating func push(_ p: Packet) -> Bool {
        if count >= capacity { return false }
        var i = head + count
        if i >= capacity { i -= capacity }
        slots[i] = p
        count += 1
        bytes &+= UInt64(p.size)
        return true
    }

    @inline(__always)
    mutating func pop() -> Packet {
        let p = slots[head]
        head += 1
        if head == capacity { head = 0 }
        count -= 1
        bytes &-= UInt64(p.size)
        return p
    }

    /// The `k`-th packet from the front.
    @inline(__always)
    func peek(_ k: Int) -> Packet {
        var i = head + k
        if i >= capacity { i -= capacity }
        return slots[i]
    }
}
