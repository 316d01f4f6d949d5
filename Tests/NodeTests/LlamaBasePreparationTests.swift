import Foundation
import Learning
import Testing

@testable import Node

@Suite struct LlamaBasePreparationTests {
    /// A missing shared base, asked for in the llama family, is pretrained in the
    /// random:llama-tiny shape and saved as a LlamaForCausalLM folder the nodes load.
    @Test func aMissingBaseIsPretrainedAsALlama() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-llama-base-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
            name = "pair"
            sources = ["prose", "arithmetic"]
            [defaults]
            base_model = "base"
            sequence_length = 32
            [[nodes]]
            name = "a"
            endpoint = "inproc://a"
            [[nodes]]
            name = "b"
            endpoint = "inproc://b"
            [edges]
            shape = "full"
            """.write(toFile: dir + "/net.toml", atomically: true, encoding: .utf8)
        let t = try TopologyParser.load(path: dir + "/net.toml")
        var notes: [String] = []
        try ClusterPreparation.prepare(t, bytesPerNode: 4000, fresh: false, baseFamily: .llama) { notes.append($0) }
        #expect(notes.contains { $0.hasPrefix("pretraining the shared base model base") })
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/base/config.json"))) as! [String: Any]
        #expect(config["model_type"] as? String == "llama")
        let model = try ModelSource.folder(dir + "/base").load(slots: [], seed: 1, vocabularySize: 256)
        var expected = ModelConfig.llamaTiny
        expected.maxSequenceLength = 64
        #expect(model.config == expected)
        // Trained: a byte model of this text is well below the uniform ln 256 ≈ 5.55.
        let tokens = ByteTokenizer().encode(try String(contentsOfFile: t.resolve(t.nodes[0].data), encoding: .utf8))
        let T = 32
        let loss = model.forward(inputs: Array(tokens[0..<T]), targets: Array(tokens[1...T]), batchSize: 1, sequenceLength: T, training: false)!
        #expect(loss < 4)
    }
}
