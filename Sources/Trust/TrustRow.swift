// One node's trust row for one round: screen the candidates, score them with the chosen
// strategy, turn the scores into weights.

import Foundation
import Learning

/// Why a trust row could not be computed at all.
public enum TrustError: Error, Equatable, CustomStringConvertible {
    /// The node's own adapter holds NaN or infinity; it is the yardstick for every other
    /// candidate, so the node must restore it first.
    case ownAdapterNotFinite(String)
    /// Two candidates share an identity.
    case duplicateCandidate(String)
    /// `validation` and `prediction` need a `CandidateEvaluator`.
    case missingEvaluator(TrustStrategy)
    /// `oracle` needs the mixture matrix, with a row for the node itself.
    case missingMixture(String)
    /// The evaluator returned top-k logits whose positions or k differ from the node's own.
    case referenceShapeMismatch(candidate: String)
    /// Every candidate was excluded.
    case noUsableCandidate
    /// The strategy's parameters are invalid.
    case invalidConfig(TrustConfigError)

    public var description: String {
        switch self {
        case .ownAdapterNotFinite(let detail): "own adapter is not finite: \(detail)"
        case .duplicateCandidate(let id): "candidate \(id) appears twice"
        case .missingEvaluator(let s): "trust strategy \(s.rawValue) needs a model evaluator"
        case .missingMixture(let id): "oracle trust has no mixture row for the node itself (\(id))"
        case .referenceShapeMismatch(let id): "top-k logits of \(id) do not cover the node's reference positions"
        case .noUsableCandidate: "every trust candidate was excluded"
        case .invalidConfig(let e): e.description
        }
    }
}

/// Computes trust rows.
public enum TrustRow {
    /// `last`'s row carried over to `round` without scoring (`trust_every`): the weights
    /// `last` gave each candidate, applied to this round's adapters. Nil, so that the
    /// caller scores afresh, when the candidates are not `last`'s, or when the node's own
    /// adapter or any adapter `last` gave weight would now be excluded by
    /// `CandidateScreening` (a carried row must never let in what a scored row would keep
    /// out). The row records `last`'s round as `scoredRound`.
    public static func carried(
        _ last: TrustRecord, round: Int, own: TrustCandidate, peers: [TrustCandidate]
    ) -> TrustRecord? {
        let clock = ContinuousClock()
        let start = clock.now
        let candidates = [own] + peers
        guard var row = last.carried(to: round, candidates: candidates.map(\.id)) else { return nil }
        for (c, w) in zip(candidates, row.weights) where w != 0 || c.id == own.id {
            if CandidateScreening.exclusion(of: c.adapter, against: own.adapter) != nil { return nil }
        }
        row.milliseconds = milliseconds(clock.now - start)
        return row
    }

    /// The trust row of the node holding `own` over C = {own} ∪ `peers`.
    ///
    /// Candidates whose layout differs from `own` or that hold non-finite values are
    /// excluded first (`CandidateScreening`), then the strategy scores the rest, and a
    /// candidate whose score is not finite is excluded too; the row is computed over the
    /// remaining candidates only and still sums to 1. `own` is always candidate 0.
    ///
    /// - Parameters:
    ///   - config: strategy and variant.
    ///   - round: recorded in the result.
    ///   - own: the node itself and its current adapter.
    ///   - peers: every peer whose adapter the node holds, in any order (the row follows it).
    ///   - evaluator: the node's model, for `validation` and `prediction`.
    ///   - mixtures: the mixture matrix, for `oracle`.
    public static func compute(
        config: TrustConfig, round: Int, own: TrustCandidate, peers: [TrustCandidate],
        evaluator: (any CandidateEvaluator)? = nil, mixtures: MixtureMatrix? = nil
    ) throws -> TrustRecord {
        let clock = ContinuousClock()
        let start = clock.now
        do { try config.validate() } catch { throw TrustError.invalidConfig(error) }
        if let problem = CandidateScreening.exclusion(of: own.adapter, against: own.adapter) {
            throw TrustError.ownAdapterNotFinite(problem.detail)
        }
        let candidates = [own] + peers
        var seen: Set<String> = []
        for c in candidates where !seen.insert(c.id).inserted { throw TrustError.duplicateCandidate(c.id) }

        var exclusions: [TrustExclusion] = []
        var usable: [Int] = [0]  // the node itself passed the screening above
        for (j, c) in candidates.enumerated().dropFirst() {
            if let problem = CandidateScreening.exclusion(of: c.adapter, against: own.adapter) {
                exclusions.append(TrustExclusion(candidate: c.id, reason: problem.reason, detail: problem.detail))
            } else {
                usable.append(j)
            }
        }

        var scores = [Double?](repeating: nil, count: candidates.count)
        var weights = [Double](repeating: 0, count: candidates.count)

        /// Drops usable candidates whose score is not finite, recording why.
        func dropNonFiniteScores(_ describe: (Double) -> String) {
            usable.removeAll { j in
                guard let s = scores[j], !s.isFinite else { return false }
                exclusions.append(TrustExclusion(candidate: candidates[j].id, reason: .nonFiniteScore, detail: describe(s)))
                scores[j] = nil
                return true
            }
        }
        /// Fills `weights` from the affinities of the usable candidates.
        func applyAffinities(_ affinity: (Int) -> Double) throws {
            guard !usable.isEmpty else { throw TrustError.noUsableCandidate }
            let row = TrustNormalisation.weights(affinities: usable.map(affinity), variant: config.variant)
            for (j, w) in zip(usable, row) { weights[j] = w }
        }

        switch config.strategy {
        case .local:
            weights[0] = 1

        case .fedavg:
            for j in usable { weights[j] = 1 / Double(usable.count) }

        case .oracle:
            guard let mixtures, mixtures.overlap(own.id, own.id) != nil else { throw TrustError.missingMixture(own.id) }
            usable.removeAll { j in
                guard let overlap = mixtures.overlap(own.id, candidates[j].id) else {
                    exclusions.append(TrustExclusion(candidate: candidates[j].id, reason: .noMixture,
                                                     detail: "no mixture row of the node's length"))
                    return true
                }
                scores[j] = overlap
                return false
            }
            dropNonFiniteScores { "mixture overlap \($0)" }
            let total = usable.reduce(0) { $0 + scores[$1]! }
            if total > 0 {
                for j in usable { weights[j] = scores[j]! / total }
            } else {
                // No overlap with anyone, not even itself (an all-zero mixture): trust no one else.
                guard usable.first == 0 else { throw TrustError.noUsableCandidate }
                weights[0] = 1
            }

        case .weights:
            for j in usable { scores[j] = WeightSimilarity.similarity(own.adapter, candidates[j].adapter) }
            try applyAffinities { scores[$0]! }

        case .validation:
            guard let evaluator else { throw TrustError.missingEvaluator(.validation) }
            let losses = try evaluator.meanCrossEntropies(of: usable.map { candidates[$0].adapter })
            for (j, loss) in zip(usable, losses) { scores[j] = exp(loss) }
            dropNonFiniteScores { "perplexity \($0)" }
            switch config.variant.rule {
            case .softmax:
                try applyAffinities { -scores[$0]! }
            case .fomo:
                guard usable.first == 0 else { throw TrustError.noUsableCandidate }
                let row = ImprovementWeights.row(
                    losses: usable.map { log(scores[$0]!) }, adapters: usable.map { candidates[$0].adapter })
                for (j, w) in zip(usable, row) { weights[j] = w }
            case .descent:
                guard usable.first == 0 else { throw TrustError.noUsableCandidate }
                let adapters = usable.map { candidates[$0].adapter }
                let row = try AggregateDescent.row(ownLoss: log(scores[0]!), candidates: adapters.count, steps: config.variant.steps) {
                    try evaluator.meanCrossEntropies(of: $0.map { TrustAggregation.aggregate(adapters, weights: $0) })
                }
                for (j, w) in zip(usable, row) { weights[j] = w }
            }

        case .prediction:
            guard let evaluator else { throw TrustError.missingEvaluator(.prediction) }
            // The node's own top-k (candidate 0) is the yardstick for every distance;
            // d_ii = 0 without a second evaluation.
            let all = try evaluator.topKLogits(of: usable.map { candidates[$0].adapter }, k: config.logitsTopK)
            let ownTopK = all[0]
            scores[0] = 0
            for (j, theirs) in zip(usable, all) where j != 0 {
                guard theirs.k == ownTopK.k && theirs.positions == ownTopK.positions else {
                    throw TrustError.referenceShapeMismatch(candidate: candidates[j].id)
                }
                scores[j] = PredictionDistance.distance(ownTopK, theirs)
            }
            dropNonFiniteScores { "top-k distance \($0)" }
            if config.variant.scale != nil {
                // The variant's scale replaces the reference normalisation.
                try applyAffinities { -scores[$0]! }
            } else {
                // d̃_ij = d_ij / Σ_k d_ik, guarded like torch's F.normalize(p=1).
                let total = max(usable.reduce(0) { $0 + abs(scores[$1]!) }, 1e-12)
                try applyAffinities { -10 * scores[$0]! / total }
            }
        }

        exclusions.sort { a, b in
            candidates.firstIndex { $0.id == a.candidate }! < candidates.firstIndex { $0.id == b.candidate }!
        }
        return TrustRecord(round: round, strategy: config, candidates: candidates.map(\.id), scores: scores,
                           weights: weights, exclusions: exclusions, milliseconds: milliseconds(clock.now - start))
    }

    private static func milliseconds(_ d: Duration) -> Double {
        Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) * 1e-15
    }
}
