import CoalesceCore
import CoalesceHost
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Locating the built executables and running them as processes.
enum Binaries {
    static let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// `.build/debug/NAME` (or `$COALESCE_BIN_DIR/NAME`).
    static func path(_ name: String) throws -> String {
        let dir = ProcessInfo.processInfo.environment["COALESCE_BIN_DIR"] ?? packageRoot.appendingPathComponent(".build/debug").path
        let p = dir + "/" + name
        guard access(p, X_OK) == 0 else {
            throw TestFailure("\(p) is missing: build the executables first (`swift build`, as Tools/run-tests does)")
        }
        return p
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// A started process with its combined output collected in a file.
final class RunningProcess {
    let process = Process()
    let logPath: String

    init(_ executable: String, _ arguments: [String], log: String) throws {
        logPath = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)!
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    var output: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits for exit, at most `timeout` seconds (then kills it and fails).
    @discardableResult
    func wait(timeout: Double) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                process.terminate()
                usleep(200_000)
                kill(process.processIdentifier, SIGKILL)
                throw TestFailure("process did not exit within \(timeout) s; output:\n\(output)")
            }
            usleep(20_000)
        }
        return process.terminationStatus
    }

    /// Polls the output until it contains `text` (at most `timeout` seconds).
    func waitForOutput(_ text: String, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if output.contains(text) { return true }
            if !process.isRunning { return output.contains(text) }
            usleep(50_000)
        }
        return false
    }
}

/// Runs a program to completion; returns status and combined output.
@discardableResult
func runProgram(_ executable: String, _ arguments: [String], timeout: Double = 300) throws -> (status: Int32, output: String) {
    let log = NSTemporaryDirectory() + "coalesce-agenttest-\(getpid())-\(UUID().uuidString).log"
    defer { unlink(log) }
    let p = try RunningProcess(executable, arguments, log: log)
    let status = try p.wait(timeout: timeout)
    return (status, p.output)
}

/// A model file whose network always prefers `action` (all weights zero, that
/// action's output bias 1): a real model file in the real format, built directly so
/// a test knows exactly what the agent will choose.
enum FixtureModel {
    static func bytes(preferring action: Int, space: ActionSpace = .bareMetal, latency: Bool = false) throws -> [UInt8] {
        let shape = MLPShape(inputs: FeatureExtractor.count, hidden: [4], outputs: space.count)
        var parameters = [Float](repeating: 0, count: shape.parameterCount)
        parameters[shape.biasOffset(shape.layerCount - 1) + action] = 1
        var metadata = ModelMetadata(
            kind: .mlp, featureNames: FeatureExtractor.featureNames,
            normalisation: .identity(count: FeatureExtractor.count), actionSpace: space, objective: .balanced,
            algorithm: "fixture", hyperParameters: ["prefers": String(action)], datasets: [], createdAtEpoch: 0,
            toolVersion: CoalesceVersion.current, network: shape,
            tensors: [TensorInfo(name: "q_network", count: parameters.count)])
        metadata.latencyFeatures = latency
        return try ModelFile(metadata: metadata, tensors: [parameters]).encoded()
    }

    /// Writes atomically (temporary file + rename), as an operator rolling out a model should.
    static func install(_ bytes: [UInt8], at path: String) throws {
        let tmp = path + ".tmp-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path) == 0 else { throw TestFailure("rename \(tmp) → \(path): \(String(cString: strerror(errno)))") }
    }
}

/// A network namespace holding a veth pair (both ends inside it) and its loopback,
/// created by the test and deleted by `remove()`; nothing touches the root namespace.
final class AgentNamespace {
    let name: String
    let interface = "cag0"
    let peer = "cag1"
    nonisolated(unsafe) static var counter = 0

    static var canRun: Bool { geteuid() == 0 && ipPath != nil }
    static let ipPath: String? = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { (p: String) in access(p, X_OK) == 0 }

    init() throws {
        AgentNamespace.counter += 1
        name = "coalesce-agent-\(getpid())-\(AgentNamespace.counter)"
        do {
            try ip(["netns", "add", name])
            try ip(["-n", name, "link", "add", interface, "type", "veth", "peer", "name", peer])
            for dev in [interface, peer, "lo"] { try ip(["-n", name, "link", "set", dev, "up"]) }
        } catch {
            remove()
            throw error
        }
    }

    func ip(_ args: [String]) throws {
        let r = try runProgram(Self.ipPath!, args, timeout: 30)
        if r.status != 0 { throw TestFailure("ip \(args.joined(separator: " ")): \(r.output)") }
    }

    /// Arguments that run `argv` inside the namespace (with its own /sys).
    func exec(_ argv: [String]) -> (String, [String]) { (Self.ipPath!, ["netns", "exec", name] + argv) }

    /// Reads a sysfs knob of the interface as seen inside the namespace.
    func knob(_ file: String) throws -> String {
        let (p, a) = exec(["cat", "/sys/class/net/\(interface)/\(file)"])
        let r = try runProgram(p, a, timeout: 30)
        guard r.status == 0 else { throw TestFailure("reading \(file): \(r.output)") }
        return r.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func setKnob(_ file: String, _ value: String) throws {
        let (p, a) = exec(["sh", "-c", "echo \(value) > /sys/class/net/\(interface)/\(file)"])
        let r = try runProgram(p, a, timeout: 30)
        guard r.status == 0 else { throw TestFailure("writing \(file): \(r.output)") }
    }

    /// A restore-journal directory for agents run in this namespace (removed with it).
    var stateDir: String { NSTemporaryDirectory() + name + "-state" }
    /// The restore journal of `interface` in `stateDir`.
    var journalPath: String { RestoreJournalStore(directory: stateDir).path(for: interface) }

    func remove() {
        _ = try? runProgram(Self.ipPath!, ["netns", "delete", name], timeout: 30)
        try? FileManager.default.removeItem(atPath: stateDir)
    }
}

/// Sends UDP datagrams out of a veth whose peer has a smaller MTU, so the veth drops
/// every one of them and counts it (`tx_dropped` on the sending end): real kernel drops
/// at a known count, for checking what a live measurement reports. Runs in the background
/// until `stop()`, bounded by `maxCount` datagrams and `timeLimitNs`.
final class DroppedDatagramSender: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var sentCount = 0
    private var failure: Error?
    private let group = DispatchGroup()

    /// Starts sending `payload`-byte datagrams to `destination` (an address on the veth's
    /// subnet with a permanent neighbour entry) from namespace `namespace`, about
    /// `perSecond` a second.
    init(namespace: String, destination: String, payload: Int, perSecond: Int,
         maxCount: Int = 50_000, timeLimitNs: UInt64 = 30_000_000_000) {
        group.enter()
        DispatchQueue.global().async { [self] in
            defer { group.leave() }
            do {
                try NetworkNamespace.run(namespace, remountSysfs: false) { [self] in
                    try send(to: destination, payload: payload, perSecond: perSecond, maxCount: maxCount, timeLimitNs: timeLimitNs)
                }
            } catch {
                lock.withLock { failure = error }
            }
        }
    }

    private func send(to destination: String, payload: Int, perSecond: Int, maxCount: Int, timeLimitNs: UInt64) throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(9).bigEndian
        inet_pton(AF_INET, destination, &address.sin_addr)
        let bytes = [UInt8](repeating: 0x5A, count: payload)
        let start = MonotonicClock.now()
        let gapNs = 1_000_000_000 / UInt64(perSecond)
        var sent = 0
        while sent < maxCount, MonotonicClock.now() - start < timeLimitNs, !lock.withLock({ stopped }) {
            let n = withUnsafePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard n == payload else { throw TestFailure("sendto: \(n), errno \(errno)") }
            sent += 1
            lock.withLock { sentCount = sent }
            // Pace to the schedule, not per send, so the rate holds whatever sendto costs.
            let due = start + UInt64(sent) * gapNs, now = MonotonicClock.now()
            if due > now { usleep(UInt32((due - now) / 1000)) }
        }
    }

    /// Datagrams sent (and so dropped) so far.
    var sent: Int { lock.withLock { sentCount } }

    /// Stops sending and waits for the sender; returns how many datagrams it sent, or
    /// throws what made it fail.
    func stop() throws -> Int {
        lock.withLock { stopped = true }
        group.wait()
        if let failure = lock.withLock({ failure }) { throw failure }
        return sent
    }
}

/// A fresh temporary directory for one test.
func temporaryDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "coalesce-agenttest-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}
