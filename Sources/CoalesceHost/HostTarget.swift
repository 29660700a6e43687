import CoalesceCore
import Glibc

/// Options of a `HostTarget`.
public struct HostTargetOptions: Sendable {
    /// IRQ numbers to count instead of the discovered ones (`--irq`).
    public var irqOverride: [Int]?
    /// `HOST:PORT` of a `coalesce probe-server`; nil = no latency measurement.
    public var probePeer: String?
    /// Probe requests per second.
    public var probeRate: Double
    /// Use the SIOCETHTOOL ioctl even when the netlink family exists.
    public var forceIoctl: Bool
    /// Read the coalescing setting from the kernel every `settingRefreshSamples` samples
    /// (1 = every sample); in between, the last read or applied setting is reported.
    public var settingRefreshSamples: Int

    /// Options; the defaults discover IRQs, run no probe and read the setting every sample.
    public init(irqOverride: [Int]? = nil, probePeer: String? = nil, probeRate: Double = 200,
                forceIoctl: Bool = false, settingRefreshSamples: Int = 1) {
        self.irqOverride = irqOverride
        self.probePeer = probePeer
        self.probeRate = probeRate
        self.forceIoctl = forceIoctl
        self.settingRefreshSamples = max(1, settingRefreshSamples)
    }
}

/// Everything one host sample read, including what `Observation` has no field for
/// (host-wide CPU next to the IRQ CPUs', the ifindex that reveals a recreated device).
public struct HostReading: Sendable, Hashable {
    /// CLOCK_MONOTONIC when the reading started, ns.
    public var timestampNs: UInt64
    /// `/sys/class/net/IF/ifindex`: changes when the interface is deleted and recreated.
    public var ifindex: UInt64
    /// The interface's statistics counters.
    public var counters: InterfaceCounters
    /// Interrupts of the NIC's data-queue IRQs, summed over IRQs and CPUs.
    public var interrupts: UInt64
    /// `/proc/stat` `cpu` line: every CPU of the host.
    public var hostCPU: CPUTimes
    /// The CPUs that serve the NIC's IRQs (the host total when there are none).
    public var irqCPU: CPUTimes
    /// `/proc/net/softnet_stat` dropped, summed over CPUs.
    public var softnetDropped: UInt64
    /// `/proc/net/softnet_stat` time_squeeze, summed over CPUs.
    public var softnetTimeSqueeze: UInt64
    /// The coalescing in effect (hardware and software).
    public var setting: LayerSetting
}

/// A live Linux interface as a control-loop `Target`: reads the kernel's counters,
/// sets coalescing through `HostActuator`, measures latency with an optional probe.
///
/// One sample reads: 8 files of `/sys/class/net/IF/statistics`, `ifindex`, one
/// `per_cpu_count` per NIC IRQ (or `/proc/interrupts`), `/proc/stat`,
/// `/proc/net/softnet_stat`, the two NAPI knobs and one netlink COALESCE_GET.
public struct HostTarget: Target {
    /// The interface name (`/sys/class/net/IF`).
    public let interface: String
    /// How the target was opened.
    public let options: HostTargetOptions
    /// The NIC's data-queue IRQs being counted (empty for virtual devices).
    public private(set) var interrupts: [NICInterrupt]
    /// CPUs the IRQs are delivered to; `Observation.cpu` sums over them (all CPUs when empty).
    public private(set) var irqCPUs: CPUSet
    /// Reads and writes the coalescing; remembers the original for `restore()`.
    public let actuator: HostActuator
    /// The last full reading.
    public private(set) var lastReading: HostReading?
    /// Times the interface's ifindex changed between samples (deleted and recreated).
    public private(set) var recreations = 0

    private let reader = KernelFileReader()
    private let counterReader: InterfaceCounterReader
    private var interruptReader: InterruptCounterReader
    private let procStat = ProcStatReader()
    private let softnet = SoftnetStatReader()
    private let ifindexPath: KernelPath
    private let probe: LatencyProbe?
    private let onlineCPUs: Int
    /// The deadline the last `advance` slept to (CLOCK_MONOTONIC ns; 0 before the first).
    public private(set) var nextDeadlineNs: UInt64 = 0
    private var cachedSetting: LayerSetting
    private var samplesSinceSettingRead = 0

    /// Opens `interface` (throws `.interfaceMissing` naming it when absent), discovers its
    /// IRQs and capabilities, and starts the probe when one is configured.
    public init(interface: String, options: HostTargetOptions = HostTargetOptions()) throws {
        guard kernelPathExists("/sys/class/net/\(interface)") else { throw HostError.interfaceMissing(interface: interface) }
        self.interface = interface
        self.options = options
        let discovery = InterruptDiscovery(interface: interface)
        interrupts = try discovery.discover(override: options.irqOverride, reader: reader)
        irqCPUs = discovery.servingCPUs(interrupts, reader: reader)
        interruptReader = InterruptCounterReader(interrupts: interrupts)
        counterReader = InterfaceCounterReader(interface: interface)
        ifindexPath = KernelPath("/sys/class/net/\(interface)/ifindex")
        actuator = try HostActuator(interface: interface, forceIoctl: options.forceIoctl)
        cachedSetting = actuator.original
        probe = try options.probePeer.map { try LatencyProbe(peer: $0, rate: options.probeRate) }
        onlineCPUs = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    }

    /// A host interface is one coalescing layer.
    public var layerCount: Int { 1 }
    /// The interface name.
    public var name: String { interface }
    /// What the device supports (hardware parameters, software knobs, driver).
    public var capabilities: DeviceCapabilities { actuator.capabilities }
    /// Whether latency is measured.
    public var measuresLatency: Bool { probe != nil }
    /// Probe requests sent / echoes received so far.
    public var probeCounts: (sent: UInt64, received: UInt64)? { probe.map { ($0.sent, $0.received) } }

    /// Sleeps (running the probe, if any) until the next interval deadline on
    /// CLOCK_MONOTONIC. Deadlines advance by exactly `intervalNs`, so the schedule does not
    /// drift; when a deadline has already passed, the next future one is used.
    public mutating func advance(intervalNs: UInt64) throws {
        let now = MonotonicClock.now()
        let interval = max(1, intervalNs)
        if nextDeadlineNs == 0 {
            nextDeadlineNs = now + interval
        } else {
            nextDeadlineNs += interval
            if nextDeadlineNs <= now { nextDeadlineNs += ((now - nextDeadlineNs) / interval + 1) * interval }
        }
        if let probe { probe.run(until: nextDeadlineNs) } else { MonotonicClock.sleep(until: nextDeadlineNs) }
    }

    /// Reads every counter now.
    public mutating func sample() throws -> Sample {
        let reading = try read()
        let observation = Observation(
            timestampNs: reading.timestampNs, rxPackets: reading.counters.rxPackets, rxBytes: reading.counters.rxBytes,
            txPackets: reading.counters.txPackets, txBytes: reading.counters.txBytes,
            rxDropped: reading.counters.rxDropped, rxMissed: reading.counters.rxMissedErrors,
            rxFifoErrors: reading.counters.rxFifoErrors, txDropped: reading.counters.txDropped,
            interrupts: [reading.interrupts], cpu: reading.irqCPU,
            cpuCount: irqCPUs.isEmpty ? onlineCPUs : irqCPUs.count,
            softnetDropped: reading.softnetDropped, softnetTimeSqueeze: reading.softnetTimeSqueeze,
            latency: probe?.takeSummary(), setting: CoalescingSetting(layers: [reading.setting]))
        return Sample(observation: observation)
    }

    /// One full reading of the kernel's counters (no latency).
    public mutating func read() throws(HostError) -> HostReading {
        let timestamp = MonotonicClock.now()
        let ifindex: UInt64
        do {
            ifindex = try reader.readUInt64(ifindexPath, keepOpen: true)
        } catch {
            throw .interfaceMissing(interface: interface)
        }
        if let last = lastReading, last.ifindex != ifindex {
            // Deleted and recreated: its IRQs may have changed too.
            recreations += 1
            if options.irqOverride == nil {
                let discovery = InterruptDiscovery(interface: interface)
                interrupts = try discovery.discover(reader: reader)
                irqCPUs = discovery.servingCPUs(interrupts, reader: reader)
                interruptReader = InterruptCounterReader(interrupts: interrupts)
            }
        }
        let counters = try counterReader.read(with: reader)
        let irqCount = try interruptReader.read(with: reader)
        let cpu = try procStat.read(with: reader, cpus: irqCPUs)
        let net = try softnet.read(with: reader)
        samplesSinceSettingRead += 1
        if samplesSinceSettingRead >= options.settingRefreshSamples || lastReading == nil {
            cachedSetting = try actuator.read()
            samplesSinceSettingRead = 0
        }
        let reading = HostReading(
            timestampNs: timestamp, ifindex: ifindex, counters: counters, interrupts: irqCount,
            hostCPU: cpu.host, irqCPU: cpu.selected, softnetDropped: net.dropped,
            softnetTimeSqueeze: net.timeSqueeze, setting: cachedSetting)
        lastReading = reading
        return reading
    }

    /// Applies a one-layer setting through the hardware and/or software actuator.
    public mutating func apply(_ setting: CoalescingSetting) throws {
        guard setting.layers.count == 1 else {
            throw HostError.unsupported(interface: interface, driver: capabilities.driver,
                                        parameters: ["\(setting.layers.count) layers (a host interface has 1)"])
        }
        cachedSetting = try actuator.apply(setting.layers[0])
        samplesSinceSettingRead = 0
    }

    /// Puts back the setting found when the target was opened (no-op when nothing was applied).
    public mutating func restore() throws {
        try actuator.restore()
        cachedSetting = try actuator.read()
    }
}
