import Glibc

/// Netlink constants from `include/uapi/linux/netlink.h` and `genetlink.h`.
/// The Swift Glibc module does not import the kernel's netlink headers, so the
/// numbers are spelled out here (they are kernel ABI and never change).
enum NL {
    static let AF_NETLINK: Int32 = 16
    static let NETLINK_GENERIC: Int32 = 16
    static let SOL_NETLINK: Int32 = 270
    static let NETLINK_CAP_ACK: Int32 = 10
    static let NETLINK_EXT_ACK: Int32 = 11

    static let NLM_F_REQUEST: UInt16 = 0x1
    static let NLM_F_ACK: UInt16 = 0x4
    static let NLM_F_CAPPED: UInt16 = 0x100
    static let NLM_F_ACK_TLVS: UInt16 = 0x200

    static let NLMSG_NOOP: UInt16 = 1
    static let NLMSG_ERROR: UInt16 = 2
    static let NLMSG_DONE: UInt16 = 3

    static let NLMSGERR_ATTR_MSG: UInt16 = 1

    static let NLA_F_NESTED: UInt16 = 0x8000
    static let NLA_TYPE_MASK: UInt16 = 0x3FFF

    static let GENL_ID_CTRL: UInt16 = 0x10
    static let CTRL_CMD_GETFAMILY: UInt8 = 3
    static let CTRL_ATTR_FAMILY_ID: UInt16 = 1
    static let CTRL_ATTR_FAMILY_NAME: UInt16 = 2

    static let headerSize = 16
    static let genlHeaderSize = 4
}

/// Builds one generic-netlink request: `nlmsghdr`, `genlmsghdr`, then attributes
/// (4-byte aligned TLVs; nests carry `NLA_F_NESTED` as strict validation requires).
struct NetlinkRequest {
    private(set) var bytes: [UInt8] = []

    init(type: UInt16, flags: UInt16, sequence: UInt32, command: UInt8, version: UInt8) {
        append32(0)                 // nlmsg_len, patched by `finished`
        append16(type)
        append16(flags)
        append32(sequence)
        append32(0)                 // nlmsg_pid: 0, the kernel fills in ours
        bytes += [command, version, 0, 0]
    }

    mutating func u32(_ type: UInt16, _ value: UInt32) {
        attributeHeader(type, payload: 4)
        append32(value)
    }

    mutating func u8(_ type: UInt16, _ value: UInt8) {
        attributeHeader(type, payload: 1)
        bytes += [value, 0, 0, 0]
    }

    mutating func string(_ type: UInt16, _ value: String) {
        let payload = Array(value.utf8) + [0]
        attributeHeader(type, payload: payload.count)
        bytes += payload
        pad()
    }

    /// Appends a nested attribute whose content `body` writes.
    mutating func nest(_ type: UInt16, _ body: (inout NetlinkRequest) -> Void) {
        let start = bytes.count
        append16(0)
        append16(type | NL.NLA_F_NESTED)
        body(&self)
        let length = UInt16(bytes.count - start)
        bytes[start] = UInt8(length & 0xFF)
        bytes[start + 1] = UInt8(length >> 8)
    }

    /// The message with its length field set.
    func finished() -> [UInt8] {
        var out = bytes
        let n = UInt32(out.count)
        withUnsafeBytes(of: n.littleEndian) { for i in 0..<4 { out[i] = $0[i] } }
        return out
    }

    private mutating func attributeHeader(_ type: UInt16, payload: Int) {
        append16(UInt16(4 + payload))
        append16(type)
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    private mutating func append16(_ v: UInt16) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
    private mutating func append32(_ v: UInt32) {
        bytes += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)]
    }
}

/// The attributes of one netlink message or nest, indexed by type (last one wins).
struct NetlinkAttributes {
    private(set) var payloads: [UInt16: ArraySlice<UInt8>] = [:]

    /// Parses TLVs in `bytes`; stops at the first malformed header.
    init(_ bytes: ArraySlice<UInt8>) throws(HostError) {
        var i = bytes.startIndex
        while i + 4 <= bytes.endIndex {
            let length = Int(bytes[i]) | Int(bytes[i + 1]) << 8
            let type = (UInt16(bytes[i + 2]) | UInt16(bytes[i + 3]) << 8) & NL.NLA_TYPE_MASK
            guard length >= 4, i + length <= bytes.endIndex else {
                throw .netlinkProtocol(detail: "attribute type \(type) has length \(length) beyond the message")
            }
            payloads[type] = bytes[(i + 4)..<(i + length)]
            i += (length + 3) & ~3
        }
    }

    func contains(_ type: UInt16) -> Bool { payloads[type] != nil }

    func u32(_ type: UInt16) -> UInt32? {
        guard let p = payloads[type], p.count >= 4 else { return nil }
        let s = p.startIndex
        return UInt32(p[s]) | UInt32(p[s + 1]) << 8 | UInt32(p[s + 2]) << 16 | UInt32(p[s + 3]) << 24
    }

    func u16(_ type: UInt16) -> UInt16? {
        guard let p = payloads[type], p.count >= 2 else { return nil }
        return UInt16(p[p.startIndex]) | UInt16(p[p.startIndex + 1]) << 8
    }

    func u8(_ type: UInt16) -> UInt8? {
        guard let p = payloads[type], !p.isEmpty else { return nil }
        return p[p.startIndex]
    }

    func string(_ type: UInt16) -> String? {
        guard let p = payloads[type] else { return nil }
        return String(decoding: p.prefix(while: { $0 != 0 }), as: UTF8.self)
    }

    func nested(_ type: UInt16) throws(HostError) -> NetlinkAttributes? {
        guard let p = payloads[type] else { return nil }
        return try NetlinkAttributes(p)
    }
}

/// A kernel NLMSG_ERROR with a non-zero code, with the extended-ack message if any.
struct NetlinkKernelError: Error {
    var errno: Int32
    var message: String?
}

/// A generic-netlink socket (`AF_NETLINK`, `NETLINK_GENERIC`) with extended acks on.
///
/// One request at a time: `transact` sends a message with `NLM_F_ACK` and reads until
/// the kernel's ack (or error) for that sequence number, returning the data messages.
final class GenericNetlinkSocket {
    let fd: Int32
    private var sequence: UInt32
    private var buffer: [UInt8]

    init() throws(HostError) {
        fd = socket(NL.AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NL.NETLINK_GENERIC)
        if fd < 0 { throw .socket(operation: "socket(AF_NETLINK, NETLINK_GENERIC)", errno: errno) }
        var one: Int32 = 1
        // Extended ack: the kernel adds its human-readable reason (NLMSGERR_ATTR_MSG).
        _ = setsockopt(fd, NL.SOL_NETLINK, NL.NETLINK_EXT_ACK, &one, socklen_t(MemoryLayout<Int32>.size))
        // Capped ack: errors do not echo our whole request back.
        _ = setsockopt(fd, NL.SOL_NETLINK, NL.NETLINK_CAP_ACK, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        sequence = UInt32(truncatingIfNeeded: time(nil))
        buffer = [UInt8](repeating: 0, count: 32 * 1024)
    }

    deinit { close(fd) }

    /// The next sequence number to put into a request.
    func nextSequence() -> UInt32 {
        sequence &+= 1
        return sequence
    }

    /// Sends `request` (built with sequence `seq` and NLM_F_ACK) and returns the payloads
    /// (after the netlink header) of the data messages answering it.
    /// Throws `NetlinkKernelError` for a kernel error, `HostError` for transport problems.
    func transact(_ request: [UInt8], sequence seq: UInt32) throws -> [ArraySlice<UInt8>] {
        let sent = request.withUnsafeBytes { send(fd, $0.baseAddress!, $0.count, 0) }
        if sent < 0 { throw HostError.socket(operation: "netlink send", errno: errno) }
        var replies: [ArraySlice<UInt8>] = []
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_TRUNC)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw HostError.socket(operation: "netlink recv", errno: errno)
            }
            if n > buffer.count { throw HostError.netlinkProtocol(detail: "reply of \(n) bytes truncated to \(buffer.count)") }
            let (data, finished) = try NetlinkDatagram.parse(buffer[0..<n], sequence: seq).get()
            // Copy the (small) payloads out so the receive buffer stays uniquely owned.
            replies += data.map { ArraySlice(Array($0)) }
            if finished { return replies }
        }
    }

    /// Resolves a generic-netlink family name to its id with CTRL_CMD_GETFAMILY.
    func resolveFamily(_ name: String) throws -> UInt16 {
        let seq = nextSequence()
        var request = NetlinkRequest(type: NL.GENL_ID_CTRL, flags: NL.NLM_F_REQUEST | NL.NLM_F_ACK,
                                     sequence: seq, command: NL.CTRL_CMD_GETFAMILY, version: 1)
        request.string(NL.CTRL_ATTR_FAMILY_NAME, name)
        let replies: [ArraySlice<UInt8>]
        do {
            replies = try transact(request.finished(), sequence: seq)
        } catch let error as NetlinkKernelError {
            throw HostError.ethtoolFamilyMissing(errno: error.errno)
        }
        guard let reply = replies.first, reply.count >= NL.genlHeaderSize else {
            throw HostError.netlinkProtocol(detail: "no CTRL_CMD_GETFAMILY reply for '\(name)'")
        }
        let attributes = try NetlinkAttributes(reply.dropFirst(NL.genlHeaderSize))
        guard let id = attributes.u16(NL.CTRL_ATTR_FAMILY_ID) else {
            throw HostError.netlinkProtocol(detail: "CTRL_CMD_GETFAMILY reply for '\(name)' lacks CTRL_ATTR_FAMILY_ID")
        }
        return id
    }
}

/// One datagram from a netlink socket, split into messages for one request.
enum NetlinkDatagram {
    /// The data payloads answering `sequence`, and whether the request is complete
    /// (ack, NLMSG_DONE). A kernel error becomes `NetlinkKernelError` with the
    /// extended-ack message; malformed framing becomes `HostError.netlinkProtocol`.
    static func parse(_ bytes: ArraySlice<UInt8>, sequence: UInt32) -> Result<(data: [ArraySlice<UInt8>], finished: Bool), any Error> {
        var data: [ArraySlice<UInt8>] = []
        var offset = bytes.startIndex
        while offset + NL.headerSize <= bytes.endIndex {
            let length = Int(read32(bytes, offset))
            let type = read16(bytes, offset + 4)
            let flags = read16(bytes, offset + 6)
            let msgSeq = read32(bytes, offset + 8)
            guard length >= NL.headerSize, offset + length <= bytes.endIndex else {
                return .failure(HostError.netlinkProtocol(detail: "message length \(length) at offset \(offset - bytes.startIndex) exceeds datagram of \(bytes.count) bytes"))
            }
            let message = bytes[offset..<(offset + length)]
            offset += (length + 3) & ~3
            guard msgSeq == sequence else { continue }      // stale reply to an earlier request
            switch type {
            case NL.NLMSG_ERROR:
                guard message.count >= NL.headerSize + 4 else {
                    return .failure(HostError.netlinkProtocol(detail: "NLMSG_ERROR of \(message.count) bytes"))
                }
                let code = Int32(bitPattern: read32(message, message.startIndex + NL.headerSize))
                if code == 0 { return .success((data, true)) }
                return .failure(NetlinkKernelError(errno: -code, message: extendedAckMessage(message, flags: flags)))
            case NL.NLMSG_DONE:
                return .success((data, true))
            case NL.NLMSG_NOOP:
                continue
            default:
                data.append(message.dropFirst(NL.headerSize))
            }
        }
        return .success((data, false))
    }

    /// NLMSGERR_ATTR_MSG from the TLVs after `struct nlmsgerr` (error + the echoed header,
    /// plus the echoed payload unless the ack is capped).
    static func extendedAckMessage(_ message: ArraySlice<UInt8>, flags: UInt16) -> String? {
        guard flags & NL.NLM_F_ACK_TLVS != 0 else { return nil }
        let base = message.startIndex
        var tlvStart = base + NL.headerSize + 4 + NL.headerSize
        if flags & NL.NLM_F_CAPPED == 0, message.count >= NL.headerSize + 4 + 4 {
            let echoedLength = Int(read32(message, base + NL.headerSize + 4))
            tlvStart = base + NL.headerSize + 4 + ((echoedLength + 3) & ~3)
        }
        guard tlvStart < message.endIndex,
              let attributes = try? NetlinkAttributes(message[tlvStart...]) else { return nil }
        return attributes.string(NL.NLMSGERR_ATTR_MSG)
    }

    static func read16(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt16 { UInt16(b[i]) | UInt16(b[i + 1]) << 8 }
    static func read32(_ b: ArraySlice<UInt8>, _ i: Int) -> UInt32 {
        UInt32(b[i]) | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2]) << 16 | UInt32(b[i + 3]) << 24
    }
}
