// TextGenerator: sampling text from a model, one token at a time.

import Foundation

/// Samples continuations with temperature and top-k.
public struct TextGenerator {
    public let model: TransformerModel
    /// Softmax temperature; 0 picks the most likely token every time.
    public var temperature: Float
    /// Sample among the k most likely tokens only (nil: the whole vocabulary).
    public var topK: Int?

    public init(model: TransformerModel, temperature: Float = 1, topK: Int? = nil) {
        precondition(temperature >= 0, "temperature must not be negative")
        precondition(topK.map { $0 >= 1 } ?? true, "top-k must be at least 1")
        self.model = model
        self.temperature = temperature
        self.topK = topK
    }

    /// `count` tokens following `prompt` (which must hold at least one token). The model
    /// sees the last `maxSequenceLength` tokens at each step.
    public func continuation(of prompt: [Int32], count: Int, seed: UInt64) -> [Int32] {
        precondition(!prompt.isEmpty, "generation needs at least one prompt token")
        var random = SeededRandom(seed: seed)
        var tokens = prompt
        let V = model.config.vocabularySize
        for _ in 0..<count {
            let window = Array(tokens.suffix(model.config.maxSequenceLength))
            model.forward(inputs: window, targets: nil, batchSize: 1, sequenceLength: window.count, training: false)
            let next = model.withLogits { logits in
                sample(UnsafeBufferPointer(rebasing: logits[((window.count - 1) * V)..<(window.count * V)]), using: &random)
            }
            tokens.append(next)
        }
        return Array(tokens[prompt.count...])
    }

    /// Draws a token from one position's logits.
    func sample(_ logits: UnsafeBufferPointer<Float>, using random: inout SeededRandom) -> Int32 {
        var order = Array(0..<logits.count)
        if temperature == 0 { return Int32(order.max { logits[$0] < logits[$1] }!) }
        if let k = topK, k < logits.count {
            order.sort { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
            order.removeLast(order.count - k)
        }
        let top = order.map { logits[$0] }.max()!
        let weights = order.map { exp(Double(logits[$0] - top) / Double(temperature)) }
        var u = random.nextUnit() * weights.reduce(0, +)
        for (i, w) in zip(order, weights) {
            if u < w { return Int32(i) }
            u -= w
        }
        return Int32(order.last!)
    }
}
