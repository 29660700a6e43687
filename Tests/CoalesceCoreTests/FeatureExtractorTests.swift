import Testing
@testable import CoalesceCore

@Suite("Feature extraction from observation pairs")
struct FeatureExtractorTests {
    let setting = CoalescingSetting(uniform: LayerSetting(rxUsecs: 8, rxFrames: 16))

    func observation(_ t: UInt64, rx: UInt64, irq: UInt64, latency: LatencySummary? = nil) -> Observation {
        Observation(timestampNs: t, rxPackets: rx, rxBytes: rx * 200, interrupts: [irq],
                    cpu: CPUTimes(userNs: t / 4, systemNs: 0, irqNs: t / 8, softirqNs: t / 8, idleNs: t / 2),
                    latency: latency, setting: setting)
    }

    @Test func stateHasTheDocumentedLayout() throws {
        var fx = FeatureExtractor()
        #expect(fx.next(observation(1_000_000_000, rx: 0, irq: 0)) == nil)
        let lat = LatencySummary(count: 10, p50Ns: 20_000, p99Ns: 99_000, p999Ns: 120_000, maxNs: 150_000)
        let rValue = fx.next(observation(2_000_000_000, rx: 100_000, irq: 10_000, latency: lat))
        let r = try #require(rValue)
        #expect(r.state.count == FeatureExtractor.count)
        func log1p(_ x: Double) -> Float { Float(CoreMath.log1p(x)) }
        #expect(abs(r.state[0] - log1p(100_000)) < 1e-4)
        #expect(abs(r.state[2] - log1p(200)) < 1e-4)
        #expect(abs(r.state[3] - log1p(10_000)) < 1e-4)
        #expect(abs(r.state[4] - log1p(10)) < 1e-4)
        #expect(abs(r.state[5] - 0.5) < 1e-4)
        #expect(abs(r.state[6] - 0.25) < 1e-4)
        #expect(abs(r.state[9] - log1p(20)) < 1e-4)
        #expect(abs(r.state[10] - log1p(99)) < 1e-4)
        #expect(r.state[11] == 0)
        #expect(abs(r.state[12] - log1p(8)) < 1e-4)
    }

    @Test func trendFollowsTheRateChange() throws {
        var fx = FeatureExtractor()
        _ = fx.next(observation(1_000_000_000, rx: 0, irq: 0))
        _ = fx.next(observation(2_000_000_000, rx: 1000, irq: 1000))
        let upValue = fx.next(observation(3_000_000_000, rx: 11_000, irq: 2000))
        let up = try #require(upValue)
        #expect(up.state[11] > 2)
    }

    @Test func everyFeatureStaysFiniteOnResetsAndZeros() throws {
        var fx = FeatureExtractor()
        _ = fx.next(observation(1_000_000_000, rx: 9_000_000_000, irq: 50))
        let rValue = fx.next(observation(1_000_000_001, rx: 0, irq: 0))
        let r = try #require(rValue)
        #expect(r.state.allSatisfy { $0.isFinite && $0 >= -5 })
        #expect(r.metrics.counterEvents.contains("rx_packets:reset"))
    }

    @Test func latencyFeaturesAreZeroWithoutAProbe() throws {
        var fx = FeatureExtractor()
        _ = fx.next(observation(1_000_000_000, rx: 0, irq: 0))
        let rValue = fx.next(observation(2_000_000_000, rx: 10, irq: 10))
        let r = try #require(rValue)
        for i in FeatureExtractor.latencyFeatureIndices { #expect(r.state[i] == 0) }
    }
}
