import CoalesceCore
@testable import CoalesceHost
import Foundation
import Testing

/// Reads this machine's real NIC (`eth0`, virtio_net) — read only: nothing here sets anything.
@Suite("eth0, read only", .enabled(if: HostTestEnvironment.hasEth0, "this machine has no eth0"))
struct Eth0ReadOnlyTests {
    /// `ethtool -c eth0` as `name → value`, "n/a" entries left out.
    static func ethtoolShow() throws -> [String: String] {
        let out = try run(HostTestEnvironment.ethtoolPath!, ["-c", "eth0"]).output
        var values: [String: String] = [:]
        for line in out.split(separator: "\n") {
            if line.hasPrefix("Adaptive RX:") {
                // "Adaptive RX: off  TX: n/a"
                let words = line.split(separator: " ")
                values["adaptive-rx"] = String(words[2])
                values["adaptive-tx"] = String(words[4])
                continue
            }
            let kv = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if kv.count == 2 { values[kv[0]] = kv[1] }
        }
        return values.filter { $0.value != "n/a" }
    }

    @Test("netlink COALESCE_GET agrees with `ethtool -c eth0`, parameter by parameter and in what is supported",
          .enabled(if: HostTestEnvironment.ethtoolPath != nil, "ethtool program not installed"))
    func netlinkCoalescingMatchesEthtoolProgram() throws {
        let expected = try Self.ethtoolShow()
        let raw = try EthtoolNetlinkClient().coalesce("eth0")
        for p in [CoalesceParameter.rxUsecs, .rxMaxFrames, .txUsecs, .txMaxFrames, .rxUsecsIrq, .txUsecsIrq, .statsBlockUsecs] {
            #expect(raw[p].map(String.init) == expected[p.ethtoolName], "\(p.ethtoolName)")
        }
        for (p, key) in [(CoalesceParameter.useAdaptiveRx, "adaptive-rx"), (.useAdaptiveTx, "adaptive-tx")] {
            #expect(raw[p].map { $0 == 1 ? "on" : "off" } == expected[key], "\(key)")
        }
    }

    @Test("HostTarget records the coalescing ethtool shows (rx/tx usecs and frames, adaptive)",
          .enabled(if: HostTestEnvironment.ethtoolPath != nil, "ethtool program not installed"))
    func hostTargetSettingMatchesEthtoolProgram() throws {
        let expected = try Self.ethtoolShow()
        var target = try HostTarget(interface: "eth0")
        let layer = try target.sample().observation.setting.layers[0]
        #expect(String(layer.rxUsecs) == expected["rx-usecs"])
        #expect(String(layer.rxFrames) == expected["rx-frames"])
        #expect(String(layer.txUsecs) == (expected["tx-usecs"] ?? "0"))
        #expect(String(layer.txFrames) == (expected["tx-frames"] ?? "1"))
        #expect((layer.adaptiveRx == .off ? "off" : "on") == (expected["adaptive-rx"] ?? "off"))
        #expect(target.capabilities.hardwareBackend == .netlink)
        #expect(target.capabilities.driver == "virtio_net" || !target.capabilities.driver.isEmpty)
    }

    @Test("the SIOCETHTOOL fallback reads the same values as netlink")
    func ioctlFallbackMatchesNetlink() throws {
        let viaNetlink = try EthtoolNetlinkClient().coalesce("eth0")
        let viaIoctl = try EthtoolIoctl.coalesce("eth0")
        for p in EthtoolIoctl.classicParameters {
            #expect(viaIoctl[p] == (viaNetlink[p] ?? 0), "\(p)")
        }
        let actuator = try HardwareActuator(interface: "eth0", forceIoctl: true)
        #expect(actuator.backend == .ioctl)
    }

    @Test("eth0's data-queue IRQs are discovered and counted like /proc/interrupts counts them")
    func irqsDiscoveredAndCounted() throws {
        let reader = KernelFileReader()
        let irqs = try InterruptDiscovery(interface: "eth0").discover(reader: reader)
        #expect(!irqs.isEmpty)
        #expect(irqs.allSatisfy { !InterruptDiscovery.isControlVector($0.name) })
        let counter = InterruptCounterReader(interrupts: irqs)
        let viaSysfs = try counter.read(with: reader)
        let table = try InterruptTable.read("/proc/interrupts", reader: reader)
        let viaProc = irqs.reduce(UInt64(0)) { $0 + (table.rows[$1.irq]?.total ?? 0) }
        #expect(viaProc >= viaSysfs)            // read later, can only have grown
        #expect(viaProc - viaSysfs < 10_000)
        #expect(viaSysfs > 0)
        // The override path names the same IRQs.
        let overridden = try InterruptDiscovery(interface: "eth0").discover(override: irqs.map(\.irq), reader: reader)
        #expect(overridden == irqs)
    }

    @Test("an --irq override naming no IRQ is a typed error")
    func missingIRQOverrideIsAnError() throws {
        #expect(throws: HostError.irqMissing(irq: 99_999)) {
            try InterruptDiscovery(interface: "eth0").discover(override: [99_999], reader: KernelFileReader())
        }
    }

    @Test("counters, CPU and softnet readings are consistent with the kernel's files")
    func countersAndCPUAreRead() throws {
        var target = try HostTarget(interface: "eth0")
        let first = try target.read()
        let stats = try String(contentsOfFile: "/sys/class/net/eth0/statistics/rx_packets", encoding: .utf8)
        let later = UInt64(stats.trimmingCharacters(in: .whitespacesAndNewlines))!
        #expect(first.counters.rxPackets <= later)
        #expect(first.counters.rxPackets > 0)
        #expect(first.hostCPU.totalNs > 0)
        #expect(first.irqCPU.totalNs <= first.hostCPU.totalNs)
        #expect(!target.irqCPUs.isEmpty)
        try target.advance(intervalNs: 20_000_000)
        let second = try target.read()
        #expect(second.timestampNs - first.timestampNs >= 20_000_000)
        #expect(second.hostCPU.totalNs >= first.hostCPU.totalNs)
        #expect(second.interrupts >= first.interrupts)
        #expect(target.recreations == 0)
    }

    @Test("advance sleeps to deadlines on a fixed CLOCK_MONOTONIC grid (no drift from the work between samples)")
    func advanceKeepsSchedule() throws {
        var target = try HostTarget(interface: "eth0")
        let interval: UInt64 = 20_000_000
        try target.advance(intervalNs: interval)
        let first = target.nextDeadlineNs
        var previous = first
        #expect(MonotonicClock.now() >= first)
        for _ in 1...4 {
            usleep(3000)   // work between samples must not shift the grid
            try target.advance(intervalNs: interval)
            let deadline = target.nextDeadlineNs
            // On the grid: a multiple of the interval after the first deadline, never a
            // "now + interval" that would carry the work time forward. (A loaded machine
            // may skip a grid point, which is the intended catch-up.)
            #expect((deadline - first) % interval == 0)
            #expect(deadline > previous)
            #expect(MonotonicClock.now() >= deadline)
            previous = deadline
        }
        // Overrunning a whole interval skips to the next future deadline on the same grid.
        usleep(45_000)
        let before = MonotonicClock.now()
        try target.advance(intervalNs: interval)
        #expect((target.nextDeadlineNs - first) % interval == 0)
        #expect(target.nextDeadlineNs > before)
        #expect(target.nextDeadlineNs - before <= interval + 5_000_000)
    }
}

@Suite("host target errors")
struct HostTargetErrorTests {
    @Test("a missing interface is a typed error that names it")
    func missingInterfaceNamed() {
        #expect(throws: HostError.interfaceMissing(interface: "nosuch0")) { try HostTarget(interface: "nosuch0") }
        #expect(HostError.interfaceMissing(interface: "nosuch0").description.contains("nosuch0"))
    }

    @Test("the ethtool family resolves, an unknown family is the kernel's ENOENT")
    func familyResolution() throws {
        let socket = try GenericNetlinkSocket()
        #expect(try socket.resolveFamily("ethtool") > 0x10)
        #expect(throws: HostError.ethtoolFamilyMissing(errno: ENOENT)) { try socket.resolveFamily("nosuchfamily") }
    }

    @Test("a request the kernel rejects keeps the kernel's extended-ack message")
    func extendedAckMessageIsKept() throws {
        let socket = try GenericNetlinkSocket()
        let seq = socket.nextSequence()
        var request = NetlinkRequest(type: NL.GENL_ID_CTRL, flags: NL.NLM_F_REQUEST | NL.NLM_F_ACK,
                                     sequence: seq, command: NL.CTRL_CMD_GETFAMILY, version: 1)
        request.string(NL.CTRL_ATTR_FAMILY_NAME, String(repeating: "x", count: 40))   // longer than GENL_NAMSIZ
        do {
            _ = try socket.transact(request.finished(), sequence: seq)
            Issue.record("the kernel accepted a 40-character family name")
        } catch let error as NetlinkKernelError {
            #expect(error.errno == EINVAL)
            let message = try #require(error.message)
            #expect(!message.isEmpty)
        }
    }
}
