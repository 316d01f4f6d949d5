import ArgumentParser
import Dispatch
import Foundation
import Learning

/// `starling bench generate`: sampling throughput with and without the KV cache.
///
/// ```
/// $ starling bench generate --family gpt2 --samples 8 --prompt 16 --tokens 48
/// {"cached_tokens_per_second":…,"uncached_tokens_per_second":…,"speedup":…,"same_ids":true,…}
/// ```
struct BenchGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Time sampling a group of continuations with the KV cache against rerunning the window per token.",
        discussion: """
            Builds a randomly initialised model (random:tiny's shape for gpt2, random:llama-tiny's
            for llama, or GPT-2 small / SmolLM-135M with --size small), a random prompt, and
            samples --samples continuations of --tokens tokens: once through the KV cache, the
            group together, and once per sample through the uncached path that reruns the whole
            window for every token. Prints the generated tokens per second of both, the speed-up,
            and whether both drew the same ids.

            Example:
              $ starling bench generate --family llama --samples 8 --tokens 48
              {"cached_tokens_per_second":…,"same_ids":true,"speedup":…,"uncached_tokens_per_second":…}
            """
    )

    @Option(help: "Block family: gpt2 or llama.") var family = "gpt2"
    @Option(help: "Shape: tiny (random:tiny / random:llama-tiny) or small (GPT-2 small / SmolLM-135M).") var size = "tiny"
    @Option(help: "Continuations sampled together.") var samples = 8
    @Option(help: "Prompt tokens.") var prompt = 16
    @Option(help: "Tokens generated per continuation.") var tokens = 48
    @Option(help: "LoRA rank of the slot applied while sampling.") var rank = 4
    @Option(help: "Threads for OpenBLAS and the elementwise kernels.") var threads = 2

    func validate() throws {
        try requireBetween(1, 4096, "--samples", samples)
        try requireBetween(1, 1 << 16, "--prompt", prompt)
        try requireBetween(1, 1 << 16, "--tokens", tokens)
        try requireBetween(1, 1024, "--rank", rank)
        try requireAtLeast(1, "--threads", threads)
        guard ["gpt2", "llama"].contains(family) else { throw ValidationError("--family must be gpt2 or llama") }
        guard ["tiny", "small"].contains(size) else { throw ValidationError("--size must be tiny or small") }
    }

    func run() throws {
        Parallel.setThreads(threads)
        var config: ModelConfig =
            switch (family, size) {
            case ("gpt2", "tiny"): .tiny
            case ("gpt2", _): .gpt2Small
            case (_, "tiny"): .llamaTiny
            default: .smolLM135M
            }
        config.maxSequenceLength = max(config.maxSequenceLength, prompt + tokens)
        let model = TransformerModel(config: config, lora: LoRAConfig(rank: rank), seed: 1)
        var random = SeededRandom(seed: 2)
        let ids = (0..<prompt).map { _ in Int32(random.next() % UInt64(config.vocabularySize)) }
        let generator = TextGenerator(model: model, temperature: 1)
        let seeds = (0..<samples).map { UInt64(100 + $0) }

        var start = DispatchTime.now().uptimeNanoseconds
        let cached = generator.continuations(of: ids, count: tokens, seeds: seeds)
        let cachedSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        start = DispatchTime.now().uptimeNanoseconds
        let uncached = seeds.map { generator.continuation(of: ids, count: tokens, seed: $0) }
        let uncachedSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9

        let generated = Double(samples * tokens)
        let report: [String: Any] = [
            "family": config.family.rawValue, "layers": config.layers, "width": config.channels, "vocab": config.vocabularySize,
            "samples": samples, "prompt": prompt, "tokens": tokens, "rank": rank, "threads": threads,
            "cached_tokens_per_second": generated / cachedSeconds,
            "uncached_tokens_per_second": generated / uncachedSeconds,
            "speedup": uncachedSeconds / cachedSeconds,
            "same_ids": cached == uncached,
        ]
        let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
