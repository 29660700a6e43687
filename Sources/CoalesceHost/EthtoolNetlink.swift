import Glibc

/// Reads and writes a device's coalescing through the ethtool generic-netlink family,
/// directly on a netlink socket (the `ethtool` program is never run).
///
/// Messages: ETHTOOL_MSG_COALESCE_GET (19) / ETHTOOL_MSG_COALESCE_SET (20), reply
/// ETHTOOL_MSG_COALESCE_GET_REPLY (20); request header nest ETHTOOL_A_COALESCE_HEADER (1)
/// holding ETHTOOL_A_HEADER_DEV_NAME (2). Kernel errors keep the extended-ack message.
public final class EthtoolNetlinkClient {
    static let familyName = "ethtool"
    static let familyVersion: UInt8 = 1
    static let msgCoalesceGet: UInt8 = 19
    static let msgCoalesceSet: UInt8 = 20
    static let msgCoalesceGetReply: UInt8 = 20
    static let attrHeader: UInt16 = 1
    static let attrHeaderDevIndex: UInt16 = 1
    static let attrHeaderDevName: UInt16 = 2

    let socket: GenericNetlinkSocket
    /// The id the kernel assigned to the "ethtool" family.
    public let familyId: UInt16

    /// Opens the socket and resolves the family; throws `.ethtoolFamilyMissing` when absent.
    public init() throws(HostError) {
        socket = try GenericNetlinkSocket()
        do {
            familyId = try socket.resolveFamily(Self.familyName)
        } catch let error as HostError {
            throw error
        } catch {
            throw .netlinkProtocol(detail: "\(error)")
        }
    }

    /// COALESCE_GET for `interface`.
    public func coalesce(_ interface: String) throws(HostError) -> EthtoolCoalesce {
        let seq = socket.nextSequence()
        var request = NetlinkRequest(type: familyId, flags: NL.NLM_F_REQUEST | NL.NLM_F_ACK, sequence: seq,
                                     command: Self.msgCoalesceGet, version: Self.familyVersion)
        request.nest(Self.attrHeader) { $0.string(Self.attrHeaderDevName, interface) }
        let replies = try run(request.finished(), sequence: seq, operation: "ETHTOOL_MSG_COALESCE_GET", interface: interface)
        guard let reply = replies.first, reply.count >= NL.genlHeaderSize else {
            throw .netlinkProtocol(detail: "no COALESCE_GET reply for \(interface)")
        }
        guard reply[reply.startIndex] == Self.msgCoalesceGetReply else {
            throw .netlinkProtocol(detail: "expected COALESCE_GET_REPLY (\(Self.msgCoalesceGetReply)) for \(interface), got command \(reply[reply.startIndex])")
        }
        let attributes = try NetlinkAttributes(reply.dropFirst(NL.genlHeaderSize))
        var result = EthtoolCoalesce()
        for p in CoalesceParameter.allCases {
            if p.isBoolean {
                if let v = attributes.u8(p.rawValue) { result[p] = UInt32(v) }
            } else if let v = attributes.u32(p.rawValue) {
                result[p] = v
            }
        }
        return result
    }

    /// COALESCE_SET of exactly the given parameters (others stay as they are).
    public func setCoalesce(_ interface: String, _ changes: EthtoolCoalesce) throws(HostError) {
        guard !changes.values.isEmpty else { return }
        let seq = socket.nextSequence()
        var request = NetlinkRequest(type: familyId, flags: NL.NLM_F_REQUEST | NL.NLM_F_ACK, sequence: seq,
                                     command: Self.msgCoalesceSet, version: Self.familyVersion)
        request.nest(Self.attrHeader) { $0.string(Self.attrHeaderDevName, interface) }
        for (p, v) in changes.values.sorted(by: { $0.key < $1.key }) {
            if p.isBoolean { request.u8(p.rawValue, v != 0 ? 1 : 0) } else { request.u32(p.rawValue, v) }
        }
        _ = try run(request.finished(), sequence: seq, operation: "ETHTOOL_MSG_COALESCE_SET", interface: interface)
    }

    private func run(_ bytes: [UInt8], sequence: UInt32, operation: String, interface: String) throws(HostError) -> [ArraySlice<UInt8>] {
        do {
            return try socket.transact(bytes, sequence: sequence)
        } catch let error as NetlinkKernelError {
            if error.errno == ENODEV { throw .interfaceMissing(interface: interface) }
            throw .kernelRefused(operation: operation, interface: interface, driver: driverName(interface),
                                 errno: error.errno, kernelMessage: error.message)
        } catch let error as HostError {
            throw error
        } catch {
            throw .netlinkProtocol(detail: "\(error)")
        }
    }
}

/// The driver bound to an interface: the last component of the
/// `/sys/class/net/IF/device/driver` symlink (`virtio_net`, `e1000e`, `mlx5_core`);
/// for virtual devices without `device/` (veth, lo) the driver field of the
/// ETHTOOL_GDRVINFO ioctl; `loopback` for lo; "unknown" when nothing answers.
public func driverName(_ interface: String, sysClassNet: String = "/sys/class/net") -> String {
    if let link = readLink("\(sysClassNet)/\(interface)/device/driver"),
       let last = link.split(separator: "/").last {
        return String(last)
    }
    if let driver = EthtoolIoctl.driverName(interface) { return driver }
    // The loopback device answers no ETHTOOL_GDRVINFO; its ARPHRD type (772) names it.
    if (try? KernelFileReader(initialCapacity: 64).readText(KernelPath("\(sysClassNet)/\(interface)/type"))) == "772" {
        return "loopback"
    }
    return "unknown"
}
