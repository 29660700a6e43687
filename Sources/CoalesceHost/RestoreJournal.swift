#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CoalesceCore
import Glibc

/// What a program that changes an interface's coalescing writes down before its
/// first change: the settings the operator had, and who changed them.
///
/// A program that exits normally puts those settings back and removes the record.
/// One that cannot (`kill -9`, the OOM killer, a crash) leaves it, and the next
/// program to claim the interface — or `coalesce-agent --restore-only`, which the
/// systemd unit runs as `ExecStopPost` — puts them back (`InterfaceClaim`). Whether
/// its writer still runs is told by the claim's lock, not by the record's pid, which
/// is only for messages. The file format is docs/restore-journal.md.
public struct RestoreJournal: Sendable, Equatable, Codable {
    /// The file format's name, checked on reading.
    public static let format = "coalesce-restore-journal"
    /// The file format's version, checked on reading.
    public static let version = 1

    /// `format` as written in the file.
    public var format: String = Self.format
    /// `version` as written in the file.
    public var version: Int = Self.version
    /// The interface, e.g. `eth1`.
    public var interface: String
    /// Its ifindex when the record was written: a different one means the interface
    /// was deleted and recreated since, so the record is not for this device.
    public var ifindex: Int
    /// The network namespace (inode of `/proc/self/ns/net`) the interface name belongs to.
    public var netns: UInt64
    /// `/proc/sys/kernel/random/boot_id`: coalescing does not survive a reboot, so
    /// neither does the record.
    public var bootID: String
    /// The process that changes the interface (for messages).
    public var pid: Int32
    /// The program, for messages: `coalesce-agent`, `coalesce compare`, `coalesce collect`.
    public var program: String
    /// The settings found before the first change, as a spec (`CoalescingSetting.parse`).
    public var original: String
    /// The setting the device was last read back with after a change by the writer
    /// (at first, `original`). Recovery puts `original` back only while the device
    /// still has this (or a change was in flight): anything else is a newer choice.
    public var applied: String
    /// A change the writer had started and not finished (nil otherwise).
    public var applying: String?

    enum CodingKeys: String, CodingKey {
        case format, version, interface, ifindex, netns, pid, program, original, applied, applying
        case bootID = "boot_id"
    }

    /// The record the current process writes for `interface`, whose settings are `original`.
    public static func forCurrentProcess(interface: String, original: LayerSetting, program: String) throws(RestoreJournalError) -> RestoreJournal {
        let identity = try SystemIdentity.current()
        guard let ifindex = SystemIdentity.ifindex(of: interface) else {
            throw .interfaceMissing(interface: interface)
        }
        return RestoreJournal(interface: interface, ifindex: ifindex, netns: identity.netns, bootID: identity.bootID,
                              pid: getpid(), program: program, original: original.specText, applied: original.specText)
    }

    /// The settings to put back.
    public func originalSetting(path: String) throws(RestoreJournalError) -> LayerSetting {
        try Self.setting(original, key: "original", path: path)
    }

    /// The setting the writer last left the device with.
    public func appliedSetting(path: String) throws(RestoreJournalError) -> LayerSetting {
        try Self.setting(applied, key: "applied", path: path)
    }

    static func setting(_ text: String, key: String, path: String) throws(RestoreJournalError) -> LayerSetting {
        do { return try CoalescingSetting.parse(text, layerCount: 1).layers[0] } catch {
            throw .corrupt(path: path, detail: "'\(key)' is not a setting (\(error))")
        }
    }
}

/// Why a restore journal could not be used.
public enum RestoreJournalError: Error, Equatable, CustomStringConvertible {
    /// The file exists but is not a journal this version can read.
    case corrupt(path: String, detail: String)
    /// A running process holds the interface's claim (`holder`: its program and pid
    /// when it has recorded its journal, nil before it has).
    case inUse(path: String, interface: String, holder: String?)
    /// The record belongs to an interface of the same name in another network namespace.
    case otherNamespace(path: String, interface: String, netns: UInt64)
    /// Reading, writing or removing the file failed.
    case io(path: String, operation: String, errno: Int32)
    /// The interface does not exist (in this network namespace).
    case interfaceMissing(interface: String)
    /// Putting the recorded settings back failed; the record is kept.
    case restoreFailed(path: String, interface: String, original: String, error: String)

    /// What is wrong, with the file or interface, and what to do.
    public var description: String {
        switch self {
        case .corrupt(let p, let d):
            return "restore journal \(p): \(d). It records the coalescing an earlier run changed; "
                + "check the interface's settings (ethtool -c, /sys/class/net/IF/{gro_flush_timeout,napi_defer_hard_irqs}), "
                + "then remove the file"
        case .inUse(let p, let i, let holder):
            return "\(i) is being controlled by \(holder ?? "another program") (\(p)); stop it first: two controllers "
                + "on one interface would undo each other's changes and each restore the other's settings"
        case .otherNamespace(let p, let i, let ns):
            return "restore journal \(p) is for an interface '\(i)' in another network namespace (net:[\(ns)]); "
                + "give each namespace its own state directory"
        case .io(let p, let op, let e):
            var text = "restore journal \(p): \(op) failed: \(String(cString: strerror(e))) (errno \(e))"
            if [EACCES, EPERM, EROFS].contains(e) && op != "read" {
                text += "; changing coalescing needs a writable state directory (--state-dir; the systemd unit's "
                    + "RuntimeDirectory) as well as CAP_NET_ADMIN, while --dry-run needs neither"
            }
            return text
        case .interfaceMissing(let i):
            return "interface '\(i)' not found: /sys/class/net/\(i) does not exist in this network namespace"
        case .restoreFailed(let p, let i, let o, let e):
            return "could not put back \(i)'s recorded settings (\(o)) from \(p): \(e); the journal is kept"
        }
    }
}

/// The journals of one state directory (default `/run/coalesce`, on tmpfs: coalescing
/// does not outlive a reboot, and neither should a record of it), one directory per
/// interface: `DIR/IF/journal.json` and the claim's lock `DIR/IF/lock`. (One directory
/// per interface is what systemd's `RuntimeDirectory=coalesce/%i` gives each agent
/// instance, so the unit and the command-line tools see the same files.)
public struct RestoreJournalStore: Sendable {
    /// Where `coalesce-agent`, live `coalesce compare` and `coalesce collect --apply` keep them.
    public static let defaultDirectory = "/run/coalesce"

    /// The state directory.
    public let directory: String

    /// The journals of `directory` (created with the first journal written).
    public init(directory: String = Self.defaultDirectory) {
        self.directory = directory
    }

    /// The directory of `interface`'s journal and lock.
    public func interfaceDirectory(_ interface: String) -> String { directory + "/" + interface }
    /// The journal file of `interface`.
    public func path(for interface: String) -> String { interfaceDirectory(interface) + "/journal.json" }
    /// The lock file whose `flock` is `interface`'s claim.
    public func lockPath(for interface: String) -> String { interfaceDirectory(interface) + "/lock" }

    /// The journal of `interface`, or nil when there is none.
    public func read(interface: String) throws(RestoreJournalError) -> RestoreJournal? {
        let path = path(for: interface)
        let bytes: [UInt8]
        do { bytes = try FileBytes.read(path) } catch {
            if error.code == ENOENT { return nil }
            throw .io(path: path, operation: "read", errno: error.code)
        }
        let journal: RestoreJournal
        do { journal = try JSONDecoder().decode(RestoreJournal.self, from: Data(bytes)) } catch {
            throw .corrupt(path: path, detail: bytes.isEmpty ? "the file is empty" : "not a restore journal (\(DecodingErrorText.describe(error)))")
        }
        guard journal.format == RestoreJournal.format, journal.version == RestoreJournal.version else {
            throw .corrupt(path: path, detail: "format '\(journal.format)' version \(journal.version), expected '\(RestoreJournal.format)' version \(RestoreJournal.version)")
        }
        guard journal.interface == interface else {
            throw .corrupt(path: path, detail: "it names interface '\(journal.interface)', not '\(interface)'")
        }
        _ = try journal.originalSetting(path: path)
        _ = try journal.appliedSetting(path: path)
        if let applying = journal.applying { _ = try RestoreJournal.setting(applying, key: "applying", path: path) }
        return journal
    }

    /// Writes `journal` atomically (temporary file, fsync, rename), creating the
    /// directories. Only the holder of the interface's claim writes it. Plain syscalls
    /// rather than `Data.write(options: .atomic)`, so that a failure keeps its errno for
    /// the message (a read-only or foreign state directory gets its own hint).
    public func write(_ journal: RestoreJournal) throws(RestoreJournalError) {
        let path = path(for: journal.interface)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let bytes: [UInt8]
        do { bytes = Array(try encoder.encode(journal)) + [0x0A] } catch {
            throw .corrupt(path: path, detail: "cannot encode: \(error)")
        }
        let temporary = path + ".tmp.\(getpid())"
        func create() -> Int32 { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        var fd = create()
        if fd < 0 && Glibc.errno == ENOENT {
            // The directories are made once (by the claim, or here), not on every write:
            // the journal is rewritten around every change.
            try createDirectory(interfaceDirectory(journal.interface))
            fd = create()
        }
        guard fd >= 0 else { throw .io(path: temporary, operation: "create", errno: Glibc.errno) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                let e = Glibc.errno
                close(fd); unlink(temporary)
                throw .io(path: temporary, operation: "write", errno: e)
            }
            written += n
        }
        if fsync(fd) != 0 {
            let e = Glibc.errno
            close(fd); unlink(temporary)
            throw .io(path: temporary, operation: "fsync", errno: e)
        }
        close(fd)
        if rename(temporary, path) != 0 {
            let e = Glibc.errno
            unlink(temporary)
            throw .io(path: path, operation: "rename", errno: e)
        }
    }

    /// Creates `target` and any missing parents (`mkdir -p`).
    func createDirectory(_ target: String) throws(RestoreJournalError) {
        var path = target.hasPrefix("/") ? "" : "."
        for component in target.split(separator: "/") {
            path += "/" + component
            if mkdir(path, 0o755) != 0 && Glibc.errno != EEXIST {
                throw .io(path: path, operation: "create directory", errno: Glibc.errno)
            }
        }
    }

    /// Removes the journal of `interface` (nothing to do when there is none).
    public func remove(interface: String) throws(RestoreJournalError) {
        let path = path(for: interface)
        if unlink(path) != 0 && Glibc.errno != ENOENT { throw .io(path: path, operation: "remove", errno: Glibc.errno) }
    }
}

/// Facts about this boot, network namespace and process that a journal is checked against.
enum SystemIdentity {
    struct Current { var netns: UInt64; var bootID: String }

    static func current() throws(RestoreJournalError) -> Current {
        var st = stat()
        guard stat("/proc/self/ns/net", &st) == 0 else {
            throw .io(path: "/proc/self/ns/net", operation: "stat", errno: Glibc.errno)
        }
        let boot: String
        do { boot = try KernelFileReader().readText(KernelPath("/proc/sys/kernel/random/boot_id")) } catch {
            throw .io(path: "/proc/sys/kernel/random/boot_id", operation: "read", errno: error.errno ?? EIO)
        }
        return Current(netns: UInt64(st.st_ino), bootID: boot)
    }

    /// The interface's ifindex, or nil when it does not exist here.
    static func ifindex(of interface: String) -> Int? {
        (try? KernelFileReader().readUInt64(KernelPath("/sys/class/net/\(interface)/ifindex"))).map { Int($0) }
    }
}
