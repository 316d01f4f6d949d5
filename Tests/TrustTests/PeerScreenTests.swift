// The screens before trust: oversized adapters and copies are left out, with their
// reasons, on cases worked by hand. A tagged adapter t holds eight values t, so
// ‖t‖ = 2√2·|t| and ‖t − u‖ = 2√2·|t − u|; the figures below are in units of 2√2.

import Learning
import Testing

@testable import Trust

@Suite struct PeerScreenTests {
    func peer(_ id: String, _ tag: Float) -> TrustCandidate { TrustCandidate(id: id, adapter: taggedAdapter(tag)) }
    let unit = 2 * 2.0.squareRoot()

    @Test func normsAndDifferencesAreOverAllTensors() {
        #expect(abs(AdapterNorm.norm(taggedAdapter(1.5)) - 1.5 * unit) < 1e-12)
        #expect(abs(AdapterNorm.distance(taggedAdapter(1), taggedAdapter(-2)) - 3 * unit) < 1e-12)
        #expect(AdapterNorm.median([3, 1, 2]) == 2)
        #expect(AdapterNorm.median([4, 1, 3, 2]) == 2.5)
        #expect(AdapterNorm.median([]) == nil)
    }

    @Test func theBoundIsSTimesTheSmallerOfTheOwnNormAndThePeersMedian() {
        // Own 1; peer norms 1.5, 2, 2.5, 7, 10: median 2.5 > 1, so the limit is 3 × 1 = 3.
        // 10 is too large; −7 is too large too, and 8 away from the node's own.
        let peers = [peer("a", 1.5), peer("b", 2), peer("c", 2.5), peer("flip", -7), peer("big", 10)]
        let out = NormScreen(bound: 3).exclusions(own: taggedAdapter(1), peers: peers)
        #expect(out.map(\.candidate) == ["flip", "big"])
        #expect(out.allSatisfy { $0.reason == .normBound })
        #expect(out[1].detail == "norm 28.28, distance to own 25.46, bound 8.485 = 3 × min(own 2.828, median 7.071)")
        // At 8 × 1, −7 (norm 7, 8 from own) passes, 10 does not.
        #expect(NormScreen(bound: 8).exclusions(own: taggedAdapter(1), peers: peers).map(\.candidate) == ["big"])
        #expect(NormScreen(bound: 0).exclusions(own: taggedAdapter(1), peers: peers).isEmpty, "0 disables the screen")
    }

    @Test func attackersThatAreMostOfThePeersCannotRaiseTheBound() {
        // Own 1; peer norms 1.2, 10, 10: the median is an attacker's (10), the limit 3 × 1.
        let out = NormScreen(bound: 3).exclusions(own: taggedAdapter(1), peers: [peer("h", 1.2), peer("n1", 10), peer("n2", -10)])
        #expect(out.map(\.candidate) == ["n1", "n2"])
    }

    @Test func thePeersMedianTightensTheBoundWhenTheOwnAdapterIsLarger() {
        // Own 4; peer norms 1, 1.5, 5, 9: median 3.25 < 4, so the limit is 3 × 3.25 = 9.75.
        // 5 passes (1 from own); −9 is small enough (9) but 13 away from the node's own.
        let out = NormScreen(bound: 3).exclusions(own: taggedAdapter(4), peers: [peer("a", 1), peer("b", 1.5), peer("c", 5), peer("d", -9)])
        #expect(out.map(\.candidate) == ["d"])
        #expect(out[0].detail == "norm 25.46, distance to own 36.77, bound 27.58 = 3 × min(own 11.31, median 9.192)")
    }

    @Test func peersTheLayoutCheckRefusesAreLeftToIt() {
        let nan = TrustCandidate(id: "nan", adapter: tinyAdapter(a: [1, .nan, 0, 1], b: [0, 0, 0, 0]))
        #expect(NormScreen().exclusions(own: taggedAdapter(1), peers: [nan, peer("a", 1)]).isEmpty)
        #expect(DuplicateScreen.exclusions(own: peer("own", 1), peers: [nan, nan]).isEmpty)
    }

    @Test func aCopyOfAnEarlierCandidateIsExcludedAndNamesItsOriginal() {
        // 2.001 is 0.001 / 2.001 ≈ 5·10⁻⁴ from 2: a copy; 2.01 is 5·10⁻³ away: not one.
        let peers = [peer("a", 2), peer("b", 2), peer("c", 1), peer("d", 2.001), peer("e", 2.01)]
        let out = DuplicateScreen.exclusions(own: peer("own", 1), peers: peers)
        #expect(out.map(\.candidate) == ["b", "c", "d"])
        #expect(out.allSatisfy { $0.reason == .duplicate })
        #expect(out[0].detail == "copy of a (relative distance 0)")
        #expect(out[1].detail == "copy of the node's own adapter (relative distance 0)")
        #expect(out[2].detail.hasPrefix("copy of a (relative distance 0.0004"))
        // Two zero adapters are copies too.
        #expect(DuplicateScreen.exclusions(own: peer("own", 0), peers: [peer("z", 0)]).map(\.candidate) == ["z"])
    }

    @Test func peersThatMovedByAboutTheNodesOwnStepAreNotCopies() {
        // All start from one aggregate (1) and step by a few 10⁻⁴: under the relative bound
        // alone a and b are copies of the node's own adapter and of each other.
        let (own, a, b) = (peer("own", 1.0003), peer("a", 1.0001), peer("b", 1.0005))
        #expect(DuplicateScreen.exclusions(own: own, peers: [a, b]).map(\.candidate) == ["a", "b"])
        // The node's own step was 3·10⁻⁴ (in units of 2√2): the bound is a fiftieth of it,
        // 6·10⁻⁶, and a, b are 2·10⁻⁴ from each other and from the node's own adapter.
        let step = 0.0003 * unit
        #expect(DuplicateScreen.exclusions(own: own, peers: [a, b], ownStep: step).isEmpty)
        // An exact copy, and one moved by 10⁻⁶ from a, still are.
        let out = DuplicateScreen.exclusions(own: own, peers: [a, b, peer("c", 1.0001), peer("d", 1.000101)], ownStep: step)
        #expect(out.map(\.candidate) == ["c", "d"])
        #expect(out[0].detail == "copy of a (relative distance 0, 0 of the node's own step)")
        #expect(out[1].detail.hasPrefix("copy of a (relative distance "), "\(out[1].detail)")
        #expect(out[1].detail.hasSuffix("of the node's own step)"))
        // A large step does not lift the relative bound: 2.01 is 5·10⁻³ from 2, not a copy.
        let far = DuplicateScreen.exclusions(own: peer("own", 1), peers: [peer("x", 2), peer("y", 2.01), peer("z", 2)], ownStep: 10 * unit)
        #expect(far.map(\.candidate) == ["z"])
        // Through the screens, the step reaches the copy screen.
        #expect(PeerScreen.screen(own: own, peers: [a, b], ownStep: step).kept.map(\.id) == ["a", "b"])
        #expect(PeerScreen.screen(own: own, peers: [a, b]).kept.isEmpty)
    }

    @Test func withoutAStepOfItsOwnTheBoundIsTheMedianOfThePeersStepsFromIt() {
        // Peers that started from own (1) and moved by 1, 3 and 2·10⁻⁴ (in units of 2√2):
        // the median is 2·10⁻⁴ (as far as Float holds it); an even count takes the lower middle one.
        func step(_ tag: Float) -> Double { (Double(tag) - 1) * unit }
        let own = peer("own", 1)
        let peers = [peer("a", 1.0001), peer("b", 1.0003), peer("c", 1.0002)]
        #expect(abs(DuplicateScreen.medianStep(of: peers, from: own.adapter)! - step(1.0002)) < 1e-12)
        #expect(abs(DuplicateScreen.medianStep(of: Array(peers.prefix(2)), from: own.adapter)! - step(1.0001)) < 1e-12)
        // Peers of another layout or with non-finite values have no step; none: no median.
        let other = TrustCandidate(id: "x", adapter: gpt2Adapter(layers: 1, width: 4, rank: 1) { _ in 1 })
        #expect(DuplicateScreen.medianStep(of: [other, peer("nan", .nan)], from: own.adapter) == nil)
        #expect(DuplicateScreen.medianStep(of: [], from: own.adapter) == nil)
        // With that bound the honest peers stay, and a copy of own or of a peer goes.
        let median = DuplicateScreen.medianStep(of: peers + [peer("d", 1), peer("e", 1.0003)], from: own.adapter)
        let out = DuplicateScreen.exclusions(own: own, peers: peers + [peer("d", 1), peer("e", 1.0003)], ownStep: median)
        #expect(out.map(\.candidate) == ["d", "e"])
        #expect(out[0].detail.hasPrefix("copy of the node's own adapter (relative distance 0,"))
        #expect(out[1].detail.hasPrefix("copy of b (relative distance 0,"))
    }

    @Test func aCopyThatArrivesAfterItsOriginalMovedOnIsStillOne() {
        // Round 5 held g at 3; in round 6 g has moved to 3.5, and f brings g's round-5 adapter.
        var held = HeldUpdates(rounds: 3)
        held.note([peer("own", 1), peer("g", 3)], round: 5)
        let s = PeerScreen.screen(own: peer("own", 1.2), peers: [peer("g", 3.5), peer("f", 3)], held: held)
        #expect(s.kept.map(\.id) == ["g"])
        #expect(s.exclusions.map(\.detail) == ["copy of g as held since round 5 (relative distance 0)"])
        // Or the node's own earlier adapter.
        #expect(PeerScreen.screen(own: peer("own", 1.2), peers: [peer("g", 3.5), peer("e", 1)], held: held).exclusions.map(\.detail)
            == ["copy of the node's own adapter as held since round 5 (relative distance 0)"])
        // Without the memory, nothing is left out.
        #expect(PeerScreen.screen(own: peer("own", 1.2), peers: [peer("g", 3.5), peer("f", 3)]).exclusions.isEmpty)
    }

    @Test func onlyWhatWasHeldBeforeThePeersOwnAdapterMakesItACopy() {
        let earlier = [EarlierUpdate(id: "g", adapter: taggedAdapter(3), heldSince: 5)]
        let own = peer("own", 1)
        // f's adapter is held since round 5 as well: not after g's, so not a copy of it.
        #expect(DuplicateScreen.exclusions(own: own, peers: [peer("f", 3)], earlier: earlier, heldSince: ["f": 5]).isEmpty)
        // Held since round 6, or new this round: after g's.
        #expect(DuplicateScreen.exclusions(own: own, peers: [peer("f", 3)], earlier: earlier, heldSince: ["f": 6]).count == 1)
        #expect(DuplicateScreen.exclusions(own: own, peers: [peer("f", 3)], earlier: earlier).count == 1)
        // A member still holding its own earlier adapter is stale, not a copy.
        #expect(DuplicateScreen.exclusions(own: own, peers: [peer("g", 3)], earlier: earlier).isEmpty)
        // The original whose adapter a copier's earlier one equals is not the copy: the
        // copier's was held later (since 6) than the original's present one (since 5).
        let copied = [EarlierUpdate(id: "f", adapter: taggedAdapter(3), heldSince: 6)]
        #expect(DuplicateScreen.exclusions(own: own, peers: [peer("g", 3)], earlier: copied, heldSince: ["g": 5]).isEmpty)
    }

    @Test func heldUpdatesKeepEachMembersPresentAdapterAndTheRestForSomeRounds() {
        var held = HeldUpdates(rounds: 2)
        held.note([peer("own", 1), peer("a", 2), peer("b", 3)], round: 1)
        #expect(held.heldSince([peer("a", 2), peer("b", 4), peer("c", 5)]) == ["a": 1])
        held.note([peer("own", 1.5), peer("a", 2), peer("b", 4)], round: 2)
        #expect(held.entries.map { "\($0.id)@\($0.heldSince)" } == ["own@1", "a@1", "b@1", "own@2", "b@2"])
        held.note([peer("own", 1.75), peer("a", 2), peer("b", 4)], round: 3)
        // Round 1's own and b are two rounds old and no longer present; a's round-1 adapter still is.
        #expect(held.entries.map { "\($0.id)@\($0.heldSince)" } == ["a@1", "own@2", "b@2", "own@3"])
        #expect(held.heldSince([peer("own", 1.75), peer("a", 2), peer("b", 4)]) == ["own": 3, "a": 1, "b": 2])
    }

    @Test func theOneThatArrivedFirstIsKept() {
        let peers = [peer("x", 3), peer("y", 3)]
        let yFirst = PeerScreen.screen(own: peer("own", 1), peers: peers, arrival: ["y": 1, "x": 2])
        #expect(yFirst.kept.map(\.id) == ["y"])
        #expect(yFirst.exclusions.map(\.detail) == ["copy of y (relative distance 0)"])
        #expect(yFirst.exclusions.map(\.candidate) == ["x"])
        // Without arrival ranks, the order of the list decides.
        #expect(PeerScreen.screen(own: peer("own", 1), peers: peers).kept.map(\.id) == ["x"])
    }

    @Test func copiesGoBeforeTheMedianIsTaken() {
        // Own 5. After the copy y goes, the norms are 1, 4, 10: median 4, limit 12, and v
        // (norm 10, 5 from own) passes. Counted twice, the copy would make the median
        // 2.5 and the limit 7.5, and v would go.
        let peers = [peer("x", 1), peer("y", 1), peer("w", 4), peer("v", 10)]
        let s = PeerScreen.screen(own: peer("own", 5), peers: peers)
        #expect(s.kept.map(\.id) == ["x", "w", "v"])
        #expect(s.exclusions.map(\.candidate) == ["y"])
        #expect(s.exclusions.map(\.reason) == [.duplicate])
        #expect(NormScreen().exclusions(own: taggedAdapter(5), peers: peers).map(\.candidate) == ["v"])
    }
}
