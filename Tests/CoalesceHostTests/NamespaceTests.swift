import CoalesceCore
@testable import CoalesceHost
import Foundation
import Glibc
import Testing

/// Tests on veth pairs inside network namespaces they create and always remove.
@Suite("veth in network namespaces", .serialized,
       .enabled(if: HostTestEnvironment.canCreateNamespaces, "needs root and iproute2 to create network namespaces"))
struct NamespaceTests {
    @Test("UDP traffic moves the veth counters by exactly the packets and bytes sent")
    func countersMoveByTrafficSent() throws {
        let lab = try VethLab()
        defer { lab.remove() }
        let payload = 100, count = 2000
        let (before, after, sent, received) = try NetworkNamespace.run(lab.nsB) {
            let sink = try UDPSink(address: lab.addressB, port: 9000)
            var target = try HostTarget(interface: lab.ifB)
            let before = try target.read()
            var received = 0
            let sent = try lab.sendUDP(count: count, payload: payload, port: 9000)
            usleep(50_000)
            received += sink.drain()
            let after = try target.read()
            return (before, after, sent, received)
        }
        #expect(sent == count)
        #expect(received == count)
        let frame = UInt64(14 + 20 + 8 + payload)   // Ethernet + IPv4 + UDP headers
        #expect(after.counters.rxPackets - before.counters.rxPackets == UInt64(count))
        #expect(after.counters.rxBytes - before.counters.rxBytes == UInt64(count) * frame)
        #expect(after.counters.txPackets == before.counters.txPackets)
        #expect(after.counters.rxDropped == before.counters.rxDropped)
        #expect(CounterDelta(previous: before.counters.rxPackets, current: after.counters.rxPackets).event == .normal)
    }

    @Test("a coalescing SET on veth fails with the kernel's EOPNOTSUPP, mapped to an error naming interface and driver")
    func coalescingSetOnVethIsNotSupported() throws {
        let lab = try VethLab()
        defer { lab.remove() }
        let interface = lab.ifA
        try NetworkNamespace.run(lab.nsA) {
            let hardware = try HardwareActuator(interface: interface)
            #expect(hardware.backend == nil)
            #expect(hardware.driver == "veth")
            #expect(hardware.unavailableReason?.errno == EOPNOTSUPP)
            do {
                try hardware.setRaw(EthtoolCoalesce(values: [.rxUsecs: 8]))
                Issue.record("COALESCE_SET on veth succeeded")
            } catch let error as HostError {
                guard case .kernelRefused(let op, let i, let d, let e, _) = error else {
                    Issue.record("unexpected error \(error)"); return
                }
                #expect(op == "ETHTOOL_MSG_COALESCE_SET")
                #expect(i == interface)
                #expect(d == "veth")
                #expect(e == EOPNOTSUPP)
                #expect(error.description.contains("EOPNOTSUPP"))
                #expect(error.isNotSupported)
            }
            // Through the target: refused up front, nothing written, naming what is unsupported.
            var target = try HostTarget(interface: interface)
            let wanted = CoalescingSetting(layers: [LayerSetting(rxUsecs: 8, rxFrames: 16)])
            #expect(throws: HostError.unsupported(interface: interface, driver: "veth", parameters: ["rx-usecs=8", "rx-frames=16"])) {
                try target.apply(wanted)
            }
            #expect(target.capabilities.hardwareBackend == nil)
            #expect(target.capabilities.softwareKnobs)
        }
    }

    @Test("gro_flush_timeout and napi_defer_hard_irqs are set through sysfs and restored")
    func softwareKnobsSetAndRestored() throws {
        let lab = try VethLab()
        defer { lab.remove() }
        let interface = lab.ifA
        try NetworkNamespace.run(lab.nsA) {
            let reader = KernelFileReader()
            let gro = KernelPath("/sys/class/net/\(interface)/gro_flush_timeout")
            let napi = KernelPath("/sys/class/net/\(interface)/napi_defer_hard_irqs")
            let originalGro = try reader.readUInt64(gro), originalNapi = try reader.readUInt64(napi)
            var target = try HostTarget(interface: interface)
            var setting = try target.sample().observation.setting
            setting.layers[0].groFlushTimeoutNs = 50_000
            setting.layers[0].napiDeferHardIrqs = 2
            try target.apply(setting)
            #expect(try reader.readUInt64(gro) == 50_000)
            #expect(try reader.readUInt64(napi) == 2)
            #expect(try target.sample().observation.setting == setting)
            try target.restore()
            #expect(try reader.readUInt64(gro) == originalGro)
            #expect(try reader.readUInt64(napi) == originalNapi)
            #expect(try target.sample().observation.setting.layers[0].groFlushTimeoutNs == originalGro)
        }
    }

    @Test("an interface deleted and recreated mid-run is a counter reset, never a negative rate")
    func recreatedInterfaceIsCounterReset() throws {
        let lab = try VethLab()
        defer { lab.remove() }
        try NetworkNamespace.run(lab.nsB) {
            let sink = try UDPSink(address: lab.addressB, port: 9001)
            var target = try HostTarget(interface: lab.ifB)
            _ = try lab.sendUDP(count: 300, payload: 200, port: 9001)
            usleep(50_000)
            _ = sink.drain()
            let before = try target.sample().observation
            #expect(before.rxPackets >= 300)

            try ip("-n", lab.nsB, "link", "del", lab.ifB)
            #expect(throws: HostError.interfaceMissing(interface: lab.ifB)) { try target.sample() }

            try lab.createPair()
            _ = try lab.sendUDP(count: 10, payload: 200, port: 9001)
            usleep(50_000)
            let after = try target.sample().observation
            #expect(target.recreations == 1)
            let packets = CounterDelta(previous: before.rxPackets, current: after.rxPackets)
            let bytes = CounterDelta(previous: before.rxBytes, current: after.rxBytes)
            #expect(packets.event == .reset)
            #expect(bytes.event == .reset)
            #expect(packets.value == after.rxPackets)
            #expect(after.rxPackets >= 10 && after.rxPackets < 300)
            // The feature path sees a reset with non-negative rates, not a negative delta.
            let metrics = try #require(IntervalMetrics(previous: before, current: after))
            #expect(metrics.counterEvents.contains { $0.contains("reset") })
            #expect(metrics.rxPacketsPerSecond >= 0)
            #expect(metrics.rxPackets == after.rxPackets)
        }
    }
}
