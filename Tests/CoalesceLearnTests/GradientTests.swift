import CoalesceCore
import Testing
@testable import CoalesceLearn

@Suite struct GradientTests {
    /// ½‖f(x) − y‖² summed over the batch, in Double, for finite differences.
    func loss(_ net: MLP, rows: Int, targets: [Float]) -> Double {
        net.forward(rows: rows)
        var l = 0.0
        for i in 0..<(rows * net.shape.outputCount) {
            let d = Double(net.output[i]) - Double(targets[i])
            l += 0.5 * d * d
        }
        return l
    }

    @Test func mlpBackpropagationMatchesFiniteDifferences() {
        var g = SeededGenerator(seed: 7)
        let shape = MLPShape(inputs: 4, hidden: [6, 5], outputs: 3)
        let net = MLP(shape: shape, capacity: 3, generator: &g)
        for i in 0..<shape.parameterCount where i % 7 == 0 { net.parameters[i] += 0.05 }
        let rows = 3
        let inputs = (0..<(rows * 4)).map { _ in Float(g.nextGaussian()) }
        let targets = (0..<(rows * 3)).map { _ in Float(g.nextGaussian()) }
        net.input.update(from: inputs, count: inputs.count)
        _ = loss(net, rows: rows, targets: targets)
        for i in 0..<(rows * 3) { net.outputGradient[i] = net.output[i] - targets[i] }
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
