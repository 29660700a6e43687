import CoalesceCore
import Foundation
import Testing
@testable import CoalesceReport

/// Finds a Chromium binary: /usr/bin/chromium (Debian), chromium-browser, or either on PATH.
enum ChromiumLocator {
    static func find() -> String? {
        var candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates += ["\(dir)/chromium", "\(dir)/chromium-browser"]
        }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

/// Runs headless Chromium on an HTML file and returns the screenshot, within a time bound.
struct ChromiumScreenshot {
    var binary: String
    var timeout: TimeInterval = 60

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Tries `--headless` first and `--headless=new` if that produced no PNG.
    func capture(html: URL, into dir: URL, width: Int = 1280, height: Int = 4000) throws -> URL {
        var log = ""
        for mode in ["--headless", "--headless=new"] {
            let png = dir.appendingPathComponent("report\(mode == "--headless" ? "" : "-new").png")
            let status = try run(mode: mode, html: html, png: png, dir: dir, width: width, height: height)
            if FileManager.default.fileExists(atPath: png.path) { return png }
            let err = (try? String(contentsOf: dir.appendingPathComponent("chromium.err"), encoding: .utf8)) ?? ""
            log += "\(mode): \(status); stderr tail: \(err.suffix(800))\n"
        }
        throw Failure(description: "chromium (\(binary)) wrote no screenshot:\n\(log)")
    }

    private func run(mode: String, html: URL, png: URL, dir: URL, width: Int, height: Int) throws -> String {
        let args = [mode, "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                    "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
                    "--user-data-dir=\(dir.appendingPathComponent("profile").path)",
                    "--window-size=\(width),\(height)", "--screenshot=\(png.path)", html.absoluteString]
        let process = Process()
        // `timeout` runs Chromium in its own process group and kills the whole group on
        // expiry, so its helper processes cannot outlive the test; the watchdog below is a
        // second bound in case `timeout` is missing.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/timeout") {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            process.arguments = ["-k", "5", String(Int(timeout)), binary] + args
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = args
        }
        _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("chromium.out").path, contents: nil)
        _ = FileManager.default.createFile(atPath: dir.appendingPathComponent("chromium.err").path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: dir.appendingPathComponent("chromium.out"))
        process.standardError = try FileHandle(forWritingTo: dir.appendingPathComponent("chromium.err"))
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = dir.path  // keep Chromium's caches out of the real home directory
        process.environment = env
        try process.run()
        let deadline = Date().addingTimeInterval(timeout + 10)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning {
            process.terminate()
            Thread.sleep(forTimeInterval: 2)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return "killed after \(Int(timeout + 10)) s"
        }
        return "exit status \(process.terminationStatus)"
    }
}

/// Pixel statistics of a screenshot.
struct PixelCensus {
    var nonWhiteFraction: Double
    var upperNonWhite: Double
    var lowerNonWhite: Double
    var distinctColours: Int

    init(_ image: PNGImage) {
        var nonWhite = 0, upper = 0, lower = 0
        var colours = Set<UInt32>()
        for y in 0..<image.height {
            for x in 0..<image.width {
                let (r, g, b) = image.pixel(x, y)
                if colours.count < 100_000 { colours.insert(UInt32(r) << 16 | UInt32(g) << 8 | UInt32(b)) }
                if r < 245 || g < 245 || b < 245 {
                    nonWhite += 1
                    if y < image.height / 2 { upper += 1 } else { lower += 1 }
                }
            }
        }
        let half = Double(image.width * image.height) / 2
        nonWhiteFraction = Double(nonWhite) / (half * 2)
        upperNonWhite = Double(upper) / half
        lowerNonWhite = Double(lower) / half
        distinctColours = colours.count
    }

    /// Pixels within `tolerance` of the colour `#RRGGBB`.
    static func count(_ image: PNGImage, colour hex: String, tolerance: Int = 10) -> Int {
        let v = Int(hex.dropFirst(), radix: 16)!
        let (tr, tg, tb) = (v >> 16 & 0xFF, v >> 8 & 0xFF, v & 0xFF)
        var n = 0
        for i in stride(from: 0, to: image.rgb.count, by: 3)
        where abs(Int(image.rgb[i]) - tr) <= tolerance && abs(Int(image.rgb[i + 1]) - tg) <= tolerance
            && abs(Int(image.rgb[i + 2]) - tb) <= tolerance {
            n += 1
        }
        return n
    }
}

@Suite("Report renders in Chromium")
struct ChromiumRenderTests {
    @Test(.enabled(if: ChromiumLocator.find() != nil,
                   "no chromium binary (/usr/bin/chromium, chromium-browser or on PATH); Tools/install-deps installs it"),
          .timeLimit(.minutes(3)))
    func reportRendersToANonBlankPageWithItsCharts() throws {
        let report = try ComparisonReport(SyntheticComparison.input())
        let html = report.html()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coalesce-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("report.html")
        try Data(html.utf8).write(to: file)

        let png = try ChromiumScreenshot(binary: ChromiumLocator.find()!).capture(html: file, into: dir)
        let image = try PNGImage(Array(try Data(contentsOf: png)))
        if let keep = ProcessInfo.processInfo.environment["COALESCE_REPORT_SAMPLE_DIR"] {
            // For looking at the report by eye: `COALESCE_REPORT_SAMPLE_DIR=/tmp/x swift test ...`.
            let out = URL(fileURLWithPath: keep)
            try? FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(at: out.appendingPathComponent("sample-report.png"))
            try? FileManager.default.removeItem(at: out.appendingPathComponent("sample-report.html"))
            try FileManager.default.copyItem(at: png, to: out.appendingPathComponent("sample-report.png"))
            try FileManager.default.copyItem(at: file, to: out.appendingPathComponent("sample-report.html"))
            try Data(report.json()).write(to: out.appendingPathComponent("sample-comparison.json"))
            try Data(report.textSummary().utf8).write(to: out.appendingPathComponent("sample-summary.txt"))
            let oneSeed = try ComparisonReport(SyntheticComparison.input(seedCount: 1))
            try Data(oneSeed.html().utf8).write(to: out.appendingPathComponent("sample-report-1seed.html"))
        }

        #expect(image.width == 1280 && image.height == 4000)
        let census = PixelCensus(image)
        #expect(census.nonWhiteFraction > 0.02, "page is (nearly) blank: \(census.nonWhiteFraction)")
        #expect(census.distinctColours > 8, "only \(census.distinctColours) colours")
        #expect(census.upperNonWhite > 0.01 && census.lowerNonWhite > 0.01,
                "upper \(census.upperNonWhite), lower \(census.lowerNonWhite)")
        // The charts drew: the learned policy's blue, DIM's orange and ITR's green appear as pixels.
        for colour in ["#0072B2", "#E69F00", "#009E73"] {
            #expect(PixelCensus.count(image, colour: colour) > 200, "no \(colour) pixels: a chart did not render")
        }
    }

    @Test(.enabled(if: ChromiumLocator.find() != nil, "no chromium binary; Tools/install-deps installs it"),
          .timeLimit(.minutes(3)))
    func blankPageFailsTheNonBlankCheck() throws {
        // The negative control: the same checks must reject an empty page, or they prove nothing.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("coalesce-blank-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("blank.html")
        try Data("<!DOCTYPE html><html><body><p>x</p></body></html>".utf8).write(to: file)
        let png = try ChromiumScreenshot(binary: ChromiumLocator.find()!).capture(html: file, into: dir, height: 800)
        let census = PixelCensus(try PNGImage(Array(try Data(contentsOf: png))))
        #expect(census.nonWhiteFraction < 0.02)
        #expect(census.lowerNonWhite < 0.01)
    }

    @Test func pngReaderDecodesAFixedHuffmanImage() throws {
        // A 2×1 RGB image, filter 0, pixels red and white, compressed with fixed Huffman codes
        // (zlib level 9 output of b"\x00\xff\x00\x00\xff\xff\xff").
        let idat: [UInt8] = [0x78, 0xDA, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0xFF, 0xFF, 0x7F, 0x00, 0x0B, 0xFB, 0x03, 0xFD]
        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        func chunk(_ type: String, _ body: [UInt8]) {
            let n = body.count
            png += [UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
            png += Array(type.utf8) + body + [0, 0, 0, 0]  // CRC is not checked by the reader
        }
        chunk("IHDR", [0, 0, 0, 2, 0, 0, 0, 1, 8, 2, 0, 0, 0])
        chunk("IDAT", idat)
        chunk("IEND", [])
        let image = try PNGImage(png)
        #expect(image.width == 2 && image.height == 1)
        #expect(image.rgb == [255, 0, 0, 255, 255, 255])
    }

    @Test func inflateDecodesStoredAndDynamicHuffmanBlocks() throws {
        // Stored block: BFINAL=1, BTYPE=00, LEN=3, NLEN=~3, "abc".
        var stored = Inflater([0x01, 0x03, 0x00, 0xFC, 0xFF, 0x61, 0x62, 0x63])
        #expect(try stored.inflate(expected: 3) == Array("abc".utf8))
        // Dynamic block: Python's zlib.compress(level 9) of this text, without header and checksum.
        let text = "caabbddabcdaabcbadadaaaaaaabacbcaabcabab"
        let deflate: [UInt8] = [0x25, 0x88, 0xC1, 0x0D, 0x00, 0x30, 0x10, 0x82, 0x66, 0x15, 0xDC, 0x7F, 0x86, 0xDA, 0x1C,
                                0x7C, 0x08, 0x26, 0xD0, 0x06, 0xBB, 0x92, 0x74, 0x1E, 0x44, 0xFC, 0x73, 0xC5, 0x03]
        var dynamic = Inflater(deflate)
        #expect(try dynamic.inflate(expected: text.utf8.count) == Array(text.utf8))
    }
}
