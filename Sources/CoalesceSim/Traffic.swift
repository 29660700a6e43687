import CoalesceCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Draws packet sizes from a `PacketSizeDistribution` (no allocation per draw).
struct SizeSampler {
    private let fixed: UInt32
    private let small: UInt32
    private let large: UInt32
    private let pSmall: Double
    private let cumulative: [Double]
    private let sizes: [UInt32]
    private let mode: UInt8  // 0 fixed, 1 bimodal, 2 empirical

    init(_ d: PacketSizeDistribution) {
        switch d {
        case .fixed(let b):
            mode = 0; fixed = UInt32(b); small = 0; large = 0; pSmall = 0; cumulative = []; sizes = []
        case .bimodal(let s, let l, let p):
            mode = 1; fixed = 0; small = UInt32(s); large = UInt32(l); pSmall = p; cumulative = []; sizes = []
        case .empirical(let table):
            mode = 2; fixed = 0; small = 0; large = 0; pSmall = 0
            let total = table.reduce(0) { $0 + $1.weight }
            var acc = 0.0
            cumulative = table.map { acc += $0.weight / total; return acc }
            sizes = table.map { UInt32($0.bytes) }
        }
    }

    /// The size when the distribution is fixed, else 0.
    var fixedSize: UInt32 { mode == 0 ? fixed : 0 }

    @inline(__always)
    func draw(_ rng: inout SeededGenerator) -> UInt32 {
        switch mode {
        case 0: return fixed
        case 1: return rng.nextUnit() < pSmall ? small : large
        default:
            let u = rng.nextUnit()
            for i in 0..<cumulative.count where u < cumulative[i] { return sizes[i] }
            return sizes[sizes.count - 1]
        }
    }
}

extension SeededGenerator {
    /// An exponential variate with the given mean.
    @inline(__always)
    mutating func exponential(mean: Double) -> Double { -CoreMath.log(1 - nextUnit()) * mean }

    /// A standard normal variate (Box–Muller).
    mutating func normal() -> Double {
        let u1 = 1 - nextUnit(), u2 = nextUnit()
        return (-2 * CoreMath.log(u1)).squareRoot() * CoreMath.cos(2 * Double.pi * u2)
    }

    /// A period length with the given mean from `distribution` (`shape`: lognormal σ or Pareto α).
    mutating func period(mean: Double, _ distribution: PeriodDistribution, shape: Double) -> Double {
        switch distribution {
        case .exponential: return exponential(mean: mean)
        case .lognormal:
            let mu = CoreMath.log(mean) - shape * shape / 2
            return CoreMath.exp(mu + shape * normal())
        case .pareto:
            let xm = mean * (shape - 1) / shape
            return xm / CoreMath.pow(1 - nextUnit(), 1 / shape)
        }
    }
}

/// The rate scale of every source over time, from the scenario's phases.
struct PhaseSchedule {
    struct Segment {
        var start: UInt64
        /// End of the segment for lookup (`.max` for a last, non-repeating phase).
        var end: UInt64
        /// End of the phase as written (where a ramp reaches its target).
        var rampEnd: UInt64
        var from: [Double]
        var to: [Double]
        var ramp: Bool
    }

    private(set) var segments: [Segment] = []
    /// Length of one cycle when the phases repeat, else 0.
    private(set) var period: UInt64 = 0
    /// Highest scale of each source over the schedule.
    private(set) var maxScale: [Double]
    let isConstant: Bool

    init(scenario: Scenario) {
        let names = scenario.traffic.map(\.name)
        if scenario.phases.isEmpty {
            maxScale = Array(repeating: 1, count: names.count)
            isConstant = true
            return
        }
        isConstant = false
        var t: UInt64 = 0
        maxScale = Array(repeating: 0, count: names.count)
        for p in scenario.phases {
            let d = UInt64(p.durationS * 1e9)
            let from = names.map { p.rates[$0] ?? 0 }
            let to = p.rampTo.map { r in names.map { r[$0] ?? 0 } } ?? from
            segments.append(Segment(start: t, end: t + d, rampEnd: t + d, from: from, to: to, ramp: p.rampTo != nil))
            for i in names.indices { maxScale[i] = max(maxScale[i], from[i], to[i]) }
            t += d
        }
        if scenario.repeatPhases { period = t } else { segments[segments.count - 1].end = .max }
    }

    private func locate(_ t: UInt64) -> (Segment, UInt64)? {
        let local = period > 0 ? t % period : t
        for s in segments where local < s.end { return (s, local) }
        return nil
    }

    /// The scale of source `i` at time `t`.
    func scale(_ i: Int, at t: UInt64) -> Double {
        if isConstant { return 1 }
        guard let (s, local) = locate(t) else { return segments[segments.count - 1].to[i] }
        if !s.ramp { return s.from[i] }
        let f = min(1, Double(local - s.start) / Double(max(s.rampEnd - s.start, 1)))
        return s.from[i] + (s.to[i] - s.from[i]) * f
    }

    /// When to look again at a source that is paused (scale 0) at `t`.
    func nextCheck(after t: UInt64) -> UInt64 {
        if isConstant { return .max }
        guard let (s, local) = locate(t) else { return .max }
        // Inside a ramp the scale changes continuously: look again every millisecond.
        if s.ramp && local < s.rampEnd { return min(t + (s.rampEnd - local), t + 1_000_000) }
        if s.end == .max { return .max }  // constant from here on
        return t + (s.end - local)
    }
}

/// A trace loaded from CSV: `timestamp_ns,size[,flow]`, one packet per line, an
/// optional header line, timestamps non-decreasing.
struct TraceData {
    var times: [UInt64] = []
    var sizes: [UInt32] = []
    var flows: [UInt32] = []

    static func load(path: String) throws(ScenarioError) -> TraceData {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .unreadable(path: path, reason: "\(error)")
        }
        var trace = TraceData()
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.trimmedWhitespace
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(separator: ",").map { $0.trimmedWhitespace }
            if lineNumber == 1, UInt64(fields[0]) == nil { continue }  // header
            guard fields.count == 2 || fields.count == 3 else {
                throw .badTrace(path: path, line: lineNumber, message: "expected timestamp_ns,size[,flow], found \(fields.count) fields")
            }
            guard let t = UInt64(fields[0]) else { throw .badTrace(path: path, line: lineNumber, message: "timestamp_ns '\(fields[0])' is not a whole number") }
            guard let s = UInt32(fields[1]), s >= 20, s <= 65535 else {
                throw .badTrace(path: path, line: lineNumber, message: "size '\(fields[1])' must be a whole number from 20 to 65535")
            }
            var flow: UInt32 = 0
            if fields.count == 3 {
                guard let f = UInt32(fields[2]) else { throw .badTrace(path: path, line: lineNumber, message: "flow '\(fields[2])' is not a whole number") }
                flow = f
            }
            if let last = trace.times.last, t < last {
                throw .badTrace(path: path, line: lineNumber, message: "timestamp \(t) is earlier than the previous one (\(last))")
            }
            trace.times.append(t); trace.sizes.append(s); trace.flows.append(flow)
        }
        if trace.times.isEmpty { throw .badTrace(path: path, line: lineNumber, message: "the trace has no packets") }
        return trace
    }
}

/// An open-loop or window-clocked source generated inline by the engine's main loop
/// (no event per packet): Poisson, on/off, trace replay, or one bulk flow.
struct OpenSource {
    enum Mode { case poisson, onOff, trace, bulk }

    let mode: Mode
    /// Index in `Scenario.traffic`.
    let source: Int
    var rng: SeededGenerator
    let sizes: SizeSampler
    /// The size when the distribution is fixed (skips the sampler), else 0.
    let fixedSize: UInt32
    let flowCount: UInt32
    /// NIC arrival time of the next packet (wire time + DMA delay), or `.max`.
    var nextTime: UInt64 = .max
    /// Candidate-arrival mean gap at the highest scale, ns (Poisson, on/off).
    var meanGapNs: Double = 0
    var thinning = false
    var maxScale = 1.0
    // on/off
    var on = true
    var periodEnd: UInt64 = 0
    var onMeanNs = 0.0, offMeanNs = 0.0
    var periodDistribution = PeriodDistribution.exponential
    var shape = 1.0
    // trace
    var trace: TraceData? = nil
    var cursor = 0
    var loopOffset: UInt64 = 0
    var loops = true
    // bulk
    var flow: UInt32 = 0
    var windowBytes = 0
    var inflightBytes = 0
    var segmentBytes: UInt32 = 1500
    var serializationNs: UInt64 = 0
    var lastSend: UInt64 = 0
    var paused = false
    /// Bytes delivered to the socket by a poll and not yet acknowledged.
    var unackedBytes: UInt64 = 0
    /// Poll serial that last counted this flow (one ACK per poll).
    var lastPollSerial: UInt64 = .max
    /// Time offset from wire arrival to NIC visibility, and the wire delay.
    let dmaNs: UInt64
    let wireNs: UInt64

    init(mode: Mode, source: Int, rng: SeededGenerator, sizes: SizeSampler, flowCount: Int, dmaNs: UInt64, wireNs: UInt64) {
        self.mode = mode
        self.source = source
        self.rng = rng
        self.sizes = sizes
        self.fixedSize = sizes.fixedSize
        self.flowCount = UInt32(max(flowCount, 1))
        self.dmaNs = dmaNs
        self.wireNs = wireNs
    }

    /// Draws the next candidate arrival after `t` for Poisson / on-off, honouring the
    /// phase scale by thinning (exact for a non-homogeneous Poisson process).
    mutating func advanceRandom(from t: UInt64, schedule: PhaseSchedule) {
        var time = t
        while true {
            let gap = UInt64(rng.exponential(mean: meanGapNs).rounded()) + 1
            var candidate = time &+ gap
            if mode == .onOff {
                // Move through on/off periods until the candidate falls in an on period.
                while true {
                    if on {
                        if candidate < periodEnd { break }
                        on = false
                        periodEnd = periodEnd &+ UInt64(rng.period(mean: offMeanNs, periodDistribution, shape: shape)) + 1
                    } else {
                        on = true
                        // After a phase in which the source was silent, `periodEnd` lies in the
                        // past: start the new on period now, never before `time` (which would
                        // replay every missed cycle at once as a flood).
                        let start = max(periodEnd, time)
                        periodEnd = start &+ UInt64(rng.period(mean: onMeanNs, periodDistribution, shape: shape)) + 1
                        // Memoryless: the first arrival of the new on period.
                        candidate = start &+ UInt64(rng.exponential(mean: meanGapNs).rounded())
                    }
                }
            }
            time = candidate
            if thinning {
                let s = schedule.scale(source, at: time)
                if s <= 0 {
                    let next = schedule.nextCheck(after: time)
                    if next == .max { nextTime = .max; return }
                    time = next
                    if mode == .onOff {
                        // The on/off process was paused with its source: resume with a fresh on period.
                        on = false
                        periodEnd = time
                    }
                    continue
                }
                if rng.nextUnit() * maxScale >= s { continue }
            }
            nextTime = time
            return
        }
    }

    /// Moves a trace cursor to the next packet.
    mutating func advanceTrace() {
        guard let tr = trace else { nextTime = .max; return }
        cursor += 1
        if cursor >= tr.times.count {
            guard loops else { nextTime = .max; return }
            let span = tr.times[tr.times.count - 1] - tr.times[0]
            let meanGap = tr.times.count > 1 ? span / UInt64(tr.times.count - 1) : 1_000
            loopOffset &+= span + max(meanGap, 1)
            cursor = 0
        }
        nextTime = tr.times[cursor] - tr.times[0] + loopOffset + dmaNs
    }

    /// Recomputes a bulk flow's next send after it sent, or an ACK opened the window, at `now`.
    mutating func scheduleBulk(now: UInt64) {
        if paused || inflightBytes + Int(segmentBytes) > windowBytes { nextTime = .max; return }
        let send = max(now, lastSend &+ serializationNs)
        nextTime = send &+ wireNs &+ serializationNs &+ dmaNs
    }
}

/// Closed-loop request/response clients (events per request, not inline).
struct ClosedSource {
    let source: Int
    let clients: Int
    let thinkMeanNs: Double
    let serviceMeanNs: Double
    let serviceDistribution: ServiceDistribution
    let responseBytes: UInt32
    let sizes: SizeSampler
    var rng: SeededGenerator
    var serviceRng: SeededGenerator

    mutating func serviceNs() -> Double {
        serviceDistribution == .fixed ? serviceMeanNs : serviceRng.exponential(mean: serviceMeanNs)
    }
}
