// What a node decided in one round, kept as one line of its JSON-lines trust history.

import Foundation

/// One node's trust row for one round.
///
/// Arrays run over the candidates: index 0 is the node itself, then its peers in the
/// order they were given. `weights` sums to 1; excluded candidates have weight 0, score
/// nil and an entry in `exclusions`.
///
/// ```
/// {"candidates":["a1…","b2…"],"exclusions":[],"milliseconds":0.41,"round":3,
///  "scores":[1,0.25],"strategy":"weights","weights":[0.679,0.321]}
/// ```
public struct TrustRecord: Sendable, Equatable, Codable {
    /// The round the row was computed in.
    public var round: Int
    /// Strategy and variant, encoded as its string (`prediction:topk=3`).
    public var strategy: TrustConfig
    /// Candidate identities (public key text); the node itself first.
    public var candidates: [String]
    /// Each candidate's raw score (see `TrustStrategy`): cosine similarity, perplexity,
    /// top-k distance or mixture overlap; nil when the strategy has none or the candidate
    /// was excluded.
    public var scores: [Double?]
    /// The row: each candidate's weight in the aggregate.
    public var weights: [Double]
    /// Candidates left out, with why.
    public var exclusions: [TrustExclusion]
    /// Wall time spent computing the row, in milliseconds (model evaluations included).
    public var milliseconds: Double
    /// When the row was not scored afresh (`trust_every`): the earlier round whose scores
    /// and weights it carries over to this round's adapters of the same candidates; nil
    /// when it was scored in `round`.
    public var scoredRound: Int?

    public init(round: Int, strategy: TrustConfig, candidates: [String], scores: [Double?], weights: [Double], exclusions: [TrustExclusion], milliseconds: Double) {
        precondition(scores.count == candidates.count && weights.count == candidates.count)
        self.round = round
        self.strategy = strategy
        self.candidates = candidates
        self.scores = scores
        self.weights = weights
        self.exclusions = exclusions
        self.milliseconds = milliseconds
    }

    /// The node's own identity.
    public var selfID: String { candidates[0] }

    /// The weight of candidate `id`, or nil if it is not in the row.
    public func weight(of id: String) -> Double? {
        candidates.firstIndex(of: id).map { weights[$0] }
    }

    /// The round whose scores the row holds: `scoredRound`, or its own round.
    public var roundScored: Int { scoredRound ?? round }

    /// This row carried over to `round`, whose candidates are `ids` (the node first, then
    /// its peers in any order): the same scores and weights by candidate, and the
    /// exclusions of those candidates kept. Nil when `ids` is not this row's set of
    /// candidates, since a newcomer has no score and a missing candidate's weight would
    /// have to be spread over the others.
    public func carried(to round: Int, candidates ids: [String]) -> TrustRecord? {
        let set = Set(ids)
        guard ids.first == selfID, ids.count == candidates.count, set.count == ids.count, set == Set(candidates) else { return nil }
        // Both lists hold the same distinct identities here, so each appears once.
        let index = Dictionary(uniqueKeysWithValues: candidates.enumerated().map { ($1, $0) })
        var row = TrustRecord(
            round: round, strategy: strategy, candidates: ids, scores: ids.map { scores[index[$0]!] },
            weights: ids.map { weights[index[$0]!] }, exclusions: exclusions.filter { index[$0.candidate] != nil },
            milliseconds: 0)
        row.scoredRound = roundScored
        return row
    }

    /// The record as one line of JSON (sorted keys, no newline inside, none at the end).
    public func jsonLine() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// Reads a record back from one line of JSON.
    public init(jsonLine: String) throws {
        self = try JSONDecoder().decode(TrustRecord.self, from: Data(jsonLine.utf8))
    }
}
