import CoalesceCore
#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// How an `MLP` stores a batch in its activation buffers.
public enum MLPLayout: Sendable, Hashable {
    /// Sample-major: a batch is `rows × width`, row-major; sample r's unit j is at `r·width + j`.
    case rowMajor
    /// Unit-major (the transpose): unit j of every sample is one row of `stride` floats;
    /// sample r's unit j is at `j·stride + r`. Every matrix product is then
    /// `W · A` with the weights as stored, and OpenBLAS runs these skinny shapes
    /// (16–64 units × a few hundred samples) markedly faster than `A · Wᵀ`; the
    /// element-wise work (bias, ReLU, the ReLU mask, bias gradients) runs along
    /// contiguous rows with a scalar per row.
    case featureMajor
}

/// A dense ReLU network for training: parameters, gradients and every activation
/// buffer live in memory allocated once at construction, sized for `capacity`
/// rows, so forward and backward passes allocate nothing.
///
/// Layout of the parameters: `MLPShape` (per layer, weights `outputs × inputs`
/// row-major, then biases), in one flat buffer. A batch is stored as `layout`
/// says: `rowMajor` (the default) is `rows × width`, row-major; `featureMajor`
/// is `width × stride` (see `MLPLayout`). `rowStride` and `unitStride` give the
/// address of sample r's unit j in `input`, `output` and `outputGradient` for
/// either layout: `r·rowStride(width) + j·unitStride`.
///
/// Usage: write inputs into `input`, call `forward(rows:)`, read `output`; write
/// dLoss/dOutput into `outputGradient` and call `backward(rows:)` to get `gradients`.
public final class MLP {
    public let shape: MLPShape
    /// Maximum rows per batch.
    public let capacity: Int
    /// How batches are stored.
    public let layout: MLPLayout
    /// For `featureMajor`: the floats between unit j and unit j+1 of a sample (≥ `capacity`,
    /// a multiple of 16 that is not a multiple of 256: power-of-two strides make the
    /// rows of a matrix collide in the same cache sets). For `rowMajor`: `capacity`.
    public let stride: Int
    /// `shape.parameterCount` parameters.
    public let parameters: UnsafeMutablePointer<Float>
    /// dLoss/dParameters after `backward` (overwritten by each call).
    public let gradients: UnsafeMutablePointer<Float>
    /// activations[0] is the input; activations[l] is layer l's output (after ReLU for hidden layers).
    private let activations: [UnsafeMutablePointer<Float>]
    /// deltas[l] holds dLoss/d(pre-activation of layer l), l ≥ 1.
    private let deltas: [UnsafeMutablePointer<Float>]
    /// The input the last `forward` read and its stride (`backward` needs it for the first layer's gradient).
    private var lastInput: UnsafePointer<Float>
    private var lastInputStride: Int

    /// Samples per matrix product in `featureMajor` layout: a block's activations
    /// (≤ 64 units × 128 samples, 32 KiB) stay in cache from one layer to the next, and
    /// OpenBLAS picks its small-matrix kernels (which write C directly instead of
    /// zeroing it first) for blocks of this size.
    static let columnBlock = 128

    /// A network with He-initialised weights (normal, σ = √(2/fan-in)) and zero biases.
    public init(shape: MLPShape, capacity: Int, layout: MLPLayout = .rowMajor, generator: inout SeededGenerator) {
        precondition(shape.isValid && capacity > 0)
        self.shape = shape
        self.capacity = capacity
        self.layout = layout
        let stride: Int
        switch layout {
        case .rowMajor: stride = capacity
        case .featureMajor:
            let rounded = (capacity + 15) / 16 * 16
            stride = rounded % 256 == 0 ? rounded + 16 : rounded
        }
        self.stride = stride
        let count = shape.parameterCount
        parameters = .allocate(capacity: count)
        parameters.initialize(repeating: 0, count: count)
        gradients = .allocate(capacity: count)
        gradients.initialize(repeating: 0, count: count)
        func buffer(_ size: Int) -> UnsafeMutablePointer<Float> {
            let floats = size * stride
            let p = UnsafeMutableRawPointer.allocate(byteCount: floats * 4, alignment: 64).bindMemory(to: Float.self, capacity: floats)
            p.initialize(repeating: 0, count: floats)
            return p
        }
        activations = shape.layerSizes.map(buffer)
        deltas = shape.layerSizes.map(buffer)
        lastInput = UnsafePointer(activations[0])
        lastInputStride = layout == .rowMajor ? shape.inputCount : stride
        for l in 0..<shape.layerCount {
            let fanIn = shape.layerSizes[l]
            let std = (2.0 / Double(fanIn)).squareRoot()
            let offset = shape.weightOffset(l)
            for i in 0..<(fanIn * shape.layerSizes[l + 1]) {
                parameters[offset + i] = Float(generator.nextGaussian() * std)
            }
        }
    }

    deinit {
        parameters.deallocate()
        gradients.deallocate()
        for p in activations { UnsafeMutableRawPointer(p).deallocate() }
        for p in deltas { UnsafeMutableRawPointer(p).deallocate() }
    }

    /// The input batch buffer (`capacity × inputs` row-major, or `inputs × stride`).
    public var input: UnsafeMutablePointer<Float> { activations[0] }
    /// The output of the last `forward` (`rows × outputs`, or `outputs × stride`).
    public var output: UnsafeMutablePointer<Float> { activations[activations.count - 1] }
    /// Where the caller writes dLoss/dOutput before `backward` (laid out like `output`).
    public var outputGradient: UnsafeMutablePointer<Float> { deltas[deltas.count - 1] }

    /// Floats between sample r and sample r+1 in a buffer of `width` units.
    @inline(__always)
    public func rowStride(width: Int) -> Int { layout == .rowMajor ? width : 1 }
    /// Floats between unit j and unit j+1 of one sample.
    public var unitStride: Int { layout == .rowMajor ? 1 : stride }
    /// The `inputStride` of `forward(rows:input:inputStride:)` for a buffer laid out like `input`.
    public var inputStride: Int { layout == .rowMajor ? shape.inputCount : stride }

    /// Copies `rows` samples, stored row-major (`rows × inputs`) at `source`, into
    /// `input` starting at sample `at`, in this network's layout.
    public func setInputs(from source: UnsafePointer<Float>, rows: Int, at: Int = 0) {
        precondition(at >= 0 && at + rows <= capacity)
        let f = shape.inputCount
        switch layout {
        case .rowMajor:
            (input + at &* f).update(from: source, count: rows &* f)
        case .featureMajor:
            for r in 0..<rows {
                for j in 0..<f { input[j &* stride &+ at &+ r] = source[r &* f &+ j] }
            }
        }
    }

    /// The parameters as an array (for saving).
    public var parameterArray: [Float] { Array(UnsafeBufferPointer(start: parameters, count: shape.parameterCount)) }

    /// Replaces the parameters.
    public func load(_ values: [Float]) {
        precondition(values.count == shape.parameterCount)
        parameters.update(from: values, count: values.count)
    }

    /// Copies another network's parameters (hard target update).
    public func copyParameters(from other: MLP) {
        parameters.update(from: other.parameters, count: shape.parameterCount)
    }

    /// θ ← (1 − τ)·θ + τ·θ_other (Polyak target update).
    public func blendParameters(from other: MLP, tau: Float) {
        let keep = 1 - tau
        for i in 0..<shape.parameterCount { parameters[i] = keep * parameters[i] + tau * other.parameters[i] }
    }

    /// Runs the first `rows` rows of `input` through the network into `output`.
    public func forward(rows: Int) {
        forward(rows: rows, input: UnsafePointer(activations[0]), inputStride: inputStride)
    }

    /// Runs `rows` samples read from `input` (another buffer in this network's layout,
    /// with `inputStride` floats between samples (`rowMajor`) or between units
    /// (`featureMajor`)) through the network into `output`. `backward` reads the
    /// same buffer, which must stay unchanged until then.
    public func forward(rows: Int, input: UnsafePointer<Float>, inputStride: Int) {
        precondition(rows <= capacity)
        lastInput = input
        lastInputStride = inputStride
        let last = shape.layerCount - 1
        switch layout {
        case .rowMajor:
            for l in 0...last {
                let n = shape.layerSizes[l], m = shape.layerSizes[l + 1]
                let out = activations[l + 1]
                let bias = parameters + shape.biasOffset(l)
                BLAS.gemm(.none, .transposed, m: rows, n: m, k: n, a: l == 0 ? input : UnsafePointer(activations[l]),
                          lda: l == 0 ? inputStride : n, b: parameters + shape.weightOffset(l), ldb: n, beta: 0, c: out, ldc: m)
                // Bias and ReLU in one branch-free pass (a select, so the loop vectorises).
                let relu = l != last
                for r in 0..<rows {
                    let row = out + r &* m
                    if relu { Elementwise.addBiasReLU(bias, to: row, count: m) } else { Elementwise.add(bias, into: row, count: m) }
                }
            }
        case .featureMajor:
            // Block by block of samples, every layer: the block's activations stay in cache.
            var start = 0
            while start < rows {
                let columns = min(Self.columnBlock, rows - start)
                for l in 0...last {
                    let n = shape.layerSizes[l], m = shape.layerSizes[l + 1]
                    let out = activations[l + 1] + start
                    let bias = parameters + shape.biasOffset(l)
                    BLAS.gemm(.none, .none, m: m, n: columns, k: n, a: parameters + shape.weightOffset(l), lda: n,
                              b: l == 0 ? input + start : UnsafePointer(activations[l] + start),
                              ldb: l == 0 ? inputStride : stride, beta: 0, c: out, ldc: stride)
                    let relu = l != last
                    for j in 0..<m {
                        let row = out + j &* stride
                        if relu { Elementwise.addScalarReLU(bias[j], to: row, count: columns) } else { Elementwise.addScalar(bias[j], to: row, count: columns) }
                    }
                }
                start &+= columns
            }
        }
    }

    /// Back-propagates `outputGradient` (first `rows` rows) through the activations
    /// of the last `forward` (whose first `rows` rows must be the same samples) and
    /// writes `gradients`.
    public func backward(rows: Int) {
        precondition(rows <= capacity)
        for l in Swift.stride(from: shape.layerCount - 1, through: 0, by: -1) {
            let n = shape.layerSizes[l], m = shape.layerSizes[l + 1]
            let delta = deltas[l + 1]
            let below = l == 0 ? lastInput : UnsafePointer(activations[l])
            let db = gradients + shape.biasOffset(l)
            switch layout {
            case .rowMajor:
                BLAS.gemm(.transposed, .none, m: m, n: n, k: rows, a: delta, lda: m,
                          b: below, ldb: l == 0 ? lastInputStride : n, beta: 0, c: gradients + shape.weightOffset(l), ldc: n)
                db.update(repeating: 0, count: m)
                for r in 0..<rows { Elementwise.add(delta + r &* m, into: db, count: m) }
                if l > 0 {
                    let previous = deltas[l]
                    BLAS.gemm(.none, .none, m: rows, n: n, k: m, a: delta, lda: m,
                              b: parameters + shape.weightOffset(l), ldb: n, beta: 0, c: previous, ldc: n)
                    Elementwise.zeroWhereNotPositive(previous, mask: activations[l], count: rows &* n)
                }
            case .featureMajor:
                // dW = δ · Aᵀ (m × n), summed over the samples; db = the row sums of δ.
                BLAS.gemm(.none, .transposed, m: m, n: n, k: rows, a: delta, lda: stride,
                          b: below, ldb: l == 0 ? lastInputStride : stride, beta: 0, c: gradients + shape.weightOffset(l), ldc: n)
                for j in 0..<m { db[j] = Elementwise.sum(delta + j &* stride, count: rows) }
                if l > 0 {
                    // δ_below = (Wᵀ · δ) ⊙ 1[a > 0], block by block of samples.
                    let previous = deltas[l]
                    var start = 0
                    while start < rows {
                        let columns = min(Self.columnBlock, rows - start)
                        BLAS.gemm(.transposed, .none, m: n, n: columns, k: m, a: parameters + shape.weightOffset(l), lda: n,
                                  b: delta + start, ldb: stride, beta: 0, c: previous + start, ldc: stride)
                        for j in 0..<n {
                            Elementwise.zeroWhereNotPositive(previous + (j &* stride &+ start),
                                                             mask: activations[l] + (j &* stride &+ start), count: columns)
                        }
                        start &+= columns
                    }
                }
            }
        }
    }

    /// Euclidean norm of the gradients.
    public func gradientNorm() -> Float { BLAS.norm(count: shape.parameterCount, x: gradients) }
}

/// Adam (Kingma & Ba 2015) over a flat parameter buffer, with optional clipping
/// of the global gradient norm before the update. Moment buffers are allocated once.
public final class AdamOptimizer {
    public var learningRate: Float
    public let beta1: Float, beta2: Float, epsilon: Float
    /// Gradients with a larger Euclidean norm are scaled down to it (0 = no clipping).
    public var maxGradientNorm: Float
    private let count: Int
    private let m: UnsafeMutablePointer<Float>
    private let v: UnsafeMutablePointer<Float>
    private var step = 0
    private var beta1Power: Float = 1, beta2Power: Float = 1

    public init(parameterCount: Int, learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, maxGradientNorm: Float = 10) {
        self.count = parameterCount
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.maxGradientNorm = maxGradientNorm
        m = .allocate(capacity: parameterCount)
        m.initialize(repeating: 0, count: parameterCount)
        v = .allocate(capacity: parameterCount)
        v.initialize(repeating: 0, count: parameterCount)
    }

    deinit {
        m.deallocate()
        v.deallocate()
    }

    /// One update of `network`'s parameters from its `gradients`. Returns the gradient norm before clipping.
    @discardableResult
    public func step(_ network: MLP) -> Float {
        precondition(network.shape.parameterCount == count)
        let norm = network.gradientNorm()
        let clip: Float = maxGradientNorm > 0 && norm > maxGradientNorm ? maxGradientNorm / norm : 1
        step += 1
        beta1Power *= beta1
        beta2Power *= beta2
        let lr = learningRate * (1 - beta2Power).squareRoot() / (1 - beta1Power)
        let b1 = beta1, b2 = beta2, eps = epsilon
        let p = network.parameters, g = network.gradients
        // SIMD4 blocks: four-wide vectors keep the seven broadcast constants and the
        // operands in the sixteen SSE registers (sixteen-wide ones spill to the stack on
        // every iteration), and the square root is one SQRTPS (`Elementwise.squareRoot`).
        // Element by element the arithmetic is the scalar loop's, in the same order, and
        // SQRTPS rounds exactly as sqrtf does.
        let clip4 = SIMD4<Float>(repeating: clip), b14 = SIMD4<Float>(repeating: b1), c14 = SIMD4<Float>(repeating: 1 - b1)
        let b24 = SIMD4<Float>(repeating: b2), c24 = SIMD4<Float>(repeating: 1 - b2)
        let lr4 = SIMD4<Float>(repeating: lr), eps4 = SIMD4<Float>(repeating: eps)
        var i = 0
        while i &+ 4 <= count {
            let gi = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD4<Float>.self) * clip4
            let mi = b14 * UnsafeRawPointer(m + i).loadUnaligned(as: SIMD4<Float>.self) + c14 * gi
            let vi = b24 * UnsafeRawPointer(v + i).loadUnaligned(as: SIMD4<Float>.self) + c24 * gi * gi
            let pi = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<Float>.self) - lr4 * mi / (Elementwise.squareRoot(vi) + eps4)
            UnsafeMutableRawPointer(m + i).storeBytes(of: mi, as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(v + i).storeBytes(of: vi, as: SIMD4<Float>.self)
            UnsafeMutableRawPointer(p + i).storeBytes(of: pi, as: SIMD4<Float>.self)
            i &+= 4
        }
        while i < count {
            let gi = g[i] * clip
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            p[i] -= lr * m[i] / (v[i].squareRoot() + eps)
            i &+= 1
        }
        return norm
    }
}

extension SeededGenerator {
    /// A standard normal deviate (Box–Muller).
    public mutating func nextGaussian() -> Double {
        let u1 = max(nextUnit(), 1e-300), u2 = nextUnit()
        return (-2 * LearnMath.log(u1)).squareRoot() * LearnMath.cos(2 * Double.pi * u2)
    }

    /// A uniform integer in 0..<n (multiply-high, Lemire 2019, without the rejection
    /// step: the bias is below n / 2⁶⁴; a division per draw would cost more than the draw).
    @inline(__always)
    public mutating func nextIndex(_ n: Int) -> Int { Int(next().multipliedFullWidth(by: UInt64(n)).high) }
}

/// Element-wise loops written with explicit SIMD vectors: the portable x86-64
/// target (SSE2) does not if-convert masked stores, so scalar loops with a
/// condition stay branchy; these compile to compare-and-blend.
enum Elementwise {
    /// y[i] += x[i].
    @inline(__always)
    static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i &+ 16 <= count {
            let a = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            let b = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: a + b, as: SIMD16<Float>.self)
            i &+= 16
        }
        while i < count { y[i] += x[i]; i &+= 1 }
    }

    /// g[i] = 0 where !(mask[i] > 0) (the ReLU derivative).
    @inline(__always)
    static func zeroWhereNotPositive(_ g: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>, count: Int) {
        var i = 0
        while i &+ 16 <= count {
            let m = UnsafeRawPointer(mask + i).loadUnaligned(as: SIMD16<Float>.self)
            var v = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
            v.replace(with: 0, where: .!(m .> 0))
            UnsafeMutableRawPointer(g + i).storeBytes(of: v, as: SIMD16<Float>.self)
            i &+= 16
        }
        while i < count { if !(mask[i] > 0) { g[i] = 0 }; i &+= 1 }
    }

    /// y[i] = max(0, y[i] + b[i]) (NaN becomes 0).
    @inline(__always)
    static func addBiasReLU(_ b: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i &+ 16 <= count {
            var v = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Float>.self)
                + UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
            v.replace(with: 0, where: .!(v .> 0))
            UnsafeMutableRawPointer(y + i).storeBytes(of: v, as: SIMD16<Float>.self)
            i &+= 16
        }
        while i < count { let v = y[i] + b[i]; y[i] = v > 0 ? v : 0; i &+= 1 }
    }

    /// The correctly rounded square root of each lane. On Linux `Float.squareRoot()`
    /// is glibc's `sqrtf` behind an errno check, so `SIMD4.squareRoot()` becomes four
    /// scalar calls with branches; on x86-64 this is one SQRTPS (same results).
    @inline(__always)
    static func squareRoot(_ v: SIMD4<Float>) -> SIMD4<Float> {
        #if arch(x86_64)
        return _mm_sqrt_ps(v)
        #else
        return v.squareRoot()
        #endif
    }

    /// y[i] += s.
    @inline(__always)
    static func addScalar(_ s: Float, to y: UnsafeMutablePointer<Float>, count: Int) {
        let b = SIMD16<Float>(repeating: s)
        var i = 0
        while i &+ 16 <= count {
            let v = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Float>.self) + b
            UnsafeMutableRawPointer(y + i).storeBytes(of: v, as: SIMD16<Float>.self)
            i &+= 16
        }
        while i < count { y[i] += s; i &+= 1 }
    }

    /// y[i] = max(0, y[i] + s) (NaN becomes 0).
    @inline(__always)
    static func addScalarReLU(_ s: Float, to y: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        #if arch(x86_64)
        // MAXPS(v, 0) returns its second operand when v is NaN or ±0, so it is exactly the
        // select below (v > 0 ? v : +0) in one instruction instead of compare, and, zero.
        let b = SIMD4<Float>(repeating: s), zero = SIMD4<Float>()
        while i &+ 16 <= count {
            for k in Swift.stride(from: 0, to: 16, by: 4) {
                let v = UnsafeRawPointer(y + (i &+ k)).loadUnaligned(as: SIMD4<Float>.self) + b
                UnsafeMutableRawPointer(y + (i &+ k)).storeBytes(of: _mm_max_ps(v, zero), as: SIMD4<Float>.self)
            }
            i &+= 16
        }
        #else
        let b = SIMD16<Float>(repeating: s)
        while i &+ 16 <= count {
            var v = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Float>.self) + b
            v.replace(with: 0, where: .!(v .> 0))
            UnsafeMutableRawPointer(y + i).storeBytes(of: v, as: SIMD16<Float>.self)
            i &+= 16
        }
        #endif
        while i < count { let v = y[i] + s; y[i] = v > 0 ? v : 0; i &+= 1 }
    }

    /// Σ x[i] (sixteen interleaved partial sums, then those in order).
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        while i &+ 16 <= count {
            acc += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            i &+= 16
        }
        var total: Float = 0
        for k in 0..<16 { total += acc[k] }
        while i < count { total += x[i]; i &+= 1 }
        return total
    }
}
