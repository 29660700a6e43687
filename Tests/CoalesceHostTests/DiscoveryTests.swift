import CoalesceCore
@testable import CoalesceHost
import Foundation
import Glibc
import Testing

/// IRQ discovery paths on a fake sysfs tree (a directory the test builds), so that the
/// name-matching fallbacks are exercised without hardware that has them.
@Suite("IRQ discovery on a fake sysfs tree")
struct DiscoveryTests {
    final class FakeTree {
        let root = NSTemporaryDirectory() + "coalesce-sysfs-\(getpid())-\(UUID().uuidString.prefix(6))"
        var sysClassNet: String { root + "/class/net" }
        var procInterrupts: String { root + "/interrupts" }
        var sysKernelIRQ: String { root + "/irq" }

        init(interface: String, devicePath: String, interrupts: String) throws {
            let fm = FileManager.default
            try fm.createDirectory(atPath: sysClassNet + "/" + interface, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: root + devicePath, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: sysKernelIRQ, withIntermediateDirectories: true)
            try fm.createSymbolicLink(atPath: sysClassNet + "/\(interface)/device", withDestinationPath: root + devicePath)
            try interrupts.write(toFile: procInterrupts, atomically: true, encoding: .utf8)
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }

        func discovery(_ interface: String) -> InterruptDiscovery {
            InterruptDiscovery(interface: interface, sysClassNet: sysClassNet, sysKernelIRQ: sysKernelIRQ,
                               procInterrupts: procInterrupts)
        }
    }

    static let table = """
                   CPU0       CPU1
         37:          0          0 PCI-MSIX-0000:00:07.0   0-edge      virtio7-config
         38:          5         10 PCI-MSIX-0000:00:07.0   1-edge      virtio7-input.0
         39:          1          2 PCI-MSIX-0000:00:07.0   2-edge      virtio7-output.0
         90:        100        200 IR-PCI-MSIX-0000:3b:00.0   3-edge      mlx5_comp0@pci:0000:3b:00.0
         91:        300        400 IR-PCI-MSIX-0000:3b:00.0   4-edge      mlx5_comp1@pci:0000:3b:00.0
         92:          9          9 IR-PCI-MSIX-0000:3b:00.0   0-edge      mlx5_async0@pci:0000:3b:00.0
         95:          7          0 IR-PCI-MSIX-0000:5e:00.0   5-edge      ens9-rx-0
         96:          0          8 IR-PCI-MSIX-0000:5e:00.0   6-edge      ens9-tx-0
        NMI:          0          0   Non-maskable interrupts

        """

    @Test("virtio: the virtioN bus device's vectors are found by name, the config vector left out")
    func virtioByName() throws {
        let tree = try FakeTree(interface: "eth7", devicePath: "/devices/pci0000:00/0000:00:07.0/virtio7", interrupts: Self.table)
        let found = try tree.discovery("eth7").discover(reader: KernelFileReader())
        #expect(found.map(\.irq) == [38, 39])
        #expect(found.map(\.name) == ["virtio7-input.0", "virtio7-output.0"])
    }

    @Test("mlx5: completion vectors matched by the PCI address in their name, async vector left out")
    func mlx5ByPCIAddress() throws {
        let tree = try FakeTree(interface: "enp59s0", devicePath: "/devices/pci0000:3a/0000:3b:00.0", interrupts: Self.table)
        let found = try tree.discovery("enp59s0").discover(reader: KernelFileReader())
        #expect(found.map(\.irq) == [90, 91])
    }

    @Test("drivers that name vectors after the interface (IF-rx-N) are matched by interface name")
    func interfaceNamedVectors() throws {
        let tree = try FakeTree(interface: "ens9", devicePath: "/devices/pci0000:5d/0000:5e:00.0", interrupts: Self.table)
        let found = try tree.discovery("ens9").discover(reader: KernelFileReader())
        #expect(found.map(\.irq) == [95, 96])
    }

    @Test("MSI vectors listed in msi_irqs win over name matching")
    func msiIRQsDirectory() throws {
        let tree = try FakeTree(interface: "ens9", devicePath: "/devices/pci0000:5d/0000:5e:00.0", interrupts: Self.table)
        try FileManager.default.createDirectory(atPath: tree.root + "/devices/pci0000:5d/0000:5e:00.0/msi_irqs/95", withIntermediateDirectories: true)
        let found = try tree.discovery("ens9").discover(reader: KernelFileReader())
        #expect(found.map(\.irq) == [95])
    }

    @Test("counts come from /proc/interrupts when per-IRQ sysfs files are missing")
    func procInterruptsFallback() throws {
        let tree = try FakeTree(interface: "eth7", devicePath: "/devices/pci0000:00/0000:00:07.0/virtio7", interrupts: Self.table)
        let found = try tree.discovery("eth7").discover(reader: KernelFileReader())
        let counter = InterruptCounterReader(interrupts: found, sysKernelIRQ: tree.sysKernelIRQ, procInterrupts: tree.procInterrupts)
        #expect(counter.readsProcInterrupts)
        #expect(try counter.read(with: KernelFileReader()) == 5 + 10 + 1 + 2)
    }

    @Test("a device without a device/ link (veth, lo) has no IRQs")
    func virtualDeviceHasNone() throws {
        #expect(try InterruptDiscovery(interface: "lo").discover(reader: KernelFileReader()).isEmpty)
    }
}

@Suite("host benchmark functions")
struct HostBenchmarkTests {
    @Test("sample cost and collector CPU come back as finite, positive figures",
          .enabled(if: HostTestEnvironment.hasEth0, "this machine has no eth0"))
    func benchmarkFiguresAreMeasured() throws {
        let cost = try HostBenchmark.sampleCost(interface: "eth0", iterations: 20)
        #expect(cost.microsecondsPerSample.isFinite && cost.microsecondsPerSample > 0)
        #expect(cost.cpuMicrosecondsPerSample.isFinite && cost.cpuMicrosecondsPerSample >= 0)
        #expect(cost.coalesceGetMicroseconds > 0)
        let cpu = try HostBenchmark.collectorCPU(interface: "eth0", hz: 50, seconds: 0.2)
        #expect(cpu.samples == 10)
        #expect(cpu.percentOfOneCore.isFinite && cpu.percentOfOneCore >= 0)
    }

    @Test("the ioctl path samples eth0 like the netlink path", .enabled(if: HostTestEnvironment.hasEth0, "this machine has no eth0"))
    func ioctlTargetSamples() throws {
        var viaIoctl = try HostTarget(interface: "eth0", options: HostTargetOptions(forceIoctl: true))
        var viaNetlink = try HostTarget(interface: "eth0")
        #expect(viaIoctl.capabilities.hardwareBackend == .ioctl)
        let a = try viaIoctl.sample().observation.setting.layers[0]
        let b = try viaNetlink.sample().observation.setting.layers[0]
        #expect(a.rxUsecs == b.rxUsecs)
        #expect(a.rxFrames == b.rxFrames)
        #expect(a.adaptiveRx == b.adaptiveRx)
    }
}

@Suite("driver names")
struct DriverNameTests {
    @Test("eth0's driver comes from the sysfs driver link, lo is named loopback")
    func driverNames() {
        #expect(driverName("lo") == "loopback")
        if HostTestEnvironment.hasEth0 {
            let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/sys/class/net/eth0/device/driver")) ?? ""
            #expect(link.hasSuffix("/" + driverName("eth0")))
        }
    }
}
