import Testing
import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import CoalesceCore

@Suite("Dataset schema v1")
struct DatasetTests {
    static func temporaryPath(_ name: String) -> String {
        "/tmp/coalesce-test-\(getpid())-\(name).csv"
    }

    func header(space: ActionSpace = .bareMetal) -> DatasetHeader {
        DatasetHeader(target: "sim:test", scenario: "test", seed: 7, intervalNs: 100_000_000, layerCount: 1,
                      latencyFeatures: true, actionSpace: space, objective: .balanced, policy: "cycle")
    }

    func record() throws -> [StepRecord] {
        var loop = ControlLoop(target: ScriptedTarget(), policy: CyclePolicy(actions: [0, 4, 12]),
                               config: ControlLoopConfig(intervalNs: 100_000_000, objective: .balanced,
                                                         actionSpace: .bareMetal, episode: "ep,\"quoted\""))
        var records: [StepRecord] = []
        _ = try loop.run(steps: 12, onRecord: { records.append($0) })
        return records
    }

    @Test func writeThenReadRoundTripsExactly() throws {
        let path = Self.temporaryPath("roundtrip")
        defer { unlink(path) }
        let records = try record()
        let writer = try DatasetWriter(path: path, header: header())
        for r in records { try writer.append(r) }
        let d = try Dataset.read(path: path)
        #expect(d.header == header())
        #expect(d.rows.count == records.count)
        #expect(d.warnings.isEmpty)
        for (row, r) in zip(d.rows, records) {
            #expect(row.episode == r.episode && row.step == r.step)
            #expect(row.observation == r.observation)
            #expect(row.state == r.state)
            #expect(row.action == r.action && row.previousAction == r.previousAction)
            #expect(row.probability == r.probability)
            #expect(row.components == r.components)
            #expect(row.reward == r.reward)
            #expect(row.timeout == r.timeout && row.terminal == r.terminal)
        }
        #expect(d.fingerprint.count == 64)
    }

    func write(_ name: String, _ edit: (inout [String]) -> Void) throws -> String {
        let path = Self.temporaryPath(name)
        let writer = try DatasetWriter(path: path, header: header())
        for r in try record() { try writer.append(r) }
        var lines = String(decoding: try Dataset.readFile(path), as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        edit(&lines)
        let text = lines.joined(separator: "\n")
        let fd = open(path, O_WRONLY | O_TRUNC)
        _ = text.utf8CString.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
        return path
    }

    /// Splits a CSV line, honouring double quotes.
    static func csvFields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var inQuotes = false
        var chars = Array(line)[...]
        while let c = chars.popFirst() {
            if inQuotes {
                if c == "\"" {
                    if chars.first == "\"" { current.append(c); chars.removeFirst() } else { inQuotes = false }
                } else { current.append(c) }
            } else if c == "\"" { inQuotes = true }
            else if c == "," { fields.append(current); current = "" }
            else { current.append(c) }
        }
        fields.append(current)
        return fields
    }

    func replaceField(_ lines: inout [String], line: Int, column: String, with value: String) {
        let columns = lines[2].split(separator: ",").map(String.init)
        var fields = Self.csvFields(lines[line])
        fields[columns.firstIndex(of: column)!] = value
        lines[line] = fields.map { $0.contains(",") || $0.contains("\"") ? "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : $0 }
            .joined(separator: ",")
    }

    @Test func truncatedLastRowIsDroppedWithAWarning() throws {
        let path = try write("truncated") { lines in
            lines.removeLast()  // the trailing empty string after the final newline
            lines[lines.count - 1] = String(lines[lines.count - 1].prefix(40))
        }
        defer { unlink(path) }
        let d = try Dataset.read(path: path)
        #expect(d.rows.count == 11)
        #expect(d.warnings.count == 1 && d.warnings[0].contains(":15:"))
    }

    @Test func nanIsRejectedWithFileLineAndColumn() throws {
        let path = try write("nan") { replaceField(&$0, line: 5, column: "c_cpu_busy", with: "nan") }
        defer { unlink(path) }
        #expect(throws: DatasetReadError.badValue(path: path, line: 6, column: "c_cpu_busy", value: "nan", reason: "is not finite")) {
            try Dataset.read(path: path)
        }
    }

    @Test func unknownActionIsRejected() throws {
        let path = try write("action") { replaceField(&$0, line: 4, column: "action", with: "99") }
        defer { unlink(path) }
        #expect(throws: DatasetReadError.unknownAction(path: path, line: 5, action: 99, count: 16)) { try Dataset.read(path: path) }
    }

    @Test func nonMonotonicTimeIsRejected() throws {
        let path = try write("time") { replaceField(&$0, line: 6, column: "t_ns", with: "5") }
        defer { unlink(path) }
        #expect(throws: DatasetReadError.self) { try Dataset.read(path: path) }
        do { _ = try Dataset.read(path: path) } catch {
            guard case .nonMonotonicTime(_, let line, _, _, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(line == 7)
        }
    }

    @Test func missingAndUnknownColumnsAreNamed() throws {
        let missing = try write("missing") { $0[2] = $0[2].replacingOccurrences(of: "pi_b", with: "pi_x") }
        defer { unlink(missing) }
        #expect(throws: DatasetReadError.unknownColumn(path: missing, column: "pi_x")) { try Dataset.read(path: missing) }
        let notDataset = try write("magic") { $0[0] = "episode,step" }
        defer { unlink(notDataset) }
        #expect(throws: DatasetReadError.notADataset(path: notDataset)) { try Dataset.read(path: notDataset) }
    }

    @Test func shortRowIsRejected() throws {
        let path = try write("short") { $0[4] = String($0[4].split(separator: ",").dropLast(3).joined(separator: ",")) }
        defer { unlink(path) }
        #expect(throws: DatasetReadError.self) { try Dataset.read(path: path) }
    }
}
