import Glibc

/// Reads small procfs/sysfs files with plain `open`/`read`/`close` into one reused
/// buffer, so that a sample costs a few syscalls and no allocation.
///
/// Foundation's file APIs allocate a `Data` per read and stat the file first; for
/// a 10 Hz sampler reading ~15 files that is measurable overhead, hence this type.
public final class KernelFileReader {
    private var buffer: UnsafeMutableRawBufferPointer
    /// Bytes of the last file read.
    public private(set) var count: Int = 0
    /// Descriptors kept open by `read(_:keepOpen:)`, by path.
    private var handles: [String: Int32] = [:]

    /// A reader whose buffer grows on demand from `initialCapacity` bytes.
    public init(initialCapacity: Int = 16 * 1024) {
        buffer = .allocate(byteCount: initialCapacity, alignment: 8)
    }

    deinit {
        closeAll()
        buffer.deallocate()
    }

    /// Reads the whole file at `path`, returning the bytes in the reused buffer (valid
    /// until the next read).
    ///
    /// With `keepOpen` the descriptor stays open and later reads use `pread` at offset 0,
    /// which makes the kernel regenerate the file (sysfs and seq_file procfs files do)
    /// without the path lookup of `open` — the dearest part of reading a small kernel
    /// file. A descriptor whose file went away (ENODEV: interface deleted) is reopened
    /// once, so a recreated interface is picked up and a missing one reports ENOENT.
    @discardableResult
    public func read(_ path: KernelPath, keepOpen: Bool = false) throws(HostError) -> UnsafeRawBufferPointer {
        if keepOpen, let fd = handles[path.text] {
            if let n = readAll(fd, positioned: true) { return finish(n) }
            close(fd)
            handles[path.text] = nil
        }
        let fd = path.cString.withUnsafeBufferPointer { open($0.baseAddress!, O_RDONLY | O_CLOEXEC) }
        if fd < 0 { throw .unreadable(path: path.text, errno: Glibc.errno) }
        guard let n = readAll(fd, positioned: keepOpen) else {
            let code = Glibc.errno
            close(fd)
            throw .unreadable(path: path.text, errno: code)
        }
        if keepOpen { handles[path.text] = fd } else { close(fd) }
        return finish(n)
    }

    /// Closes every descriptor kept open by `read(_:keepOpen:)`.
    public func closeAll() {
        for fd in handles.values { close(fd) }
        handles.removeAll()
    }

    private func finish(_ total: Int) -> UnsafeRawBufferPointer {
        count = total
        return UnsafeRawBufferPointer(rebasing: buffer[0..<total])
    }

    /// Reads to end of file (from offset 0 with `positioned`); nil on error (errno set).
    private func readAll(_ fd: Int32, positioned: Bool) -> Int? {
        var total = 0
        while true {
            if total == buffer.count { grow() }
            let n = positioned
                ? pread(fd, buffer.baseAddress! + total, buffer.count - total, off_t(total))
                : Glibc.read(fd, buffer.baseAddress! + total, buffer.count - total)
            if n < 0 {
                if Glibc.errno == EINTR { continue }
                return nil
            }
            if n == 0 { return total }
            total += n
        }
    }

    /// Reads a file that holds one unsigned decimal number (sysfs attributes such as `rx_packets`).
    public func readUInt64(_ path: KernelPath, keepOpen: Bool = false) throws(HostError) -> UInt64 {
        let bytes = try read(path, keepOpen: keepOpen)
        var scanner = ByteScanner(bytes)
        guard let value = scanner.decimal() else {
            throw .malformed(path: path.text, detail: "expected an unsigned decimal number, found '\(String(decoding: bytes.prefix(40), as: UTF8.self))'")
        }
        return value
    }

    /// Reads a small text file as a `String` without the trailing newline.
    public func readText(_ path: KernelPath) throws(HostError) -> String {
        let bytes = try read(path)
        var text = String(decoding: bytes, as: UTF8.self)
        while text.last == "\n" || text.last == " " { text.removeLast() }
        return text
    }

    private func grow() {
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 8)
        bigger.copyMemory(from: UnsafeRawBufferPointer(buffer))
        buffer.deallocate()
        buffer = bigger
    }
}

/// A path kept both as text (for messages) and as a NUL-terminated C string (for `open`),
/// converted once instead of on every read.
public struct KernelPath: Sendable, Hashable, CustomStringConvertible {
    /// The path as text.
    public let text: String
    let cString: [CChar]

    /// Converts `text` once.
    public init(_ text: String) {
        self.text = text
        self.cString = text.utf8CString.map { $0 }
    }

    public var description: String { text }
}

/// Writes `value` to a sysfs/procfs file (one `write`, as `echo value > path` does).
public func writeKernelFile(_ path: String, _ value: String) throws(HostError) {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    if fd < 0 { throw .unwritable(path: path, value: value, errno: errno) }
    defer { close(fd) }
    let bytes = Array((value + "\n").utf8)
    let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) }
    if n < 0 { throw .unwritable(path: path, value: value, errno: errno) }
}

/// True when `path` exists (any file type).
func kernelPathExists(_ path: String) -> Bool {
    access(path, F_OK) == 0
}

/// Target of a symbolic link, or nil.
func readLink(_ path: String) -> String? {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink(path, &buf, buf.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Entries of a directory (without `.` and `..`), or nil when it cannot be opened.
func listDirectory(_ path: String) -> [String]? {
    guard let dir = opendir(path) else { return nil }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

/// A forward-only cursor over the bytes of a kernel text file, parsing numbers in place.
public struct ByteScanner {
    let bytes: UnsafeRawBufferPointer
    /// Index of the next unread byte.
    public var index: Int = 0

    /// A cursor at the start of `bytes`.
    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// True when every byte has been consumed.
    public var atEnd: Bool { index >= bytes.count }

    /// The next byte without consuming it.
    public var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    /// Skips spaces and tabs (not newlines).
    public mutating func skipBlanks() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
    }

    /// Skips spaces, tabs and the given separator characters.
    public mutating func skip(_ separators: UInt8...) {
        while index < bytes.count {
            let b = bytes[index]
            if b == 0x20 || b == 0x09 || separators.contains(b) { index += 1 } else { break }
        }
    }

    /// Parses an unsigned decimal number after optional blanks; nil when none is there.
    public mutating func decimal() -> UInt64? {
        skipBlanks()
        var value: UInt64 = 0
        var digits = 0
        while index < bytes.count {
            let b = bytes[index]
            guard b >= 0x30 && b <= 0x39 else { break }
            value = value &* 10 &+ UInt64(b - 0x30)
            digits += 1
            index += 1
        }
        return digits > 0 ? value : nil
    }

    /// Parses an unsigned hexadecimal number (no `0x`) after optional blanks.
    public mutating func hex() -> UInt64? {
        skipBlanks()
        var value: UInt64 = 0
        var digits = 0
        while index < bytes.count {
            let b = bytes[index]
            let d: UInt8
            switch b {
            case 0x30...0x39: d = b - 0x30
            case 0x61...0x66: d = b - 0x61 + 10
            case 0x41...0x46: d = b - 0x41 + 10
            default: return digits > 0 ? value : nil
            }
            value = value << 4 | UInt64(d)
            digits += 1
            index += 1
        }
        return digits > 0 ? value : nil
    }

    /// Consumes `prefix` when the bytes at the cursor start with it.
    public mutating func consume(_ prefix: StaticString) -> Bool {
        let n = prefix.utf8CodeUnitCount
        guard index + n <= bytes.count else { return false }
        let p = prefix.utf8Start
        for i in 0..<n where bytes[index + i] != p[i] { return false }
        index += n
        return true
    }

    /// Moves past the next newline (or to the end).
    public mutating func skipLine() {
        while index < bytes.count {
            let b = bytes[index]
            index += 1
            if b == 0x0A { return }
        }
    }

    /// The rest of the current line as text (consumed, newline included).
    public mutating func restOfLine() -> String {
        let start = index
        while index < bytes.count, bytes[index] != 0x0A { index += 1 }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if index < bytes.count { index += 1 }
        return text
    }
}
