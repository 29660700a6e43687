import CoalesceCore
@testable import CoalesceHost
import Foundation
import Synchronization
import Testing

@Suite("latency probe")
struct ProbeTests {
    @Test("probe round trips through a probe server on loopback give ordered percentiles per interval")
    func probeMeasuresLoopbackRoundTrips() throws {
        let server = try ProbeServer(listen: "127.0.0.1:0")
        let port = try server.boundPort()
        let stop = Atomic<Bool>(false)
        let serverBox = UncheckedBox(server)
        let thread = Thread {
            try? serverBox.value.serve(maxDurationNs: 10_000_000_000) { stop.load(ordering: .relaxed) }
        }
        thread.start()
        defer { stop.store(true, ordering: .relaxed) }

        let probe = try LatencyProbe(peer: "127.0.0.1:\(port)", rate: 500)
        probe.run(until: MonotonicClock.now() + 200_000_000)
        let summary = try #require(probe.takeSummary())
        #expect(summary.count >= 10)          // 500/s for 0.2 s = 100 requests (fewer on a loaded machine)
        #expect(summary.count <= 101)
        #expect(summary.p50Ns > 0)
        #expect(summary.p50Ns <= summary.p99Ns)
        #expect(summary.p99Ns <= summary.p999Ns)
        #expect(summary.p999Ns <= summary.maxNs)
        #expect(summary.maxNs < 200_000_000)
        #expect(probe.takeSummary() == nil)   // drained: the next interval starts empty
    }

    @Test("without a reachable peer an interval has no latency rather than a made-up one")
    func probeWithoutPeerGivesNil() throws {
        let probe = try LatencyProbe(peer: "127.0.0.1:9", rate: 200)   // discard port: nobody answers
        probe.run(until: MonotonicClock.now() + 50_000_000)
        #expect(probe.sent > 0)
        #expect(probe.takeSummary() == nil)
    }

    @Test("a malformed peer address is a typed error")
    func badAddress() {
        #expect(throws: HostError.self) { try LatencyProbe(peer: "localhost", rate: 10) }
        #expect(throws: HostError.self) { try LatencyProbe(peer: "127.0.0.1:99999", rate: 10) }
    }
}

final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
