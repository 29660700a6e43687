/// The architecture of a fully connected network and the layout of its parameters
/// in one flat Float32 buffer, shared by the trainer (CoalesceLearn) and inference
/// (`ModelPolicy`).
///
/// Layers are dense, with ReLU after every hidden layer and a linear output. The
/// buffer holds, for each layer in order, its weight matrix (row-major, one row per
/// output unit: `outputs × inputs`, as PyTorch stores `Linear.weight`) followed by
/// its bias vector (`outputs`).
public struct MLPShape: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Units per layer, input first, output last (at least two entries).
    public var layerSizes: [Int]

    /// A network with `inputs` inputs, the given hidden layers and `outputs` outputs.
    public init(inputs: Int, hidden: [Int], outputs: Int) {
        self.layerSizes = [inputs] + hidden + [outputs]
    }

    public init(layerSizes: [Int]) {
        self.layerSizes = layerSizes
    }

    /// Number of dense layers (weight matrices).
    public var layerCount: Int { layerSizes.count - 1 }
    /// Input width.
    public var inputCount: Int { layerSizes[0] }
    /// Output width.
    public var outputCount: Int { layerSizes[layerSizes.count - 1] }

    /// Offset of layer `l`'s weight matrix (0-based dense layer index).
    public func weightOffset(_ l: Int) -> Int {
        var offset = 0
        for i in 0..<l { offset += layerSizes[i + 1] * (layerSizes[i] + 1) }
        return offset
    }

    /// Offset of layer `l`'s bias vector.
    public func biasOffset(_ l: Int) -> Int { weightOffset(l) + layerSizes[l + 1] * layerSizes[l] }

    /// Total number of parameters.
    public var parameterCount: Int { weightOffset(layerCount) }

    /// Whether the shape is usable: at least one layer, every size positive.
    public var isValid: Bool { layerSizes.count >= 2 && layerSizes.allSatisfy { $0 > 0 } }

    /// e.g. `13-64-64-16`.
    public var description: String { layerSizes.map(String.init).joined(separator: "-") }
}
