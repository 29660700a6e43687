#if canImport(Glibc)
import Glibc
#endif

/// Writing to stderr, and a progress line that only appears on a terminal.
enum Terminal {
    static let stderrIsTerminal = isatty(STDERR_FILENO) == 1

    static func error(_ text: String) {
        var line = text
        if !line.hasSuffix("\n") { line += "\n" }
        writeStderr(line)
    }

    static func writeStderr(_ text: String) {
        _ = text.withCString { write(STDERR_FILENO, $0, strlen($0)) }
    }

    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A one-line progress display on stderr (`label  42%  ETA 3s`), shown only when
/// stderr is a terminal and the work has run longer than a second.
struct ProgressLine {
    let label: String
    let start = Terminal.monotonicSeconds()
    private var lastDraw = 0.0
    private var drawn = false

    init(_ label: String) { self.label = label }

    mutating func update(fraction: Double, detail: String = "") {
        guard Terminal.stderrIsTerminal else { return }
        let now = Terminal.monotonicSeconds()
        let elapsed = now - start
        guard elapsed > 1, now - lastDraw > 0.2 else { return }
        lastDraw = now
        drawn = true
        let f = max(0, min(1, fraction))
        let eta = f > 0.01 ? Int(elapsed / f - elapsed) : -1
        let width = 24
        let filled = Int(Double(width) * f)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let etaText = eta >= 0 ? "ETA \(eta)s" : "ETA ?"
        Terminal.writeStderr("\r\u{1B}[K\(label) [\(bar)] \(Int(f * 100))% \(etaText) \(detail)")
    }

    mutating func finish() {
        if drawn { Terminal.writeStderr("\r\u{1B}[K") }
        drawn = false
    }
}
