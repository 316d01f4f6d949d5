// A bound on how large a candidate may be before any strategy scores it. Poisoned
// adapters that are merely large (Gaussian noise, an honest adapter scaled up, the
// negated mean of the others scaled up) cost an evaluation each under `validation`,
// and under `fedavg` or a row normalised by its sum they move the aggregate far; a
// norm bound removes them for the price of two dot products.

import Foundation
import Learning

/// Excludes a peer whose adapter is too large relative to the node's own and to the
/// other candidates.
///
/// With s = `bound`, r = min(‖θ_own‖, median over the screened peers of ‖θ_j‖), peer j
/// is excluded (`normBound`) when
///
///     ‖θ_j‖ > s · r   or   ‖θ_j − θ_own‖ > s · r.
///
/// A candidate must be within bounds against both yardsticks. The node's own norm is
/// the one attackers cannot move: a node whose neighbours are mostly attackers (a
/// member next to two bridges that both attack holds, at first, more poisoned adapters
/// than honest ones) would otherwise take its bound from their median. The median
/// tightens the bound when the node's own adapter has grown beyond its peers'. The
/// second test catches an adapter of ordinary size that points the wrong way (−4 × the
/// mean of the others sits about 5 ‖θ‖ from θ). Honest adapters of one base start from
/// the same LoRA initialisation and stay close to one another, well inside 3 · r.
/// s = 0 disables the screen.
public struct NormScreen: Sendable, Equatable {
    /// s: how many times the reference norm r a candidate may reach; 0 disables.
    public var bound: Double

    /// The bound a topology uses unless its `screen_norm` says otherwise.
    public static let defaultBound = 3.0

    public init(bound: Double = NormScreen.defaultBound) { self.bound = bound }

    /// The exclusions among `peers` (in their order), measured against `own`. Peers of
    /// another layout or with non-finite values are left to `CandidateScreening` and
    /// neither screened nor counted in the median.
    public func exclusions(own: LoRAAdapter, peers: [TrustCandidate]) -> [TrustExclusion] {
        guard bound > 0 else { return [] }
        let comparable = peers.filter { $0.adapter.hasSameLayout(as: own) && $0.adapter.isFinite }
        let norms = comparable.map { AdapterNorm.norm($0.adapter) }
        let ownNorm = AdapterNorm.norm(own)
        let median = AdapterNorm.median(norms)
        let reference = min(ownNorm, median ?? ownNorm)
        let limit = bound * reference
        var out: [TrustExclusion] = []
        for (c, n) in zip(comparable, norms) {
            let d = AdapterNorm.distance(c.adapter, own)
            if n > limit || d > limit {
                out.append(TrustExclusion(
                    candidate: c.id, reason: .normBound,
                    detail: "norm \(Self.format(n)), distance to own \(Self.format(d)), bound \(Self.format(limit)) "
                        + "= \(Self.format(bound)) × min(own \(Self.format(ownNorm)), median \(Self.format(median ?? 0)))"))
            }
        }
        return out
    }

    static func format(_ x: Double) -> String { String(format: "%.4g", x) }
}
