import ArgumentParser
import CoalesceHost

/// `coalesce probe-server`: the UDP echo peer of `collect --probe` and the agent's probe.
struct ProbeServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe-server",
        abstract: "Echo latency-probe datagrams (run on the peer host of `collect --probe`).",
        discussion: "Stops on SIGINT/SIGTERM or after --duration seconds. Open the UDP port in the peer's firewall.")

    @Option(name: .long, help: "ADDR:PORT to listen on, e.g. 0.0.0.0:7777 or [::]:7777.")
    var listen: String = "0.0.0.0:7777"

    @Option(name: .long, help: "Stop after this many seconds (default: run until a signal).")
    var duration: Double?

    func run() throws {
        let server = try ProbeServer(listen: listen)
        StopSignals.install()
        Terminal.error("probe-server: listening on \(listen) (UDP)")
        let limit = duration.map { UInt64($0 * 1e9) } ?? .max
        try server.serve(maxDurationNs: limit) { StopSignals.stopRequested }
        print("echoed \(server.echoed) datagrams")
    }
}
