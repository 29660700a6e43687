import CoalesceCore
import CoalesceHost
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("coalesce-agent on the simulator")
struct AgentSimulatorTests {
    /// Reads a dataset's action column.
    func actions(_ path: String) throws -> [Int] { try Dataset.read(path: path).rows.map(\.action) }

    /// The actions of `coalesce simulate --policy model:MODEL` and of the agent on `sim:rpc-low`,
    /// both with seed 7 for 3 s at 50 ms (recorded in `dir`).
    func simulatedAndAgentActions(model: String, dir: String) throws -> (simulate: [Int], agent: [Int]) {
        let sim = try runProgram(try Binaries.path("coalesce"), [
            "simulate", "--scenario", "rpc-low", "--policy", "model:\(model)", "--seed", "7",
            "--duration", "3", "--interval", "50", "--record", "\(dir)/sim.csv"])
        try #require(sim.status == 0, "\(sim.output)")
        let run = try runProgram(try Binaries.path("coalesce-agent"), [
            "--target", "sim:rpc-low", "--model", model, "--seed", "7", "--duration", "3",
            "--interval-ms", "50", "--min-dwell-ms", "0", "--record", "\(dir)/agent.csv"])
        try #require(run.status == 0, "\(run.output)")
        return (try actions("\(dir)/sim.csv"), try actions("\(dir)/agent.csv"))
    }

    @Test("every change is logged as applied, past the 64 the agent keeps for inspection")
    func everyChangeIsLogged() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FixtureModel.install(try FixtureModel.bytes(preferring: 3), at: "\(dir)/m.model")
        // Uniform exploration changes the setting at most intervals: far more than 64 changes.
        let run = try runProgram(try Binaries.path("coalesce-agent"), [
            "--target", "sim:rpc-low", "--model", "\(dir)/m.model", "--seed", "7", "--duration", "10",
            "--interval-ms", "50", "--min-dwell-ms", "0", "--epsilon", "1"])
        try #require(run.status == 0, "\(run.output)")
        let applied = run.output.split(separator: "\n").filter { $0.contains("msg=applied") }.count
        let stopping = try #require(run.output.split(separator: "\n").first { $0.contains("msg=\"agent stopping\"") })
        let changes = try #require(stopping.split(separator: " ").first { $0.hasPrefix("changes=") }.flatMap { Int($0.dropFirst(8)) })
        #expect(changes > 64, "\(stopping)")
        #expect(applied == changes, "\(applied) 'applied' lines for \(changes) changes")
    }

    @Test("with the same seed, the agent on sim:SCENARIO makes exactly the decisions of `coalesce simulate --policy model:FILE`")
    func agentMatchesSimulate() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let coalesce = try Binaries.path("coalesce"), agent = try Binaries.path("coalesce-agent")
        // A real model: record exploration data in the lab, train on it.
        for seed in ["1", "2"] {
            let r = try runProgram(coalesce, ["simulate", "--scenario", "rpc-low", "--policy", "explore:epsilon=1,hold=2",
                                              "--seed", seed, "--duration", "3", "--interval", "50", "--record", "\(dir)/d\(seed).csv"])
            #expect(r.status == 0, "\(r.output)")
        }
        let model = "\(dir)/m.model"
        let train = try runProgram(coalesce, ["train", "--data", "\(dir)/d1.csv", "\(dir)/d2.csv", "--algorithm", "tabular",
                                              "--objective", "latency", "--out", model, "--created-at", "0",
                                              "--ope-steps", "0"])
        try #require(train.status == 0, "\(train.output)")

        let (a, b) = try simulatedAndAgentActions(model: model, dir: dir)
        #expect(a.count == 59)
        #expect(a == b)
        #expect(Set(a).count >= 1)
        // --ensemble-default means nothing to a model that is not an ensemble: said, not fatal.
        let plain = try runProgram(agent, ["--target", "sim:rpc-low", "--model", model, "--seed", "7", "--duration", "1",
                                           "--interval-ms", "50", "--ensemble-default", "start"])
        #expect(plain.status == 0 && plain.output.contains("--ensemble-default has no effect until an ensemble model is loaded"))
    }

    @Test("an ensemble from `coalesce train --ensemble` loads everywhere a model does: inspect, simulate and the agent agree")
    func ensembleModelEndToEnd() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let coalesce = try Binaries.path("coalesce"), agent = try Binaries.path("coalesce-agent")
        let r = try runProgram(coalesce, ["simulate", "--scenario", "rpc-low", "--policy", "explore:epsilon=1,hold=2",
                                          "--seed", "1", "--duration", "4", "--interval", "50", "--record", "\(dir)/d.csv"])
        try #require(r.status == 0, "\(r.output)")
        let model = "\(dir)/e.model"
        let common = ["train", "--data", "\(dir)/d.csv", "--algorithm", "cql", "--objective", "latency", "--out", model,
                      "--created-at", "0", "--ope-steps", "0", "--epochs", "2", "--steps-per-epoch", "100", "--ensemble", "3"]
        let refused = try runProgram(coalesce, common + ["--default-action", "rx-usecs=7"])
        #expect(refused.status != 0 && refused.output.contains("--default-action 'rx-usecs=7' is not an action of the data's space"))
        let train = try runProgram(coalesce, common + ["--default-action", "rx-usecs=8,rx-frames=16,tx-usecs=16,tx-frames=32"])
        try #require(train.status == 0, "\(train.output)")
        #expect(train.output.contains("ensemble: 3 networks on bootstrap resamples"))
        // The kernel family decides the weights' last bits, so the report names it.
        #expect(train.output.contains("blas: OpenBLAS ") && train.output.contains(" kernels, 1 thread(s)"))
        let inspect = try runProgram(coalesce, ["inspect", model])
        #expect(inspect.output.contains("3 networks; keeps action 3 unless mean − 1.00 · std"))
        // Values read left to right after their field name, not pushed to the widest value's edge.
        #expect(inspect.output.split(separator: "\n").contains("algorithm         cql"))

        let (simulated, applied) = try simulatedAndAgentActions(model: model, dir: dir)
        #expect(simulated == applied)
        // Traffic unlike the training data (trained on rpc-low): the agent says so and keeps the default.
        let away = try runProgram(agent, ["--target", "sim:overload-spike", "--model", model, "--seed", "7", "--duration", "2",
                                          "--interval-ms", "100", "--min-dwell-ms", "0", "--record", "\(dir)/away.csv"])
        try #require(away.status == 0, "\(away.output)")
        #expect(away.output.contains("state outside the model's training support: keeping its default"))
        #expect(try actions("\(dir)/away.csv").first == 3)

        // An ensemble that is never confident keeps its default, whichever the operator names.
        let stubborn = "\(dir)/stubborn.model"
        let t2 = try runProgram(coalesce, common.map { $0 == model ? stubborn : $0 } + ["--pessimism", "1000", "--default-action", "10"])
        try #require(t2.status == 0, "\(t2.output)")
        let keep = "rx-usecs=32,rx-frames=64,tx-usecs=16,tx-frames=32"
        let kept = try runProgram(coalesce, ["simulate", "--scenario", "rpc-low", "--policy", "model:\(stubborn)", "--seed", "7",
                                             "--duration", "3", "--interval", "50", "--ensemble-default", keep,
                                             "--record", "\(dir)/kept.csv"])
        try #require(kept.status == 0, "\(kept.output)")
        #expect(try Set(actions("\(dir)/kept.csv")) == [6])
        let wrong = try runProgram(coalesce, ["simulate", "--scenario", "rpc-low", "--policy", "model:\(stubborn)",
                                              "--duration", "1", "--ensemble-default", "rx-usecs=33"])
        #expect(wrong.status != 0 && wrong.output.contains("--ensemble-default 'rx-usecs=33' is not an action of the model's space"))
        // `start`: the setting the agent found (the simulator starts at the model's action closest to its own).
        let startRun = try runProgram(agent, ["--target", "sim:rpc-low", "--model", stubborn, "--seed", "7", "--duration", "3",
                                              "--interval-ms", "50", "--min-dwell-ms", "0", "--ensemble-default", "start",
                                              "--record", "\(dir)/start.csv"])
        try #require(startRun.status == 0, "\(startRun.output)")
        let started = try actions("\(dir)/start.csv")
        #expect(Set(started).count == 1 && started.first != 10, "kept the start setting, not the model's default 10")
        #expect(startRun.output.contains("ensemble_default=\"\(started[0]) ("))
    }

    @Test("a model that needs latency features is refused at start where no probe runs")
    func latencyModelRefusedWithoutProbe() throws {
        guard AgentNamespace.canRun else { return }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FixtureModel.install(try FixtureModel.bytes(preferring: 3, latency: true), at: "\(dir)/m.model")
        let ns = try AgentNamespace()
        defer { ns.remove() }
        let (p, a) = ns.exec([try Binaries.path("coalesce-agent"), "--interface", ns.interface, "--model", "\(dir)/m.model", "--duration", "1",
                                  "--state-dir", ns.stateDir])
        let r = try runProgram(p, a)
        #expect(r.status != 0)
        #expect(r.output.contains("trained with latency features"))
    }
}

@Suite("the systemd unit")
struct SystemdUnitTests {
    static let analyze: String? = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { (p: String) in access(p, X_OK) == 0 }

    @Test("restores from the restore journal after the agent is gone, and systemd-analyze accepts it",
          .enabled(if: SystemdUnitTests.analyze != nil, "needs systemd-analyze"))
    func unitRestoresAfterAnyExit() throws {
        let unit = try String(contentsOf: Binaries.packageRoot.appendingPathComponent("Tools/systemd/coalesce-agent@.service"), encoding: .utf8)
        let lines: [String] = unit.split(separator: "\n").map { String($0) }
        let start = try #require(lines.first { $0.hasPrefix("ExecStart=") })
        let stopPost = try #require(lines.first { $0.hasPrefix("ExecStopPost=") })
        #expect(stopPost.contains("--restore-only") && stopPost.contains("--interface %i"))
        // Both use the default state directory, whose per-interface directory is the
        // runtime (tmpfs) directory the unit creates for its instance: the agent, its
        // ExecStopPost and the command-line tools all see the same journal and lock.
        #expect(!start.contains("--state-dir") && !stopPost.contains("--state-dir"))
        let runtime = try #require(lines.first { $0.hasPrefix("RuntimeDirectory=") })
        #expect("/run/" + runtime.dropFirst("RuntimeDirectory=".count) == RestoreJournalStore().interfaceDirectory("%i"))
        #expect(lines.contains("RuntimeDirectoryPreserve=yes"))
        // systemd-analyze checks the syntax and that the binary exists and is executable:
        // point it at the built agent in a temporary copy.
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let agent = try Binaries.path("coalesce-agent")
        try Data(unit.replacingOccurrences(of: "/usr/local/bin/coalesce-agent", with: agent).utf8)
            .write(to: URL(fileURLWithPath: "\(dir)/coalesce-agent@.service"))
        let r = try runProgram(Self.analyze!, ["verify", "\(dir)/coalesce-agent@eth1.service"], timeout: 60)
        #expect(r.status == 0, "\(r.output)")
        #expect(!r.output.contains("coalesce-agent@"), "no warnings about the unit: \(r.output)")
    }
}

@Suite("coalesce-agent on a veth in a test namespace", .serialized,
       .enabled(if: AgentNamespace.canRun, "needs root and iproute2 to create network namespaces"))
struct AgentHostTests {
    let agentPath: String
    init() throws { agentPath = try Binaries.path("coalesce-agent") }

    /// A temporary directory and a test namespace, both removed afterwards; with
    /// `preferring`, a fixture model that always picks that action at `DIR/m.model`.
    func withLab(preferring action: Int?, _ body: (String, AgentNamespace) throws -> Void) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ns = try AgentNamespace()
        defer { ns.remove() }
        if let action { try FixtureModel.install(try FixtureModel.bytes(preferring: action), at: "\(dir)/m.model") }
        try body(dir, ns)
    }

    func start(_ ns: AgentNamespace, model: String, extra: [String], log: String) throws -> RunningProcess {
        // Each namespace's own restore-journal directory: never the host's /run/coalesce.
        let (p, a) = ns.exec([agentPath, "--interface", ns.interface, "--model", model, "--interval-ms", "100",
                              "--min-dwell-ms", "0", "--state-dir", ns.stateDir] + extra)
        return try RunningProcess(p, a, log: log)
    }

    @Test("SIGTERM restores gro_flush_timeout and napi_defer_hard_irqs after the agent changed them")
    func sigtermRestores() throws {
        try withLab(preferring: nil) { dir, ns in
            try ns.setKnob("gro_flush_timeout", "20000")
            // Action 15 of bare-metal-16 sets gro_flush_timeout 50 µs and napi_defer_hard_irqs 2.
            try FixtureModel.install(try FixtureModel.bytes(preferring: 15), at: "\(dir)/m.model")
            let agent = try start(ns, model: "\(dir)/m.model", extra: [], log: "\(dir)/agent.log")
            #expect(agent.waitForOutput("msg=applied", timeout: 20), "\(agent.output)")
            #expect(try ns.knob("gro_flush_timeout") == "50000")
            #expect(try ns.knob("napi_defer_hard_irqs") == "2")
            agent.signal(SIGTERM)
            #expect(try agent.wait(timeout: 20) == 0, "\(agent.output)")
            #expect(try ns.knob("gro_flush_timeout") == "20000")
            #expect(try ns.knob("napi_defer_hard_irqs") == "0")
            #expect(agent.output.contains("original coalescing restored"))
        }
    }

    @Test("after a kill -9 the restore journal holds the operator's settings, and --restore-only puts them back")
    func killNineThenRestoreOnly() throws {
        try withLab(preferring: 15) { dir, ns in
            try ns.setKnob("gro_flush_timeout", "20000")
            let agent = try start(ns, model: "\(dir)/m.model", extra: [], log: "\(dir)/agent.log")
            defer { if agent.process.isRunning { agent.signal(SIGKILL) } }
            #expect(agent.waitForOutput("msg=applied", timeout: 20), "\(agent.output)")
            #expect(try ns.knob("gro_flush_timeout") == "50000")
            let journal = try String(contentsOfFile: ns.journalPath, encoding: .utf8)
            #expect(journal.contains("\"original\" : \"rx-usecs=0,gro-flush-timeout=20000\""), "\(journal)")
            #expect(journal.contains("\"pid\" : \(agent.process.processIdentifier)"), "\(journal)")
            #expect(journal.contains("\"applied\" : \"rx-usecs=0,gro-flush-timeout=50000,napi-defer-hard-irqs=2\""), "\(journal)")

            agent.signal(SIGKILL)
            _ = try agent.wait(timeout: 20)
            #expect(try ns.knob("gro_flush_timeout") == "50000", "nothing restored it: the process was killed")

            // Shadow mode changes nothing, but says what was left behind.
            let (dp, da) = ns.exec([agentPath, "--interface", ns.interface, "--model", "\(dir)/m.model", "--dry-run",
                                    "--duration", "0.5", "--state-dir", ns.stateDir])
            let dry = try runProgram(dp, da)
            #expect(dry.status == 0, "\(dry.output)")
            #expect(dry.output.contains("did not restore it"), "\(dry.output)")
            #expect(try ns.knob("gro_flush_timeout") == "50000")

            let (p, a) = ns.exec([agentPath, "--interface", ns.interface, "--restore-only", "--state-dir", ns.stateDir])
            let restored = try runProgram(p, a)
            #expect(restored.status == 0, "\(restored.output)")
            #expect(restored.output.contains("put back the coalescing coalesce-agent (pid \(agent.process.processIdentifier))"), "\(restored.output)")
            #expect(try ns.knob("gro_flush_timeout") == "20000")
            #expect(try ns.knob("napi_defer_hard_irqs") == "0")
            #expect(!FileManager.default.fileExists(atPath: ns.journalPath))

            let again = try runProgram(p, a)
            #expect(again.status == 0 && again.output.contains("nothing to restore"), "\(again.output)")
        }
    }

    @Test("after a kill -9, a setting the operator made by hand is kept, not overwritten by the journal")
    func handMadeSettingAfterKillIsKept() throws {
        try withLab(preferring: 15) { dir, ns in
            try ns.setKnob("gro_flush_timeout", "20000")
            let agent = try start(ns, model: "\(dir)/m.model", extra: [], log: "\(dir)/agent.log")
            defer { if agent.process.isRunning { agent.signal(SIGKILL) } }
            #expect(agent.waitForOutput("msg=applied", timeout: 20), "\(agent.output)")
            agent.signal(SIGKILL)
            _ = try agent.wait(timeout: 20)
            // The operator sets the interface by hand before anything recovers it.
            try ns.setKnob("gro_flush_timeout", "70000")
            let (p, a) = ns.exec([agentPath, "--interface", ns.interface, "--restore-only", "--state-dir", ns.stateDir])
            let r = try runProgram(p, a)
            #expect(r.status == 0, "\(r.output)")
            #expect(r.output.contains("that newer choice is kept"), "\(r.output)")
            #expect(try ns.knob("gro_flush_timeout") == "70000")
            #expect(!FileManager.default.fileExists(atPath: ns.journalPath))
        }
    }

    @Test("a second agent is refused while one runs; after a kill -9 the next agent first puts the operator's settings back")
    func nextAgentRecovers() throws {
        try withLab(preferring: 15) { dir, ns in
            try ns.setKnob("gro_flush_timeout", "20000")
            let first = try start(ns, model: "\(dir)/m.model", extra: [], log: "\(dir)/first.log")
            defer { if first.process.isRunning { first.signal(SIGKILL) } }
            #expect(first.waitForOutput("msg=applied", timeout: 20), "\(first.output)")

            let (p, a) = ns.exec([agentPath, "--interface", ns.interface, "--model", "\(dir)/m.model", "--duration", "1",
                                  "--state-dir", ns.stateDir])
            let second = try runProgram(p, a)
            #expect(second.status != 0)
            #expect(second.output.contains("is being controlled by coalesce-agent (pid \(first.process.processIdentifier)"), "\(second.output)")
            #expect(try ns.knob("gro_flush_timeout") == "50000", "the refused agent changed nothing")
            #expect(FileManager.default.fileExists(atPath: ns.journalPath),
                    "and left the running agent's journal alone")

            first.signal(SIGKILL)
            _ = try first.wait(timeout: 20)
            // The next agent starts from the operator's settings, not the dead agent's, and
            // so restores those on SIGTERM (without the journal it would keep 50 µs).
            let next = try start(ns, model: "\(dir)/m.model", extra: [], log: "\(dir)/next.log")
            defer { if next.process.isRunning { next.signal(SIGKILL) } }
            #expect(next.waitForOutput("msg=applied", timeout: 20), "\(next.output)")
            #expect(next.output.contains("put back the coalescing coalesce-agent (pid \(first.process.processIdentifier))"), "\(next.output)")
            #expect(next.output.contains("start_setting=\"rx-usecs=0,gro-flush-timeout=20000\""), "\(next.output)")
            #expect(try ns.knob("gro_flush_timeout") == "50000")
            next.signal(SIGTERM)
            #expect(try next.wait(timeout: 20) == 0, "\(next.output)")
            #expect(try ns.knob("gro_flush_timeout") == "20000")
            #expect(!FileManager.default.fileExists(atPath: ns.journalPath), "a clean exit removes the journal")
        }
    }

    @Test("--dry-run decides and logs but never sets anything")
    func dryRunNeverSets() throws {
        try withLab(preferring: nil) { dir, ns in
            try ns.setKnob("gro_flush_timeout", "20000")
            try FixtureModel.install(try FixtureModel.bytes(preferring: 15), at: "\(dir)/m.model")
            let agent = try start(ns, model: "\(dir)/m.model", extra: ["--dry-run", "--duration", "1.5"], log: "\(dir)/agent.log")
            #expect(try agent.wait(timeout: 30) == 0, "\(agent.output)")
            #expect(agent.output.contains("msg=\"would apply\""))
            #expect(!agent.output.contains("msg=applied"))
            #expect(try ns.knob("gro_flush_timeout") == "20000")
            #expect(try ns.knob("napi_defer_hard_irqs") == "0")
        }
    }

    @Test("hot reload: a valid new model takes over, a corrupt one is refused and the running model stays")
    func hotReload() throws {
        try withLab(preferring: nil) { dir, ns in
            try ns.setKnob("gro_flush_timeout", "20000")
            let model = "\(dir)/m.model"
            try FixtureModel.install(try FixtureModel.bytes(preferring: 15), at: model)
            let agent = try start(ns, model: model, extra: [], log: "\(dir)/agent.log")
            defer { if agent.process.isRunning { agent.signal(SIGKILL) } }
            #expect(agent.waitForOutput("msg=applied", timeout: 20), "\(agent.output)")
            #expect(try ns.knob("gro_flush_timeout") == "50000")

            // A valid model preferring action 0 (no software knobs): applied after verification.
            try FixtureModel.install(try FixtureModel.bytes(preferring: 0), at: model)
            #expect(agent.waitForOutput("msg=\"model reloaded\"", timeout: 20), "\(agent.output)")
            #expect(agent.waitForOutput("action=0", timeout: 20), "\(agent.output)")
            #expect(try ns.knob("gro_flush_timeout") == "0")

            // A corrupt file (one flipped byte: checksum mismatch) is refused; the agent keeps running.
            var corrupt = try FixtureModel.bytes(preferring: 15)
            corrupt[corrupt.count / 2] ^= 0xFF
            try FixtureModel.install(corrupt, at: model)
            #expect(agent.waitForOutput("model reload refused", timeout: 20), "\(agent.output)")
            // And a truncated one, through SIGHUP.
            let truncated = Array(try FixtureModel.bytes(preferring: 15).prefix(100))
            try FixtureModel.install(truncated, at: model)
            agent.signal(SIGHUP)
            usleep(1_000_000)
            #expect(agent.process.isRunning)
            #expect(agent.output.components(separatedBy: "model reload refused").count - 1 >= 2, "\(agent.output)")
            #expect(try ns.knob("gro_flush_timeout") == "0")

            agent.signal(SIGTERM)
            #expect(try agent.wait(timeout: 20) == 0)
            #expect(try ns.knob("gro_flush_timeout") == "20000")
        }
    }

    @Test("a stalled agent (SIGSTOP) sees a stale sample and falls back to the settings found at start")
    func staleSampleFallsBack() throws {
        try withLab(preferring: 15) { dir, ns in
            let agent = try start(ns, model: "\(dir)/m.model", extra: ["--max-sample-age-ms", "300"], log: "\(dir)/agent.log")
            defer { if agent.process.isRunning { agent.signal(SIGKILL) } }
            #expect(agent.waitForOutput("msg=applied", timeout: 20), "\(agent.output)")
            agent.signal(SIGSTOP)
            usleep(1_200_000)
            agent.signal(SIGCONT)
            #expect(agent.waitForOutput("reason=stale_sample", timeout: 20), "\(agent.output)")
            agent.signal(SIGTERM)
            #expect(try agent.wait(timeout: 20) == 0)
            #expect(try ns.knob("gro_flush_timeout") == "0")
        }
    }

    @Test("each shipped bare-metal latency model runs in --dry-run on a veth with a latency probe, and changes nothing",
          arguments: ["bare-metal-latency", "bare-metal-latency-ensemble"])
    func labModelDryRunWithProbe(name: String) throws {
        try withLab(preferring: nil) { dir, ns in
            try ns.setKnob("gro_flush_timeout", "20000")
            let model = Binaries.packageRoot.appendingPathComponent("Models/\(name).model").path
            let (sp, sa) = ns.exec([try Binaries.path("coalesce"), "probe-server", "--listen", "127.0.0.1:7777", "--duration", "20"])
            let server = try RunningProcess(sp, sa, log: "\(dir)/probe.log")
            defer { if server.process.isRunning { server.signal(SIGTERM) } }
            usleep(300_000)
            let agent = try start(ns, model: model, extra: ["--dry-run", "--probe", "127.0.0.1:7777", "--duration", "2",
                                                            "--record", "\(dir)/shadow.csv"], log: "\(dir)/agent.log")
            #expect(try agent.wait(timeout: 60) == 0, "\(agent.output)")
            #expect(agent.output.contains("agent started"))
            let rows = try Dataset.read(path: "\(dir)/shadow.csv")
            #expect(rows.header.latencyFeatures)
            #expect(rows.rows.count >= 10)
            #expect(rows.rows.contains { ($0.observation.latency?.count ?? 0) > 0 })
            #expect(try ns.knob("gro_flush_timeout") == "20000")
        }
    }

    @Test("metrics are served in the Prometheus text format on the opt-in address")
    func metricsEndpoint() throws {
        try withLab(preferring: 15) { dir, ns in
            let agent = try start(ns, model: "\(dir)/m.model", extra: ["--metrics-listen", "127.0.0.1:9464"], log: "\(dir)/agent.log")
            defer { if agent.process.isRunning { agent.signal(SIGKILL) } }
            #expect(agent.waitForOutput("msg=applied", timeout: 20), "\(agent.output)")
            let script = "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9464/metrics',timeout=5).read().decode())"
            let (p, a) = ns.exec(["python3", "-c", script])
            let r = try runProgram(p, a, timeout: 30)
            #expect(r.status == 0, "\(r.output)")
            for name in ["coalesce_agent_decisions_total", "coalesce_agent_changes_applied_total", "coalesce_agent_model_info",
                         "coalesce_agent_step_duration_seconds", "coalesce_agent_setting",
                         "coalesce_agent_outside_support_total"] {
                #expect(r.output.contains(name), "missing \(name) in:\n\(r.output)")
            }
            agent.signal(SIGTERM)
            #expect(try agent.wait(timeout: 20) == 0)
        }
    }
}
