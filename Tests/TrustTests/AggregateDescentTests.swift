// The `descent` rule: greedy steps that choose the row by the loss of the aggregate.

import Foundation
import Learning
import Testing

@testable import Trust

/// Evaluates an adapter by its first value v (the tag; an aggregate of tagged adapters
/// carries Σ w_j tag_j): loss (v − target)². Counts its calls.
final class QuadraticEvaluator: CandidateEvaluator {
    let target: Double
    private(set) var calls = 0
    init(target: Double) { self.target = target }
    func meanCrossEntropy(of adapter: LoRAAdapter) throws -> Double {
        calls += 1
        let v = Double(adapter.tensors[0].values[0])
        return (v - target) * (v - target)
    }
    func topKLogits(of adapter: LoRAAdapter, k: Int) throws -> TopKLogits { fatalError("not used") }
}

@Suite struct AggregateDescentTests {
    /// Candidates at values 0 (itself), 1 and 4; loss (Σ w x − target)².
    func descent(target: Double, steps: Int) -> (row: [Double], evaluations: Int, calls: Int) {
        let x = [0.0, 1, 4]
        var evaluations = 0, calls = 0
        let row = AggregateDescent.row(ownLoss: target * target, candidates: 3, steps: steps) { ws in
            calls += 1
            evaluations += ws.count
            return ws.map { w in
                let v = zip(w, x).reduce(0) { $0 + $1.0 * $1.1 }
                return (v - target) * (v - target)
            }
        }
        return (row, evaluations, calls)
    }

    @Test func eachStepAddsOneEqualShareForTheBestCandidate() {
        // Target 1. Step 1: (½, ½, 0) → 0.25 beats (½, 0, ½) → 1. Step 2: (⅓, ⅔, 0) →
        // 1/9 beats (⅔, ⅓, 0) and (⅓, ⅓, ⅓) → 4/9. Step 3: (¼, ¾, 0) → 1/16.
        let one = descent(target: 1, steps: 1)
        expectClose(one.row, [0.5, 0.5, 0])
        #expect(one.evaluations == 2)  // w' = w for the node itself is not evaluated
        expectClose(descent(target: 1, steps: 2).row, [1.0 / 3, 2.0 / 3, 0])
        let three = descent(target: 1, steps: 3)
        expectClose(three.row, [0.25, 0.75, 0])
        #expect(three.evaluations == 2 + 3 + 3)
        #expect(three.calls == 3)  // every trial of a step in one call, to be scored together
    }

    @Test func stopsWhenNoStepLowersTheLoss() {
        // Target 0: the node alone is best; one step tried, none taken.
        let r = descent(target: 0, steps: 3)
        expectClose(r.row, [1, 0, 0])
        #expect(r.evaluations == 2)
        // Target 2: (½, 0, ½) → v = 2 is exact after one step; nothing improves on it.
        expectClose(descent(target: 2, steps: 5).row, [0.5, 0, 0.5])
    }

    @Test func rowOfTheValidationStrategyEvaluatesTheAggregates() throws {
        // Tags 1 (itself), 2, 5 and target 2: step 1 tries (1+2)/2 = 1.5 → 0.25 and
        // (1+5)/2 = 3 → 1; step 2 from (½, ½, 0) tries 4/3, 5/3 → 1/9 and 8/3 → 4/9; step
        // 3 from (⅓, ⅔, 0) tries 6/4, 7/4 → 1/16, 11/4 → 9/16.
        let evaluator = QuadraticEvaluator(target: 2)
        let peers = [TrustCandidate(id: "p2", adapter: taggedAdapter(2)), TrustCandidate(id: "p5", adapter: taggedAdapter(5))]
        let record = try TrustRow.compute(
            config: TrustConfig(parsing: "validation:rule=descent"), round: 1,
            own: TrustCandidate(id: "own", adapter: taggedAdapter(1)), peers: peers, evaluator: evaluator)
        expectClose(record.weights, [0.25, 0.75, 0], tolerance: 1e-6)
        // Three candidates' own losses (the scores), then 2 + 3 + 3 aggregates.
        #expect(evaluator.calls == 3 + 8)
        expectClose(record.scores.map { log($0!) }, [1, 0, 9], tolerance: 1e-12)
    }

    @Test func stepsParseAndApplyToDescentOnly() throws {
        #expect(try TrustConfig(parsing: "validation:rule=descent,steps=5").variant.steps == 5)
        #expect(throws: TrustConfigError.stepsNotApplicable) { try TrustConfig(parsing: "validation:steps=5") }
        #expect(throws: TrustConfigError.badValue(key: "steps", value: "0")) { try TrustConfig(parsing: "validation:rule=descent,steps=0") }
    }
}
