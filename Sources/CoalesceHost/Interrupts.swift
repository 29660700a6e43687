import Glibc

/// One hardware interrupt line of a NIC.
public struct NICInterrupt: Sendable, Hashable, CustomStringConvertible {
    /// The IRQ number (`/sys/kernel/irq/N`).
    public var irq: Int
    /// The action name the driver registered (`virtio2-input.0`, `eth0-rx-0`, `mlx5_comp3@pci:…`).
    public var name: String

    /// An IRQ and its action name.
    public init(irq: Int, name: String) {
        self.irq = irq
        self.name = name
    }

    public var description: String { "\(irq) (\(name))" }
}

/// Finds the IRQs that serve an interface's data queues.
///
/// Order of methods: an explicit override; the MSI vectors of the PCI function
/// (`/sys/class/net/IF/device/msi_irqs`, or of the parent device for virtio, whose
/// net device sits below a `virtioN` bus device); names in `/proc/interrupts`
/// (`IF-…`, `virtioN-…`, `…@pci:ADDRESS`). Control vectors (`…-config`, `…async…`,
/// `…ctrl…`, `…-cmd…`) carry no packet work and are left out.
public struct InterruptDiscovery {
    /// The interface name.
    public let interface: String
    let sysClassNet: String
    let sysKernelIRQ: String
    let procInterrupts: String

    /// Discovery for `interface`; the paths can point at a fixture tree in tests.
    public init(interface: String, sysClassNet: String = "/sys/class/net",
                sysKernelIRQ: String = "/sys/kernel/irq", procInterrupts: String = "/proc/interrupts") {
        self.interface = interface
        self.sysClassNet = sysClassNet
        self.sysKernelIRQ = sysKernelIRQ
        self.procInterrupts = procInterrupts
    }

    /// The interface's data-queue interrupts (empty for virtual devices such as veth or lo).
    public func discover(override: [Int]? = nil, reader: KernelFileReader) throws(HostError) -> [NICInterrupt] {
        let table = (try? InterruptTable.read(procInterrupts, reader: reader)) ?? InterruptTable(cpuCount: 0, rows: [:])
        if let override {
            return try override.map { (irq) throws(HostError) -> NICInterrupt in
                if let name = actionName(irq, reader: reader) ?? table.rows[irq]?.name {
                    return NICInterrupt(irq: irq, name: name)
                }
                throw .irqMissing(irq: irq)
            }
        }
        guard kernelPathExists("\(sysClassNet)/\(interface)") else { throw .interfaceMissing(interface: interface) }
        let deviceLink = "\(sysClassNet)/\(interface)/device"
        guard let devicePath = realPath(deviceLink) else { return [] }   // virtual device: no IRQs
        let deviceName = devicePath.split(separator: "/").last.map(String.init) ?? ""
        // MSI vectors of the device or its parent (virtio-net: …/0000:00:03.0/virtio2).
        var directory = devicePath
        for _ in 0..<2 {
            if let entries = listDirectory("\(directory)/msi_irqs") {
                let found = entries.compactMap(Int.init).sorted().compactMap { irq -> NICInterrupt? in
                    guard let name = actionName(irq, reader: reader) ?? table.rows[irq]?.name, !name.isEmpty,
                          !Self.isControlVector(name) else { return nil }
                    return NICInterrupt(irq: irq, name: name)
                }
                if !found.isEmpty { return found }
            }
            guard let slash = directory.lastIndex(of: "/") else { break }
            directory = String(directory[..<slash])
        }
        // By name in /proc/interrupts.
        let pciAddress = devicePath.split(separator: "/").map(String.init).last(where: Self.looksLikePCIAddress)
        return table.rows.keys.sorted().compactMap { irq -> NICInterrupt? in
            let name = table.rows[irq]!.name
            guard !Self.isControlVector(name) else { return nil }
            let matches = name.hasPrefix("\(interface)-") || name == interface
                || (deviceName.hasPrefix("virtio") && name.hasPrefix("\(deviceName)-"))
                || (pciAddress.map { name.contains("@pci:\($0)") || name.contains("@\($0)") } ?? false)
            return matches ? NICInterrupt(irq: irq, name: name) : nil
        }
    }

    /// The CPUs the kernel delivers these IRQs to (`/proc/irq/N/effective_affinity_list`,
    /// falling back to `smp_affinity_list`).
    public func servingCPUs(_ irqs: [NICInterrupt], reader: KernelFileReader) -> CPUSet {
        var set = CPUSet()
        for irq in irqs {
            for file in ["effective_affinity_list", "smp_affinity_list"] {
                if let text = try? reader.readText(KernelPath("/proc/irq/\(irq.irq)/\(file)")),
                   let cpus = CPUSet.parseList(text), !cpus.isEmpty {
                    for c in cpus.members { set.insert(c) }
                    break
                }
            }
        }
        return set
    }

    func actionName(_ irq: Int, reader: KernelFileReader) -> String? {
        try? reader.readText(KernelPath("\(sysKernelIRQ)/\(irq)/actions"))
    }

    /// Vectors for device configuration or firmware commands rather than packets.
    static func isControlVector(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower.hasSuffix("-config") || lower.contains("async") || lower.contains("ctrl")
            || lower.contains("-cmd") || lower.hasSuffix("-event")
    }

    static func looksLikePCIAddress(_ s: String) -> Bool {
        // dddd:bb:dd.f
        let parts = s.split(separator: ":")
        return parts.count == 3 && parts[0].count == 4 && parts[2].contains(".")
    }
}

/// Reads the interrupt counts of a fixed list of IRQs, one small file per IRQ
/// (`/sys/kernel/irq/N/per_cpu_count`) where the kernel has it, else from the whole
/// `/proc/interrupts` table (one read for all).
public struct InterruptCounterReader {
    /// The IRQs counted.
    public let interrupts: [NICInterrupt]
    private let perCPUPaths: [KernelPath]
    private let useProcInterrupts: Bool
    let procInterrupts: String

    /// A reader for `interrupts`; `/proc/interrupts` is used when any per-IRQ file is missing.
    public init(interrupts: [NICInterrupt], sysKernelIRQ: String = "/sys/kernel/irq", procInterrupts: String = "/proc/interrupts") {
        self.interrupts = interrupts
        perCPUPaths = interrupts.map { KernelPath("\(sysKernelIRQ)/\($0.irq)/per_cpu_count") }
        useProcInterrupts = perCPUPaths.contains { !kernelPathExists($0.text) }
        self.procInterrupts = procInterrupts
    }

    /// True when the counts come from `/proc/interrupts` rather than per-IRQ sysfs files.
    public var readsProcInterrupts: Bool { useProcInterrupts }

    /// The interrupt count summed over all IRQs and CPUs.
    public func read(with reader: KernelFileReader) throws(HostError) -> UInt64 {
        if interrupts.isEmpty { return 0 }
        if useProcInterrupts {
            let table = try InterruptTable.read(procInterrupts, reader: reader)
            var total: UInt64 = 0
            for irq in interrupts {
                guard let row = table.rows[irq.irq] else { throw .irqMissing(irq: irq.irq) }
                total &+= row.total
            }
            return total
        }
        var total: UInt64 = 0
        for path in perCPUPaths {
            let bytes = try reader.read(path, keepOpen: true)
            var scanner = ByteScanner(bytes)
            while let v = scanner.decimal() {
                total &+= v
                scanner.skip(0x2C)   // ','
            }
        }
        return total
    }
}

/// The numbered rows of `/proc/interrupts`: per-IRQ total and action name.
struct InterruptTable {
    struct Row { var total: UInt64; var name: String }
    var cpuCount: Int
    var rows: [Int: Row]

    static func read(_ path: String, reader: KernelFileReader) throws(HostError) -> InterruptTable {
        let bytes = try reader.read(KernelPath(path))
        var scanner = ByteScanner(bytes)
        let header = scanner.restOfLine()
        let cpuCount = header.split(separator: " ").filter { $0.hasPrefix("CPU") }.count
        guard cpuCount > 0 else { throw .malformed(path: path, detail: "header line has no CPU columns") }
        var rows: [Int: Row] = [:]
        while !scanner.atEnd {
            scanner.skipBlanks()
            guard let irq = scanner.decimal(), scanner.consume(":") else { scanner.skipLine(); continue }
            var total: UInt64 = 0
            for _ in 0..<cpuCount {
                guard let v = scanner.decimal() else { break }
                total &+= v
            }
            // Remaining columns: chip, hwirq-type, then the action name(s); the name is the last field.
            let rest = scanner.restOfLine()
            let name = rest.split(separator: " ", omittingEmptySubsequences: true).last.map(String.init) ?? ""
            rows[Int(irq)] = Row(total: total, name: name)
        }
        return InterruptTable(cpuCount: cpuCount, rows: rows)
    }
}

/// The canonical absolute path with symlinks resolved, or nil when it does not exist.
func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
}
