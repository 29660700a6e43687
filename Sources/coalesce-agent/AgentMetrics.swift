import CoalesceCore
import Metrics
import Prometheus
#if canImport(Glibc)
import Glibc
#endif

/// The agent's metrics, through swift-metrics with the Prometheus backend.
final class AgentMetrics {
    let registry: PrometheusCollectorRegistry
    private let decisions: Metrics.Counter
    private let changes: Metrics.Counter
    private let sampleDuration: Metrics.Timer
    private let decisionDuration: Metrics.Timer
    private let currentAction: Metrics.Gauge
    private var settingGauges: [Metrics.Gauge] = []
    private var modelInfo: Metrics.Gauge?
    private var fallbackCounters: [GuardReason: Metrics.Counter] = [:]
    private let reloads: Metrics.Counter
    private let refusedReloads: Metrics.Counter
    private let outsideSupport: Metrics.Counter

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        decisions = Metrics.Counter(label: "coalesce_agent_decisions_total")
        changes = Metrics.Counter(label: "coalesce_agent_changes_applied_total")
        sampleDuration = Metrics.Timer(label: "coalesce_agent_sample_duration_seconds")
        decisionDuration = Metrics.Timer(label: "coalesce_agent_step_duration_seconds")
        currentAction = Metrics.Gauge(label: "coalesce_agent_current_action")
        reloads = Metrics.Counter(label: "coalesce_agent_model_reloads_total")
        refusedReloads = Metrics.Counter(label: "coalesce_agent_model_reloads_refused_total")
        outsideSupport = Metrics.Counter(label: "coalesce_agent_outside_support_total")
        for reason in GuardReason.allCases {
            fallbackCounters[reason] = Metrics.Counter(label: "coalesce_agent_guard_events_total", dimensions: [("reason", reason.rawValue)])
        }
    }

    func decided(changed: Bool) {
        decisions.increment()
        if changed { changes.increment() }
    }

    func guardEvent(_ reason: GuardReason) { fallbackCounters[reason]?.increment() }
    func sampled(nanoseconds: Int64) { sampleDuration.recordNanoseconds(nanoseconds) }
    func stepped(nanoseconds: Int64) { decisionDuration.recordNanoseconds(nanoseconds) }
    /// A decision was made in a state outside the ensemble's training support.
    func decidedOutsideSupport() { outsideSupport.increment() }
    func reloaded(ok: Bool) { if ok { reloads.increment() } else { refusedReloads.increment() } }

    /// Publishes the setting in effect: its action id and every parameter per layer.
    func setting(_ s: CoalescingSetting, action: Int) {
        currentAction.record(action)
        if settingGauges.isEmpty {
            for (i, _) in s.layers.enumerated() {
                let layer = i == 0 ? "nic" : "vnic"
                for p in ["rx_usecs", "rx_frames", "tx_usecs", "tx_frames", "gro_flush_timeout_ns", "napi_defer_hard_irqs", "adaptive_rx"] {
                    settingGauges.append(Metrics.Gauge(label: "coalesce_agent_setting", dimensions: [("layer", layer), ("param", p)]))
                }
            }
        }
        var k = 0
        for l in s.layers {
            let values: [Double] = [Double(l.rxUsecs), Double(l.rxFrames), Double(l.txUsecs), Double(l.txFrames),
                                    Double(l.groFlushTimeoutNs), Double(l.napiDeferHardIrqs),
                                    Double(AdaptiveAlgorithm.allCases.firstIndex(of: l.adaptiveRx) ?? 0)]
            for v in values where k < settingGauges.count { settingGauges[k].record(v); k += 1 }
        }
    }

    /// `coalesce_agent_model_info{version, sha256} 1` for the running model.
    func model(_ m: LoadedModel) {
        modelInfo?.record(0)
        let g = Metrics.Gauge(label: "coalesce_agent_model_info", dimensions: [("version", m.version), ("sha256", m.sha256)])
        g.record(1)
        modelInfo = g
    }
}

/// Serves `GET /metrics` in the Prometheus text format on a background thread.
///
/// Hand-written over a blocking socket: the agent must stay small, and SwiftNIO
/// would be most of its binary for one endpoint scraped every few seconds.
final class MetricsServer: @unchecked Sendable {
    let fd: Int32
    let registry: PrometheusCollectorRegistry
    let address: String

    enum ServerError: Error, CustomStringConvertible {
        case badAddress(String)
        case socket(String, String)
        var description: String {
            switch self {
            case .badAddress(let a): return "--metrics-listen '\(a)': expected IPv4ADDRESS:PORT (e.g. 127.0.0.1:9464)"
            case .socket(let a, let r): return "--metrics-listen \(a): \(r)"
            }
        }
    }

    init(listen: String, registry: PrometheusCollectorRegistry) throws {
        self.registry = registry
        self.address = listen
        let parts = listen.split(separator: ":")
        guard parts.count == 2, let port = UInt16(parts[1]) else { throw ServerError.badAddress(listen) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, String(parts[0]), &addr.sin_addr) == 1 else { throw ServerError.badAddress(listen) }
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw ServerError.socket(listen, String(cString: strerror(errno))) }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(s, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(s)
            throw ServerError.socket(listen, reason)
        }
        fd = s
    }

    func start() {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(self)
        pthread_create(&thread, nil, { arg in
            let server = Unmanaged<MetricsServer>.fromOpaque(arg!).takeRetainedValue()
            server.serve()
            return nil
        }, box.toOpaque())
        pthread_detach(thread)
    }

    private func serve() {
        var request = [UInt8](repeating: 0, count: 2048)
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 { if errno == EINTR { continue } else { return } }
            var tv = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            let n = request.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
            let head = n > 0 ? String(decoding: request[0..<n], as: UTF8.self) : ""
            let body: [UInt8]
            let status: String
            if head.hasPrefix("GET /metrics") || head.hasPrefix("GET / ") {
                body = registry.emitToBuffer()
                status = "200 OK"
            } else {
                body = Array("not found: try /metrics\n".utf8)
                status = "404 Not Found"
            }
            let header = "HTTP/1.1 \(status)\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
            var out = Array(header.utf8) + body
            var sent = 0
            while sent < out.count {
                let k = out.withUnsafeMutableBytes { send(c, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                if k <= 0 { break }
                sent += k
            }
            close(c)
        }
    }
}
