import CoalesceCore

/// A log-linear histogram of nanosecond latencies: exact below 128 ns, then 128
/// buckets per power of two, so a reported percentile is within 0.4 % (half a
/// bucket) of the true value. Fixed size (5,504 counters), no per-sample storage.
///
/// Hand-written rather than a package (e.g. HdrHistogram) because it is ~60 lines
/// and the simulator needs it allocation-free in its inner loop.
public struct LatencyHistogram: Sendable, Hashable {
    static let subBits = 7
    static let sub = 1 << subBits
    /// Largest exponent kept; larger values land in the last bucket (~2.2 days).
    static let maxExponent = 49
    static let bucketCount = sub + (maxExponent - subBits + 1) * sub

    private(set) var counts: [UInt64]
    /// Number of samples recorded.
    public private(set) var count: UInt64 = 0
    /// Largest sample recorded.
    public private(set) var maxNs: UInt64 = 0

    public init() { counts = Array(repeating: 0, count: Self.bucketCount) }

    /// A histogram from raw bucket counters (the simulator's pointer-based interval histogram).
    init(buckets: UnsafePointer<UInt64>, count: UInt64, maxNs: UInt64) {
        counts = Array(UnsafeBufferPointer(start: buckets, count: Self.bucketCount))
        self.count = count
        self.maxNs = maxNs
    }

    @inline(__always)
    static func index(_ v: UInt64) -> Int {
        if v < UInt64(sub) { return Int(v) }
        let e = min(63 - v.leadingZeroBitCount, maxExponent)
        let shift = e - subBits
        let m = Int(truncatingIfNeeded: min(v >> UInt64(shift), UInt64(2 * sub - 1)))
        return sub + shift * sub + (m - sub)
    }

    /// The representative value (midpoint) of bucket `i`.
    static func value(_ i: Int) -> UInt64 {
        if i < sub { return UInt64(i) }
        let shift = (i - sub) / sub
        let m = UInt64((i - sub) % sub + sub)
        let lower = m << UInt64(shift)
        return lower + ((UInt64(1) << UInt64(shift)) >> 1)
    }

    /// Records one latency.
    @inline(__always)
    public mutating func record(_ ns: UInt64) {
        counts[Self.index(ns)] &+= 1
        count &+= 1
        if ns > maxNs { maxNs = ns }
    }

    /// Adds every sample of `other`.
    public mutating func merge(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        for i in 0..<counts.count where other.counts[i] != 0 { counts[i] &+= other.counts[i] }
        count &+= other.count
        maxNs = max(maxNs, other.maxNs)
    }

    /// Forgets every sample.
    public mutating func reset() {
        guard count > 0 else { return }
        for i in 0..<counts.count { counts[i] = 0 }
        count = 0
        maxNs = 0
    }

    /// The value at quantile `q` (0...1): the smallest bucket whose cumulative count
    /// reaches ceil(q × count); nil when empty.
    public func quantile(_ q: Double) -> UInt64? {
        guard count > 0 else { return nil }
        let rank = max(1, UInt64((q * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for i in 0..<counts.count {
            seen &+= counts[i]
            if seen >= rank { return min(Self.value(i), maxNs) }
        }
        return maxNs
    }

    /// p50 / p99 / p99.9 / max, or nil when empty.
    public var summary: LatencySummary? {
        guard count > 0 else { return nil }
        return LatencySummary(count: count, p50Ns: quantile(0.5)!, p99Ns: quantile(0.99)!,
                              p999Ns: quantile(0.999)!, maxNs: maxNs)
    }
}
