import Testing
import CoalesceCore

@Suite("SHA-256")
struct SHA256Tests {
    static func digest(_ text: String) -> String { SHA256.hex(SHA256.hash(Array(text.utf8))) }

    /// The byte pattern used for the padding-boundary vectors: byte i = (7i + 3) mod 256.
    static func pattern(_ count: Int) -> [UInt8] { (0..<count).map { UInt8((7 * $0 + 3) % 256) } }

    @Test func fips180OneBlockMessageABC() {
        #expect(Self.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func fips180TwoBlock448BitMessage() {
        #expect(Self.digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func fips180OneMillionA() {
        var hasher = SHA256()
        let thousand = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { hasher.update(thousand) }
        #expect(SHA256.hex(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // One-shot gives the same.
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hex(SHA256.hash(million)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func emptyMessage() {
        #expect(SHA256.hex(SHA256().finalize()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    /// Lengths around the padding boundaries (55/56 bytes: the length field fits or
    /// needs another block; 63/64/65: block edges). Expected values from an independent
    /// implementation (Python hashlib).
    @Test(arguments: [
        (55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"),
        (56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"),
        (63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"),
        (64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"),
        (65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"),
        (119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"),
        (120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"),
    ])
    func paddingBoundaries(length: Int, expected: String) {
        #expect(SHA256.hex(SHA256.hash(Self.pattern(length))) == expected)
    }

    @Test func multiChunkUpdateEqualsOneShot() {
        let message = Self.pattern(300)
        let oneShot = SHA256.hash(message)
        // Every split point, through the array, raw-buffer and non-contiguous sequence paths.
        for split in 0...message.count {
            var a = SHA256()
            a.update(message[..<split])
            a.update(message[split...])
            #expect(a.finalize() == oneShot, "array slices split at \(split)")

            var b = SHA256()
            message.withUnsafeBytes { raw in
                b.update(UnsafeRawBufferPointer(rebasing: raw[..<split]))
                b.update(UnsafeRawBufferPointer(rebasing: raw[split...]))
            }
            #expect(b.finalize() == oneShot, "raw buffers split at \(split)")

            var c = SHA256()
            c.update(message[..<split].lazy.map { $0 })
            c.update(message[split...])
            #expect(c.finalize() == oneShot, "lazy sequence then slice split at \(split)")
        }
        // Many tiny chunks of varying size.
        var d = SHA256()
        var offset = 0
        var size = 1
        while offset < message.count {
            let end = min(offset + size, message.count)
            d.update(message[offset..<end])
            offset = end
            size = size % 13 + 1
        }
        #expect(d.finalize() == oneShot)
    }

    @Test func finalizeDoesNotConsumeTheHasher() {
        var hasher = SHA256()
        hasher.update(Array("ab".utf8))
        let partial = hasher.finalize()
        #expect(partial == SHA256.hash(Array("ab".utf8)))
        hasher.update(Array("c".utf8))
        #expect(SHA256.hex(hasher.finalize()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func hexIsLowerCaseTwoDigitsPerByte() {
        #expect(SHA256.hex([0x00, 0x0f, 0xa0, 0xff]) == "000fa0ff")
        #expect(SHA256.hash([]).count == 32)
    }
}
