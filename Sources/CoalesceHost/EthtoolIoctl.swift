import Glibc

/// The legacy `SIOCETHTOOL` ioctl, used when the ethtool netlink family is missing
/// (kernels before 5.6 or built without CONFIG_ETHTOOL_NETLINK), and for the driver
/// name of virtual devices (ETHTOOL_GDRVINFO).
///
/// `struct ethtool_coalesce` is 23 × u32: `cmd` then the 22 parameters in the order of
/// the netlink attributes RX_USECS (2) … RATE_SAMPLE_INTERVAL (23). The ioctl cannot
/// say which parameters a driver supports; `coalesce` therefore reports the classic
/// rx/tx usecs/frames and adaptive flags, which every coalescing driver implements.
public enum EthtoolIoctl {
    static let SIOCETHTOOL: UInt = 0x8946
    static let ETHTOOL_GDRVINFO: UInt32 = 0x03
    static let ETHTOOL_GCOALESCE: UInt32 = 0x0e
    static let ETHTOOL_SCOALESCE: UInt32 = 0x0f
    static let coalesceWords = 23
    static let classicParameters: [CoalesceParameter] = [
        .rxUsecs, .rxMaxFrames, .txUsecs, .txMaxFrames, .useAdaptiveRx, .useAdaptiveTx,
    ]

    /// ETHTOOL_GCOALESCE: the classic parameters of `interface`.
    public static func coalesce(_ interface: String) throws(HostError) -> EthtoolCoalesce {
        var words = [UInt32](repeating: 0, count: coalesceWords)
        words[0] = ETHTOOL_GCOALESCE
        try perform(interface, operation: "ETHTOOL_GCOALESCE", data: &words)
        var result = EthtoolCoalesce()
        for p in classicParameters { result[p] = words[p.ioctlField!] }
        return result
    }

    /// ETHTOOL_SCOALESCE: reads the current values, overlays `changes`, writes all back
    /// (the ioctl has no per-field update).
    public static func setCoalesce(_ interface: String, _ changes: EthtoolCoalesce) throws(HostError) {
        guard !changes.values.isEmpty else { return }
        var words = [UInt32](repeating: 0, count: coalesceWords)
        words[0] = ETHTOOL_GCOALESCE
        try perform(interface, operation: "ETHTOOL_GCOALESCE", data: &words)
        for (p, v) in changes.values {
            guard let field = p.ioctlField else {
                throw .unsupported(interface: interface, driver: CoalesceHost.driverName(interface), parameters: [p.ethtoolName + " (not in the ioctl's struct ethtool_coalesce)"])
            }
            words[field] = v
        }
        words[0] = ETHTOOL_SCOALESCE
        try perform(interface, operation: "ETHTOOL_SCOALESCE", data: &words)
    }

    /// ETHTOOL_GDRVINFO's driver field (`veth`, `virtio_net`), or nil when the ioctl fails.
    public static func driverName(_ interface: String) -> String? {
        // struct ethtool_drvinfo: cmd u32, driver[32], version[32], fw_version[32],
        // bus_info[32], erom_version[32], reserved2[12], five u32 = 196 bytes.
        var words = [UInt32](repeating: 0, count: 49)
        words[0] = ETHTOOL_GDRVINFO
        guard (try? perform(interface, operation: "ETHTOOL_GDRVINFO", data: &words)) != nil else { return nil }
        return words.withUnsafeBytes { raw in
            let driver = raw[4..<36].prefix(while: { $0 != 0 })
            return driver.isEmpty ? nil : String(decoding: driver, as: UTF8.self)
        }
    }

    /// Runs one SIOCETHTOOL request with `ifr_data` pointing at `data`.
    static func perform(_ interface: String, operation: String, data: inout [UInt32]) throws(HostError) {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw .socket(operation: "socket(AF_INET) for \(operation)", errno: errno) }
        defer { close(fd) }
        var request = ifreq()
        let name = Array(interface.utf8.prefix(Int(IFNAMSIZ) - 1))
        withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { raw in
            for (i, b) in name.enumerated() { raw[i] = b }
        }
        let result: Int32 = data.withUnsafeMutableBytes { buffer in
            request.ifr_ifru.ifru_data = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
            return ioctl(fd, SIOCETHTOOL, &request)
        }
        if result < 0 {
            let code = errno
            if code == ENODEV { throw .interfaceMissing(interface: interface) }
            let driver = operation == "ETHTOOL_GDRVINFO" ? "unknown" : CoalesceHost.driverName(interface)
            throw .kernelRefused(operation: operation, interface: interface, driver: driver, errno: code, kernelMessage: nil)
        }
    }
}
