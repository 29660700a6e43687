#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Errors writing a dataset.
public enum DatasetWriteError: Error, CustomStringConvertible {
    case open(path: String, errno: Int32)
    case write(path: String, errno: Int32)
    case layerMismatch(path: String, expected: Int, found: Int)

    public var description: String {
        switch self {
        case .open(let p, let e): return "\(p): cannot create: \(String(cString: strerror(e)))"
        case .write(let p, let e): return "\(p): write failed: \(String(cString: strerror(e)))"
        case .layerMismatch(let p, let e, let f): return "\(p): row has \(f) interrupt source(s), header says \(e) (irq_columns)"
        }
    }
}

/// Writes a dataset (schema v1) row by row. Each row goes to the file in one
/// `write(2)` as soon as it is complete, so a killed process leaves a file that
/// reads back up to its last complete row.
///
/// Plain POSIX I/O rather than FileHandle: it keeps CoalesceCore free of the full
/// Foundation (the static agent links it) and one unbuffered write per row is the
/// crash-safety guarantee.
public final class DatasetWriter {
    public let path: String
    public let header: DatasetHeader
    private let fd: Int32
    private var line: [UInt8] = []
    public private(set) var rowsWritten = 0

    /// Creates (truncates) `path` and writes the header.
    public init(path: String, header: DatasetHeader) throws(DatasetWriteError) {
        self.path = path
        self.header = header
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .open(path: path, errno: errno) }
        self.fd = fd
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = (try? encoder.encode(header)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        try put(DatasetHeader.magicLine + "\n# " + json + "\n" + header.columns.joined(separator: ",") + "\n")
    }

    deinit { close(fd) }

    private func put(_ text: String) throws(DatasetWriteError) {
        var bytes = Array(text.utf8)
        try put(&bytes)
    }

    private func put(_ bytes: inout [UInt8]) throws(DatasetWriteError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .write(path: path, errno: errno)
            }
            offset += n
        }
    }

    /// Appends one row.
    public func append(_ r: StepRecord) throws(DatasetWriteError) {
        let o = r.observation
        guard o.interrupts.count == header.irqColumns else {
            throw .layerMismatch(path: path, expected: header.irqColumns, found: o.interrupts.count)
        }
        line.removeAll(keepingCapacity: true)
        func field(_ s: String) {
            if !line.isEmpty { line.append(UInt8(ascii: ",")) }
            if s.contains(",") || s.contains("\"") {
                line.append(UInt8(ascii: "\""))
                for b in s.utf8 {
                    if b == UInt8(ascii: "\"") { line.append(b) }
                    line.append(b)
                }
                line.append(UInt8(ascii: "\""))
            } else {
                line.append(contentsOf: s.utf8)
            }
        }
        func num(_ x: Double) { field(DatasetNumber.format(x)) }
        field(r.episode)
        field(String(r.step))
        field(String(o.timestampNs))
        field(String(header.intervalNs))
        for v in [o.rxPackets, o.rxBytes, o.txPackets, o.txBytes, o.rxDropped, o.rxMissed, o.rxFifoErrors, o.txDropped] {
            field(String(v))
        }
        for v in o.interrupts { field(String(v)) }
        for v in [o.cpu.userNs, o.cpu.systemNs, o.cpu.irqNs, o.cpu.softirqNs, o.cpu.idleNs] { field(String(v)) }
        field(String(o.cpuCount))
        field(String(o.softnetDropped))
        field(String(o.softnetTimeSqueeze))
        if let l = o.latency {
            for v in [l.count, l.p50Ns, l.p99Ns, l.p999Ns, l.maxNs] { field(String(v)) }
        } else {
            for _ in 0..<5 { field("") }
        }
        field(o.setting.specText)
        for s in r.state { field(s == s.rounded() && abs(s) < 1e7 ? String(Int64(s)) : s.description) }
        field(r.previousAction.map(String.init) ?? "")
        field(String(r.action))
        field(header.actionSpace.settings.indices.contains(r.action) ? header.actionSpace.settings[r.action].specText : "")
        num(r.probability)
        field(r.policy)
        field(r.guardReason?.rawValue ?? "")
        let c = r.components
        field(c.latencyP99Us.map(DatasetNumber.format) ?? "")
        for v in [c.cpuBusy, c.cpuPerPacketUs, c.dropFraction, c.backlogFraction, c.changed, c.throughputPps, c.interruptsPerS] {
            num(v)
        }
        num(r.reward)
        field(r.terminal ? "1" : "0")
        field(r.timeout ? "1" : "0")
        line.append(UInt8(ascii: "\n"))
        try put(&line)
        rowsWritten += 1
    }
}

/// Number formatting that round-trips: Swift's shortest representation that parses
/// back to the identical Double ("description" is exact for finite values).
public enum DatasetNumber {
    public static func format(_ x: Double) -> String {
        if x == x.rounded(), abs(x) < 1e15 { return String(Int64(x)) }
        return x.description
    }
}
