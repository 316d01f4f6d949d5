import Foundation
import Learning
import Testing

@testable import Node

@Suite struct NodeModelTests {
    @Test func anUnknownRandomShapeNamesTheKnownOnes() {
        #expect {
            _ = try ModelSource(parsing: "random:huge", baseDirectory: "/")
        } throws: { error in
            "\(error)" == "unknown random shape \"huge\" (known: tiny, gpt2, llama-tiny, smollm-135m)"
        }
    }

    @Test func anUnknownSchemeIsAnErrorNamingTheKnownOnes() throws {
        var settings = NodeSettings()
        settings.scheme = "telepathy"
        #expect {
            _ = try NodeModel(settings: settings, dataPath: "/nonexistent", baseDirectory: "/", nodeIndex: 0, referencePath: nil)
        } throws: { error in
            "\(error)" == "scheme: unknown scheme \"telepathy\" (known: collaborative, fdlora, pftt, pfit, fedbiot)"
        }
    }
}
