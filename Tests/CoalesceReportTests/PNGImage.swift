/// A minimal PNG reader for the render test: 8-bit RGB/RGBA, non-interlaced (what Chromium's
/// `--screenshot` writes). Written out because the test must check pixels without depending on
/// an image package or a Python installation on the CI machine; Foundation on Linux has no
/// zlib API, so it includes a small inflate (RFC 1951, after the structure of zlib's puff.c).
struct PNGImage {
    var width: Int
    var height: Int
    /// RGB triples, row-major.
    var rgb: [UInt8]

    enum DecodeError: Error, CustomStringConvertible {
        case notPNG, truncated(String), unsupported(String), corrupt(String)
        var description: String {
            switch self {
            case .notPNG: return "PNG: missing signature"
            case .truncated(let w): return "PNG: truncated (\(w))"
            case .unsupported(let w): return "PNG: unsupported \(w)"
            case .corrupt(let w): return "PNG: corrupt data (\(w))"
            }
        }
    }

    init(_ bytes: [UInt8]) throws {
        guard bytes.count > 8, Array(bytes[0..<8]) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { throw DecodeError.notPNG }
        var pos = 8
        var idat: [UInt8] = []
        var width = 0, height = 0, colourType = 0
        func be32(_ p: Int) -> Int { Int(bytes[p]) << 24 | Int(bytes[p + 1]) << 16 | Int(bytes[p + 2]) << 8 | Int(bytes[p + 3]) }
        while pos + 8 <= bytes.count {
            let length = be32(pos)
            let type = String(decoding: bytes[(pos + 4)..<(pos + 8)], as: UTF8.self)
            let start = pos + 8
            guard start + length + 4 <= bytes.count else { throw DecodeError.truncated("chunk \(type)") }
            switch type {
            case "IHDR":
                width = be32(start)
                height = be32(start + 4)
                let depth = bytes[start + 8]
                colourType = Int(bytes[start + 9])
                guard depth == 8, colourType == 2 || colourType == 6, bytes[start + 12] == 0 else {
                    throw DecodeError.unsupported("bit depth \(depth), colour type \(colourType), interlace \(bytes[start + 12])")
                }
            case "IDAT": idat.append(contentsOf: bytes[start..<(start + length)])
            default: break
            }
            if type == "IEND" { break }
            pos = start + length + 4
        }
        guard width > 0, height > 0, idat.count > 2 else { throw DecodeError.truncated("no IHDR/IDAT") }
        var inflater = Inflater(Array(idat.dropFirst(2)))  // skip the 2-byte zlib header
        let raw = try inflater.inflate(expected: height * (1 + width * (colourType == 6 ? 4 : 3)))
        let channels = colourType == 6 ? 4 : 3
        let stride = width * channels
        guard raw.count >= height * (stride + 1) else { throw DecodeError.truncated("image data: \(raw.count) bytes") }
        var previous = [UInt8](repeating: 0, count: stride)
        var current = [UInt8](repeating: 0, count: stride)
        var rgb = [UInt8]()
        rgb.reserveCapacity(width * height * 3)
        for y in 0..<height {
            let base = y * (stride + 1)
            let filter = raw[base]
            for i in 0..<stride {
                let x = Int(raw[base + 1 + i])
                let a = i >= channels ? Int(current[i - channels]) : 0
                let b = Int(previous[i])
                let c = i >= channels ? Int(previous[i - channels]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw DecodeError.corrupt("filter \(filter) on row \(y)")
                }
                current[i] = UInt8((x + predictor) & 0xFF)
            }
            for px in 0..<width {
                rgb.append(current[px * channels]); rgb.append(current[px * channels + 1]); rgb.append(current[px * channels + 2])
            }
            swap(&previous, &current)
        }
        self.width = width
        self.height = height
        self.rgb = rgb
    }

    func pixel(_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8) {
        let i = (y * width + x) * 3
        return (rgb[i], rgb[i + 1], rgb[i + 2])
    }
}

/// Raw DEFLATE decoder (stored, fixed and dynamic Huffman blocks).
struct Inflater {
    let input: [UInt8]
    var pos = 0
    var bitBuffer = 0
    var bitCount = 0
    var output: [UInt8] = []

    init(_ input: [UInt8]) { self.input = input }

    struct Huffman {
        var counts = [Int](repeating: 0, count: 16)
        var symbols: [Int] = []
        init(lengths: [Int]) {
            for l in lengths { counts[l] += 1 }
            counts[0] = 0
            var offsets = [Int](repeating: 0, count: 16)
            for l in 1..<15 { offsets[l + 1] = offsets[l] + counts[l] }
            symbols = [Int](repeating: 0, count: lengths.count)
            for (s, l) in lengths.enumerated() where l != 0 {
                symbols[offsets[l]] = s
                offsets[l] += 1
            }
        }
    }

    mutating func bits(_ n: Int) throws -> Int {
        while bitCount < n {
            guard pos < input.count else { throw PNGImage.DecodeError.truncated("deflate stream") }
            bitBuffer |= Int(input[pos]) << bitCount
            pos += 1
            bitCount += 8
        }
        let v = bitBuffer & ((1 << n) - 1)
        bitBuffer >>= n
        bitCount -= n
        return v
    }

    mutating func decode(_ h: Huffman) throws -> Int {
        var code = 0, first = 0, index = 0
        for len in 1...15 {
            code |= try bits(1)
            let count = h.counts[len]
            if code - count < first { return h.symbols[index + (code - first)] }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        throw PNGImage.DecodeError.corrupt("no Huffman code")
    }

    static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073,
                           4097, 6145, 8193, 12289, 16385, 24577]
    static let distExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]

    mutating func inflate(expected: Int) throws -> [UInt8] {
        output.reserveCapacity(expected)
        var last = 0
        repeat {
            last = try bits(1)
            switch try bits(2) {
            case 0:
                bitBuffer = 0; bitCount = 0
                guard pos + 4 <= input.count else { throw PNGImage.DecodeError.truncated("stored block") }
                let len = Int(input[pos]) | Int(input[pos + 1]) << 8
                pos += 4
                guard pos + len <= input.count else { throw PNGImage.DecodeError.truncated("stored block") }
                output.append(contentsOf: input[pos..<(pos + len)])
                pos += len
            case 1:
                let lit = Huffman(lengths: (0..<288).map { $0 < 144 ? 8 : $0 < 256 ? 9 : $0 < 280 ? 7 : 8 })
                let dist = Huffman(lengths: [Int](repeating: 5, count: 30))
                try codes(lit, dist)
            case 2:
                let nlen = try bits(5) + 257, ndist = try bits(5) + 1, ncode = try bits(4) + 4
                let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
                var lengths = [Int](repeating: 0, count: 19)
                for i in 0..<ncode { lengths[order[i]] = try bits(3) }
                let lencode = Huffman(lengths: lengths)
                var all: [Int] = []
                while all.count < nlen + ndist {
                    let sym = try decode(lencode)
                    switch sym {
                    case 0..<16: all.append(sym)
                    case 16:
                        guard let prev = all.last else { throw PNGImage.DecodeError.corrupt("repeat with no previous length") }
                        all += [Int](repeating: prev, count: 3 + (try bits(2)))
                    case 17: all += [Int](repeating: 0, count: 3 + (try bits(3)))
                    default: all += [Int](repeating: 0, count: 11 + (try bits(7)))
                    }
                }
                try codes(Huffman(lengths: Array(all[0..<nlen])), Huffman(lengths: Array(all[nlen..<(nlen + ndist)])))
            default: throw PNGImage.DecodeError.corrupt("block type 3")
            }
        } while last == 0
        return output
    }

    mutating func codes(_ lit: Huffman, _ dist: Huffman) throws {
        while true {
            let sym = try decode(lit)
            if sym < 256 { output.append(UInt8(sym)); continue }
            if sym == 256 { return }
            let li = sym - 257
            guard li < 29 else { throw PNGImage.DecodeError.corrupt("length symbol \(sym)") }
            let length = Inflater.lengthBase[li] + (try bits(Inflater.lengthExtra[li]))
            let di = try decode(dist)
            guard di < 30 else { throw PNGImage.DecodeError.corrupt("distance symbol \(di)") }
            let distance = Inflater.distBase[di] + (try bits(Inflater.distExtra[di]))
            guard distance <= output.count else { throw PNGImage.DecodeError.corrupt("distance too far back") }
            let start = output.count - distance
            for k in 0..<length { output.append(output[start + k]) }
        }
    }
}
