import CoalesceCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// Counters of the whole run (cumulative), as the simulated host's kernel keeps them.
struct SimCounters {
    var offered: UInt64 = 0
    var delivered: UInt64 = 0
    var deliveredBytes: UInt64 = 0
    var rxPackets: UInt64 = 0
    var rxBytes: UInt64 = 0
    var txPackets: UInt64 = 0
    var txBytes: UInt64 = 0
    var rxMissed: UInt64 = 0
    var rxDropped: UInt64 = 0
    var txDropped: UInt64 = 0
    var timeSqueeze: UInt64 = 0
    var dropped: UInt64 { rxMissed &+ rxDropped &+ txDropped }
}

/// The event-driven host: NIC queues, cores, the virtual layers and the traffic.
///
/// Integer-nanosecond clock. Open-loop sources and bulk flows are generated inline
/// in arrival order (no event per packet); timers, work-item completions, requests
/// and ACKs are events in a binary heap. Packets live in preallocated rings.
struct SimEngine {
    let scenario: Scenario
    let layers: Int
    let coalescingLayers: Int
    /// Queues of the physical NIC.
    let nicQueues: Int
    var now: UInt64 = 0
    var events = EventQueue()
    /// Storage of every ring's packets.
    var arena: PacketArena
    var queues: [NICQueue] = []
    /// Index of the first queue of each layer in `queues`, and the layer's queue count.
    var layerStart: [Int] = []
    var layerQueues: [Int] = []
    var cores: [Core] = []
    var open: [OpenSource] = []
    var openNext: UInt64 = .max
    var openIndex = 0
    /// The second-earliest inline arrival (how far `openIndex` may run alone).
    var openSecond: UInt64 = .max
    let ziggurat = ExponentialZiggurat()
    var closed: [ClosedSource?] = []
    /// Per traffic source: closed loop (request/response), bulk, and application ns per packet.
    var sourceIsClosed: [Bool] = []
    var sourceIsBulk: [Bool] = []
    var sourceAppNs: [Double] = []
    /// Every source is open-loop datagrams (no request/response, no bulk): the application fast path applies.
    var onlyDatagrams = false
    /// For bulk flows: open-source index per (traffic source, flow).
    var bulkIndex: [Int: Int] = [:]
    let schedule: PhaseSchedule
    var counters = SimCounters()
    /// Latencies of the current interval: buckets in `arena.histogram`, plus count and max.
    var intervalCount: UInt64 = 0
    var intervalMax: UInt64 = 0
    var runHistogram = LatencyHistogram()
    var setting: CoalescingSetting
    var pollSerial: UInt64 = 0
    var bulkInPoll: [Int] = []

    // Constants in ns.
    let wireNs: UInt64
    let dmaNs: UInt64
    let retryNs: UInt64 = 1_000_000
    let cpu: CPUConfig
    let irqCost: UInt64
    let virtualIRQCost: UInt64
    let txExtraNs: UInt64
    let txKickNs: UInt64
    let linkNsPerByte: Double

    init(scenario: Scenario, seed: UInt64) throws(SimError) {
        self.scenario = scenario
        let s = scenario
        layers = s.simulatedLayerCount
        nicQueues = s.nic.queues
        coalescingLayers = s.layerCount
        cpu = s.cpu
        wireNs = UInt64(s.wireDelayUs * 1000)
        dmaNs = UInt64(s.nic.dmaDelayNs)
        irqCost = UInt64(s.cpu.irqNs)
        virtualIRQCost = UInt64(s.virtualization?.virtualIrqNs ?? s.cpu.irqNs)
        txExtraNs = UInt64((s.virtualization?.txDelayUs ?? 0) * 1000)
        txKickNs = UInt64(s.virtualization?.txKickNs ?? 0)
        linkNsPerByte = 8 / s.linkGbps
        schedule = PhaseSchedule(scenario: s)
        do { setting = try s.parsedInitialSetting() } catch {
            throw .badSetting(scenario: s.name, reason: error.description)
        }

        // Cores: host (or bare-metal) cores, then guest vCPUs.
        let hostCores = s.cpu.cores
        let virt = s.virtualization
        let weight = s.cpu.napiWeight
        let batchCap = max(weight, virt?.backendBatch ?? 0, 1024)
        var slots = 0
        func reserve(_ n: Int) -> Int { defer { slots += max(n, 1) }; return slots }
        for _ in 0..<hostCores {
            let cap = virt == nil ? s.cpu.socketBufferPackets : virt!.backendQueuePackets
            cores.append(Core(isGuest: false, runsApp: virt == nil, queues: s.nic.queues + 1,
                              threadCapacity: cap, batchCapacity: batchCap, queueOffset: reserve(cap)))
        }
        if let v = virt {
            for _ in 0..<v.guestVcpus {
                cores.append(Core(isGuest: true, runsApp: true, queues: v.vnic.queues + 1,
                                  threadCapacity: s.cpu.socketBufferPackets, batchCapacity: batchCap,
                                  queueOffset: reserve(s.cpu.socketBufferPackets)))
            }
        }
        // Queues.
        layerStart = [0]
        layerQueues = [s.nic.queues]
        for q in 0..<s.nic.queues {
            let core = q % hostCores
            let backend = hostCores > 1 ? (core + 1) % hostCores : 0
            queues.append(NICQueue(layer: 0, core: core, backendCore: backend, nic: s.nic, setting: setting.layers[0],
                                   ringOffset: reserve(s.nic.rxRing)))
        }
        if let v = virt {
            layerStart.append(queues.count)
            layerQueues.append(v.vnic.queues)
            let vsetting = coalescingLayers == 2 ? setting.layers[1] : LayerSetting.unmoderated
            for q in 0..<v.vnic.queues {
                queues.append(NICQueue(layer: 1, core: hostCores + q % v.guestVcpus, backendCore: -1, nic: v.vnic,
                                       setting: vsetting, ringOffset: reserve(v.vnic.rxRing)))
            }
        }
        arena = PacketArena(capacity: slots)

        // Traffic.
        closed = Array(repeating: nil, count: s.traffic.count)
        sourceIsClosed = s.traffic.map { if case .requestResponse = $0.kind { return true } else { return false } }
        sourceIsBulk = s.traffic.map { if case .bulk = $0.kind { return true } else { return false } }
        sourceAppNs = s.traffic.map(\.appNs)
        onlyDatagrams = !sourceIsClosed.contains(true) && !sourceIsBulk.contains(true)
        for (i, t) in s.traffic.enumerated() {
            var rng = SeededGenerator.stream(seed: seed, UInt64(i) * 16 + 1)
            let sizes = SizeSampler(t.size)
            let maxScale = schedule.maxScale[i]
            switch t.kind {
            case .poisson(let rate), .onOff(let rate, _, _, _, _):
                guard maxScale > 0 else { continue }
                var o = OpenSource(mode: { if case .poisson = t.kind { return .poisson } else { return .onOff } }(),
                                   source: i, rng: rng, sizes: sizes, flowCount: t.flows, dmaNs: dmaNs, wireNs: wireNs)
                o.meanGapNs = 1e9 / (rate * maxScale)
                o.maxScale = maxScale
                o.thinning = !schedule.isConstant
                if case .onOff(_, let on, let off, let dist, let shape) = t.kind {
                    o.onMeanNs = on * 1e6
                    o.offMeanNs = off * 1e6
                    o.periodDistribution = dist
                    o.shape = shape
                    // Start at a random point of an on/off cycle.
                    o.on = rng.nextUnit() < on / (on + off)
                    let mean = o.on ? o.onMeanNs : o.offMeanNs
                    o.periodEnd = UInt64(rng.period(mean: mean, dist, shape: shape)) + 1
                    o.rng = rng
                }
                o.advanceRandom(from: dmaNs, schedule: schedule)
                open.append(o)
            case .trace(let path, let loop):
                let data: TraceData
                do { data = try TraceData.load(path: path) } catch { throw .scenario(error) }
                var o = OpenSource(mode: .trace, source: i, rng: rng, sizes: sizes, flowCount: t.flows, dmaNs: dmaNs, wireNs: wireNs)
                o.trace = data
                o.loops = loop
                o.nextTime = dmaNs
                open.append(o)
            case .bulk(let flows, let window):
                guard maxScale > 0 else { continue }
                guard case .fixed(let seg) = t.size else { continue }
                for f in 0..<flows {
                    var o = OpenSource(mode: .bulk, source: i, rng: SeededGenerator.stream(seed: seed, UInt64(i) * 16 + 2 + UInt64(f) * 4096),
                                       sizes: sizes, flowCount: 1, dmaNs: dmaNs, wireNs: wireNs)
                    o.flow = UInt32(f)
                    o.windowBytes = window
                    o.segmentBytes = UInt32(seg)
                    o.serializationNs = UInt64(Double(seg) * linkNsPerByte * Double(flows))  // fair share of the link
                    // Flows start staggered over the first 100 µs.
                    o.lastSend = UInt64(rng.nextUnit() * 100_000)
                    o.scheduleBulk(now: o.lastSend)
                    bulkIndex[i << 20 | f] = open.count
                    open.append(o)
                    if schedule.scale(i, at: 0) <= 0 { pauseBulk(open.count - 1, at: 0) }
                }
            case .requestResponse(let clients, let think, let service, let dist, let resp):
                var c = ClosedSource(source: i, clients: clients, thinkMeanNs: think * 1000, serviceMeanNs: service * 1000,
                                     serviceDistribution: dist, responseBytes: UInt32(resp), sizes: sizes, rng: rng,
                                     serviceRng: SeededGenerator.stream(seed: seed, UInt64(i) * 16 + 3))
                // Clients start at random points of one think + service cycle.
                var starts: [UInt64] = []
                for _ in 0..<clients { starts.append(UInt64(c.rng.nextUnit() * (think + service + 10) * 1000)) }
                closed[i] = c
                for (k, start) in starts.enumerated() { scheduleRequest(source: i, client: k, sendAt: start) }
            }
        }
        bulkInPoll.reserveCapacity(64)
        refreshOpenNext()
    }

    @inline(__always)
    mutating func recordLatency(_ ns: UInt64) {
        arena.histogram[LatencyHistogram.index(ns)] &+= 1
        intervalCount &+= 1
        if ns > intervalMax { intervalMax = ns }
    }

    /// The latencies recorded since the last `resetInterval()`.
    var intervalHistogram: LatencyHistogram {
        LatencyHistogram(buckets: arena.histogram, count: intervalCount, maxNs: intervalMax)
    }

    mutating func resetInterval() {
        makeArenaUnique()
        if intervalCount > 0 { arena.histogram.update(repeating: 0, count: LatencyHistogram.bucketCount) }
        intervalCount = 0
        intervalMax = 0
    }

    /// Gives this engine its own packet storage if a copy of it shares the arena
    /// (value semantics for `SimTarget` copies).
    mutating func makeArenaUnique() {
        if !isKnownUniquelyReferenced(&arena) { arena = arena.copy() }
    }

    // MARK: - Main loop

    @inline(__always)
    mutating func refreshOpenNext() {
        var best = UInt64.max, second = UInt64.max, idx = 0
        for i in 0..<open.count {
            let t = open[i].nextTime
            if t < best { second = best; best = t; idx = i } else if t < second { second = t }
        }
        openNext = best
        openIndex = idx
        openSecond = second
    }

    /// Runs every event up to and including `end`, then sets the clock to `end`.
    mutating func run(until end: UInt64) {
        while true {
            let th = events.nextTime
            if openNext <= th {
                if openNext > end { break }
                // Run the earliest source alone until another source or an event comes first.
                let i = openIndex
                let limit = min(th, end, openSecond)
                if open[i].mode == .poisson && !open[i].thinning {
                    burstPoisson(i, limit: limit)
                } else {
                    repeat {
                        now = open[i].nextTime
                        emitOpen(i)
                    } while open[i].nextTime <= limit && open[i].nextTime <= events.nextTime
                }
                refreshOpenNext()
            } else {
                if th > end { break }
                let e = events.pop()
                now = e.time
                handle(e)
            }
        }
        now = end
    }

    /// The inner loop for a homogeneous Poisson source: its state stays in locals
    /// while it runs alone (until `limit` or the next event).
    mutating func burstPoisson(_ i: Int, limit: UInt64) {
        var rng = open[i].rng
        var next = open[i].nextTime
        let mean = open[i].meanGapNs
        let fixed = open[i].fixedSize
        let flows = open[i].flowCount
        let source = UInt16(open[i].source)
        repeat {
            now = next
            let size = fixed > 0 ? fixed : open[i].sizes.draw(&rng)
            let flow = flows == 1 ? 0 : UInt32(truncatingIfNeeded: rng.next() % UInt64(flows))
            next = next &+ UInt64(ziggurat.next(&rng) * mean + 0.5) &+ 1
            arriveAtNIC(Packet(origin: now - dmaNs, size: size, source: source, flow: flow))
        } while next <= limit && next <= events.nextTime
        open[i].rng = rng
        open[i].nextTime = next
    }

    @inline(__always)
    mutating func emitOpen(_ i: Int) {
        let t = now
        switch open[i].mode {
        case .poisson, .onOff:
            var rng = open[i].rng
            let fixed = open[i].fixedSize
            let size = fixed > 0 ? fixed : open[i].sizes.draw(&rng)
            let flows = open[i].flowCount
            let flow = flows == 1 ? 0 : UInt32(truncatingIfNeeded: rng.next() % UInt64(flows))
            let p = Packet(origin: t - dmaNs, size: size, source: UInt16(open[i].source), flow: flow)
            // Homogeneous Poisson sources never come here: `runUntil` runs them in `burstPoisson`.
            open[i].rng = rng
            open[i].advanceRandom(from: t, schedule: schedule)
            arriveAtNIC(p)
        case .trace:
            let tr = open[i].trace!
            let c = open[i].cursor
            let p = Packet(origin: t - dmaNs, size: tr.sizes[c], source: UInt16(open[i].source), flow: tr.flows[c])
            let scale = schedule.scale(open[i].source, at: t)
            open[i].advanceTrace()
            if scale > 0 { arriveAtNIC(p) }
        case .bulk:
            let seg = open[i].segmentBytes
            let sendTime = t - dmaNs - wireNs - open[i].serializationNs
            // A bulk flow sends only while its phase scale is > 0 (docs/scenarios.md). What it
            // already sent stays in flight and is acknowledged as usual.
            if schedule.scale(open[i].source, at: sendTime) <= 0 {
                pauseBulk(i, at: sendTime)
                return
            }
            open[i].lastSend = sendTime
            open[i].inflightBytes += Int(seg)
            open[i].scheduleBulk(now: sendTime)
            let p = Packet(origin: t - dmaNs, size: seg, source: UInt16(open[i].source), flow: open[i].flow)
            arriveAtNIC(p)
        }
    }

    mutating func handle(_ e: Event) {
        switch e.kind {
        case .coreDone: finishWork(Int(e.a))
        case .rxTimer: rxTimerFired(Int(e.a), at: e.time)
        case .txTimer: txTimerFired(Int(e.a), at: e.time)
        case .requestArrival:
            let src = Int(e.a)
            let sampler = closed[src]!.sizes
            let size = sampler.fixedSize > 0 ? sampler.fixedSize : sampler.draw(&closed[src]!.rng)
            arriveAtNIC(Packet(origin: e.c, size: size, source: UInt16(src), flow: UInt32(e.b)))
        case .ackArrival:
            guard let idx = bulkIndex[Int(e.a) << 20 | Int(e.b)] else { return }
            open[idx].inflightBytes = max(0, open[idx].inflightBytes - Int(e.c))
            if open[idx].nextTime == .max {
                open[idx].scheduleBulk(now: now)
                refreshOpenNext()
            }
        case .napiDeferTimer:
            let q = Int(e.a)
            let c = queues[q].core
            cores[c].pollList.push(q)
            kick(c)
        case .resume: resume(source: Int(e.a), client: Int(e.b))
        }
    }

    mutating func resume(source: Int, client: Int) {
        if let idx = bulkIndex[source << 20 | client], open[idx].mode == .bulk {
            if schedule.scale(source, at: now) > 0 {
                open[idx].paused = false
                open[idx].scheduleBulk(now: now)
                refreshOpenNext()
            } else {
                pauseBulk(idx, at: now)
            }
            return
        }
        if sourceIsClosed[source] { scheduleRequest(source: source, client: client, sendAt: now) }
    }

    /// Stops bulk flow `open[idx]`, whose phase scale is 0 at `t`, and schedules the
    /// `resume` that looks again at the next phase boundary (none when the scale stays
    /// 0 to the end). The one place a bulk flow pauses: at the start, at a send, and at
    /// a boundary where it is still off.
    mutating func pauseBulk(_ idx: Int, at t: UInt64) {
        open[idx].paused = true
        open[idx].nextTime = .max
        let next = schedule.nextCheck(after: t)
        if next != .max { events.push(max(next, now), .resume, Int32(open[idx].source), Int32(open[idx].flow)) }
    }

    /// Schedules client `client`'s next request: sent at `sendAt` (after its think
    /// time), arriving at the NIC one wire delay later; paused while the phase scale is 0.
    mutating func scheduleRequest(source: Int, client: Int, sendAt: UInt64) {
        let scale = schedule.scale(source, at: sendAt)
        if scale <= 0 {
            let next = schedule.nextCheck(after: sendAt)
            if next != .max { events.push(next, .resume, Int32(source), Int32(client)) }
            return
        }
        events.push(sendAt + wireNs + dmaNs, .requestArrival, Int32(source), Int32(client), sendAt)
    }

    // MARK: - NIC

    @inline(__always)
    func queueIndex(layer: Int, flow: UInt32, source: UInt16) -> Int {
        if layer == 0 && nicQueues == 1 { return 0 }
        let n = layerQueues[layer]
        if n == 1 { return layerStart[layer] }
        var h = (UInt64(source) << 32 | UInt64(flow)) &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 29
        return layerStart[layer] + Int(h % UInt64(n))
    }

    @inline(__always)
    mutating func arriveAtNIC(_ p: Packet) {
        counters.offered &+= 1
        let q = queueIndex(layer: 0, flow: p.flow, source: p.source)
        if !queues[q].ring.push(p, arena.base) {
            counters.rxMissed &+= 1
            lost(p)
            return
        }
        packetArrived(q)
    }

    /// A packet was placed in queue `q`'s ring at `now`: run the moderation.
    @inline(__always)
    mutating func packetArrived(_ q: Int) {
        if !queues[q].irqArmed { return }
        queues[q].pending += 1
        moderate(q)
    }

    mutating func moderate(_ q: Int) {
        let interval = queues[q].intervalNs
        let frames = queues[q].frames
        switch queues[q].semantic {
        case .eqe:
            if interval == 0 || (frames > 0 && queues[q].pending >= frames) { raiseIRQ(q); return }
            if queues[q].timerDeadline == 0 {
                queues[q].timerDeadline = now + interval
                scheduleRxTimer(q, queues[q].timerDeadline)
            }
        case .cqe:
            if interval == 0 || (frames > 0 && queues[q].pending >= frames) { raiseIRQ(q); return }
            queues[q].timerDeadline = now + interval
            scheduleRxTimer(q, queues[q].timerDeadline)
        case .throttle:
            let earliest = queues[q].hadIRQ ? queues[q].lastIRQ + interval : 0
            if now >= earliest { raiseIRQ(q); return }
            if queues[q].timerDeadline == 0 {
                queues[q].timerDeadline = earliest
                scheduleRxTimer(q, earliest)
            }
        }
    }

    /// Keeps one pending heap event per queue timer; a deadline moved later (CQE) is
    /// handled when the earlier event fires.
    mutating func scheduleRxTimer(_ q: Int, _ t: UInt64) {
        let at = queues[q].timerEventAt
        if at == 0 || t < at {
            queues[q].timerEventAt = t
            events.push(t, .rxTimer, Int32(q))
        }
    }

    mutating func rxTimerFired(_ q: Int, at t: UInt64) {
        guard queues[q].timerEventAt == t else { return }  // superseded
        queues[q].timerEventAt = 0
        let deadline = queues[q].timerDeadline
        guard deadline != 0, queues[q].irqArmed else { return }
        if deadline > t { scheduleRxTimer(q, deadline); return }
        queues[q].timerDeadline = 0
        if queues[q].pending > 0 || !queues[q].ring.isEmpty { raiseIRQ(q) }
    }

    mutating func txTimerFired(_ q: Int, at t: UInt64) {
        guard queues[q].txTimerEventAt == t else { return }
        queues[q].txTimerEventAt = 0
        guard queues[q].txTimerDeadline != 0, queues[q].irqArmed else { return }
        queues[q].txTimerDeadline = 0
        if queues[q].txUncleaned > 0 { raiseIRQ(q) }
    }

    /// The device asserts the queue's interrupt: masked until NAPI re-arms it.
    mutating func raiseIRQ(_ q: Int) {
        queues[q].irqArmed = false
        queues[q].pending = 0
        queues[q].timerDeadline = 0
        queues[q].txTimerDeadline = 0
        queues[q].lastIRQ = now
        queues[q].hadIRQ = true
        queues[q].interrupts &+= 1
        let c = queues[q].core
        cores[c].hardIRQs.push(q)
        kick(c)
    }

    /// NAPI completed: the driver re-enables the interrupt. Packets that arrived
    /// since the poll looked start a new moderation period now.
    mutating func rearm(_ q: Int) {
        queues[q].irqArmed = true
        queues[q].pending = queues[q].ring.count
        if queues[q].txUncleaned > 0 { startTxTimer(q) }
        if queues[q].irqArmed && queues[q].pending > 0 { moderate(q) }
    }

    /// A TX completion is pending on queue `q`: moderate it by tx-usecs / tx-frames.
    mutating func startTxTimer(_ q: Int) {
        guard queues[q].irqArmed else { return }
        let s = queues[q].setting
        if s.txUsecs == 0 || (s.txFrames > 0 && queues[q].txUncleaned >= Int(s.txFrames)) { raiseIRQ(q); return }
        if queues[q].txTimerDeadline == 0 {
            let t = now + UInt64(s.txUsecs) * 1000
            queues[q].txTimerDeadline = t
            if queues[q].txTimerEventAt == 0 || t < queues[q].txTimerEventAt {
                queues[q].txTimerEventAt = t
                events.push(t, .txTimer, Int32(q))
            }
        }
    }

    /// Sends one packet through physical queue `q`'s TX ring; false when the ring is full.
    mutating func transmit(size: UInt32, flow: UInt32, source: UInt16, force: Bool = false) -> Bool {
        let q = queueIndex(layer: 0, flow: flow, source: source)
        if queues[q].txUncleaned >= queues[q].txRing && !force {
            counters.txDropped &+= 1
            return false
        }
        queues[q].txUncleaned += 1
        queues[q].txUncleanedBytes &+= UInt64(size)
        queues[q].itrTxPackets += 1
        queues[q].itrTxBytes += Int(size)
        counters.txPackets &+= 1
        counters.txBytes &+= UInt64(size)
        if queues[q].txUncleaned == 1 || queues[q].txTimerDeadline == 0 { startTxTimer(q) }
        else if queues[q].setting.txFrames > 0 && queues[q].txUncleaned >= Int(queues[q].setting.txFrames) && queues[q].irqArmed {
            raiseIRQ(q)
        }
        return true
    }

    /// A packet was dropped somewhere: closed-loop clients retry after a timeout,
    /// bulk senders repair the loss after about one round trip.
    mutating func lost(_ p: Packet) {
        let src = Int(p.source)
        if sourceIsClosed[src] {
            events.push(now + retryNs + wireNs + dmaNs, .requestArrival, Int32(src), Int32(p.flow), p.origin)
        } else if bulkIndex[src << 20 | Int(p.flow)] != nil {
            events.push(now + 2 * wireNs + 100_000, .ackArrival, Int32(src), Int32(p.flow), UInt64(p.size))
        }
    }

    // MARK: - Cores

    @inline(__always)
    mutating func kick(_ c: Int) {
        if !cores[c].busy { startNext(c) }
    }

    /// Picks the next work item of core `c`: hard IRQs first, then NAPI polls, then
    /// threads — except in ksoftirqd mode, where polls and threads alternate.
    mutating func startNext(_ c: Int) {
        if !cores[c].hardIRQs.isEmpty {
            let q = cores[c].hardIRQs.pop()
            startItem(c, .irq, queue: q, system: 0, user: 0, cost: queues[q].layer == 1 ? virtualIRQCost : irqCost)
            return
        }
        let soft = !cores[c].pollList.isEmpty
        if !soft { cores[c].ksoftirqd = false }
        let thread = !cores[c].threadQueue.isEmpty
        if soft && (!cores[c].ksoftirqd || !thread || cores[c].lastWasThread) {
            startPoll(c, cores[c].pollList.pop())
            cores[c].lastWasThread = false
        } else if thread {
            cores[c].inSoftirqRun = false
            if cores[c].runsApp { startApp(c) } else { startBackend(c) }
            cores[c].lastWasThread = true
        } else {
            cores[c].work = .idle
            cores[c].ksoftirqd = false
            cores[c].inSoftirqRun = false
        }
    }

    mutating func startItem(_ c: Int, _ kind: WorkKind, queue: Int, system: UInt64, user: UInt64, cost: UInt64) {
        let d = max(cost, 1)
        cores[c].work = kind
        cores[c].workQueue = queue
        cores[c].workStart = now
        cores[c].workEnd = now + d
        cores[c].workSystemNs = system
        cores[c].workUserNs = user
        events.push(now + d, .coreDone, Int32(c))
    }

    mutating func startPoll(_ c: Int, _ q: Int) {
        if !cores[c].inSoftirqRun {
            cores[c].inSoftirqRun = true
            cores[c].runStart = now
            cores[c].runPackets = 0
        }
        let n = min(cpu.napiWeight, queues[q].ring.count)
        var cost = cpu.napiPollNs
        // The poll's packets stay in the ring until it completes (drivers refill the
        // descriptors at the end of the poll).
        cores[c].batchCount = n
        var previous: (UInt16, UInt32) = (.max, .max)
        let gro = !bulkIndex.isEmpty
        if !gro && n == queues[q].ring.count {
            // The poll takes the whole ring: its byte count is known without a scan.
            cost += Double(n) * cpu.softirqPerPacketNs + cpu.softirqPerByteNs * Double(queues[q].ring.bytes)
        } else {
          for k in 0..<n {
            let p = queues[q].ring.peek(k, arena.base)
            // GRO: a bulk segment following one of the same flow is merged into it.
            let merged = gro && previous == (p.source, p.flow) && sourceIsBulk[Int(p.source)]
            cost += (merged ? cpu.groMergeNs : cpu.softirqPerPacketNs) + cpu.softirqPerByteNs * Double(p.size)
            previous = (p.source, p.flow)
          }
        }
        // TX completions are cleaned in the same poll (combined queues).
        let tx = queues[q].layer == 0 ? queues[q].txUncleaned : 0
        cores[c].batchTx = tx
        cost += Double(tx) * cpu.txCleanPerPacketNs
        startItem(c, .poll, queue: q, system: 0, user: 0, cost: UInt64(cost))
    }

    mutating func startApp(_ c: Int) {
        let slice = cpu.threadSliceUs * 1000
        var system = 0.0, user = 0.0
        if onlyDatagrams {
            // Fast path (open-loop datagrams only): every finish time is known now, so the
            // packets are received, timed and counted in one pass (recv dequeues at once).
            var socket = cores[c].threadQueue
            let base = arena.base
            var k = 0
            var bytes: UInt64 = 0
            repeat {
                let p = socket.pop(base)
                k += 1
                system += cpu.copyPerByteNs * Double(p.size)
                user += sourceAppNs[Int(p.source)]
                system += cpu.syscallPerPacketNs
                recordLatency(now + UInt64(system + user) - p.origin)
                bytes &+= UInt64(p.size)
            } while system + user < slice && !socket.isEmpty
            cores[c].threadQueue = socket
            counters.delivered &+= UInt64(k)
            counters.deliveredBytes &+= bytes
            cores[c].batchCount = 0
            startItem(c, .app, queue: -1, system: UInt64(system), user: UInt64(user), cost: UInt64(system + user))
            return
        }
        cores[c].batchFinish.removeAll(keepingCapacity: true)
        let guest = cores[c].isGuest
        let txCost = cpu.txPerPacketNs + (guest ? Double(txKickNs) : 0)
        pollSerial &+= 1
        var k = 0
        let available = cores[c].threadQueue.count
        repeat {
            // Packets leave the socket buffer when the item completes.
            let p = cores[c].threadQueue.peek(k, arena.base)
            k += 1
            system += cpu.copyPerByteNs * Double(p.size)
            let src = Int(p.source)
            if sourceIsClosed[src] {
                system += cpu.syscallPerPacketNs + txCost
                user += closed[src]!.serviceNs()
            } else {
                user += sourceAppNs[src]
                if sourceIsBulk[src], let idx = bulkIndex[src << 20 | Int(p.flow)] {
                    // A stream read takes every queued segment of the flow in one call, and
                    // opens the receive window: one ACK per flow per batch.
                    if open[idx].lastPollSerial != pollSerial {
                        open[idx].lastPollSerial = pollSerial
                        system += cpu.syscallPerPacketNs + txCost
                    }
                } else {
                    system += cpu.syscallPerPacketNs
                }
            }
            cores[c].batchFinish.append(UInt64(system + user))
        } while system + user < slice && k < available
        cores[c].batchCount = k
        startItem(c, .app, queue: -1, system: UInt64(system), user: UInt64(user), cost: UInt64(system + user))
    }

    mutating func startBackend(_ c: Int) {
        let v = scenario.virtualization!
        var cost = 0.0
        var n = 0
        let available = cores[c].threadQueue.count
        repeat {
            let p = cores[c].threadQueue.peek(n, arena.base)
            cost += v.backendPerPacketNs + v.backendPerByteNs * Double(p.size)
            n += 1
        } while n < v.backendBatch && n < available
        cores[c].batchCount = n
        startItem(c, .backend, queue: -1, system: UInt64(cost), user: 0, cost: UInt64(cost))
    }

    mutating func finishWork(_ c: Int) {
        let kind = cores[c].work
        let q = cores[c].workQueue
        let d = cores[c].workEnd - cores[c].workStart
        // The core stays busy while the item's effects run, so that kicks to it wait.
        switch kind {
        case .idle: break
        case .irq:
            cores[c].irqNs &+= d
            // napi_schedule: the poll runs in softirq.
            cores[c].pollList.push(q)
        case .poll:
            cores[c].softirqNs &+= d
            finishPoll(c, q)
        case .app:
            cores[c].systemNs &+= cores[c].workSystemNs
            cores[c].userNs &+= d - min(d, cores[c].workSystemNs)
            finishApp(c)
        case .backend:
            cores[c].systemNs &+= d
            finishBackend(c)
        }
        cores[c].work = .idle
        startNext(c)
    }

    mutating func finishPoll(_ c: Int, _ q: Int) {
        let n = cores[c].batchCount
        let layer = queues[q].layer
        let innermost = layer == layers - 1
        var bytes = 0
        let base = arena.base
        if innermost && cores[c].threadQueue.capacity - cores[c].threadQueue.count >= n {
            // Fast path: the socket has room for the whole poll; move packets with local ring copies.
            var ring = queues[q].ring
            var socket = cores[c].threadQueue
            for _ in 0..<n {
                let p = ring.pop(base)
                bytes += Int(p.size)
                _ = socket.push(p, base)
            }
            queues[q].ring = ring
            cores[c].threadQueue = socket
        } else {
          for _ in 0..<n {
            let p = queues[q].ring.pop(base)
            bytes += Int(p.size)
            if innermost {
                if !cores[c].threadQueue.push(p, base) { counters.rxDropped &+= 1; lost(p) }
            } else {
                let b = queues[q].backendCore
                if !cores[b].threadQueue.push(p, base) { counters.rxDropped &+= 1; lost(p) } else { kick(b) }
            }
          }
        }
        queues[q].rxPackets &+= UInt64(n)
        queues[q].rxBytes &+= UInt64(bytes)
        queues[q].itrRxPackets += n
        queues[q].itrRxBytes += bytes
        if innermost {
            counters.rxPackets &+= UInt64(n)
            counters.rxBytes &+= UInt64(bytes)
        }
        let tx = cores[c].batchTx
        if tx > 0 {
            queues[q].txUncleaned -= min(tx, queues[q].txUncleaned)
            if queues[q].txUncleaned == 0 { queues[q].txUncleanedBytes = 0 }
        }
        // Softirq budget (`net_rx_action`): squeeze when exceeded with work left.
        cores[c].runPackets += n
        if n == cpu.napiWeight {
            cores[c].pollList.push(q)  // budget used up: stay in polling mode
        } else {
            completeNAPI(q, workDone: n)
        }
        if !cores[c].pollList.isEmpty,
           cores[c].runPackets >= cpu.netdevBudget || Double(now - cores[c].runStart) >= cpu.netdevBudgetUs * 1000 {
            counters.timeSqueeze &+= 1
            cores[c].runPackets = 0
            cores[c].runStart = now
            if cpu.ksoftirqd { cores[c].ksoftirqd = true }
        }
    }

    /// `napi_complete_done`: run the adaptive algorithm, then either defer (napi_defer_hard_irqs
    /// with gro_flush_timeout) or re-arm the interrupt.
    mutating func completeNAPI(_ q: Int, workDone: Int) {
        if queues[q].dim != nil {
            let sample = DimSample(timeNs: now, packets: queues[q].rxPackets, bytes: queues[q].rxBytes,
                                   events: queues[q].interrupts)
            if queues[q].dim!.update(sample) != nil { queues[q].refreshModeration() }
        } else if queues[q].itr != nil {
            if queues[q].itr!.update(rxPackets: queues[q].itrRxPackets, rxBytes: queues[q].itrRxBytes,
                                     txPackets: queues[q].itrTxPackets, txBytes: queues[q].itrTxBytes) {
                queues[q].refreshModeration()
            }
        }
        queues[q].itrRxPackets = 0; queues[q].itrRxBytes = 0
        queues[q].itrTxPackets = 0; queues[q].itrTxBytes = 0
        let s = queues[q].setting
        if workDone > 0 { queues[q].deferCount = Int(s.napiDeferHardIrqs) }
        if queues[q].deferCount > 0 && s.groFlushTimeoutNs > 0 {
            queues[q].deferCount -= 1
            events.push(now + s.groFlushTimeoutNs, .napiDeferTimer, Int32(q))
            return
        }
        rearm(q)
    }

    mutating func finishApp(_ c: Int) {
        let start = cores[c].workStart
        let n = cores[c].batchCount
        if onlyDatagrams { return }  // done in `startApp`
        if !bulkIndex.isEmpty { bulkInPoll.removeAll(keepingCapacity: true) }
        for k in 0..<n {
            let p = cores[c].threadQueue.pop(arena.base)
            let done = start + cores[c].batchFinish[k]
            counters.delivered &+= 1
            counters.deliveredBytes &+= UInt64(p.size)
            let src = Int(p.source)
            if sourceIsClosed[src] {
                // Answer: the response leaves through the physical TX ring and reaches the client.
                let responseBytes = closed[src]!.responseBytes
                if transmit(size: responseBytes, flow: p.flow, source: p.source) {
                    let arrival = done + txExtraNs + dmaNs + wireNs + UInt64(Double(responseBytes) * linkNsPerByte)
                    recordLatency(arrival - p.origin)
                    let think = schedule.scale(src, at: arrival)
                    let mean = think > 0 ? closed[src]!.thinkMeanNs / think : 0
                    let thinkNs = think > 0 ? closed[src]!.rng.exponential(mean: mean) : 0
                    scheduleRequest(source: src, client: Int(p.flow), sendAt: arrival + UInt64(thinkNs))
                } else {
                    events.push(now + retryNs + wireNs + dmaNs, .requestArrival, Int32(src), Int32(p.flow), p.origin)
                }
            } else {
                recordLatency(done - p.origin)
                if sourceIsBulk[src], let idx = bulkIndex[src << 20 | Int(p.flow)] {
                    if open[idx].unackedBytes == 0 { bulkInPoll.append(idx) }
                    open[idx].unackedBytes &+= UInt64(p.size)
                }
            }
        }
        // TCP ACKs (window updates) for the bulk data read by this batch.
        for idx in bulkInPoll {
            let o = open[idx]
            _ = transmit(size: 66, flow: o.flow, source: UInt16(o.source), force: true)
            events.push(now + txExtraNs + dmaNs + wireNs, .ackArrival, Int32(o.source), Int32(o.flow), o.unackedBytes)
            open[idx].unackedBytes = 0
        }
        bulkInPoll.removeAll(keepingCapacity: true)
    }

    mutating func finishBackend(_ c: Int) {
        let n = cores[c].batchCount
        for _ in 0..<n {
            let p = cores[c].threadQueue.pop(arena.base)
            let q = queueIndex(layer: 1, flow: p.flow, source: p.source)
            if !queues[q].ring.push(p, arena.base) {
                counters.rxMissed &+= 1
                lost(p)
                continue
            }
            packetArrived(q)
        }
    }

    // MARK: - Observation

    /// Packets held anywhere in the host (rings, socket and backend queues, running items).
    var backlog: UInt64 {
        var b = 0
        for q in queues { b += q.ring.count }
        for c in cores { b += c.threadQueue.count }
        return UInt64(b)
    }

    /// CPU times summed over cores, including the elapsed part of running items.
    var cpuTimes: CPUTimes {
        var t = CPUTimes()
        for c in cores {
            t.userNs &+= c.userNs
            t.systemNs &+= c.systemNs
            t.irqNs &+= c.irqNs
            t.softirqNs &+= c.softirqNs
            if c.work != .idle, now > c.workStart {
                let part = min(now, c.workEnd) - c.workStart
                switch c.work {
                case .irq: t.irqNs &+= part
                case .poll: t.softirqNs &+= part
                case .app:
                    let total = max(c.workEnd - c.workStart, 1)
                    let sys = c.workSystemNs * part / total
                    t.systemNs &+= sys
                    t.userNs &+= part - sys
                case .backend: t.systemNs &+= part
                case .idle: break
                }
            }
        }
        let elapsed = now &* UInt64(cores.count)
        t.idleNs = elapsed > t.busyNs ? elapsed - t.busyNs : 0
        return t
    }

    /// Interrupts per simulated layer (physical NIC first).
    var interruptsPerLayer: [UInt64] {
        var out = [UInt64](repeating: 0, count: layers)
        for q in queues { out[q.layer] &+= q.interrupts }
        return out
    }

    mutating func apply(_ new: CoalescingSetting) {
        setting = new
        for i in queues.indices {
            let layer = queues[i].layer
            if layer < coalescingLayers { queues[i].apply(new.layers[layer]) }
        }
    }
}

/// Why a simulation could not be set up or configured.
public enum SimError: Error, Equatable, CustomStringConvertible {
    case scenario(ScenarioError)
    case badSetting(scenario: String, reason: String)
    case layerMismatch(target: String, expected: Int, found: Int)

    public var description: String {
        switch self {
        case .scenario(let e): return e.description
        case .badSetting(let s, let r): return "scenario \(s): initial_setting: \(r)"
        case .layerMismatch(let t, let e, let f):
            return "\(t): the setting configures \(f) layer(s), the target has \(e)"
        }
    }
}
