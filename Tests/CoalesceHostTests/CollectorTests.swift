import CoalesceCore
@testable import CoalesceHost
import Foundation
import Glibc
import Synchronization
import Testing

@Suite("collector", .serialized)
struct CollectorTests {
    static func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "coalesce-\(name)-\(getpid())-\(UUID().uuidString.prefix(8)).csv"
    }

    @Test("collect --apply with the sysfs actuator on veth records a dataset the reader accepts, then restores the knobs",
          .enabled(if: HostTestEnvironment.canCreateNamespaces, "needs root and iproute2 to create network namespaces"))
    func applyOnVethRecordsReadableDataset() throws {
        let lab = try VethLab()
        defer { lab.remove() }
        let path = Self.temporaryPath("veth")
        defer { unlink(path) }
        let interface = lab.ifA
        let state = Self.temporaryPath("state")
        defer { try? FileManager.default.removeItem(atPath: state) }
        nonisolated(unsafe) var journalLeft = true
        let (report, groAfter, napiAfter) = try NetworkNamespace.run(lab.nsA) {
            let config = CollectConfiguration(
                interface: interface, intervalNs: 20_000_000, durationNs: 600_000_000,
                policy: try PolicySpec.parse("explore:epsilon=1,seed=7"), mode: .apply, outputPath: path,
                stateDirectory: state)
            let report = try HostCollector.run(config)
            journalLeft = FileManager.default.fileExists(atPath: RestoreJournalStore(directory: state).path(for: interface))
            let reader = KernelFileReader()
            let gro = try reader.readUInt64(KernelPath("/sys/class/net/\(interface)/gro_flush_timeout"))
            let napi = try reader.readUInt64(KernelPath("/sys/class/net/\(interface)/napi_defer_hard_irqs"))
            return (UncheckedBox(report), gro, napi)
        }
        #expect(report.value.restored)
        #expect(!journalLeft, "the restore journal is removed once the settings are back")
        #expect(groAfter == 0)
        #expect(napiAfter == 0)
        #expect(report.value.summary.changes > 0)
        #expect(report.value.summary.applyErrors.isEmpty)
        #expect(report.value.actionSpace.name == "software-6")
        let dataset = try Dataset.read(path: path)
        #expect(dataset.header.target == "host:\(interface)")
        #expect(dataset.header.latencyFeatures == false)
        #expect(dataset.rows.count == report.value.rows)
        #expect(dataset.rows.count >= 20)
        let knobsSeen = Set(dataset.rows.map { $0.observation.setting.layers[0].groFlushTimeoutNs })
        #expect(knobsSeen.count > 1)                         // the policy really changed the knob
        #expect(dataset.rows.allSatisfy { $0.probability != nil && $0.probability! > 0 })
        #expect(dataset.rows.allSatisfy { $0.observation.latency == nil })
    }

    @Test("collect --apply refuses up front a static policy the device cannot do, naming interface and driver",
          .enabled(if: HostTestEnvironment.canCreateNamespaces, "needs root and iproute2 to create network namespaces"))
    func applyRefusesUnsupportedStaticPolicy() throws {
        let lab = try VethLab()
        defer { lab.remove() }
        let path = Self.temporaryPath("refuse")
        defer { unlink(path) }
        let interface = lab.ifA
        let message = try NetworkNamespace.run(lab.nsA) { () -> String in
            let config = CollectConfiguration(
                interface: interface, intervalNs: 20_000_000, durationNs: 100_000_000,
                policy: try PolicySpec.parse("static:rx-usecs=64,rx-frames=128"), mode: .apply, outputPath: path,
                stateDirectory: path + ".state")
            do {
                _ = try HostCollector.run(config)
                return "accepted"
            } catch {
                return "\(error)"
            }
        }
        #expect(message.contains(interface))
        #expect(message.contains("veth"))
        #expect(message.contains("rx-usecs=64"))
    }

    @Test("collect --apply is refused while another running program has claimed the interface, and changes nothing",
          .enabled(if: HostTestEnvironment.canCreateNamespaces, "needs root and iproute2 to create network namespaces"))
    func applyRefusedWhileClaimed() throws {
        let lab = try VethLab()
        defer { lab.remove() }
        let path = Self.temporaryPath("claimed")
        defer { unlink(path) }
        let state = Self.temporaryPath("state")
        defer { try? FileManager.default.removeItem(atPath: state) }
        let interface = lab.ifA
        let (message, gro) = try NetworkNamespace.run(lab.nsA) { () -> (String, UInt64) in
            // This test process plays the running agent: it holds the claim and has recorded it.
            let store = RestoreJournalStore(directory: state)
            let held = try InterfaceClaim.acquire(interface: interface, store: store, program: "coalesce-agent").claim
            try held.record(original: .unmoderated, watching: try HostActuator(interface: interface))
            defer { withExtendedLifetime(held) {} }
            let config = CollectConfiguration(
                interface: interface, intervalNs: 20_000_000, durationNs: 100_000_000,
                policy: try PolicySpec.parse("static:gro-flush-timeout=20000"), mode: .apply, outputPath: path,
                stateDirectory: state)
            var message = "accepted"
            do { _ = try HostCollector.run(config) } catch { message = "\(error)" }
            let gro = try KernelFileReader().readUInt64(KernelPath("/sys/class/net/\(interface)/gro_flush_timeout"))
            return (message, gro)
        }
        #expect(message.contains("\(interface) is being controlled by coalesce-agent (pid \(getpid())"), "\(message)")
        #expect(gro == 0)
    }

    @Test("collect --observe-only on eth0 writes a valid dataset whose setting column agrees with `ethtool -c eth0`",
          .enabled(if: HostTestEnvironment.hasEth0 && HostTestEnvironment.ethtoolPath != nil, "needs eth0 and ethtool"))
    func observeOnlyOnEth0() throws {
        let path = Self.temporaryPath("eth0")
        defer { unlink(path) }
        let expected = try Eth0ReadOnlyTests.ethtoolShow()
        let report = try HostCollector.run(CollectConfiguration(
            interface: "eth0", intervalNs: 50_000_000, durationNs: 500_000_000, mode: .observeOnly, outputPath: path))
        #expect(report.summary.changes == 0)
        #expect(report.summary.applyErrors.isEmpty)
        let dataset = try Dataset.read(path: path)
        #expect(dataset.rows.count >= 7)
        #expect(dataset.header.policy.hasPrefix("observe:"))
        for row in dataset.rows {
            let layer = row.observation.setting.layers[0]
            #expect(String(layer.rxUsecs) == expected["rx-usecs"])
            #expect(String(layer.rxFrames) == expected["rx-frames"])
            #expect(row.probability == 1)
            #expect(dataset.header.actionSpace.settings[row.action] == row.observation.setting)
        }
    }

    @Test("a probe peer fills the latency columns and the header says latency is measured")
    func probeFillsLatency() throws {
        let server = try ProbeServer(listen: "127.0.0.1:0")
        let port = try server.boundPort()
        let box = UncheckedBox(server)
        let stopFlag = UncheckedBox(StopFlag())
        let thread = Thread { try? box.value.serve(maxDurationNs: 10_000_000_000) { stopFlag.value.stop } }
        thread.start()
        defer { stopFlag.value.stop = true }
        let path = Self.temporaryPath("probe")
        defer { unlink(path) }
        let report = try HostCollector.run(CollectConfiguration(
            interface: "lo", intervalNs: 50_000_000, durationNs: 400_000_000, probePeer: "127.0.0.1:\(port)",
            probeRate: 400, outputPath: path))
        let dataset = try Dataset.read(path: path)
        #expect(dataset.header.latencyFeatures)
        #expect(report.probe.map { $0.received > 0 } == true)
        let measured = dataset.rows.compactMap { $0.observation.latency }
        #expect(measured.count * 2 >= dataset.rows.count)   // most intervals, even on a loaded machine
        #expect(measured.allSatisfy { $0.count > 0 && $0.p50Ns <= $0.p99Ns && $0.p99Ns <= $0.maxNs })
    }
}

/// A stop request shared with a server thread.
final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var stop: Bool {
        get { flag.load(ordering: .relaxed) }
        set { flag.store(newValue, ordering: .relaxed) }
    }
}
