/// Maps a (normalised) state vector to one cell of a Q-table.
///
/// A subset of the features is used; each selected feature is cut into bins at
/// `edges[k]` (ascending interior cut points learned from the training data's
/// quantiles), and the cell index is the mixed-radix number of the bins:
///
///     bin_k  = number of edges of feature k that are ≤ x[featureIndices[k]]
///     cell   = Σ_k bin_k · stride_k,   stride_0 = 1, stride_{k+1} = stride_k · (edges[k].count + 1)
///
/// How the features and edges are chosen is documented in docs/training.md.
public struct StateDiscretisation: Sendable, Hashable, Codable {
    /// Indices into the state vector of the features that take part.
    public var featureIndices: [Int]
    /// Ascending interior cut points, one array per selected feature.
    public var edges: [[Float]]

    public init(featureIndices: [Int], edges: [[Float]]) {
        self.featureIndices = featureIndices
        self.edges = edges
    }

    /// Number of cells (product of the bins per selected feature; 1 with no feature).
    public var cellCount: Int { edges.reduce(1) { $0 * ($1.count + 1) } }

    /// Whether the description is consistent with a state of `featureCount` features.
    public func isValid(featureCount: Int) -> Bool {
        guard featureIndices.count == edges.count else { return false }
        guard featureIndices.allSatisfy({ $0 >= 0 && $0 < featureCount }) else { return false }
        for e in edges {
            guard e.allSatisfy(\.isFinite) else { return false }
            for i in e.indices.dropFirst() where !(e[i - 1] < e[i]) { return false }
        }
        return cellCount <= 1 << 26
    }

    /// The cell of `state` (which must hold at least every selected feature).
    @inlinable
    public func cell(of state: UnsafeBufferPointer<Float>) -> Int {
        var cell = 0
        var stride = 1
        for k in 0..<featureIndices.count {
            let x = state[featureIndices[k]]
            let e = edges[k]
            var bin = 0
            while bin < e.count && e[bin] <= x { bin += 1 }
            cell += bin * stride
            stride *= e.count + 1
        }
        return cell
    }
}
