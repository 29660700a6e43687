import CoalesceCore
import Foundation
import Testing

@Suite("coalesce train")
struct TrainTests {
    @Test("train --json writes the report even where an estimate is undefined (null), and names the model file's SHA-256")
    func trainJSONSurvivesUndefinedEstimates() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = Binaries.packageRoot.appendingPathComponent("Datasets/lab-regime-switch-s1.csv").path
        // One short BCQ epoch: the model rarely agrees with the logged actions, so the
        // held-out weighted IS has no weight and is undefined (NaN), which once failed
        // the whole JSON file after the model was written.
        let r = try runProgram(try Binaries.path("coalesce"), [
            "train", "--data", data, "--objective", "latency", "--algorithm", "bcq", "--epochs", "1",
            "--steps-per-epoch", "20", "--ope-steps", "50", "--created-at", "0", "--out", "\(dir)/m.model", "--json", "\(dir)/t.json"])
        try #require(r.status == 0, "\(r.output)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/t.json"))) as? [String: Any])
        let model = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(dir)/m.model")))
        #expect(json["sha256"] as? String == SHA256.hex(SHA256.hash(model)))
        let wis = try #require((json["ope"] as? [String: Any])?["weightedImportanceSampling"] as? [String: Any])
        // A number where the estimate is defined, null where it is not; never a failed file.
        #expect(wis["value"] is NSNull || wis["value"] is NSNumber)
    }
}
