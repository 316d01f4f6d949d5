// A round's record survives its trip through one JSON line.

import Foundation
import Testing

@testable import Trust

@Suite struct TrustRecordTests {
    let record = TrustRecord(
        round: 12, strategy: TrustConfig(.prediction, variant: TrustVariant(topK: 3)),
        candidates: ["aa11", "bb22", "cc33"], scores: [0, 1.5, nil], weights: [0.8174384948543442, 0.1825615051456558, 0],
        exclusions: [TrustExclusion(candidate: "cc33", reason: .layoutMismatch, detail: "h.0.attn.c_attn.lora_A [2, 3], expected [2, 2]")],
        milliseconds: 3.25)

    @Test func roundTripsThroughOneJSONLine() throws {
        let line = try record.jsonLine()
        #expect(!line.contains("\n"))
        #expect(try TrustRecord(jsonLine: line) == record)
    }

    @Test func jsonNamesTheStrategyAsItsStringAndExcludedScoresAsNull() throws {
        let line = try record.jsonLine()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["strategy"] as? String == "prediction:topk=3")
        #expect(object["round"] as? Int == 12)
        let scores = try #require(object["scores"] as? [Any])
        #expect(scores[2] is NSNull)
        let exclusions = try #require(object["exclusions"] as? [[String: Any]])
        #expect(exclusions.first?["reason"] as? String == "layoutMismatch")
        #expect(Set(object.keys) == ["round", "strategy", "candidates", "scores", "weights", "exclusions", "milliseconds"])
    }

    @Test func computedRecordRoundTrips() throws {
        let computed = try TrustRow.compute(config: TrustConfig(parsing: "weights:threshold=0.3"), round: 4,
                                            own: WeightsExample.own, peers: [WeightsExample.p1, WeightsExample.p2])
        #expect(try TrustRecord(jsonLine: computed.jsonLine()) == computed)
        #expect(computed.selfID == "own")
        #expect(computed.weight(of: "p1") == 0)
        #expect(computed.milliseconds >= 0)
    }

    @Test func unknownStrategyInAHistoryLineIsRefused() {
        let line = #"{"candidates":[],"exclusions":[],"milliseconds":0,"round":0,"scores":[],"strategy":"magic","weights":[]}"#
        #expect(throws: DecodingError.self) { try TrustRecord(jsonLine: line) }
    }
}
