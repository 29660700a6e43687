import CoalesceCore

/// What `OfflineDataset.init(datasets:objective:)` made of the recorded files.
public struct DatasetConversion: Sendable {
    public var dataset: OfflineDataset
    public var featureNames: [String]
    public var actionSpace: ActionSpace
    public var fingerprints: [DatasetFingerprint]
    /// Rows without a next state (timeouts) that were left out.
    public var droppedRows: Int
    /// Rows whose π_b was empty (when > 0, IS/DR estimators are refused).
    public var rowsWithoutPropensity: Int
    /// Number of episodes.
    public var episodes: Int
}

extension OfflineDataset {
    /// Transitions from recorded datasets (schema v1), with rewards recomputed from
    /// each row's logged components under `objective`.
    ///
    /// Row i of an episode gives (s_i, a_i, r_i, s_{i+1}): the reward was measured over
    /// the interval after action a_i, and the next state is the next row's. A row
    /// marked `timeout` has no next state and is left out; a `terminal` row is kept
    /// with no bootstrap. Every file must use the same features and action space.
    public static func converting(_ datasets: [Dataset], objective: Objective) throws(LearnError) -> DatasetConversion {
        guard let first = datasets.first else { throw .invalidData("no dataset given") }
        let features = first.header.features
        let space = first.header.actionSpace
        for d in datasets.dropFirst() {
            guard d.header.features == features else {
                throw .invalidData("\(d.path): features differ from \(first.path)'s")
            }
            guard d.header.actionSpace.settings == space.settings else {
                throw .invalidData("\(d.path): action space '\(d.header.actionSpace.name)' differs from \(first.path)'s '\(space.name)'")
            }
        }
        let f = features.count
        var states: [Float] = [], next: [Float] = [], actions: [Int32] = [], rewards: [Float] = []
        var terminals: [Bool] = [], probabilities: [Double] = [], episodes: [Int] = []
        var dropped = 0, withoutPropensity = 0, episodeCount = 0
        var fingerprints: [DatasetFingerprint] = []
        for d in datasets {
            var used = 0
            var i = 0
            let rows = d.rows
            while i < rows.count {
                var end = i
                while end < rows.count && rows[end].episode == rows[i].episode { end += 1 }
                let episodeId = episodeCount
                episodeCount += 1
                for k in i..<end {
                    let row = rows[k]
                    guard row.state.count == f else {
                        throw .invalidData("\(d.path): episode \(row.episode) step \(row.step) has \(row.state.count) features, header lists \(f)")
                    }
                    let hasNext = k + 1 < end
                    if row.timeout || (!hasNext && !row.terminal) { dropped += 1; continue }
                    let reward = objective.reward(row.components)
                    guard reward.isFinite else {
                        throw .invalidData("\(d.path): episode \(row.episode) step \(row.step): reward under '\(objective.name)' is not finite")
                    }
                    states += row.state
                    next += row.terminal || !hasNext ? row.state : rows[k + 1].state
                    actions.append(Int32(row.action))
                    rewards.append(Float(reward))
                    terminals.append(row.terminal)
                    episodes.append(episodeId)
                    if let p = row.probability, p > 0 { probabilities.append(min(1, p)) } else {
                        probabilities.append(1)
                        withoutPropensity += 1
                    }
                    used += 1
                }
                i = end
            }
            let name = d.path.split(separator: "/").last.map(String.init) ?? d.path
            fingerprints.append(DatasetFingerprint(name: name, sha256: d.fingerprint, rows: used))
        }
        let dataset = try OfflineDataset(
            featureCount: f, actionCount: space.count, states: states, nextStates: next, actions: actions,
            rewards: rewards, terminals: terminals, behaviourProbabilities: withoutPropensity > 0 ? nil : probabilities,
            episodes: episodes)
        return DatasetConversion(dataset: dataset, featureNames: features, actionSpace: space, fingerprints: fingerprints,
                                 droppedRows: dropped, rowsWithoutPropensity: withoutPropensity, episodes: episodeCount)
    }
}
