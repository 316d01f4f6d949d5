import Foundation
import Testing

@testable import Node

@Suite struct LocalLearnerTests {
    @Test func anUnknownRandomShapeNamesTheKnownOnes() {
        var settings = NodeSettings()
        settings.baseModel = "random:huge"
        #expect {
            _ = try LocalLearner.baseModel(settings, baseDirectory: "/", vocabularySize: 256, lora: nil)
        } throws: { error in
            "\(error)" == "base model: unknown random shape \"huge\" (known: tiny, gpt2)"
        }
    }
}
