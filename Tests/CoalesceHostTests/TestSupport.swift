import CoalesceHost
import Foundation
import Glibc
import Synchronization

/// Runs a program and returns its exit status and standard output.
@discardableResult
func run(_ program: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// Runs `ip ARGS`, throwing with its output when it fails.
func ip(_ arguments: String...) throws {
    let result = try run(HostTestEnvironment.ipPath ?? "/sbin/ip", arguments)
    if result.status != 0 { throw TestSetupError.command("ip \(arguments.joined(separator: " "))", result.output) }
}

enum TestSetupError: Error, CustomStringConvertible {
    case command(String, String)
    var description: String {
        switch self {
        case .command(let c, let out): return "'\(c)' failed: \(out)"
        }
    }
}

/// What this machine allows the tests to do.
enum HostTestEnvironment {
    static func firstExisting(_ paths: [String]) -> String? { paths.first { access($0, X_OK) == 0 } }
    static let ipPath = firstExisting(["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"])
    static let ethtoolPath = firstExisting(["/usr/sbin/ethtool", "/sbin/ethtool", "/usr/bin/ethtool"])
    static let isRoot = geteuid() == 0
    /// Root with `ip` available: namespaces and veth pairs can be created.
    static let canCreateNamespaces = isRoot && ipPath != nil
    /// The machine's real NIC, read only.
    static let hasEth0 = access("/sys/class/net/eth0", F_OK) == 0
}

private let labCounter = Atomic<Int>(0)

/// Two network namespaces joined by a veth pair, with addresses on a private /24
/// assigned inside the namespaces, IPv6 off and static neighbour entries (so the
/// only packets on the link are the ones a test sends). Nothing is created in, or
/// routed through, the root namespace. `remove()` deletes both namespaces (and so the pair).
final class VethLab: Sendable {
    let nsA: String
    let nsB: String
    let ifA = "cva0"
    let ifB = "cvb0"
    let addressA: String
    let addressB: String

    init() throws {
        let n = labCounter.add(1, ordering: .relaxed).newValue
        let tag = "\(getpid() % 100_000)-\(n)"
        nsA = "coalesce-t\(tag)-a"
        nsB = "coalesce-t\(tag)-b"
        let subnet = 200 + (Int(getpid()) + n) % 50
        addressA = "10.231.\(subnet).1"
        addressB = "10.231.\(subnet).2"
        do {
            try ip("netns", "add", nsA)
            try ip("netns", "add", nsB)
            try createPair()
        } catch {
            remove()
            throw error
        }
    }

    /// Creates the veth pair directly inside the two namespaces and configures it.
    func createPair() throws {
        try ip("link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB)
        for (ns, dev, address) in [(nsA, ifA, addressA), (nsB, ifB, addressB)] {
            try? writeInNamespace(ns, "/proc/sys/net/ipv6/conf/\(dev)/disable_ipv6", "1")
            try ip("-n", ns, "addr", "add", "\(address)/24", "dev", dev)
            try ip("-n", ns, "link", "set", dev, "up")
            try ip("-n", ns, "link", "set", "lo", "up")
        }
        let macA = try mac(nsA, ifA), macB = try mac(nsB, ifB)
        try ip("-n", nsA, "neigh", "replace", addressB, "lladdr", macB, "dev", ifA, "nud", "permanent")
        try ip("-n", nsB, "neigh", "replace", addressA, "lladdr", macA, "dev", ifB, "nud", "permanent")
    }

    func mac(_ ns: String, _ dev: String) throws -> String {
        let out = try run(HostTestEnvironment.ipPath!, ["-n", ns, "-br", "link", "show", dev]).output
        guard let mac = out.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first else {
            throw TestSetupError.command("ip -br link show \(dev)", out)
        }
        return String(mac)
    }

    private func writeInNamespace(_ ns: String, _ path: String, _ value: String) throws {
        try NetworkNamespace.run(ns, remountSysfs: false) { try writeKernelFile(path, value) }
    }

    func remove() {
        _ = try? run(HostTestEnvironment.ipPath ?? "/sbin/ip", ["netns", "del", nsA])
        _ = try? run(HostTestEnvironment.ipPath ?? "/sbin/ip", ["netns", "del", nsB])
    }

    /// Sends `count` UDP datagrams of `payload` bytes from A to B's `port`, paced so the
    /// receive backlog never overflows; bounded by `timeLimitNs`. Returns how many were sent.
    func sendUDP(count: Int, payload: Int, port: UInt16, timeLimitNs: UInt64 = 5_000_000_000) throws -> Int {
        let destination = addressB
        return try NetworkNamespace.run(nsA, remountSysfs: false) {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { throw HostError.socket(operation: "socket", errno: errno) }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            inet_pton(AF_INET, destination, &address.sin_addr)
            let bytes = [UInt8](repeating: 0x5A, count: payload)
            let start = MonotonicClock.now()
            var sent = 0
            while sent < count && MonotonicClock.now() - start < timeLimitNs {
                let n = withUnsafePointer(to: &address) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                if n == payload { sent += 1 }
                if sent % 100 == 0 { usleep(2000) }
            }
            return sent
        }
    }
}

/// A UDP socket bound in the calling thread's namespace, drained on demand, so that
/// test datagrams are consumed instead of answered with ICMP port-unreachable.
final class UDPSink {
    let fd: Int32
    init(address: String, port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw HostError.socket(operation: "socket", errno: errno) }
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, socklen_t(4))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        inet_pton(AF_INET, address, &a.sin_addr)
        let rc = withUnsafePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw HostError.socket(operation: "bind \(address):\(port)", errno: errno) }
    }
    deinit { close(fd) }

    /// Reads every queued datagram; returns how many.
    func drain() -> Int {
        var buffer = [UInt8](repeating: 0, count: 2048)
        var count = 0
        while recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT)) >= 0 { count += 1 }
        return count
    }
}
