@testable import CoalesceHost
import Foundation
import Testing

@Suite("kernel text and netlink parsing")
struct ParsingTests {
    /// Writes `text` to a temporary file and returns its path.
    func temporaryFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "coalesce-host-\(UUID().uuidString)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("/proc/stat ticks become nanoseconds: user+nice, system, irq, softirq, idle+iowait, per selected CPUs")
    func procStatParsed() throws {
        let path = try temporaryFile("""
        cpu  10 1 20 300 4 5 6 7 0 0
        cpu0 4 1 10 150 2 5 6 7 0 0
        cpu1 6 0 10 150 2 0 0 0 0 0
        intr 12345
        """)
        defer { unlink(path) }
        let reader = ProcStatReader(path: path)
        let tick = reader.nanosecondsPerTick
        let (host, cpu0) = try reader.read(with: KernelFileReader(), cpus: CPUSet([0]))
        #expect(host.userNs == 11 * tick)
        #expect(host.systemNs == 20 * tick)
        #expect(host.irqNs == 5 * tick)
        #expect(host.softirqNs == 6 * tick)
        #expect(host.idleNs == 304 * tick)
        #expect(cpu0.userNs == 5 * tick)
        #expect(cpu0.irqNs == 5 * tick)
        let (_, all) = try reader.read(with: KernelFileReader(), cpus: CPUSet())
        #expect(all == host)
    }

    @Test("softnet_stat hex columns 2 and 3 are summed over CPUs")
    func softnetParsed() throws {
        let path = try temporaryFile("""
        0000a000 0000000f 00000010 00000000
        0000b000 00000001 000000ff 00000000

        """)
        defer { unlink(path) }
        let (dropped, squeeze) = try SoftnetStatReader(path: path).read(with: KernelFileReader())
        #expect(dropped == 16)
        #expect(squeeze == 0x10F)
    }

    @Test("/proc/interrupts rows: totals over CPU columns and the action name")
    func interruptTableParsed() throws {
        let path = try temporaryFile("""
                   CPU0       CPU1
         38:          7        340 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0
         39:        268          1 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0
        NMI:          0          0   Non-maskable interrupts

        """)
        defer { unlink(path) }
        let table = try InterruptTable.read(path, reader: KernelFileReader())
        #expect(table.cpuCount == 2)
        #expect(table.rows[38]?.total == 347)
        #expect(table.rows[38]?.name == "virtio2-input.0")
        #expect(table.rows[39]?.total == 269)
        #expect(table.rows.count == 2)
    }

    @Test("control vectors are told apart from queue vectors")
    func controlVectors() {
        #expect(InterruptDiscovery.isControlVector("virtio2-config"))
        #expect(InterruptDiscovery.isControlVector("mlx5_async0@pci:0000:3b:00.0"))
        #expect(!InterruptDiscovery.isControlVector("mlx5_comp3@pci:0000:3b:00.0"))
        #expect(!InterruptDiscovery.isControlVector("eth0-rx-0"))
        #expect(!InterruptDiscovery.isControlVector("virtio2-input.0"))
    }

    @Test("CPU lists in the kernel's syntax")
    func cpuLists() {
        #expect(CPUSet.parseList("0-3,8\n")?.members == [0, 1, 2, 3, 8])
        #expect(CPUSet.parseList("1")?.members == [1])
        #expect(CPUSet.parseList("3-1") == nil)
    }

    @Test("netlink attributes round-trip, nests carry NLA_F_NESTED, and a truncated TLV is rejected")
    func netlinkAttributes() throws {
        var request = NetlinkRequest(type: 30, flags: NL.NLM_F_REQUEST, sequence: 7, command: 19, version: 1)
        request.nest(1) { $0.string(2, "eth0") }
        request.u32(2, 64)
        request.u8(11, 1)
        let bytes = request.finished()
        #expect(bytes.count % 4 == 0)
        #expect(Int(bytes[0]) | Int(bytes[1]) << 8 == bytes.count)
        let attributes = try NetlinkAttributes(bytes[20...])
        #expect(attributes.u32(2) == 64)
        #expect(attributes.u8(11) == 1)
        #expect(try attributes.nested(1)?.string(2) == "eth0")
        #expect(bytes[23] & 0x80 != 0)   // NLA_F_NESTED in the nest's type
        #expect(throws: HostError.self) { try NetlinkAttributes([8, 0, 2, 0, 1][...]) }
    }

    @Test("an NLMSG_ERROR with extended ack yields errno and the kernel's message; an ack ends the request")
    func errorMessageParsed() throws {
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
        let text = Array("cannot modify an unsupported parameter".utf8) + [0]
        var tlv = le16(UInt16(4 + text.count)) + le16(NL.NLMSGERR_ATTR_MSG) + text
        while tlv.count % 4 != 0 { tlv.append(0) }
        let echoed = le32(36) + le16(30) + le16(5) + le32(9) + le32(0)
        let body = le32(UInt32(bitPattern: -EINVAL)) + echoed + tlv
        let message = le32(UInt32(16 + body.count)) + le16(NL.NLMSG_ERROR) + le16(NL.NLM_F_CAPPED | NL.NLM_F_ACK_TLVS)
            + le32(9) + le32(0) + body
        switch NetlinkDatagram.parse(message[...], sequence: 9) {
        case .failure(let error as NetlinkKernelError):
            #expect(error.errno == EINVAL)
            #expect(error.message == "cannot modify an unsupported parameter")
        default:
            Issue.record("expected a kernel error")
        }
        let ack = le32(36) + le16(NL.NLMSG_ERROR) + le16(0) + le32(9) + le32(0) + le32(0) + echoed
        let done = try NetlinkDatagram.parse(ack[...], sequence: 9).get()
        #expect(done.finished)
        // A reply to another request is skipped.
        #expect(try NetlinkDatagram.parse(ack[...], sequence: 10).get().finished == false)
    }
}
