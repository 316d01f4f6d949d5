import ArgumentParser
import Dispatch
import Foundation
import Learning
import Node

/// `starling bench train`: training throughput of the transformer on the CPU.
///
/// ```
/// $ starling bench train --layers 2 --heads 2 --width 64 --vocab 256 --seq 64 --steps 3
/// {"tokens_per_second":…,"ms_per_step":…,"gflops":…,"sgemm_peak_gflops":…,…}
/// ```
struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time LoRA (or full) training steps of a GPT-2-shaped model on random tokens.",
        discussion: """
            Builds a randomly initialised model of the given shape, runs --warmup untimed
            steps and --steps timed steps (forward, backward, gradient clipping, AdamW) on
            random token ids, then times a large square sgemm with the same thread count.
            Prints tokens per second, milliseconds per step, the achieved GFLOP/s (the
            matrix products of forward and backward as the model computes them; with
            LoRA there are no base weight gradients), the sgemm peak, and the OpenBLAS
            kernel that ran (see `starling blas-kernel`), the process's peak resident
            memory over the steps, and whether backward recomputed the blocks: only under
            an --activation-budget the kept activations would pass (FLOPs count the
            products once, as without recomputing).

            Example (GPT-2 124M shape, LoRA rank 4 on all four projections, 2 threads):
              $ starling bench train
              {"achieved_gflops":…,"blas_kernel":"Cooperlake",…,"sgemm_peak_gflops":…,"tokens_per_second":…}
            """
    )

    @Option(help: "Transformer blocks.") var layers = 12
    @Option(help: "Attention heads.") var heads = 12
    @Option(help: "Width of the residual stream (channels).") var width = 768
    @Option(help: "Vocabulary size.") var vocab = 50257
    @Option(help: "Sequence length T.") var seq = 256
    @Option(help: "Batch size B.") var batch = 4
    @Option(help: "LoRA rank on all four projections; 0 trains every base parameter instead.") var rank = 4
    @Option(help: "Threads for OpenBLAS and the elementwise kernels.") var threads = 2
    @Option(help: "Timed steps.") var steps = 5
    @Option(help: "Untimed steps before timing.") var warmup = 1
    @Option(help: "Size of the square sgemm that measures the peak.") var gemmSize = 2048
    @Option(help: "Block family: gpt2 (the shape above), or llama: the SmolLM-135M shape (30 blocks, width 576, 9 heads over 3 kv heads, MLP 1536, vocabulary 49,152), with --seq, --batch and --rank as given.")
    var family = "gpt2"
    @Option(help: "Comma-separated LoRA targets (default: every projection of the family's block).") var targets: String?
    @Option(help: "What a training pass may keep for backward, as a fraction of the base's f32 weights (at least 64 MiB), as a node's activation_budget; past it, backward recomputes the blocks. 0 (the default) keeps everything.")
    var activationBudget = 0.0

    /// The benchmarked shape and LoRA settings.
    func shape() throws -> (ModelConfig, LoRAConfig?) {
        var config: ModelConfig
        switch family {
        case "gpt2": config = ModelConfig(layers: layers, heads: heads, channels: width, maxSequenceLength: seq, vocabularySize: vocab)
        case "llama":
            config = .smolLM135M
            config.maxSequenceLength = seq
        default: throw ValidationError("--family must be gpt2 or llama")
        }
        guard rank > 0 else { return (config, nil) }
        var chosen = config.defaultTargets
        if let targets {
            chosen = try targets.split(separator: ",").map { name in
                guard let t = LoRAConfig.Target(rawValue: String(name)), config.projection(t) != nil else {
                    throw ValidationError("\(name) is not a projection of a \(family) block")
                }
                return t
            }
        }
        return (config, LoRAConfig(rank: rank, targets: chosen))
    }

    func validate() throws {
        try requireBetween(1, largestBlockCount, "--layers", layers)
        try requireBetween(1, largestBlockCount, "--heads", heads)
        for (option, value) in [("--width", width), ("--seq", seq), ("--batch", batch), ("--gemm-size", gemmSize)] {
            try requireBetween(1, largestDimension, option, value)
        }
        // A vocabulary a byte-pair tokenizer could have; GPT-2's is 50,257.
        try requireBetween(1, 1 << 20, "--vocab", vocab)
        try requireAtLeast(1, "--threads", threads)
        try requireAtLeast(1, "--steps", steps)
        try requireBetween(0, largestDimension, "--rank", rank)
        try requireAtLeast(0, "--warmup", warmup)
        guard activationBudget >= 0 && activationBudget <= 1000 else {
            throw ValidationError("--activation-budget must be in [0, 1000] (0 keeps everything), got \(activationBudget)")
        }
        guard width % heads == 0 else { throw ValidationError("--width must be a multiple of --heads (\(heads)), got \(width)") }
    }

    func run() throws {
        Parallel.setThreads(threads)
        let (config, lora) = try shape()
        let vocab = config.vocabularySize
        let model = TransformerModel(config: config, lora: lora, seed: 1)
        if activationBudget > 0 { model.activationBudgetBytes = model.activationBudget(fractionOfWeights: activationBudget) }
        var random = SeededRandom(seed: 2)
        let ids = (0..<(batch * seq)).map { _ in Int32(random.next() % UInt64(vocab)) }
        let targets = (0..<(batch * seq)).map { _ in Int32(random.next() % UInt64(vocab)) }
        let tokenBatch = TokenBatch(inputs: ids, targets: targets, batchSize: batch, sequenceLength: seq)
        let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 2e-3, totalSteps: warmup + steps))
        for _ in 0..<warmup { trainer.trainStep([tokenBatch]) }
        var losses: [Float] = []
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps { losses.append(trainer.trainStep([tokenBatch]).loss) }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        // Before the peak's own matrices are allocated.
        let peakResident = PeakResidentMemory.mebibytes()
        let peak = measureSGEMMThroughput(size: gemmSize)

        let flopsPerStep = model.trainingFLOPs(batchSize: batch, sequenceLength: seq)
        let secondsPerStep = seconds / Double(steps)
        let report: [String: Any] = [
            "layers": config.layers, "heads": config.heads, "width": config.channels, "vocab": vocab, "seq": seq, "batch": batch,
            "family": config.family.rawValue, "kv_heads": config.kvHeads, "mlp_width": config.mlpWidth,
            "targets": (lora?.targets ?? []).map(\.rawValue),
            "rank": rank, "mode": rank > 0 ? "lora" : "full", "threads": threads, "steps": steps,
            "trainable_parameters": model.trainableParameterCount,
            "tokens_per_second": Double(batch * seq) / secondsPerStep,
            "ms_per_step": secondsPerStep * 1e3,
            "gflop_per_step": flopsPerStep / 1e9,
            "achieved_gflops": flopsPerStep / secondsPerStep / 1e9,
            "sgemm_peak_gflops": peak,
            "fraction_of_peak": flopsPerStep / secondsPerStep / 1e9 / peak,
            "first_loss": Double(losses.first!), "last_loss": Double(losses.last!),
            "blas_kernel": BLASKernel.runningCore,
            "blas_kernel_source": BLASKernel.source(environment: ProcessInfo.processInfo.environment).rawValue,
            "blas_library": BLASKernel.libraryConfig,
            "activation_budget": activationBudget,
            "recomputes_blocks": model.recomputesBlocks(B: batch, T: seq),
            "kept_activation_bytes": model.keptActivationBytes(B: batch, T: seq),
            "peak_rss_mib": peakResident.map { $0 as Any } ?? NSNull(),
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
