// Free-riders: a member that republishes another's adapter (or the node's own) as its
// own update gains the weight the copied adapter earns without training anything, and
// under any strategy that spreads weight the copy also counts its original twice. A copy
// brings nothing the original does not, so it gets no weight of its own.

import Learning

/// Excludes a peer whose adapter all but equals one that is already a candidate.
///
/// Two adapters a and b are copies when ‖a − b‖ ≤ `threshold` · max(‖a‖, ‖b‖) (two zero
/// adapters are copies) and, when the node's own step of the round is given, also
/// ‖a − b‖ ≤ `stepShare` · that step. The node's own adapter comes first, then `peers`
/// in the order given, which the node makes the order their updates arrived in: the original was
/// published before anyone could copy it, so it reached this node first unless the
/// copier sits on a shorter path. Each peer that copies an earlier candidate (own
/// included) is excluded (`duplicate`), naming the one it copies; an excluded copy is
/// not compared with the later ones.
public enum DuplicateScreen {
    /// Relative distance at or below which two adapters are one: 10⁻³. An exact copy is
    /// at 0; honest members that train on text of their own differ by far more after a
    /// round of local steps.
    public static let threshold = 1e-3

    /// The share of the node's own step of the round (‖own after training − own before‖)
    /// at or below which two adapters are one: 0.02. Members that start a round from one
    /// aggregate, as under a uniform average, move apart only by their own local steps,
    /// and near the end of a decaying learning rate those steps are far below 10⁻³ of the
    /// adapter. Over two 17-round clusters-9 runs (generated text and manual pages,
    /// `fedavg` and `validation`), no honest peer came closer to another candidate than
    /// 0.16 of the node's own step (the median was about 1), so 0.02 leaves a factor of
    /// eight; a peer within a fiftieth of a step of another made no update of its own.
    public static let stepShare = 0.02

    /// The step that bounds a copy for a node that trained nothing of its own this round
    /// but whose peers all started from its adapter (the FedBiOT aligner, whose aggregate
    /// every client took in): the median of ‖peer − own‖ over the peers of `own`'s layout
    /// with finite values (the lower middle one of an even count), nil when there is none.
    /// Honest peers move from `own` by their own local steps, each about this far, and
    /// two of them stay about that far apart; a copy of `own` or of another peer sits at 0.
    public static func medianStep(of peers: [TrustCandidate], from own: LoRAAdapter) -> Double? {
        let steps = peers.filter { $0.adapter.hasSameLayout(as: own) && $0.adapter.isFinite }
            .map { AdapterNorm.distance($0.adapter, own) }.sorted()
        return steps.isEmpty ? nil : steps[(steps.count - 1) / 2]
    }

    /// The exclusions among `peers` (in their order), against `own` and each other, and
    /// against `earlier`: what the node held before (`HeldUpdates`). A peer is a copy of
    /// an earlier adapter of another member (or of the node's own) when the node held that
    /// adapter before it held the peer's present one (the distance read from sketches when
    /// only the earlier one's is kept), the peer's per `heldSince` (absent:
    /// new this round). `ownStep` is ‖own after this round's training − own before‖, when
    /// the node trained this round. Peers of another layout than `own` or with non-finite
    /// values are left to `CandidateScreening`.
    public static func exclusions(
        own: TrustCandidate, peers: [TrustCandidate], ownStep: Double? = nil, earlier: [EarlierUpdate] = [],
        heldSince: [String: Int] = [:], threshold: Double = DuplicateScreen.threshold
    ) -> [TrustExclusion] {
        typealias Original = (id: String, norm: Double, since: Int?, earlier: EarlierUpdate?, adapter: LoRAAdapter?)
        var kept: [Original] = [(own.id, AdapterNorm.norm(own.adapter), nil, nil, own.adapter)]
        let before: [Original] = earlier.filter { $0.hasSameLayout(as: own.adapter) && $0.norm.isFinite }
            .map { ($0.id, $0.norm, $0.heldSince, $0, nil) }
        var out: [TrustExclusion] = []
        let stepBound = ownStep.map { stepShare * $0 } ?? .infinity
        for c in peers where c.adapter.hasSameLayout(as: own.adapter) && c.adapter.isFinite {
            let n = AdapterNorm.norm(c.adapter)
            var sketches: [AdapterSketch.Key: AdapterSketch] = [:]
            // The distance to `k` when it is within the bound of it (the norms' difference, a
            // lower bound of the distance, rules most pairs out without reading the values).
            func copyDistance(_ k: Original) -> (original: Original, distance: Double)? {
                let bound = min(threshold * max(n, k.norm), stepBound)
                guard abs(n - k.norm) <= bound else { return nil }
                let distance = k.adapter.map { AdapterNorm.distance(c.adapter, $0) }
                    ?? k.earlier?.distance(to: c.adapter, sketches: &sketches) ?? .infinity
                return distance <= bound ? (k, distance) : nil
            }
            let since = heldSince[c.id] ?? .max
            let copy = kept.lazy.compactMap(copyDistance).first
                ?? before.lazy.filter { $0.id != c.id && ($0.since ?? .max) < since }.compactMap(copyDistance).first
            if let (original, distance) = copy {
                let d = distance / max(max(n, original.norm), .leastNormalMagnitude)
                let ofStep = ownStep.map { ", \(NormScreen.format(distance / max($0, .leastNormalMagnitude))) of the node's own step" } ?? ""
                let whose = original.id == own.id ? "the node's own adapter" : original.id
                let when = original.since.map { " as held since round \($0)" } ?? ""
                out.append(TrustExclusion(
                    candidate: c.id, reason: .duplicate,
                    detail: "copy of \(whose)\(when) (relative distance \(NormScreen.format(d))\(ofStep))"))
            } else {
                kept.append((c.id, n, nil, nil, c.adapter))
            }
        }
        return out
    }
}
