// What attackers did to the honest members of one run: their mean test perplexity (the
// attackers' own left out), the weight their trust rows gave the attackers, and what the
// screens before trust excluded, of attackers and of honest members.

import Foundation
import Trust

/// The robustness figures of one run with attackers.
public struct RobustnessMeasure: Sendable, Equatable {
    public var attack: AttackKind
    /// The attackers' names, in topology order.
    public var attackers: [String]
    /// Mean over the honest members of their test perplexity after the last round.
    public var honestMeanPerplexity: Double
    /// Weight on all attackers together in an honest member's row, averaged over the
    /// honest members and every round they aggregated in.
    public var attackerWeightMean: Double
    /// The largest such weight in any honest row of any round.
    public var attackerWeightMax: Double
    /// The mean over honest members of that weight in their last row.
    public var attackerWeightLast: Double
    /// Exclusions of attackers in honest rows, by reason, over all rounds.
    public var attackerExclusions: [String: Int]
    /// Exclusions of honest members in honest rows, by reason (the screens' false alarms).
    public var honestExclusions: [String: Int]

    /// The figures from each member's final perplexity and trust history (topology
    /// order); `ids` are the members' identities as trust records name them.
    public init(attack: AttackKind, names: [String], ids: [String], attackers: [Int], perplexities: [Double], histories: [[TrustRecord]]) {
        self.attack = attack
        self.attackers = attackers.sorted().map { names[$0] }
        let attackerIDs = Set(attackers.map { ids[$0] })
        let honest = names.indices.filter { !attackers.contains($0) }
        honestMeanPerplexity = Statistic(honest.map { perplexities[$0] }).mean
        var all: [Double] = [], last: [Double] = []
        var excludedAttackers: [String: Int] = [:], excludedHonest: [String: Int] = [:]
        for i in honest {
            for record in histories[i] {
                let w = zip(record.candidates, record.weights).filter { attackerIDs.contains($0.0) }.reduce(0) { $0 + $1.1 }
                all.append(w)
                for e in record.exclusions {
                    if attackerIDs.contains(e.candidate) { excludedAttackers[e.reason.rawValue, default: 0] += 1 } else { excludedHonest[e.reason.rawValue, default: 0] += 1 }
                }
            }
            if let record = histories[i].last {
                last.append(zip(record.candidates, record.weights).filter { attackerIDs.contains($0.0) }.reduce(0) { $0 + $1.1 })
            }
        }
        attackerWeightMean = all.isEmpty ? 0 : Statistic(all).mean
        attackerWeightMax = all.max() ?? 0
        attackerWeightLast = last.isEmpty ? 0 : Statistic(last).mean
        attackerExclusions = excludedAttackers
        honestExclusions = excludedHonest
    }

    /// `reason:count` pairs sorted by reason, `;`-separated; empty when none.
    static func counts(_ c: [String: Int]) -> String {
        c.keys.sorted().map { "\($0):\(c[$0]!)" }.joined(separator: ";")
    }

    /// One row per run with attackers: strategy, attack, figures.
    public static func csv(_ results: [ExperimentRunResult]) -> String {
        var out = "strategy,attack,attackers,honest_mean_perplexity,attacker_weight_mean,attacker_weight_max,attacker_weight_last,"
            + "attackers_excluded,honest_excluded,seconds\n"
        for r in results {
            guard let m = r.robustness else { continue }
            out += "\"\(r.key.strategy)\",\(m.attack.rawValue),\(m.attackers.joined(separator: " ")),"
                + String(format: "%.6f,%.6f,%.6f,%.6f,", m.honestMeanPerplexity, m.attackerWeightMean, m.attackerWeightMax, m.attackerWeightLast)
                + "\(counts(m.attackerExclusions)),\(counts(m.honestExclusions)),\(String(format: "%.1f", r.seconds))\n"
        }
        return out
    }
}
