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

/// Errors reading a dataset. Every case names the file, and the line where one applies.
public enum DatasetReadError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case notADataset(path: String)
    case badHeader(path: String, reason: String)
    case unsupportedSchema(path: String, version: Int)
    case missingColumn(path: String, column: String)
    case unknownColumn(path: String, column: String)
    case fieldCount(path: String, line: Int, expected: Int, found: Int)
    case badValue(path: String, line: Int, column: String, value: String, reason: String)
    case nonMonotonicTime(path: String, line: Int, episode: String, previousNs: UInt64, foundNs: UInt64)
    case unknownAction(path: String, line: Int, action: Int, count: Int)
    case empty(path: String)

    public var description: String {
        switch self {
        case .cannotOpen(let p, let r): return "\(p): cannot read: \(r)"
        case .notADataset(let p): return "\(p):1: not a Coalesce dataset (first line must be '\(DatasetHeader.magicLine)')"
        case .badHeader(let p, let r): return "\(p):2: invalid header: \(r)"
        case .unsupportedSchema(let p, let v): return "\(p):2: dataset schema \(v) is not supported (this tool reads schema 1)"
        case .missingColumn(let p, let c): return "\(p):3: missing column '\(c)'"
        case .unknownColumn(let p, let c): return "\(p):3: unknown column '\(c)'"
        case .fieldCount(let p, let l, let e, let f): return "\(p):\(l): \(f) fields, expected \(e)"
        case .badValue(let p, let l, let c, let v, let r): return "\(p):\(l): column '\(c)': '\(v)' \(r)"
        case .nonMonotonicTime(let p, let l, let e, let a, let b):
            return "\(p):\(l): t_ns \(b) is not after the previous row's \(a) in episode '\(e)'"
        case .unknownAction(let p, let l, let a, let n): return "\(p):\(l): action \(a) is not in the action space (\(n) actions)"
        case .empty(let p): return "\(p): no rows"
        }
    }
}

/// One row of a dataset: a control step.
public struct DatasetRow: Sendable, Hashable {
    public var episode: String
    public var step: Int
    public var observation: Observation
    public var state: [Float]
    public var previousAction: Int?
    public var action: Int
    /// π_b(action|state); nil when the file leaves it empty.
    public var probability: Double?
    public var policy: String
    public var guardReason: String?
    public var components: RewardComponents
    public var reward: Double
    public var terminal: Bool
    public var timeout: Bool
}

/// A dataset read into memory and validated.
public struct Dataset: Sendable {
    public var path: String
    public var header: DatasetHeader
    public var rows: [DatasetRow]
    /// Non-fatal findings, e.g. an incomplete last line left by a killed writer.
    public var warnings: [String]
    /// Size of the file, bytes.
    public var byteCount: Int
    /// SHA-256 of the file's bytes, hex: identifies the data a model was trained on.
    public var fingerprint: String

    /// Reads and validates `path`. An incomplete final line (no newline: the writer
    /// was killed mid-row) is dropped with a warning; every other defect is an error
    /// naming the file, line and column.
    public static func read(path: String) throws(DatasetReadError) -> Dataset {
        let bytes = try readFile(path)
        return try parse(bytes: bytes, path: path)
    }

    static func readFile(_ path: String) throws(DatasetReadError) -> [UInt8] {
        do { return try FileBytes.read(path) } catch { throw .cannotOpen(path: path, reason: error.reason) }
    }

    /// Parses dataset bytes (`path` is used in messages).
    public static func parse(bytes: [UInt8], path: String) throws(DatasetReadError) -> Dataset {
        var parser = DatasetParser(bytes: bytes, path: path)
        return try parser.parse()
    }
}

/// The CSV parser behind `Dataset.read`: byte-level, one pass, no per-field String
/// for numeric columns. Hand-written rather than SwiftCSV/CSV.swift for speed
/// (numbers parsed straight from the bytes) and to keep CoalesceCore dependency-free.
struct DatasetParser {
    let bytes: [UInt8]
    let path: String
    var position = 0
    var lineNumber = 0

    init(bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    /// The next line's byte range (without the newline), and whether it ended in a newline.
    mutating func nextLine() -> (Range<Int>, Bool)? {
        guard position < bytes.count else { return nil }
        let start = position
        var end = start
        while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
        let complete = end < bytes.count
        position = complete ? end + 1 : end
        lineNumber += 1
        var stop = end
        if stop > start && bytes[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
        return (start..<stop, complete)
    }

    func text(_ r: Range<Int>) -> String { String(decoding: bytes[r], as: UTF8.self) }

    /// Splits a CSV line into field ranges; quoted fields are unquoted into `quoted`.
    func fields(_ r: Range<Int>, into out: inout [Range<Int>], quoted: inout [Int: String]) {
        out.removeAll(keepingCapacity: true)
        quoted.removeAll(keepingCapacity: true)
        var i = r.lowerBound
        while true {
            if i < r.upperBound && bytes[i] == UInt8(ascii: "\"") {
                var value: [UInt8] = []
                var j = i + 1
                while j < r.upperBound {
                    if bytes[j] == UInt8(ascii: "\"") {
                        if j + 1 < r.upperBound && bytes[j + 1] == UInt8(ascii: "\"") { value.append(bytes[j]); j += 2; continue }
                        break
                    }
                    value.append(bytes[j])
                    j += 1
                }
                quoted[out.count] = String(decoding: value, as: UTF8.self)
                out.append(i..<min(j + 1, r.upperBound))
                i = min(j + 1, r.upperBound)
                while i < r.upperBound && bytes[i] != UInt8(ascii: ",") { i += 1 }
            } else {
                let start = i
                while i < r.upperBound && bytes[i] != UInt8(ascii: ",") { i += 1 }
                out.append(start..<i)
            }
            if i >= r.upperBound { break }
            i += 1
        }
    }

    mutating func parse() throws(DatasetReadError) -> Dataset {
        guard let (magic, _) = nextLine(), text(magic) == DatasetHeader.magicLine else { throw .notADataset(path: path) }
        guard let (headerLine, _) = nextLine(), bytes[headerLine].starts(with: Array("# ".utf8)) else {
            throw .badHeader(path: path, reason: "missing the '# {json}' header line")
        }
        let json = Array(bytes[(headerLine.lowerBound + 2)..<headerLine.upperBound])
        if let probe = try? JSONDecoder().decode([String: JSONValue].self, from: Data(json)),
           case .number(let v)? = probe["schema"], Int(v) != 1 {
            throw .unsupportedSchema(path: path, version: Int(v))
        }
        let header: DatasetHeader
        do { header = try JSONDecoder().decode(DatasetHeader.self, from: Data(json)) } catch {
            throw .badHeader(path: path, reason: DecodingErrorText.describe(error))
        }
        guard let (columnLine, _) = nextLine() else { throw .missingColumn(path: path, column: "episode") }
        let found = text(columnLine).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let expected = header.columns
        for c in found where !expected.contains(c) { throw .unknownColumn(path: path, column: c) }
        for c in expected where !found.contains(c) { throw .missingColumn(path: path, column: c) }
        // Columns may come in any order: map expected index → position in the file.
        let position = expected.map { found.firstIndex(of: $0)! }
        let index = Dictionary(uniqueKeysWithValues: expected.enumerated().map { ($1, $0) })

        var rows: [DatasetRow] = []
        var warnings: [String] = []
        var ranges: [Range<Int>] = []
        var quoted: [Int: String] = [:]
        var lastTime: [String: UInt64] = [:]
        let featureStart = index["s_" + header.features[0]]!
        let irqStart = index["irq_0"]!
        // Column positions resolved once per file, not per row.
        let cEpisode = index["episode"]!, cStep = index["step"]!, cTime = index["t_ns"]!
        let cCounters = DatasetColumns.counters.map { index[$0]! }
        let cCPU = ["cpu_user_ns", "cpu_system_ns", "cpu_irq_ns", "cpu_softirq_ns", "cpu_idle_ns"].map { index[$0]! }
        let cCPUCount = index["cpu_count"]!, cSoftDrop = index["softnet_dropped"]!, cSqueeze = index["softnet_time_squeeze"]!
        let cLatency = DatasetColumns.latency.map { index[$0]! }
        let cSetting = index["setting"]!, cAction = index["action"]!, cPrev = index["prev_action"]!
        let cPi = index["pi_b"]!, cPolicy = index["policy"]!, cGuard = index["guard"]!
        let cComponents = DatasetColumns.components.map { index[$0]! }
        let cReward = index["reward"]!, cTerminal = index["terminal"]!, cTimeout = index["timeout"]!
        var settingCache: [String: CoalescingSetting] = [:]
        while let (line, complete) = nextLine() {
            if line.isEmpty { continue }
            if !complete {
                warnings.append("\(path):\(lineNumber): incomplete last line dropped (the writer was interrupted)")
                break
            }
            fields(line, into: &ranges, quoted: &quoted)
            guard ranges.count == found.count else {
                throw .fieldCount(path: path, line: lineNumber, expected: found.count, found: ranges.count)
            }
            let ln = lineNumber
            func raw(_ i: Int) -> Range<Int> { ranges[position[i]] }
            func string(_ i: Int) -> String { quoted[position[i]] ?? text(raw(i)) }
            func uint(_ i: Int) throws(DatasetReadError) -> UInt64 {
                guard let v = parseUInt(raw(i)) else {
                    throw .badValue(path: path, line: ln, column: expected[i], value: string(i), reason: "is not a non-negative integer")
                }
                return v
            }
            func double(_ i: Int, optional: Bool = false) throws(DatasetReadError) -> Double? {
                let r = raw(i)
                if r.isEmpty {
                    if optional { return nil }
                    throw .badValue(path: path, line: ln, column: expected[i], value: "", reason: "is empty")
                }
                guard let v = parseDouble(r) else {
                    throw .badValue(path: path, line: ln, column: expected[i], value: string(i), reason: "is not a number")
                }
                guard v.isFinite else {
                    throw .badValue(path: path, line: ln, column: expected[i], value: string(i), reason: "is not finite")
                }
                return v
            }
            func flag(_ i: Int) throws(DatasetReadError) -> Bool {
                let v = try uint(i)
                guard v <= 1 else { throw .badValue(path: path, line: ln, column: expected[i], value: String(v), reason: "must be 0 or 1") }
                return v == 1
            }

            let episode = string(cEpisode)
            let t = try uint(cTime)
            if let prev = lastTime[episode], t <= prev {
                throw .nonMonotonicTime(path: path, line: ln, episode: episode, previousNs: prev, foundNs: t)
            }
            lastTime[episode] = t
            let settingText = string(cSetting)
            let setting: CoalescingSetting
            if let cached = settingCache[settingText] { setting = cached } else {
                do { setting = try CoalescingSetting.parse(settingText, layerCount: header.layerCount) } catch {
                    throw .badValue(path: path, line: ln, column: "setting", value: settingText, reason: "\(error)")
                }
                settingCache[settingText] = setting
            }
            var latency: LatencySummary?
            if !raw(cLatency[0]).isEmpty {
                latency = LatencySummary(count: try uint(cLatency[0]), p50Ns: try uint(cLatency[1]), p99Ns: try uint(cLatency[2]),
                                         p999Ns: try uint(cLatency[3]), maxNs: try uint(cLatency[4]))
            }
            var interrupts: [UInt64] = []
            interrupts.reserveCapacity(header.irqColumns)
            for i in 0..<header.irqColumns { interrupts.append(try uint(irqStart + i)) }
            let observation = Observation(
                timestampNs: t, rxPackets: try uint(cCounters[0]), rxBytes: try uint(cCounters[1]),
                txPackets: try uint(cCounters[2]), txBytes: try uint(cCounters[3]), rxDropped: try uint(cCounters[4]),
                rxMissed: try uint(cCounters[5]), rxFifoErrors: try uint(cCounters[6]),
                txDropped: try uint(cCounters[7]), interrupts: interrupts,
                cpu: CPUTimes(userNs: try uint(cCPU[0]), systemNs: try uint(cCPU[1]), irqNs: try uint(cCPU[2]),
                              softirqNs: try uint(cCPU[3]), idleNs: try uint(cCPU[4])),
                cpuCount: Int(try uint(cCPUCount)), softnetDropped: try uint(cSoftDrop),
                softnetTimeSqueeze: try uint(cSqueeze), latency: latency, setting: setting)
            var state = [Float](repeating: 0, count: header.features.count)
            for k in 0..<state.count { state[k] = Float(try double(featureStart + k)!) }
            let action = Int(try uint(cAction))
            guard action < header.actionSpace.count else {
                throw .unknownAction(path: path, line: ln, action: action, count: header.actionSpace.count)
            }
            var previousAction: Int?
            if !raw(cPrev).isEmpty {
                let p = Int(try uint(cPrev))
                guard p < header.actionSpace.count else {
                    throw .unknownAction(path: path, line: ln, action: p, count: header.actionSpace.count)
                }
                previousAction = p
            }
            let probability = try double(cPi, optional: true)
            if let p = probability, !(p > 0 && p <= 1) {
                throw .badValue(path: path, line: ln, column: "pi_b", value: string(cPi), reason: "must be in (0, 1]")
            }
            let guardText = raw(cGuard).isEmpty ? nil : string(cGuard)
            let components = RewardComponents(
                latencyP99Us: try double(cComponents[0], optional: true), cpuBusy: try double(cComponents[1])!,
                cpuPerPacketUs: try double(cComponents[2])!, dropFraction: try double(cComponents[3])!,
                backlogFraction: try double(cComponents[4])!, changed: try double(cComponents[5])!,
                throughputPps: try double(cComponents[6])!, interruptsPerS: try double(cComponents[7])!)
            rows.append(DatasetRow(
                episode: episode, step: Int(try uint(cStep)), observation: observation, state: state,
                previousAction: previousAction, action: action, probability: probability,
                policy: string(cPolicy), guardReason: guardText,
                components: components, reward: try double(cReward)!, terminal: try flag(cTerminal),
                timeout: try flag(cTimeout)))
        }
        if rows.isEmpty { throw .empty(path: path) }
        return Dataset(path: path, header: header, rows: rows, warnings: warnings, byteCount: bytes.count,
                       fingerprint: SHA256.hex(SHA256.hash(bytes)))
    }

    func parseUInt(_ r: Range<Int>) -> UInt64? {
        guard !r.isEmpty, r.count <= 20 else { return nil }
        var v: UInt64 = 0
        for i in r {
            let d = bytes[i] &- UInt8(ascii: "0")
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            if o1 || o2 { return nil }
            v = s
        }
        return v
    }

    func parseDouble(_ r: Range<Int>) -> Double? {
        // Fast path for plain integers; everything else goes through the standard parser,
        // which is exact (round-trips the writer's shortest representation).
        var negative = false
        var i = r.lowerBound
        if i < r.upperBound && bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        if i < r.upperBound, let v = parseUInt(i..<r.upperBound), v < (1 << 53) {
            return negative ? -Double(v) : Double(v)
        }
        // strtod straight from the buffer (no String per field). Every complete line ends
        // in a newline, so the number is always followed by a non-numeric byte.
        return bytes.withUnsafeBufferPointer { buf -> Double? in
            let start = UnsafeRawPointer(buf.baseAddress! + r.lowerBound).assumingMemoryBound(to: CChar.self)
            var end: UnsafeMutablePointer<CChar>?
            let v = strtod(start, &end)
            guard let e = end, UnsafeRawPointer(e) == UnsafeRawPointer(buf.baseAddress! + r.upperBound) else { return nil }
            return v
        }
    }
}

/// Reading a whole file with plain POSIX calls (no Foundation), for datasets and
/// model files in CoalesceCore and the executables.
public enum FileBytes {
    /// Why a file could not be read.
    public struct ReadError: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        /// The errno behind it (ENOENT: no such file).
        public var code: Int32
        public var description: String { "\(path): cannot read: \(reason)" }
    }

    /// The file's bytes.
    public static func read(_ path: String) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(path: path, reason: String(cString: strerror(errno)), code: errno) }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, reason: String(cString: strerror(errno)), code: errno)
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }
}
