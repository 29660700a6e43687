import CoalesceCore
import CoalesceHost
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("coalesce compare")
struct CompareTests {
    @Test("a lab comparison writes the documented JSON with paired CIs and a self-contained report")
    func labComparisonJSON() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try runProgram(try Binaries.path("coalesce"), [
            "compare", "--policies", "static:rx-usecs=0,static:rx-usecs=64,rx-frames=128,dim,itr", "--scenarios", "rpc-low,virt-two-layers",
            "--seeds", "2", "--duration", "0.6", "--json", "\(dir)/c.json", "--report", "\(dir)/c.html"])
        try #require(r.status == 0, "\(r.output)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/c.json"))) as! [String: Any]
        let scenarios = json["scenarios"] as! [[String: Any]]
        #expect(scenarios.map { $0["name"] as! String } == ["rpc-low", "virt-two-layers"])
        for s in scenarios {
            #expect(s["best_static"] is String)
            let policies = s["policies"] as! [[String: Any]]
            #expect(policies.count == 4)
            for p in policies {
                for key in ["policy", "reward_mean", "reward_ci95", "throughput_pps", "latency_p50_us", "latency_p99_us",
                            "latency_p999_us", "cpu_percent", "interrupts_per_s", "drops", "changes", "delta_vs_baseline"] {
                    #expect(p[key] != nil, "missing \(key)")
                }
                let ci = p["reward_ci95"] as! [Double]
                let mean = p["reward_mean"] as! Double
                #expect(ci.count == 2 && ci[0] <= mean && mean <= ci[1])
            }
            // The per-interval oracle over the two static settings can never do worse than
            // the better of them (it takes the better step every step), and its headroom is
            // exactly its paired gain over that setting.
            let oracle = try #require(s["static_oracle"] as? [String: Any], "static_oracle missing")
            let best = policies.first { $0["policy"] as? String == s["best_static"] as? String }!
            let oracleMean = oracle["reward_mean"] as! Double, bestMean = best["reward_mean"] as! Double
            #expect(oracleMean >= bestMean - 1e-9)
            let headroom = try #require(oracle["headroom_vs_best_static"] as? [String: Any])
            #expect(abs(headroom["reward"] as! Double - (oracleMean - bestMean)) < 1e-6)
            // One interval late it takes in each step one of the settings the oracle chose
            // among, so it can do no better than the oracle.
            let late = try #require(oracle["one_interval_late"] as? [String: Any], "one_interval_late missing")
            let lateMean = late["reward_mean"] as! Double
            #expect(lateMean <= oracleMean + 1e-9)
            let lateHeadroom = try #require(late["headroom_vs_best_static"] as? [String: Any])
            #expect(abs(lateHeadroom["reward"] as! Double - (lateMean - bestMean)) < 1e-6)
        }
        let html = try String(contentsOfFile: "\(dir)/c.html", encoding: .utf8)
        #expect(html.contains("<svg") && !html.contains("http://") && !html.contains("https://"))
        #expect(html.contains("virt-two-layers"))
    }

    @Test("offline comparison ranks policies on logged data with FQE, IS and DR")
    func offlineComparison() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let coalesce = try Binaries.path("coalesce")
        let rec = try runProgram(coalesce, ["simulate", "--scenario", "rpc-low", "--policy", "explore:epsilon=1,hold=2",
                                            "--duration", "4", "--interval", "50", "--record", "\(dir)/d.csv"])
        try #require(rec.status == 0, "\(rec.output)")
        let r = try runProgram(coalesce, ["compare", "--data", "\(dir)/d.csv", "--policies", "static:rx-usecs=0,dim,itr",
                                          "--objective", "latency", "--ope-steps", "200", "--json", "\(dir)/o.json"])
        try #require(r.status == 0, "\(r.output)")
        #expect(r.output.contains("doubly robust"))
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/o.json"))) as! [String: Any]
        let rows = json["policies"] as! [[String: Any]]
        #expect(rows.count == 3)
        for row in rows { #expect(row["fqe"] != nil && row["doubly_robust"] != nil && row["outside_value_bounds"] is [Any]) }
        // The range any policy's value lies in: the rewards are penalties, so it ends at 0.
        let bounds = try #require(json["value_bounds"] as? [Double])
        #expect(bounds.count == 2 && bounds[0] < 0 && bounds[1] == 0)
        // A static setting outside the data's action space cannot be evaluated from it.
        let bad = try runProgram(coalesce, ["compare", "--data", "\(dir)/d.csv", "--policies", "static:rx-usecs=3",
                                            "--ope-steps", "10", "--json", "\(dir)/x.json"])
        #expect(bad.status != 0 && bad.output.contains("not an action of the data's space"))
    }

    @Test("live switchback A/B on a veth alternates policies and restores the interface",
          .enabled(if: AgentNamespace.canRun, "needs root and iproute2 to create network namespaces"))
    func liveSwitchback() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ns = try AgentNamespace()
        defer { ns.remove() }
        try ns.setKnob("gro_flush_timeout", "5000")
        let (p, a) = ns.exec([try Binaries.path("coalesce"), "compare", "--interface", ns.interface, "--policies",
                              "static:gro-flush-timeout=0,static:gro-flush-timeout=20000,napi-defer-hard-irqs=2",
                              "--block", "0.6", "--blocks", "2", "--settle", "0.2", "--interval", "100",
                              "--json", "\(dir)/live.json", "--report", "\(dir)/live.html", "--state-dir", ns.stateDir])
        let r = try runProgram(p, a, timeout: 60)
        try #require(r.status == 0, "\(r.output)")
        #expect(r.output.components(separatedBy: "round ").count - 1 == 4)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/live.json"))) as! [String: Any]
        let scenario = (json["scenarios"] as! [[String: Any]])[0]
        #expect(scenario["name"] as? String == "host:\(ns.interface)")
        #expect((scenario["policies"] as! [[String: Any]]).count == 2)
        #expect(try ns.knob("gro_flush_timeout") == "5000")
        #expect(try ns.knob("napi_defer_hard_irqs") == "0")
        #expect(!FileManager.default.fileExists(atPath: ns.journalPath), "the restore journal is gone once restored")
    }

    @Test("collect --apply stops and restores on SIGHUP, as when its terminal goes away",
          .enabled(if: AgentNamespace.canRun, "needs root and iproute2 to create network namespaces"))
    func collectRestoresOnHangup() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ns = try AgentNamespace()
        defer { ns.remove() }
        try ns.setKnob("gro_flush_timeout", "5000")
        let (p, a) = ns.exec([try Binaries.path("coalesce"), "collect", "--interface", ns.interface, "--apply",
                              "--policy", "static:gro-flush-timeout=200000", "--interval", "100", "--duration", "30",
                              "--out", "\(dir)/c.csv", "--state-dir", ns.stateDir])
        let collect = try RunningProcess(p, a, log: "\(dir)/collect.log")
        defer { if collect.process.isRunning { collect.signal(SIGKILL) } }
        let deadline = Date().addingTimeInterval(20)
        while (try? ns.knob("gro_flush_timeout")) != "200000" && Date() < deadline { usleep(100_000) }
        #expect(try ns.knob("gro_flush_timeout") == "200000", "\(collect.output)")
        collect.signal(SIGHUP)
        #expect(try collect.wait(timeout: 20) == 0, "\(collect.output)")
        #expect(collect.output.contains("stopped by signal"), "\(collect.output)")
        #expect(try ns.knob("gro_flush_timeout") == "5000")
        #expect(!FileManager.default.fileExists(atPath: ns.journalPath))
    }

    @Test("live A/B is refused while an agent controls the interface, and changes nothing",
          .enabled(if: AgentNamespace.canRun, "needs root and iproute2 to create network namespaces"))
    func liveRefusedWhileAgentRuns() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ns = try AgentNamespace()
        defer { ns.remove() }
        // Action 15 of bare-metal-16 sets gro_flush_timeout 50 µs.
        try FixtureModel.install(try FixtureModel.bytes(preferring: 15), at: "\(dir)/m.model")
        let (ap, aa) = ns.exec([try Binaries.path("coalesce-agent"), "--interface", ns.interface, "--model", "\(dir)/m.model",
                                "--interval-ms", "100", "--min-dwell-ms", "0", "--state-dir", ns.stateDir])
        let agent = try RunningProcess(ap, aa, log: "\(dir)/agent.log")
        defer { if agent.process.isRunning { agent.signal(SIGKILL) } }
        #expect(agent.waitForOutput("msg=applied", timeout: 20), "\(agent.output)")
        let (p, a) = ns.exec([try Binaries.path("coalesce"), "compare", "--interface", ns.interface, "--policies",
                              "static:gro-flush-timeout=0,static:gro-flush-timeout=20000", "--block", "0.6", "--blocks", "1",
                              "--settle", "0.2", "--json", "\(dir)/live.json", "--state-dir", ns.stateDir])
        let r = try runProgram(p, a, timeout: 60)
        #expect(r.status != 0)
        #expect(r.output.contains("is being controlled by coalesce-agent (pid \(agent.process.processIdentifier)"), "\(r.output)")
        #expect(try ns.knob("gro_flush_timeout") == "50000", "the agent's setting stands")
        agent.signal(SIGTERM)
        #expect(try agent.wait(timeout: 20) == 0, "\(agent.output)")
        #expect(try ns.knob("gro_flush_timeout") == "0")
    }

    @Test("live A/B reports the packets the interface dropped in each block's kept intervals, from its counters",
          .enabled(if: AgentNamespace.canRun, "needs root and iproute2 to create network namespaces"))
    func liveSwitchbackCountsRealDrops() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ns = try AgentNamespace()
        defer { ns.remove() }
        // Datagrams larger than the peer's MTU: the veth drops every one (tx_dropped on cag0).
        try ns.ip(["-n", ns.name, "link", "set", ns.peer, "mtu", "1000"])
        try ns.ip(["-n", ns.name, "addr", "add", "10.251.0.1/24", "dev", ns.interface])
        try ns.ip(["-n", ns.name, "neigh", "add", "10.251.0.2", "lladdr", "02:00:00:00:00:02", "dev", ns.interface, "nud", "permanent"])
        let sender = DroppedDatagramSender(namespace: ns.name, destination: "10.251.0.2", payload: 1400, perSecond: 1000)
        let waitStart = MonotonicClock.now()
        while sender.sent == 0 && MonotonicClock.now() - waitStart < 5_000_000_000 { usleep(10_000) }
        let (p, a) = ns.exec([try Binaries.path("coalesce"), "compare", "--interface", ns.interface, "--policies",
                              "static:gro-flush-timeout=0,static:gro-flush-timeout=20000",
                              "--block", "0.6", "--blocks", "2", "--settle", "0.2", "--interval", "100",
                              "--json", "\(dir)/live.json", "--state-dir", ns.stateDir])
        let r = try runProgram(p, a, timeout: 60)
        let sent = try sender.stop()
        try #require(r.status == 0, "\(r.output)")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/live.json"))) as! [String: Any]
        let policies = (json["scenarios"] as! [[String: Any]])[0]["policies"] as! [[String: Any]]
        // `drops` is a policy's mean per block (2 rounds): the kept intervals' total is the sum × 2.
        let reported = policies.map { ($0["drops"] as! NSNumber).doubleValue }.reduce(0, +) * 2
        // Two thirds of each block are kept, and the sender also ran while compare started
        // and stopped: the kept intervals saw part of what was sent, never more.
        #expect(reported <= Double(sent), "reported \(reported) drops, sent \(sent)")
        #expect(reported >= 0.25 * Double(sent), "reported \(reported) drops, sent \(sent)")
    }
}
