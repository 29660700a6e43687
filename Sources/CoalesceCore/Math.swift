// Elementary functions from the C math library (libm). CoalesceCore makes no OS
// calls; libm is pure computation and links into the static agent as is.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Elementary functions for CoalesceCore and the modules built on it.
public enum CoreMath {
    @inlinable public static func log(_ x: Double) -> Double { libm_log(x) }
    @inlinable public static func log1p(_ x: Double) -> Double { libm_log1p(x) }
    @inlinable public static func exp(_ x: Double) -> Double { libm_exp(x) }
    @inlinable public static func expf(_ x: Float) -> Float { libm_expf(x) }
    @inlinable public static func pow(_ x: Double, _ y: Double) -> Double { libm_pow(x, y) }
    @inlinable public static func cos(_ x: Double) -> Double { libm_cos(x) }

    /// The `q` quantile of ascending `sorted` values: the element nearest to position
    /// q·(n − 1) (no interpolation). `sorted` must not be empty.
    @inlinable public static func quantile<T>(sorted: [T], _ q: Double) -> T {
        sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count - 1)).rounded())))]
    }
}

@usableFromInline func libm_log(_ x: Double) -> Double { log(x) }
@usableFromInline func libm_log1p(_ x: Double) -> Double { log1p(x) }
@usableFromInline func libm_exp(_ x: Double) -> Double { exp(x) }
@usableFromInline func libm_expf(_ x: Float) -> Float { expf(x) }
@usableFromInline func libm_pow(_ x: Double, _ y: Double) -> Double { pow(x, y) }
@usableFromInline func libm_cos(_ x: Double) -> Double { cos(x) }
