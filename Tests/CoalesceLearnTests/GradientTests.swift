import CoalesceCore
import Testing
@testable import CoalesceLearn

@Suite struct GradientTests {
    /// ½‖f(x) − y‖² summed over the batch (targets row-major), in Double, for finite differences.
    func loss(_ net: MLP, rows: Int, targets: [Float]) -> Double {
        net.forward(rows: rows)
        let outputs = net.shape.outputCount
        var l = 0.0
        for r in 0..<rows {
            for j in 0..<outputs {
                let d = Double(net.output[r * net.rowStride(width: outputs) + j * net.unitStride]) - Double(targets[r * outputs + j])
                l += 0.5 * d * d
            }
        }
        return l
    }

    @Test(arguments: [MLPLayout.rowMajor, .featureMajor])
    func mlpBackpropagationMatchesFiniteDifferences(_ layout: MLPLayout) {
        var g = SeededGenerator(seed: 7)
        let shape = MLPShape(inputs: 4, hidden: [6, 5], outputs: 3)
        let net = MLP(shape: shape, capacity: 3, layout: layout, generator: &g)
        for i in 0..<shape.parameterCount where i % 7 == 0 { net.parameters[i] += 0.05 }
        let rows = 3
        let inputs = (0..<(rows * 4)).map { _ in Float(g.nextGaussian()) }
        let targets = (0..<(rows * 3)).map { _ in Float(g.nextGaussian()) }
        inputs.withUnsafeBufferPointer { net.setInputs(from: $0.baseAddress!, rows: rows) }
        _ = loss(net, rows: rows, targets: targets)
        for r in 0..<rows {
            for j in 0..<3 {
                let at = r * net.rowStride(width: 3) + j * net.unitStride
                net.outputGradient[at] = net.output[at] - targets[r * 3 + j]
            }
        }
        net.backward(rows: rows)
        let analytic = Array(UnsafeBufferPointer(start: net.gradients, count: shape.parameterCount))
        let eps: Float = 1e-3
        var worst = 0.0
        for p in 0..<shape.parameterCount {
            let original = net.parameters[p]
            net.parameters[p] = original + eps
            let up = loss(net, rows: rows, targets: targets)
            net.parameters[p] = original - eps
            let down = loss(net, rows: rows, targets: targets)
            net.parameters[p] = original
            let numeric = (up - down) / (2 * Double(eps))
            let error = abs(numeric - Double(analytic[p])) / max(1, abs(numeric))
            worst = max(worst, error)
            #expect(error < 1e-2, "parameter \(p): analytic \(analytic[p]), numeric \(numeric)")
        }
        #expect(worst < 1e-2)
    }

    /// The feature-major layout computes the same function and the same gradients as
    /// the row-major one (up to summation order), across several column blocks.
    @Test func featureMajorLayoutMatchesRowMajor() {
        var g = SeededGenerator(seed: 11)
        let shape = MLPShape(inputs: 5, hidden: [7, 6], outputs: 4)
        let rows = MLP.columnBlock + 37
        var g1 = SeededGenerator(seed: 3), g2 = SeededGenerator(seed: 3)
        let reference = MLP(shape: shape, capacity: rows, generator: &g1)
        let net = MLP(shape: shape, capacity: rows, layout: .featureMajor, generator: &g2)
        #expect(reference.parameterArray == net.parameterArray)
        #expect(net.stride >= rows && net.stride % 16 == 0 && net.stride % 256 != 0)
        for i in 0..<shape.parameterCount where i % 5 == 0 {
            reference.parameters[i] += 0.05
            net.parameters[i] += 0.05
        }
        let inputs = (0..<(rows * 5)).map { _ in Float(g.nextGaussian()) }
        let targets = (0..<(rows * 4)).map { _ in Float(g.nextGaussian()) }
        inputs.withUnsafeBufferPointer { reference.setInputs(from: $0.baseAddress!, rows: rows) }
        inputs.withUnsafeBufferPointer { net.setInputs(from: $0.baseAddress!, rows: rows) }
        #expect(net.input[2 * net.stride + 1] == inputs[1 * 5 + 2])
        reference.forward(rows: rows)
        net.forward(rows: rows)
        var worstOutput: Float = 0
        for r in 0..<rows {
            for j in 0..<4 {
                let a = reference.output[r * 4 + j], b = net.output[j * net.stride + r]
                worstOutput = max(worstOutput, abs(a - b))
                reference.outputGradient[r * 4 + j] = a - targets[r * 4 + j]
                net.outputGradient[j * net.stride + r] = b - targets[r * 4 + j]
            }
        }
        #expect(worstOutput < 1e-5)
        reference.backward(rows: rows)
        net.backward(rows: rows)
        for p in 0..<shape.parameterCount {
            #expect(abs(reference.gradients[p] - net.gradients[p]) <= 1e-4 * max(1, abs(reference.gradients[p])), "parameter \(p)")
        }
        // Reading the input from another buffer (as the target network reads the online one's s′ half).
        let other = MLP(shape: shape, capacity: rows, layout: .featureMajor, generator: &g)
        other.copyParameters(from: net)
        other.forward(rows: rows, input: UnsafePointer(net.input), inputStride: net.inputStride)
        net.forward(rows: rows)
        for j in 0..<4 { for r in 0..<rows { #expect(other.output[j * other.stride + r] == net.output[j * net.stride + r]) } }
    }

    @Test func crossEntropyGradientMatchesFiniteDifferences() {
        let actions: [Int32] = [2, 0]
        var logits: [Float] = [0.3, -1.2, 0.8, 0.1, 2.0, -0.5, 0.0, 0.7]
        let indices = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        defer { indices.deallocate() }
        indices[0] = 0; indices[1] = 1
        var gradient = [Float](repeating: 0, count: 8)
        func ce(_ z: [Float]) -> Double {
            var scratch = [Float](repeating: 0, count: 8)
            var zz = z
            return actions.withUnsafeBufferPointer { a in
                zz.withUnsafeMutableBufferPointer { zp in
                    scratch.withUnsafeMutableBufferPointer { s in
                        NetworkLearner.crossEntropyGradient(logits: zp.baseAddress!, actions: a.baseAddress!, indices: indices,
                                                            rows: 2, actionCount: 4, gradient: s.baseAddress!)
                    }
                }
            }
        }
        _ = actions.withUnsafeBufferPointer { a in
            logits.withUnsafeMutableBufferPointer { zp in
                gradient.withUnsafeMutableBufferPointer { s in
                    NetworkLearner.crossEntropyGradient(logits: zp.baseAddress!, actions: a.baseAddress!, indices: indices,
                                                        rows: 2, actionCount: 4, gradient: s.baseAddress!)
                }
            }
        }
        for i in 0..<8 {
            var up = logits, down = logits
            up[i] += 1e-3
            down[i] -= 1e-3
            let numeric = (ce(up) - ce(down)) / 2e-3
            #expect(abs(numeric - Double(gradient[i])) < 1e-3, "logit \(i)")
        }
    }

    @Test func featureMajorCrossEntropyMatchesRowMajor() {
        let actions: [Int32] = [2, 0, 3]
        let logits: [Float] = [0.3, -1.2, 0.8, 0.1, 2.0, -0.5, 0.0, 0.7, -0.3, 0.4, 1.1, 1.5]
        let indices = UnsafeMutablePointer<Int>.allocate(capacity: 3)
        defer { indices.deallocate() }
        for r in 0..<3 { indices[r] = r }
        var rowMajor = logits, gradient = [Float](repeating: 0, count: 12)
        // Unit-major with a stride of 5: logit a of sample r at a·5 + r.
        var unitMajor = [Float](repeating: 0, count: 20), unitGradient = [Float](repeating: 0, count: 20)
        for r in 0..<3 { for a in 0..<4 { unitMajor[a * 5 + r] = logits[r * 4 + a] } }
        let l1 = NetworkLearner.crossEntropyGradient(logits: &rowMajor, actions: actions, indices: indices, rows: 3,
                                                     actionCount: 4, gradient: &gradient)
        let l2 = NetworkLearner.crossEntropyGradient(logits: &unitMajor, actions: actions, rows: 3, actionCount: 4,
                                                     unitStride: 5, gradient: &unitGradient)
        #expect(l1 == l2)
        for r in 0..<3 { for a in 0..<4 { #expect(gradient[r * 4 + a] == unitGradient[a * 5 + r]) } }
    }

    @Test func adamWithClippingMovesAgainstTheGradient() {
        var g = SeededGenerator(seed: 1)
        let net = MLP(shape: MLPShape(inputs: 2, hidden: [], outputs: 1), capacity: 1, generator: &g)
        let before = net.parameterArray
        for i in 0..<3 { net.gradients[i] = 100 }
        let adam = AdamOptimizer(parameterCount: 3, learningRate: 0.1, maxGradientNorm: 1)
        let norm = adam.step(net)
        #expect(abs(norm - Float(3).squareRoot() * 100) < 1e-2)
        for i in 0..<3 { #expect(net.parameters[i] < before[i]) }
    }
}
