// Trust settings as a topology file or the command line writes them.

import Foundation
import Testing

@testable import Trust

@Suite struct TrustConfigTests {
    @Test func parsesStrategyAndVariant() throws {
        #expect(try TrustConfig(parsing: "validation") == TrustConfig(.validation))
        #expect(try TrustConfig(parsing: "prediction:topk=3") == TrustConfig(.prediction, variant: TrustVariant(topK: 3)))
        #expect(try TrustConfig(parsing: " weights:temperature=0.5, threshold=0.5 ")
                == TrustConfig(.weights, variant: TrustVariant(temperature: 0.5, threshold: 0.5)))
        #expect(try TrustConfig(parsing: "prediction:logits=20") == TrustConfig(.prediction, logitsTopK: 20))
        #expect(try TrustConfig(parsing: "validation:threshold=-30").variant.threshold == -30)
    }

    @Test func descriptionIsCanonicalAndParsesBack() throws {
        for text in ["weights", "validation:temperature=0.25", "prediction:topk=3,threshold=-50,logits=20", "oracle", "fedavg", "local",
                     "prediction:scale=nearest", "weights:temperature=0.5,scale=median", "validation:rule=fomo",
                     "validation:rule=descent,steps=5", "validation:topk=4,scale=nearest"] {
            let config = try TrustConfig(parsing: text)
            #expect(config.description == text)
            #expect(TrustConfig(config.description) == config)
        }
        #expect(try TrustConfig(parsing: "weights:threshold=0.5,topk=2").description == "weights:topk=2,threshold=0.5")
        #expect(try TrustConfig(parsing: "validation:scale=nearest,temperature=0.5").description == "validation:temperature=0.5,scale=nearest")
        #expect(try TrustConfig(parsing: "validation:rule=softmax,steps=3").description == "validation")
    }

    @Test func refusesBadSettingsWithTheReason() {
        #expect(throws: TrustConfigError.unknownStrategy("magic")) { try TrustConfig(parsing: "magic") }
        #expect(throws: TrustConfigError.unknownKey("k")) { try TrustConfig(parsing: "weights:k=2") }
        #expect(throws: TrustConfigError.malformedParameter("topk")) { try TrustConfig(parsing: "weights:topk") }
        #expect(throws: TrustConfigError.badValue(key: "topk", value: "0")) { try TrustConfig(parsing: "weights:topk=0") }
        #expect(throws: TrustConfigError.badValue(key: "temperature", value: "-1.0")) { try TrustConfig(parsing: "weights:temperature=-1") }
        #expect(throws: TrustConfigError.badValue(key: "temperature", value: "warm")) { try TrustConfig(parsing: "weights:temperature=warm") }
        #expect(throws: TrustConfigError.duplicateKey("topk")) { try TrustConfig(parsing: "weights:topk=1,topk=2") }
        #expect(throws: TrustConfigError.variantNotApplicable(.fedavg)) { try TrustConfig(parsing: "fedavg:topk=2") }
        #expect(throws: TrustConfigError.logitsNotApplicable(.validation)) { try TrustConfig(parsing: "validation:logits=5") }
        #expect(throws: TrustConfigError.badValue(key: "scale", value: "mean")) { try TrustConfig(parsing: "weights:scale=mean") }
        #expect(throws: TrustConfigError.badValue(key: "rule", value: "vote")) { try TrustConfig(parsing: "validation:rule=vote") }
        #expect(throws: TrustConfigError.variantNotApplicable(.oracle)) { try TrustConfig(parsing: "oracle:scale=nearest") }
        #expect(TrustConfig("magic") == nil)
    }

    @Test func codableAsItsString() throws {
        struct Topology: Codable, Equatable { var trust: TrustConfig }
        let json = #"{"trust":"prediction:topk=3"}"#
        let decoded = try JSONDecoder().decode(Topology.self, from: Data(json.utf8))
        #expect(decoded.trust == TrustConfig(.prediction, variant: TrustVariant(topK: 3)))
        #expect(String(decoding: try JSONEncoder().encode(decoded), as: UTF8.self) == json)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Topology.self, from: Data(#"{"trust":"local:topk=1"}"#.utf8))
        }
    }

    @Test func invalidConfigIsRefusedByTheRowToo() {
        let config = TrustConfig(.fedavg, variant: TrustVariant(topK: 1))
        #expect(throws: TrustError.invalidConfig(.variantNotApplicable(.fedavg))) {
            try TrustRow.compute(config: config, round: 0, own: WeightsExample.own, peers: [])
        }
    }
}
