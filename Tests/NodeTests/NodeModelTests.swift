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

    @Test func theActivationBudgetIsAFractionOfTheBasesWeightsAndZeroKeepsEverything() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("node-model-budget-\(getpid())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let data = folder + "/a.txt"
        try String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 200).write(toFile: data, atomically: true, encoding: .utf8)
        var settings = NodeSettings()
        settings.baseModel = "random:tiny"
        settings.scheme = "collaborative"
        let budgeted = try NodeModel(settings: settings, dataPath: data, baseDirectory: folder, nodeIndex: 0, referencePath: nil)
        // A tiny base's quarter is far below the floor.
        #expect(settings.activationBudget == 0.25)
        #expect(budgeted.model.activationBudgetBytes == 64 << 20)
        settings.activationBudget = 0
        let unbounded = try NodeModel(settings: settings, dataPath: data, baseDirectory: folder, nodeIndex: 0, referencePath: nil)
        #expect(unbounded.model.activationBudgetBytes == nil)
    }
}
