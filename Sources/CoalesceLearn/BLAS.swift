import CBLAS
import CoalesceCore

/// Thin wrappers over the OpenBLAS routines the trainer uses (single precision,
/// row-major). Callers pass raw pointers into buffers they own and preallocate,
/// so nothing here allocates.
public enum BLAS {
    /// Whether an operand is used as stored or transposed.
    public enum Transpose: Sendable {
        case none, transposed
        var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
    }

    /// Sets the number of OpenBLAS threads. The trainer uses 1 by default: on
    /// 2-core machines a second thread slows the skinny shapes of small networks down.
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The number of threads OpenBLAS currently uses.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// C ← α·op(A)·op(B) + β·C, row-major; op(A) is m×k, op(B) is k×n, C is m×n.
    /// `lda`, `ldb`, `ldc` are the row strides of A, B and C as stored.

    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y ← α·op(A)·x + β·y, row-major A of m rows × n columns as stored.

    public static func gemv(
        _ trans: Transpose, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemv(CblasRowMajor, trans.cblas, Int32(m), Int32(n), alpha, a, Int32(lda), x, 1, beta, y, 1)
    }

    /// y ← α·x + y over `count` elements.

    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(Int32(count), alpha, x, 1, y, 1)
    }

    /// Euclidean norm of `count` elements.

    public static func norm(count: Int, x: UnsafePointer<Float>) -> Float {
        cblas_snrm2(Int32(count), x, 1)
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension BLAS {
    /// The kernel family OpenBLAS selected at load time (e.g. `Haswell`, `SkylakeX`, `Prescott`).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The `OPENBLAS_CORETYPE` this CPU should use when OpenBLAS fell back to a
    /// generic SSE kernel, else nil.
    ///
    /// OpenBLAS's DYNAMIC_ARCH build picks its kernels from the CPU model number;
    /// virtual machines that report a generic model ("Intel Xeon Processor", as on
    /// this project's machines) get the 2004 `Prescott` kernels although the CPU has
    /// AVX2/AVX-512 — four times slower sgemm. The flags in /proc/cpuinfo are reliable.
    public static func betterCoreType() -> String? {
        let generic: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Katmai", "Coppermine", "Northwood"]
        guard generic.contains(coreName) else { return nil }
        guard let bytes = try? FileBytes.read("/proc/cpuinfo"),
              let flagsLine = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
                .first(where: { $0.hasPrefix("flags") }) else { return nil }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        if flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512vl") { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        if flags.contains("avx") { return "SandyBridge" }
        return nil
    }

    /// When `betterCoreType()` finds a better kernel and `OPENBLAS_CORETYPE` is not set,
    /// re-executes this process (same arguments) with it set: OpenBLAS reads the
    /// variable only when it is loaded. Returns normally when nothing needs doing or
    /// the re-exec is impossible. Call it first thing in a process: everything done
    /// before is done again.
    public static func reexecWithMatchingKernelIfNeeded() {
        guard getenv("OPENBLAS_CORETYPE") == nil, let core = betterCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        let arguments = CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        argv.append(nil)
        execv("/proc/self/exe", &argv)
        // execv only returns on failure: carry on with the slower kernel.
        for p in argv { free(p) }
    }
}
