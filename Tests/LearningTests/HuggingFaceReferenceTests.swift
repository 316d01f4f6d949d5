import Foundation
import Testing

@testable import Learning

/// The model against an independent implementation: logits of a tiny random GPT-2 and
/// of the same model with a PEFT adapter, as Hugging Face transformers and peft computed
/// them in float64 (tools/fixtures/make_tiny_gpt2.py, tools/fixtures/safetensors_interop.py).
@Suite struct HuggingFaceReferenceTests {
    /// The fixture's model loaded from its Hugging Face files, with `lora` layout when given.
    func loadTinyGPT2(lora: LoRAConfig? = nil) throws -> TransformerModel {
        let checkpoint = try GPT2Checkpoint.load(from: Fixture.path("tiny-gpt2"))
        let model = TransformerModel(config: checkpoint.config, lora: lora, seed: 0)
        try model.loadParameters(checkpoint.parameters)
        return model
    }

    func logits(of model: TransformerModel, tokens: [Int32]) -> [Float] {
        model.forward(inputs: tokens, targets: nil, batchSize: 1, sequenceLength: tokens.count, training: false)
        return model.withLogits { Array($0) }
    }

    /// The largest |ours − reference| over a [T][V] reference.
    func maxDifference(_ ours: [Float], _ reference: [[Double]]) -> Double {
        let flat = reference.flatMap { $0 }
        precondition(flat.count == ours.count)
        return zip(ours, flat).map { abs(Double($0) - $1) }.max()!
    }

    @Test func logitsMatchTransformers() throws {
        let reference = try Fixture.json("tiny-gpt2/reference_logits.json") as! [String: Any]
        let tokens = (reference["tokens"] as! [Int]).map(Int32.init)
        let expected = reference["logits"] as! [[Double]]
        let model = try loadTinyGPT2()
        let difference = maxDifference(logits(of: model, tokens: tokens), expected)
        #expect(difference <= 1e-4, "max |Δ logit| = \(difference)")
        // The mean cross-entropy of the same positions, as transformers computed it.
        let targets = (reference["targets"] as! [Int]).map(Int32.init)
        let loss = model.forward(inputs: tokens, targets: targets, batchSize: 1, sequenceLength: tokens.count, training: false)!
        #expect(abs(Double(loss) - (reference["mean_cross_entropy"] as! Double)) <= 1e-4)
    }

    @Test func adaptedLogitsMatchPEFT() throws {
        let seen = try Fixture.json("safetensors/seen_by_python.json") as! [String: Any]
        let peft = seen["peft-adapter"] as! [String: Any]
        let reference = try Fixture.json("tiny-gpt2/reference_logits.json") as! [String: Any]
        let tokens = (reference["tokens"] as! [Int]).map(Int32.init)
        let adapter = try PEFTAdapter.load(from: Fixture.path("peft-adapter"))
        let model = try loadTinyGPT2(lora: adapter.config)
        try model.setAdapter(adapter)
        let difference = maxDifference(logits(of: model, tokens: tokens), peft["adapted_logits"] as! [[Double]])
        #expect(difference <= 1e-4, "max |Δ logit| = \(difference)")
        // The adapter moves the logits far from the base's, so a LoRA path that did nothing would fail.
        #expect(peft["max_abs_change_from_base_logits"] as! Double > 1)
    }
}
