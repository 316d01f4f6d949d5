import ArgumentParser
import Foundation
import Learning
import Node
import Trust

/// `starling bench trust`: the time a node spends on trust rows and aggregation.
///
/// ```
/// $ starling bench trust --shape paper --candidates 8,32
/// {"bench":"trust","candidates":8,"medianMilliseconds":21.4,...,"operation":"weights","parameters":589824,"shape":"paper"}
/// ```
struct BenchTrust: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Time trust rows and trust-weighted aggregation on random adapters.",
        discussion: """
            For every shape and candidate count, times the strategies that need no model
            (weights, oracle, fedavg, local: screening included), the model-based ones
            (validation and prediction over a batch of --model-batch sequences in one
            model, forward only: every candidate's copy of the batch stacked in one pass,
            then one forward pass per candidate with its adapter swapped in, each with the
            peak resident memory while it ran), and the
            aggregation of all candidates' adapters by a dense row; with the paper shape also the model-free
            half of the prediction strategy at GPT-2's vocabulary (top-100 selection over
            256 positions of 50,257 logits, and the distance of two selections). Prints one
            JSON object per operation with the median and fastest of --repeats runs, in
            milliseconds.

            Shapes: `paper` is GPT-2 124M with rank-4 LoRA on c_attn, attn.c_proj, c_fc and
            mlp.c_proj in 12 layers (589,824 values, the paper's setting); `tiny` is 2
            layers of width 64 (8,192 values).

            Example:
              $ starling bench trust --shape tiny --candidates 8 --repeats 3
            """
    )

    enum Shape: String, ExpressibleByArgument, CaseIterable {
        case paper, tiny, all
    }

    @Option(name: .long, help: "Adapter shape: paper, tiny or all.")
    var shape: Shape = .all

    @Option(name: .long, help: "Candidate counts (the node itself included), comma-separated.")
    var candidates: String = "8,32"

    @Option(name: .long, help: "Timed runs per figure.")
    var repeats: Int = 5

    @Option(name: .long, help: "OpenBLAS threads.")
    var threads: Int = 1

    @Option(name: .long, help: "Timed runs of the model-based strategies (validation, prediction); 0 skips them.")
    var modelRepeats: Int = 1

    @Option(name: .long, help: "Sequences per evaluation batch of the model-based strategies (one batch per candidate).")
    var modelBatch: Int = 4

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try requireAtLeast(1, "--repeats", repeats)
        try requireAtLeast(1, "--threads", threads)
        try requireAtLeast(0, "--model-repeats", modelRepeats)
        try requireBetween(1, largestDimension, "--model-batch", modelBatch)
        guard let counts = candidateCounts, !counts.isEmpty, counts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--candidates must be positive integers separated by commas")
        }
    }

    var candidateCounts: [Int]? {
        let parts = candidates.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parts.contains(nil) ? nil : parts.map { $0! }
    }

    func run() throws {
        global.bootstrapLogging()
        Parallel.setThreads(threads)
        let shapes: [(name: String, layers: Int, width: Int)] = switch shape {
        case .paper: [("paper", 12, 768)]
        case .tiny: [("tiny", 2, 64)]
        case .all: [("tiny", 2, 64), ("paper", 12, 768)]
        }
        var random = SeededGenerator(seed: 0x5EED)
        for s in shapes {
            let maxCount = candidateCounts!.max()!
            let adapters = (0..<maxCount).map { _ in
                Self.gpt2Adapter(layers: s.layers, width: s.width, rank: 4) { random.nextSignedUnitFloat() * 0.02 }
            }
            var modelEvaluators: [String: ModelEvaluator] = [:]
            if modelRepeats > 0 {
                modelEvaluators[s.name] = Self.evaluator(shape: s.name, batch: modelBatch, random: &random)
            }
            let ids = (0..<maxCount).map { String(format: "%064x", $0) }
            for count in candidateCounts! {
                let own = TrustCandidate(id: ids[0], adapter: adapters[0])
                let peers = (1..<count).map { TrustCandidate(id: ids[$0], adapter: adapters[$0]) }
                let mixtures = MixtureMatrix(rows: Dictionary(uniqueKeysWithValues: ids.prefix(count).enumerated().map {
                    ($1, [Double($0 % 2), Double(($0 + 1) % 2), 0.25])
                }))
                for strategy in [TrustStrategy.weights, .oracle, .fedavg, .local] {
                    let times = try (0..<repeats).map { _ in
                        try TrustRow.compute(config: TrustConfig(strategy), round: 0, own: own, peers: peers, mixtures: mixtures).milliseconds
                    }
                    try emit(shape: s.name, parameters: own.adapter.parameterCount, candidates: count,
                             operation: strategy.rawValue, times: times)
                }
                if modelRepeats > 0, let evaluator = modelEvaluators[s.name] {
                    for strategy in [TrustStrategy.validation, .prediction] {
                        // Stacked and one by one in turn, so both see the same load.
                        for stacked in [true, false] {
                            evaluator.stacksCandidates = stacked
                            PeakResidentMemory.reset()
                            let times = try (0..<modelRepeats).map { _ in
                                try TrustRow.compute(config: TrustConfig(strategy), round: 0, own: own, peers: peers, evaluator: evaluator).milliseconds
                            }
                            try emit(shape: s.name, parameters: own.adapter.parameterCount, candidates: count,
                                     operation: strategy.rawValue, times: times,
                                     positions: evaluator.trustBatches.reduce(0) { $0 + $1.batchSize * $1.sequenceLength },
                                     vocabulary: evaluator.model.config.vocabularySize, k: strategy == .prediction ? TrustConfig.defaultLogitsTopK : nil,
                                     mode: stacked ? "stacked" : "one-by-one", peakResidentMiB: PeakResidentMemory.mebibytes())
                        }
                    }
                }
                let weights = [Double](repeating: 1 / Double(count), count: count)
                let times = (0..<repeats).map { _ in
                    milliseconds { _ = TrustAggregation.aggregate(Array(adapters.prefix(count)), weights: weights) }
                }
                try emit(shape: s.name, parameters: own.adapter.parameterCount, candidates: count,
                         operation: "aggregate", times: times)
            }
        }
        if shape != .tiny { try benchPrediction(random: &random) }
    }

    /// Times the model-free half of the prediction strategy at GPT-2's vocabulary: picking
    /// each position's top k of V logits, and the distance between two such selections.
    private func benchPrediction(random: inout SeededGenerator) throws {
        let vocabulary = 50257, positions = 256, k = TrustConfig.defaultLogitsTopK
        let a = (0..<(vocabulary * positions)).map { _ in random.nextSignedUnitFloat() * 8 }
        let b = (0..<(vocabulary * positions)).map { _ in random.nextSignedUnitFloat() * 8 }
        var topA = TopKLogits(logits: a, vocabularySize: vocabulary, k: k)
        let selectTimes = (0..<repeats).map { _ in
            milliseconds { topA = TopKLogits(logits: a, vocabularySize: vocabulary, k: k) }
        }
        let topB = TopKLogits(logits: b, vocabularySize: vocabulary, k: k)
        var distance = 0.0
        let distanceTimes = (0..<repeats).map { _ in milliseconds { distance = PredictionDistance.distance(topA, topB) } }
        precondition(distance > 0)
        for (operation, times) in [("topk-select", selectTimes), ("topk-distance", distanceTimes)] {
            try emit(shape: "gpt2-vocabulary", parameters: nil, candidates: nil, operation: operation, times: times,
                     positions: positions, vocabulary: vocabulary, k: k)
        }
    }

    private func milliseconds(_ body: () -> Void) -> Double {
        let elapsed = ContinuousClock().measure(body)
        return Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15
    }

    private func emit(shape: String, parameters: Int?, candidates: Int?, operation: String, times: [Double],
                      positions: Int? = nil, vocabulary: Int? = nil, k: Int? = nil, mode: String? = nil, peakResidentMiB: Double? = nil) throws {
        let sorted = times.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        let figure = Figure(bench: "trust", shape: shape, parameters: parameters, candidates: candidates,
                            operation: operation, repeats: times.count, medianMilliseconds: median,
                            minMilliseconds: sorted[0], threads: threads, positions: positions, vocabulary: vocabulary, k: k,
                            mode: mode, peakResidentMiB: peakResidentMiB)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(figure), as: UTF8.self))
    }

    private struct Figure: Encodable {
        let bench: String
        let shape: String
        let parameters: Int?
        let candidates: Int?
        let operation: String
        let repeats: Int
        let medianMilliseconds: Double
        let minMilliseconds: Double
        let threads: Int
        let positions: Int?
        let vocabulary: Int?
        let k: Int?
        /// Model-based strategies: candidates "stacked" in one forward pass per batch, or "one-by-one".
        let mode: String?
        /// Model-based strategies: the process's peak resident memory while they ran.
        let peakResidentMiB: Double?
    }

    /// An adapter in the GPT-2 layout: `layers` blocks of width C = `width`, rank `rank` on
    /// all four projections (A `[r, in]`, B `[out, r]`), values from `fill`.
    static func gpt2Adapter(layers: Int, width: Int, rank: Int, fill: () -> Float) -> LoRAAdapter {
        let lora = LoRAConfig(rank: rank)
        let shape = ModelConfig(layers: layers, heads: 1, channels: width, maxSequenceLength: 1, vocabularySize: 1)
        let tensors = shape.adapterShapes(lora).map { name, shape in
            NamedTensor(name: name, shape: shape, values: (0..<(shape[0] * shape[1])).map { _ in fill() })
        }
        return LoRAAdapter(config: lora, tensors: tensors)
    }

    /// A model of the shape with rank-4 LoRA on all four projections (random base), and
    /// one random batch serving as both trust batch and reference batch: `tiny` is width
    /// 64, 2 layers, vocabulary 256, sequences of 64; `paper` is GPT-2 124M with sequences of 256.
    static func evaluator(shape: String, batch: Int, random: inout SeededGenerator) -> ModelEvaluator {
        let (config, sequence) = shape == "paper"
            ? (ModelConfig.gpt2Small, 256)
            : (ModelConfig(layers: 2, heads: 2, channels: 64, maxSequenceLength: 64, vocabularySize: 256), 64)
        let model = TransformerModel(config: config, lora: LoRAConfig(rank: 4), seed: 1)
        let scale = Float(config.vocabularySize - 1)
        var inputs: [Int32] = [], targets: [Int32] = []
        for _ in 0..<batch {
            let window: [Int32] = (0...sequence).map { _ in Int32(abs(random.nextSignedUnitFloat()) * scale) }
            inputs += window.dropLast()
            targets += window.dropFirst()
        }
        let batches = [TokenBatch(inputs: inputs, targets: targets, batchSize: batch, sequenceLength: sequence)]
        return ModelEvaluator(model: model, trustBatches: batches, referenceBatches: batches)
    }
}
