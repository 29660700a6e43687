#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The libm functions the trainer needs, in one place.
enum LearnMath {
    @inline(__always) static func log(_ x: Double) -> Double { Glibc.log(x) }
    @inline(__always) static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    @inline(__always) static func cos(_ x: Double) -> Double { Glibc.cos(x) }
    @inline(__always) static func expf(_ x: Float) -> Float { Glibc.expf(x) }
    @inline(__always) static func logf(_ x: Float) -> Float { Glibc.logf(x) }
}
