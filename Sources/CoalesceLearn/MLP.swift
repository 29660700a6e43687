import CoalesceCore

/// A dense ReLU network for training: parameters, gradients and every activation
/// buffer live in memory allocated once at construction, sized for `capacity`
/// rows, so forward and backward passes allocate nothing.
///
/// Layout of the parameters: `MLPShape` (per layer, weights `outputs × inputs`
/// row-major, then biases). A batch is `rows × width`, row-major.
///
/// Usage: write inputs into `input`, call `forward(rows:)`, read `output`; write
/// dLoss/dOutput into `outputGradient` and call `backward(rows:)` to get `gradients`.
public final class MLP {
    public let shape: MLPShape
    /// Maximum rows per batch.
    public let capacity: Int
    /// `shape.parameterCount` parameters.
    public let parameters: UnsafeMutablePointer<Float>
    /// dLoss/dParameters after `backward` (overwritten by each call).
    public let gradients: UnsafeMutablePointer<Float>
    /// activations[0] is the input; activations[l] is layer l's output (after ReLU for hidden layers).
    private let activations: [UnsafeMutablePointer<Float>]
    /// deltas[l] holds dLoss/d(pre-activation of layer l), l ≥ 1.
    private let deltas: [UnsafeMutablePointer<Float>]

    /// A network with He-initialised weights (normal, σ = √(2/fan-in)) and zero biases.
    public init(shape: MLPShape, capacity: Int, generator: inout SeededGenerator) {
        precondition(shape.isValid && capacity > 0)
        self.shape = shape
        self.capacity = capacity
        let count = shape.parameterCount
        parameters = .allocate(capacity: count)
        parameters.initialize(repeating: 0, count: count)
        gradients = .allocate(capacity: count)
        gradients.initialize(repeating: 0, count: count)
        activations = shape.layerSizes.map { size in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: size * capacity)
            p.initialize(repeating: 0, count: size * capacity)
            return p
        }
        deltas = shape.layerSizes.map { size in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: size * capacity)
            p.initialize(repeating: 0, count: size * capacity)
            return p
        }
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
        for p in activations { p.deallocate() }
        for p in deltas { p.deallocate() }
    }

    /// The input batch buffer (`capacity × inputs`).
    public var input: UnsafeMutablePointer<Float> { activations[0] }
    /// The output of the last `forward` (`rows × outputs`).
    public var output: UnsafeMutablePointer<Float> { activations[activations.count - 1] }
    /// Where the caller writes dLoss/dOutput before `backward` (`rows × outputs`).
    public var outputGradient: UnsafeMutablePointer<Float> { deltas[deltas.count - 1] }

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
        precondition(rows <= capacity)
        let last = shape.layerCount - 1
        for l in 0...last {
            let n = shape.layerSizes[l], m = shape.layerSizes[l + 1]
            let out = activations[l + 1]
            let bias = parameters + shape.biasOffset(l)
            BLAS.gemm(.none, .transposed, m: rows, n: m, k: n, a: activations[l], lda: n,
                      b: parameters + shape.weightOffset(l), ldb: n, beta: 0, c: out, ldc: m)
            // Bias and ReLU in one branch-free pass (a select, so the loop vectorises).
            let relu = l != last
            for r in 0..<rows {
                let row = out + r &* m
                if relu { Elementwise.addBiasReLU(bias, to: row, count: m) } else { Elementwise.add(bias, into: row, count: m) }
            }
        }
    }

    /// Back-propagates `outputGradient` (first `rows` rows) through the activations
    /// of the last `forward` (whose first `rows` rows must be the same samples) and
    /// writes `gradients`.
    public func backward(rows: Int) {
        for l in stride(from: shape.layerCount - 1, through: 0, by: -1) {
            let n = shape.layerSizes[l], m = shape.layerSizes[l + 1]
            let delta = deltas[l + 1]
            BLAS.gemm(.transposed, .none, m: m, n: n, k: rows, a: delta, lda: m,
                      b: activations[l], ldb: n, beta: 0, c: gradients + shape.weightOffset(l), ldc: n)
            let db = gradients + shape.biasOffset(l)
            db.update(repeating: 0, count: m)
            for r in 0..<rows { Elementwise.add(delta + r &* m, into: db, count: m) }
            if l > 0 {
                let previous = deltas[l]
                BLAS.gemm(.none, .none, m: rows, n: n, k: m, a: delta, lda: m,
                          b: parameters + shape.weightOffset(l), ldb: n, beta: 0, c: previous, ldc: n)
                Elementwise.zeroWhereNotPositive(previous, mask: activations[l], count: rows &* n)
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
        // SIMD16 blocks: sqrt and division vectorise this way on the portable x86-64 target.
        var i = 0
        while i &+ 16 <= count {
            let gi = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self) * clip
            let mi = b1 * UnsafeRawPointer(m + i).loadUnaligned(as: SIMD16<Float>.self) + (1 - b1) * gi
            let vi = b2 * UnsafeRawPointer(v + i).loadUnaligned(as: SIMD16<Float>.self) + (1 - b2) * gi * gi
            let pi = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self) - lr * mi / (vi.squareRoot() + eps)
            UnsafeMutableRawPointer(m + i).storeBytes(of: mi, as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(v + i).storeBytes(of: vi, as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(p + i).storeBytes(of: pi, as: SIMD16<Float>.self)
            i &+= 16
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

    /// Copies `count` floats (short rows: cheaper than a memmove call).
    @inline(__always)
    static func copy(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, count: Int) {
        for j in 0..<count { y[j] = x[j] }
    }
}
