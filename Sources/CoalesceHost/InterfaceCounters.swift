import Glibc

/// The cumulative counters of one interface, from `/sys/class/net/IF/statistics/*`.
public struct InterfaceCounters: Sendable, Hashable {
    /// `rx_packets`.
    public var rxPackets: UInt64 = 0
    /// `rx_bytes` (including the Ethernet header).
    public var rxBytes: UInt64 = 0
    /// `tx_packets`.
    public var txPackets: UInt64 = 0
    /// `tx_bytes`.
    public var txBytes: UInt64 = 0
    /// `rx_dropped`: dropped by the stack or driver.
    public var rxDropped: UInt64 = 0
    /// `rx_missed_errors`: the NIC found no free descriptor.
    public var rxMissedErrors: UInt64 = 0
    /// `rx_fifo_errors`: NIC FIFO overruns.
    public var rxFifoErrors: UInt64 = 0
    /// `tx_dropped`.
    public var txDropped: UInt64 = 0

    /// All zero.
    public init() {}
}

/// Reads `InterfaceCounters` for one interface: eight small sysfs files.
public struct InterfaceCounterReader: Sendable {
    /// The interface name.
    public let interface: String
    private let paths: [KernelPath]
    private let directory: KernelPath

    static let files = [
        "rx_packets", "rx_bytes", "tx_packets", "tx_bytes",
        "rx_dropped", "rx_missed_errors", "rx_fifo_errors", "tx_dropped",
    ]

    /// The counters of `interface` under `sysClassNet`.
    public init(interface: String, sysClassNet: String = "/sys/class/net") {
        self.interface = interface
        directory = KernelPath("\(sysClassNet)/\(interface)")
        paths = Self.files.map { KernelPath("\(sysClassNet)/\(interface)/statistics/\($0)") }
    }

    /// Reads all eight counters. A missing interface gives `.interfaceMissing`.
    public func read(with reader: KernelFileReader) throws(HostError) -> InterfaceCounters {
        var values = [UInt64](repeating: 0, count: paths.count)
        for (i, path) in paths.enumerated() {
            do {
                values[i] = try reader.readUInt64(path, keepOpen: true)
            } catch {
                if case .unreadable(_, let e) = error, e == ENOENT || e == ENODEV {
                    throw .interfaceMissing(interface: interface)
                }
                throw error
            }
        }
        var c = InterfaceCounters()
        c.rxPackets = values[0]; c.rxBytes = values[1]; c.txPackets = values[2]; c.txBytes = values[3]
        c.rxDropped = values[4]; c.rxMissedErrors = values[5]; c.rxFifoErrors = values[6]; c.txDropped = values[7]
        return c
    }
}
