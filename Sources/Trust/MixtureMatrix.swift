// The known answer the `oracle` strategy reads: what share of each node's text comes from
// each data source, as an experiment's topology file states it.

/// P, nodes × sources: `rows[id][s]` is the share of source s in node `id`'s data.
///
/// The oracle row of node i is W_ij = (P Pᵀ)_ij / Σ_{k ∈ C} (P Pᵀ)_ik over the candidates
/// C it holds: row-normalised P Pᵀ, restricted to the candidates present and renormalised.
/// Two nodes with disjoint sources get 0; nodes with the same mixture the same weight.
public struct MixtureMatrix: Sendable, Equatable, Codable {
    /// Mixture per node identity (the public key text), every row the same length.
    public var rows: [String: [Double]]

    public init(rows: [String: [Double]]) {
        self.rows = rows
    }

    /// (P Pᵀ)_ij: the overlap of two mixtures; nil if either node has no row or the rows
    /// differ in length.
    public func overlap(_ i: String, _ j: String) -> Double? {
        guard let p = rows[i], let q = rows[j], p.count == q.count else { return nil }
        return zip(p, q).reduce(0) { $0 + $1.0 * $1.1 }
    }
}
