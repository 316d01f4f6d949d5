// The two data settings of the comparison, after the reference paper: every node holds
// its group's single source ("specific"), or mostly its group's source with some of the
// others mixed in ("mixed").

import Foundation

/// How each node's text is drawn from the topology's sources.
public enum ExperimentSetting: String, Sendable, CaseIterable, Codable {
    /// Each node's mixture row as the topology gives it (one source per group).
    case specific
    /// Each node keeps `ownShare` of its row and spreads the rest over the sources
    /// its row leaves out.
    case mixed

    /// The mixture rows of this setting, from the topology's (specific) rows.
    ///
    /// For `mixed`, a row r normalised to sum 1 becomes
    /// `ownShare · r + (1 − ownShare) · (1 − r) / (S − 1)` over S sources, which sums to 1
    /// (Σ(1 − r) = S − 1). A one-hot row over three sources becomes 0.6 / 0.2 / 0.2 at the
    /// default share. With a single source the row is kept.
    public func mixtureRows(_ specific: [[Double]], ownShare: Double = ExperimentSetting.defaultOwnShare) -> [[Double]] {
        specific.map { row in
            let total = row.reduce(0, +)
            let r = total > 0 ? row.map { $0 / total } : row
            guard self == .mixed, r.count > 1 else { return r }
            let spread = (1 - ownShare) / Double(r.count - 1)
            return r.map { ownShare * $0 + spread * (1 - $0) }
        }
    }

    /// Share of a node's text from its own group's source in the mixed setting.
    public static let defaultOwnShare = 0.6
}
