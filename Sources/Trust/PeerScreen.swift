// The screens a node runs on the peers it holds before its trust row: copies first (a
// copy should not count twice in the norms' median), then the norm bound over what is
// left. What they exclude never reaches the strategy, is recorded in the round's trust
// record with its reason, and gets no weight.

import Learning

public enum PeerScreen {
    /// Splits `peers` into those the trust row scores and the exclusions, both in the
    /// order of `peers`. `arrival` ranks each peer for the copy screen (lower arrived
    /// earlier; a peer missing from it ranks after all, by its place in `peers`).
    /// `ownStep` is the node's own step of the round, for the copy screen's bound, and
    /// `held` what the node held in its recent rounds, for copies that arrive late.
    public static func screen(
        own: TrustCandidate, peers: [TrustCandidate], arrival: [String: Int] = [:], ownStep: Double? = nil,
        held: HeldUpdates? = nil, norm: NormScreen = NormScreen()
    ) -> (kept: [TrustCandidate], exclusions: [TrustExclusion]) {
        let byArrival = peers.enumerated().sorted { a, b in
            let (ra, rb) = (arrival[a.element.id] ?? .max, arrival[b.element.id] ?? .max)
            return ra != rb ? ra < rb : a.offset < b.offset
        }.map(\.element)
        var exclusions = DuplicateScreen.exclusions(
            own: own, peers: byArrival, ownStep: ownStep, earlier: held?.entries ?? [], heldSince: held?.heldSince(peers) ?? [:])
        var out = Set(exclusions.map(\.candidate))
        exclusions += norm.exclusions(own: own.adapter, peers: peers.filter { !out.contains($0.id) })
        out = Set(exclusions.map(\.candidate))
        let order = Dictionary(peers.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
        exclusions.sort { (order[$0.candidate] ?? .max) < (order[$1.candidate] ?? .max) }
        return (peers.filter { !out.contains($0.id) }, exclusions)
    }
}
