import CoalesceCore
import Glibc

/// The wire format shared by `LatencyProbe` and `ProbeServer`: 24 bytes, little endian —
/// magic `CLSC`, reserved u32, sequence u64, client send time u64 (CLOCK_MONOTONIC ns).
/// The server echoes every datagram unchanged, so only the client interprets it.
enum ProbeWire {
    static let magic: UInt32 = 0x4353_4C43   // "CLSC" read as little-endian u32
    static let size = 24
}

/// A UDP socket address parsed from `HOST:PORT` (IPv4, a resolvable name, or `[v6]:PORT`).
public struct SocketAddress: Sendable, CustomStringConvertible {
    var storage: sockaddr_storage
    var length: socklen_t
    /// The address as given.
    public let text: String

    /// `allowAnyPort` accepts port 0 (bind: let the kernel choose).
    public init(_ text: String, allowAnyPort: Bool = false) throws(HostError) {
        self.text = text
        let host: String, port: String
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw .badAddress(text: text, detail: "expected [IPv6]:PORT") }
            port = String(rest.dropFirst())
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw .badAddress(text: text, detail: "expected HOST:PORT") }
            host = String(text[..<colon])
            port = String(text[text.index(after: colon)...])
        }
        guard let p = UInt16(port), p > 0 || allowAnyPort else { throw .badAddress(text: text, detail: "port '\(port)' is not 1…65535") }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let code = getaddrinfo(host.isEmpty ? "0.0.0.0" : host, String(p), &hints, &result)
        guard code == 0, let info = result else {
            throw .badAddress(text: text, detail: String(cString: gai_strerror(code)))
        }
        defer { freeaddrinfo(result) }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { dst in
            dst.copyMemory(from: UnsafeRawBufferPointer(start: info.pointee.ai_addr, count: Int(info.pointee.ai_addrlen)))
        }
        self.storage = storage
        self.length = info.pointee.ai_addrlen
    }

    var family: Int32 { Int32(storage.ss_family) }

    public var description: String { text }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }
}

/// Round-trip latency between this host and a peer running `coalesce probe-server`:
/// timestamped UDP requests at a fixed rate, echoed by the peer.
///
/// Non-blocking and single-threaded: `run(until:)` is the wait between two control
/// samples — it sends on schedule and receives echoes until the deadline, waking with
/// `ppoll` at nanosecond resolution. `takeSummary()` then gives p50/p99/p99.9/max of the
/// round trips that completed in the interval (nil when none did).
public final class LatencyProbe {
    /// The probe server.
    public let peer: SocketAddress
    /// Requests per second.
    public let rate: Double
    let fd: Int32
    private let periodNs: UInt64
    private var nextSendNs: UInt64 = 0
    private var sequence: UInt64 = 0
    private var roundTrips: [UInt64] = []
    private var packet = [UInt8](repeating: 0, count: ProbeWire.size)
    private var incoming = [UInt8](repeating: 0, count: 2048)
    /// Requests sent and echoes received since the start.
    public private(set) var sent: UInt64 = 0
    public private(set) var received: UInt64 = 0

    /// A probe towards `peer` (`HOST:PORT`) sending `rate` requests per second.
    public init(peer: String, rate: Double = 200) throws(HostError) {
        self.peer = try SocketAddress(peer)
        self.rate = max(1, min(rate, 100_000))
        periodNs = UInt64(1e9 / self.rate)
        fd = socket(self.peer.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw .socket(operation: "socket(UDP) for probe to \(peer)", errno: errno) }
        let rc = self.peer.withSockaddr { connect(fd, $0, $1) }
        if rc < 0 {
            let e = errno
            close(fd)
            throw .socket(operation: "connect to probe peer \(peer)", errno: e)
        }
        roundTrips.reserveCapacity(Int(self.rate) + 16)
    }

    deinit { close(fd) }

    /// Sends and receives until CLOCK_MONOTONIC reaches `deadlineNs`.
    public func run(until deadlineNs: UInt64) {
        var now = MonotonicClock.now()
        if nextSendNs == 0 { nextSendNs = now }
        while now < deadlineNs {
            if nextSendNs <= now {
                send(now: now)
                nextSendNs += periodNs
                if nextSendNs + 10 * periodNs < now { nextSendNs = now + periodNs }   // fell far behind: do not burst
            }
            let wake = min(deadlineNs, nextSendNs)
            if wake > now, PrecisePoll.wait(fd: fd, events: Int16(POLLIN), timeoutNs: wake - now) & Int16(POLLIN) != 0 {
                receiveAll()
            }
            now = MonotonicClock.now()
        }
        receiveAll()
    }

    /// The round trips completed since the last call, summarised; nil when none completed.
    public func takeSummary() -> LatencySummary? {
        defer { roundTrips.removeAll(keepingCapacity: true) }
        guard !roundTrips.isEmpty else { return nil }
        roundTrips.sort()
        func quantile(_ q: Double) -> UInt64 {
            let i = Int((q * Double(roundTrips.count - 1)).rounded(.up))
            return roundTrips[min(i, roundTrips.count - 1)]
        }
        return LatencySummary(count: UInt64(roundTrips.count), p50Ns: quantile(0.5), p99Ns: quantile(0.99),
                              p999Ns: quantile(0.999), maxNs: roundTrips.last!)
    }

    private func send(now: UInt64) {
        sequence += 1
        store(ProbeWire.magic, at: 0)
        store(UInt32(0), at: 4)
        store(sequence, at: 8)
        store(now, at: 16)
        let n = packet.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
        if n == ProbeWire.size { sent += 1 }
    }

    private func receiveAll() {
        while true {
            let n = incoming.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            guard n >= 0 else { return }     // EAGAIN (drained), or ECONNREFUSED while the peer is down
            let arrival = MonotonicClock.now()
            guard n == ProbeWire.size, load32(0) == ProbeWire.magic else { continue }
            let seq = load64(8), sentAt = load64(16)
            guard seq >= 1, seq <= sequence, sentAt <= arrival else { continue }
            received += 1
            roundTrips.append(arrival - sentAt)
        }
    }

    private func store<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        withUnsafeBytes(of: v.littleEndian) { raw in for i in 0..<raw.count { packet[offset + i] = raw[i] } }
    }

    private func load32(_ o: Int) -> UInt32 {
        UInt32(incoming[o]) | UInt32(incoming[o + 1]) << 8 | UInt32(incoming[o + 2]) << 16 | UInt32(incoming[o + 3]) << 24
    }

    private func load64(_ o: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in (0..<8).reversed() { v = v << 8 | UInt64(incoming[o + i]) }
        return v
    }
}

/// The peer of `LatencyProbe`: a UDP echo server (`coalesce probe-server --listen ADDR:PORT`).
public final class ProbeServer {
    /// The address the server listens on.
    public let address: SocketAddress
    let fd: Int32
    /// Datagrams echoed so far.
    public private(set) var echoed: UInt64 = 0

    /// Binds a UDP socket to `listen` (`ADDR:PORT`, e.g. `0.0.0.0:7777`, `[::]:7777`).
    public init(listen: String) throws(HostError) {
        address = try SocketAddress(listen, allowAnyPort: true)
        fd = socket(address.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw .socket(operation: "socket(UDP) for probe server", errno: errno) }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let rc = address.withSockaddr { bind(fd, $0, $1) }
        if rc < 0 {
            let e = errno
            close(fd)
            throw .socket(operation: "bind \(listen)", errno: e)
        }
    }

    deinit { close(fd) }

    /// The local port the server is bound to (useful after binding port 0).
    public func boundPort() throws(HostError) -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        if rc < 0 { throw .socket(operation: "getsockname", errno: errno) }
        // sin_port and sin6_port sit at the same offset (2), in network byte order.
        return withUnsafeBytes(of: storage) { UInt16($0[2]) << 8 | UInt16($0[3]) }
    }

    /// Echoes datagrams until `shouldStop` returns true (polled at least every 100 ms)
    /// or `maxDurationNs` passes.
    public func serve(maxDurationNs: UInt64 = .max, shouldStop: () -> Bool = { false }) throws(HostError) {
        var buffer = [UInt8](repeating: 0, count: 2048)
        var from = sockaddr_storage()
        let start = MonotonicClock.now()
        while !shouldStop() && MonotonicClock.now() &- start < maxDurationNs {
            guard PrecisePoll.wait(fd: fd, events: Int16(POLLIN), timeoutNs: 100_000_000) & Int16(POLLIN) != 0 else { continue }
            while true {
                var fromLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = buffer.withUnsafeMutableBytes { raw in
                    withUnsafeMutablePointer(to: &from) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(fd, raw.baseAddress!, raw.count, Int32(MSG_DONTWAIT), $0, &fromLength)
                        }
                    }
                }
                if n < 0 {
                    if errno == EAGAIN || errno == EINTR { break }
                    throw .socket(operation: "probe server recvfrom", errno: errno)
                }
                _ = buffer.withUnsafeBytes { raw in
                    withUnsafePointer(to: &from) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(fd, raw.baseAddress!, n, Int32(MSG_DONTWAIT), $0, fromLength)
                        }
                    }
                }
                echoed += 1
            }
        }
    }
}
