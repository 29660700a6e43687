import CoalesceCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The scenarios that ship with the simulator (`coalesce scenarios` lists them).
///
/// About a third are `holdout` (one of them virtualized): the demo trains on the
/// `train` ones and reports the `holdout` ones separately. Each simulates its
/// default duration in a few seconds of wall time in a release build.
public enum BuiltinScenarios {
    /// Every built-in, in a stable order.
    public static var all: [Scenario] {
        [rpcLow, memcached, bulkTCP, microbursts, diurnalRamp, rpcWithBulk, overloadSpike, smallRing,
         virtOneLayer, virtTwoLayers, virtTwoLayersMix, regimeSwitch, webMix, e1000eThrottle, cqeSmallPackets, multiqueue]
    }

    /// The built-in called `name`, if any.
    public static func named(_ name: String) -> Scenario? { all.first { $0.name == name } }

    /// Names of every built-in.
    public static var names: [String] { all.map(\.name) }

    static let rpc = TrafficSource(
        name: "rpc", kind: .requestResponse(clients: 8, thinkUs: 200, serviceUs: 5, service: .exponential, responseBytes: 256),
        size: .fixed(bytes: 128))

    static let rpcLow = Scenario(
        name: "rpc-low", description: "Low-rate RPC, 8 closed-loop clients: latency-sensitive, CPU nearly idle",
        durationS: 5, traffic: [rpc])

    static let memcached = Scenario(
        name: "memcached", description: "Memcached-like: 160 clients, small requests at ~0.8 M req/s over 4 queues and 4 cores",
        durationS: 2, nic: NICConfig(queues: 4), cpu: CPUConfig(cores: 4),
        traffic: [TrafficSource(
            name: "kv", kind: .requestResponse(clients: 160, thinkUs: 150, serviceUs: 1, service: .exponential, responseBytes: 96),
            size: .bimodal(small: 80, large: 200, pSmall: 0.9))])

    static let bulkTCP = Scenario(
        name: "bulk-tcp", description: "Two window-limited TCP-like bulk flows on 10 Gb/s (window 128 KiB, ACK-clocked)",
        durationS: 2, traffic: [TrafficSource(name: "bulk", kind: .bulk(flows: 2, windowBytes: 131_072), size: .fixed(bytes: 1500))])

    static let microbursts = Scenario(
        name: "microbursts", description: "Lognormal on/off microbursts at 1.5 Mpps over a 20 kpps background",
        durationS: 4, traffic: [
            TrafficSource(name: "bursts", kind: .onOff(ratePps: 1_500_000, onMs: 0.3, offMs: 6, periods: .lognormal, shape: 1.0),
                          size: .fixed(bytes: 256)),
            TrafficSource(name: "background", kind: .poisson(ratePps: 20_000), size: .fixed(bytes: 128)),
        ])

    static let diurnalRamp = Scenario(
        name: "diurnal-ramp", description: "Poisson load ramping 20 kpps → 600 kpps → 20 kpps, like a compressed day",
        durationS: 6, traffic: [TrafficSource(name: "web", kind: .poisson(ratePps: 600_000), size: .bimodal(small: 100, large: 1400, pSmall: 0.7))],
        phases: [TrafficPhase(durationS: 3, rates: ["web": 0.03], rampTo: ["web": 1]),
                 TrafficPhase(durationS: 3, rates: ["web": 1], rampTo: ["web": 0.03])])

    static let rpcWithBulk = Scenario(
        name: "rpc-bulk-mix", description: "Latency-sensitive RPC sharing the queue with a bulk TCP-like flow",
        durationS: 2, traffic: [rpc, TrafficSource(name: "bulk", kind: .bulk(flows: 1, windowBytes: 65_536), size: .fixed(bytes: 1500))])

    static let overloadSpike = Scenario(
        name: "overload-spike", description: "150 kpps steady with a 1 s spike to 2.5 Mpps that overloads the core",
        split: .holdout, durationS: 4,
        traffic: [TrafficSource(name: "udp", kind: .poisson(ratePps: 150_000), size: .fixed(bytes: 200), appNs: 300)],
        phases: [TrafficPhase(durationS: 1.5, rates: ["udp": 1]), TrafficPhase(durationS: 1, rates: ["udp": 16.7]),
                 TrafficPhase(durationS: 1.5, rates: ["udp": 1])])

    static let smallRing = Scenario(
        name: "small-ring", description: "A 64-descriptor RX ring under 2 Mpps bursts: moderation that waits too long drops",
        durationS: 3, nic: NICConfig(rxRing: 64, txRing: 256),
        traffic: [TrafficSource(name: "bursts", kind: .onOff(ratePps: 2_000_000, onMs: 0.2, offMs: 2, periods: .pareto, shape: 1.5),
                                size: .fixed(bytes: 128))])

    static let virtOneLayer = Scenario(
        name: "virt-one-layer", description: "KVM guest, virtio without notification coalescing: only the host NIC coalesces",
        durationS: 3, cpu: CPUConfig(cores: 2), virtualization: VirtualizationConfig(vnicCoalescing: false),
        traffic: [rpc, TrafficSource(name: "stream", kind: .poisson(ratePps: 60_000), size: .fixed(bytes: 512))])

    static let virtTwoLayers = Scenario(
        name: "virt-two-layers", description: "KVM guest with host NIC and virtio-net both coalescing: delays add up",
        split: .holdout, durationS: 3, initialSetting: "rx-usecs=8,rx-frames=32,tx-usecs=16,tx-frames=32",
        cpu: CPUConfig(cores: 2), virtualization: VirtualizationConfig(vnicCoalescing: true),
        traffic: [rpc, TrafficSource(name: "stream", kind: .poisson(ratePps: 80_000), size: .fixed(bytes: 512))])

    /// The virtualized training scenario: the demo learns its two-layer policy here and
    /// is judged on `virt-two-layers` (held out).
    static let virtTwoLayersMix = Scenario(
        name: "virt-two-layers-mix",
        description: "KVM guest, host NIC and virtio-net both coalescing; RPC alone, then with a 150 kpps stream, then with bursts",
        durationS: 6, cpu: CPUConfig(cores: 2), virtualization: VirtualizationConfig(vnicCoalescing: true),
        traffic: [
            rpc,
            TrafficSource(name: "stream", kind: .poisson(ratePps: 150_000), size: .fixed(bytes: 512)),
            TrafficSource(name: "bursts", kind: .onOff(ratePps: 800_000, onMs: 0.3, offMs: 3, periods: .lognormal, shape: 1),
                          size: .fixed(bytes: 256)),
        ],
        phases: [TrafficPhase(durationS: 2, rates: ["rpc": 1]), TrafficPhase(durationS: 2, rates: ["rpc": 1, "stream": 1]),
                 TrafficPhase(durationS: 2, rates: ["rpc": 1, "bursts": 1])],
        repeatPhases: true)

    /// A training scenario (issue #3 trains on it); its regimes recur in the held-out ones.
    static let regimeSwitch = Scenario(
        name: "regime-switch", description: "Traffic regime changes every 2 s: idle RPC, packet flood, bulk, bursts (no static setting fits all)",
        durationS: 8,
        traffic: [
            TrafficSource(name: "rpc", kind: .requestResponse(clients: 8, thinkUs: 200, serviceUs: 5, service: .exponential, responseBytes: 256),
                          size: .fixed(bytes: 128)),
            TrafficSource(name: "flood", kind: .poisson(ratePps: 700_000), size: .fixed(bytes: 64)),
            TrafficSource(name: "bulk", kind: .bulk(flows: 2, windowBytes: 131_072), size: .fixed(bytes: 1500)),
            TrafficSource(name: "bursts", kind: .onOff(ratePps: 1_500_000, onMs: 0.3, offMs: 4, periods: .lognormal, shape: 1),
                          size: .fixed(bytes: 256)),
        ],
        phases: [TrafficPhase(durationS: 2, rates: ["rpc": 1]), TrafficPhase(durationS: 2, rates: ["flood": 1, "rpc": 1]),
                 TrafficPhase(durationS: 2, rates: ["bulk": 1]), TrafficPhase(durationS: 2, rates: ["bursts": 1, "rpc": 1])],
        repeatPhases: true)

    static let webMix = Scenario(
        name: "web-mix", description: "Web front end: RPC plus 150 kpps of mixed-size packets (empirical sizes)",
        split: .holdout, durationS: 3,
        traffic: [rpc, TrafficSource(name: "web", kind: .poisson(ratePps: 150_000),
                                     size: .empirical([SizeWeight(bytes: 66, weight: 0.45), SizeWeight(bytes: 576, weight: 0.15),
                                                       SizeWeight(bytes: 1500, weight: 0.4)]), appNs: 200)])

    static let e1000eThrottle = Scenario(
        name: "e1000e-throttle", description: "Throttling NIC (Intel ITR / QEMU e1000e, 128 µs floor) with RPC and 80 kpps",
        durationS: 3, initialSetting: "rx-usecs=20,rx-frames=1,tx-usecs=16,tx-frames=32",
        nic: NICConfig(rxRing: 256, txRing: 256, timer: .throttle, minIntervalUs: 128),
        traffic: [rpc, TrafficSource(name: "stream", kind: .poisson(ratePps: 80_000), size: .fixed(bytes: 256))])

    static let cqeSmallPackets = Scenario(
        name: "cqe-small-packets", description: "CQE-mode NIC (timer restarted per packet) with 300 kpps of 64-byte packets",
        split: .holdout, durationS: 3, nic: NICConfig(timer: .cqe),
        traffic: [TrafficSource(name: "small", kind: .poisson(ratePps: 300_000), size: .fixed(bytes: 64), appNs: 400)])

    static let multiqueue = Scenario(
        name: "multiqueue", description: "4 queues on 4 cores, 1.6 Mpps over 1024 flows hashed to queues",
        durationS: 2, nic: NICConfig(queues: 4), cpu: CPUConfig(cores: 4),
        traffic: [TrafficSource(name: "udp", kind: .poisson(ratePps: 1_600_000), size: .fixed(bytes: 128), flows: 1024, appNs: 300)])
}

/// The simulator's throughput benchmark (`coalesce bench`).
public enum SimBenchmark {
    /// The benchmark scenario: open-loop Poisson at `ratePps`, 64-byte packets, bare
    /// metal, one queue on one core, static rx-usecs 32 / rx-frames 64.
    public static func scenario(ratePps: Double = 1_000_000, seconds: Double = 60) -> Scenario {
        Scenario(name: "bench-poisson", description: "Open-loop Poisson, bare metal, one queue",
                 durationS: seconds, initialSetting: "rx-usecs=32,rx-frames=64",
                 traffic: [TrafficSource(name: "udp", kind: .poisson(ratePps: ratePps), size: .fixed(bytes: 64), flows: 1)])
    }

    /// Simulates `seconds` of the benchmark scenario and measures wall time.
    /// Returns the simulated packets, the wall seconds, and simulated packets per wall second.
    public static func run(simulatedSeconds seconds: Double = 60, ratePps: Double = 1_000_000, seed: UInt64 = 1)
        -> (simulatedPackets: Int, seconds: Double, packetsPerSecond: Double)
    {
        let m = measure(simulatedSeconds: seconds, ratePps: ratePps, seed: seed)
        return (m.simulatedPackets, m.wallSeconds, m.packetsPerWallSecond)
    }

    /// Like `run`, with the process CPU time as well (on a shared machine the wall
    /// time includes waiting for a core; the CPU time does not).
    public static func measure(simulatedSeconds seconds: Double = 60, ratePps: Double = 1_000_000, seed: UInt64 = 1)
        -> SimBenchmarkResult
    {
        let s = scenario(ratePps: ratePps, seconds: seconds)
        let clock = ContinuousClock()
        let cpuStart = clock_gettime_cpu()
        let start = clock.now
        // The scenario is built in code and valid: construction cannot fail.
        var target = try! SimTarget(scenario: s, seed: seed)
        target.run(untilNs: UInt64(seconds * 1e9))
        let elapsed = clock.now - start
        let cpu = clock_gettime_cpu() - cpuStart
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        let packets = Int(target.runSummary.simulatedPackets)
        return SimBenchmarkResult(simulatedPackets: packets, wallSeconds: wall, cpuSeconds: cpu)
    }

    /// CPU time of this process, seconds (`CLOCK_PROCESS_CPUTIME_ID`).
    static func clock_gettime_cpu() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}

/// One measurement of the simulator benchmark.
public struct SimBenchmarkResult: Sendable, Hashable {
    public var simulatedPackets: Int
    public var wallSeconds: Double
    public var cpuSeconds: Double
    public var packetsPerWallSecond: Double { wallSeconds > 0 ? Double(simulatedPackets) / wallSeconds : 0 }
    public var packetsPerCPUSecond: Double { cpuSeconds > 0 ? Double(simulatedPackets) / cpuSeconds : 0 }
}
