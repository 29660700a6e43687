import Glibc

/// Everything that can go wrong while observing or configuring a live Linux host.
///
/// Every case names what was at fault (file, interface, driver, IRQ) so that a
/// message alone tells an operator where to look.
public enum HostError: Error, Equatable, CustomStringConvertible {
    /// `/sys/class/net/IF` does not exist (never existed, deleted, or in another network namespace).
    case interfaceMissing(interface: String)
    /// A kernel file could not be opened or read.
    case unreadable(path: String, errno: Int32)
    /// A kernel file could not be written.
    case unwritable(path: String, value: String, errno: Int32)
    /// A kernel file did not have the expected format.
    case malformed(path: String, detail: String)
    /// The kernel refused an ethtool request (netlink or ioctl): errno, the kernel's
    /// extended-ack message when it sent one, the interface and its driver.
    case kernelRefused(operation: String, interface: String, driver: String, errno: Int32, kernelMessage: String?)
    /// The device cannot do what was asked: these parameters are not supported by its driver.
    case unsupported(interface: String, driver: String, parameters: [String])
    /// A netlink reply broke the protocol (truncated, wrong sequence, missing attribute).
    case netlinkProtocol(detail: String)
    /// The "ethtool" generic-netlink family is not registered in this kernel.
    case ethtoolFamilyMissing(errno: Int32)
    /// An IRQ given with `--irq` does not exist.
    case irqMissing(irq: Int)
    /// A socket operation failed (probe, netlink, ioctl).
    case socket(operation: String, errno: Int32)
    /// An address such as `HOST:PORT` could not be parsed or resolved.
    case badAddress(text: String, detail: String)
    /// Entering or using a network namespace failed.
    case namespace(name: String, operation: String, errno: Int32)
    /// The restore journal could not be updated before or after a change, so the
    /// change was not made (or the journal does not name it).
    case restoreJournal(detail: String)

    public var description: String {
        switch self {
        case .interfaceMissing(let i):
            return "interface '\(i)' not found: /sys/class/net/\(i) does not exist in this network namespace"
        case .unreadable(let p, let e):
            return "cannot read \(p): \(errnoText(e))"
        case .unwritable(let p, let v, let e):
            return "cannot write '\(v)' to \(p): \(errnoText(e))"
        case .malformed(let p, let d):
            return "unexpected format in \(p): \(d)"
        case .kernelRefused(let op, let i, let d, let e, let m):
            let reason = m.map { ": kernel says \"\($0)\"" } ?? ""
            return "\(op) on \(i) (driver \(d)) failed with \(errnoText(e))\(reason)"
        case .unsupported(let i, let d, let ps):
            return "\(i) (driver \(d)) does not support \(ps.joined(separator: ", "))"
        case .netlinkProtocol(let d):
            return "netlink protocol error: \(d)"
        case .ethtoolFamilyMissing(let e):
            return "generic netlink family 'ethtool' not available (\(errnoText(e))); kernel older than 5.6 or CONFIG_ETHTOOL_NETLINK off"
        case .irqMissing(let n):
            return "IRQ \(n) not found in /sys/kernel/irq or /proc/interrupts"
        case .socket(let op, let e):
            return "\(op) failed: \(errnoText(e))"
        case .badAddress(let t, let d):
            return "bad address '\(t)': \(d)"
        case .namespace(let n, let op, let e):
            return "network namespace '\(n)': \(op) failed: \(errnoText(e))"
        case .restoreJournal(let d):
            return d
        }
    }

    /// The errno carried by the error, if any.
    public var errno: Int32? {
        switch self {
        case .unreadable(_, let e), .unwritable(_, _, let e), .ethtoolFamilyMissing(let e),
             .socket(_, let e), .namespace(_, _, let e):
            return e
        case .kernelRefused(_, _, _, let e, _):
            return e
        default:
            return nil
        }
    }

    /// True when the kernel said the operation is not supported by the device (EOPNOTSUPP).
    public var isNotSupported: Bool {
        if case .unsupported = self { return true }
        return self.errno == EOPNOTSUPP
    }
}

/// `EOPNOTSUPP (Operation not supported)`-style text for an errno value.
public func errnoText(_ code: Int32) -> String {
    let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO",
        EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT",
        EBUSY: "EBUSY", EEXIST: "EEXIST", ENODEV: "ENODEV", EINVAL: "EINVAL", ERANGE: "ERANGE",
        EOPNOTSUPP: "EOPNOTSUPP", EPROTONOSUPPORT: "EPROTONOSUPPORT", EAFNOSUPPORT: "EAFNOSUPPORT",
        ECONNREFUSED: "ECONNREFUSED", EMSGSIZE: "EMSGSIZE", ENOBUFS: "ENOBUFS",
        ETIMEDOUT: "ETIMEDOUT", ENETDOWN: "ENETDOWN", ENETUNREACH: "ENETUNREACH",
    ]
    let name = names[code] ?? "errno \(code)"
    let text = strerror(code).map { String(cString: $0) } ?? "unknown error"
    return "\(name) (\(text))"
}
