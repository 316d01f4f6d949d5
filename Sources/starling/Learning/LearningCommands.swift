// pretrain, finetune, eval and generate: the learning engine on local text.

import ArgumentParser
import Foundation
import Learning
import Node

/// Options that pick a base model and tokenizer.
struct ModelOptions: ParsableArguments {
    @Option(help: "Base model: a Hugging Face-layout folder of a GPT-2, Llama or Qwen2 (config.json + model.safetensors), or random:tiny, random:llama-tiny, random:gpt2, random:smollm-135m.")
    var base: String?

    @Option(help: "Tokenizer: bytes, or a folder with vocab.json + merges.txt or tokenizer.json.")
    var tokenizer: String = "bytes"

    @Option(help: "A PEFT adapter folder to apply on top of the base.")
    var adapter: String?

    @Option(help: "Instead of --base and --adapter: the model node NAME of --topology serves, as its state folder last committed it (its base, tokenizer, every slot and the scheme's state; for fdlora the fused model).")
    var node: String?

    @Option(help: "The topology of --node.")
    var topology: String?

    @Option(help: "State folder of --node (default: the topology's state root / name).")
    var state: String?

    func validate() throws {
        if node == nil {
            guard base != nil else { throw ValidationError("--base or --node is required") }
            guard topology == nil, state == nil else { throw ValidationError("--topology and --state go with --node") }
        } else {
            guard base == nil, adapter == nil else {
                throw ValidationError("--node serves the node's own base and adapters: not with --base or --adapter")
            }
            guard topology != nil else { throw ValidationError("--node needs --topology") }
        }
    }

    /// What --base or --node names, for messages.
    var modelName: String { base ?? "node \(node ?? "")" }

    /// The node --node names, with its tokenizer and its committed model set up as
    /// served; nil without --node.
    func loadNode() throws -> (tokenizer: any Tokenizer, model: NodeModel)? {
        guard let node, let topology else { return nil }
        let t: Topology
        do { t = try TopologyParser.load(path: topology) } catch { throw UserError("\(error)") }
        guard let index = t.index(of: node) else {
            throw UserError("\(topology) has no node \"\(node)\" (nodes: \(t.nodes.map(\.name).joined(separator: ", ")))")
        }
        do {
            let tok = try TokenizerSource.load(t.nodes[index].settings.tokenizer, baseDirectory: t.baseDirectory)
            return (tok, try NodeModel.committed(topology: t, index: index, stateDirectory: state))
        } catch {
            throw UserError("\(error)")
        }
    }

    /// The tokenizer and the model (with the adapter applied, when given), or the
    /// model --node serves.
    func load(lora: LoRAConfig?, seed: UInt64) throws -> (any Tokenizer, TransformerModel) {
        if let served = try loadNode() { return (served.tokenizer, served.model.model) }
        guard let base else { throw ValidationError("--base or --node is required") }
        var lora = lora
        var adapterValues: LoRAAdapter?
        if let adapter {
            do { adapterValues = try PEFTAdapter.load(from: adapter) } catch { throw UserError("\(error)") }
            lora = adapterValues!.config
        }
        let here = FileManager.default.currentDirectoryPath
        let tok: any Tokenizer
        do { tok = try TokenizerSource.load(tokenizer, baseDirectory: here) } catch { throw UserError("tokenizer: \(error)") }
        let model: TransformerModel
        do {
            model = try ModelSource(parsing: base, baseDirectory: here).load(
                slots: lora.map { [AdapterSlotSpec(name: TransformerModel.defaultSlot, lora: $0)] } ?? [], seed: seed,
                vocabularySize: tok.vocabularySize)
        } catch {
            throw UserError("base model: \(error)")
        }
        do {
            if lora != nil { try model.setTrainable([.slot(TransformerModel.defaultSlot)]) }
            if let adapterValues { try model.setAdapter(adapterValues) }
        } catch {
            throw UserError("adapter \(adapter ?? ""): \(error)")
        }
        return (tok, model)
    }

    /// Refuses a sequence length `option` longer than the loaded model's context: known
    /// only once the base is read, so checked after loading and before any work.
    func requireContext(_ option: String, _ length: Int, of model: TransformerModel) throws {
        let context = model.config.maxSequenceLength
        guard length <= context else {
            throw ValidationError("\(option) must be at most \(context) (the context of \(modelName)), got \(length)")
        }
    }
}

/// Options of a training run.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Text to train on: a file or a folder of .txt.")
    var text: String

    @Option(help: "Optimizer steps.")
    var steps: Int = 500

    @Option(name: .customLong("batch"), help: "Sequences per step.")
    var batchSize: Int = 8

    @Option(name: .customLong("seq"), help: "Tokens per sequence.")
    var sequenceLength: Int = 64

    @Option(name: .customLong("lr"), help: "Peak learning rate of the warm-up + cosine schedule.")
    var learningRate: Double = 3e-3

    @Option(help: "AdamW weight decay.")
    var weightDecay: Double = 1e-3

    @Option(help: "Evaluate on the test split and save a checkpoint every N steps (0: only at the end).")
    var checkpointEvery: Int = 100

    @Option(help: "Random seed of initialisation, splits and sampling.")
    var seed: UInt64 = 1

    @Option(help: "BLAS threads.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        try requireAtLeast(1, "--steps", steps)
        try requireBetween(1, largestDimension, "--batch", batchSize)
        try requireBetween(2, largestDimension, "--seq", sequenceLength)
        try require("--lr", learningRate, in: "in (0, 1)") { $0 > 0 && $0 < 1 }
        try require("--weight-decay", weightDecay, in: "in [0, 1)") { $0 >= 0 && $0 < 1 }
        try requireAtLeast(0, "--checkpoint-every", checkpointEvery)
        try requireAtLeast(1, "--threads", threads)
    }

    /// Trains `model` on the train split, evaluating and calling `save` every
    /// `checkpointEvery` steps and at the end, with a progress line on standard error.
    func train(_ model: TransformerModel, tokenizer: any Tokenizer, save: (Int) throws -> Void) throws {
        Parallel.setThreads(threads)
        let splits: DatasetSplits
        do {
            splits = try TextDataset.load(from: text, tokenizer: tokenizer).split(sequenceLength: sequenceLength, seed: seed)
        } catch {
            throw UserError("\(text): \(error)")
        }
        let trainer = Trainer(
            model: model, schedule: LearningRateSchedule(peak: Float(learningRate), totalSteps: steps, warmupFraction: 0.02),
            weightDecay: Float(weightDecay))
        var sampler = try splits.train.sampler(batchSize: batchSize, seed: seed)
        let testBatches = Array(splits.test.sequentialBatches(batchSize: batchSize).prefix(32))
        var progress = ProgressLine(total: steps, tokensPerStep: batchSize * sequenceLength)
        var recent: [Float] = []
        try runTraining(trainer, sampler: &sampler, steps: steps, afterStep: { step, result in
            recent.append(result.loss)
            if recent.count > 20 { recent.removeFirst() }
            progress.update(step: step, loss: Double(recent.reduce(0, +)) / Double(recent.count))
            if step == steps || (checkpointEvery > 0 && step % checkpointEvery == 0) {
                let testLoss = Double(model.evaluateLoss(batches: testBatches))
                progress.note(String(format: "step %d: test loss %.4f, perplexity %.3f", step, testLoss, exp(testLoss)))
                try save(step)
            }
        })
        progress.finish()
    }
}

/// A progress line (step, loss, tokens/s, ETA) redrawn in place on a terminal, or
/// printed every few seconds otherwise; on standard error.
struct ProgressLine {
    let total: Int
    let tokensPerStep: Int
    let start = Date()
    let interactive = isatty(STDERR_FILENO) != 0
    var lastPrint = Date.distantPast

    init(total: Int, tokensPerStep: Int) {
        self.total = total
        self.tokensPerStep = tokensPerStep
    }

    mutating func update(step: Int, loss: Double) {
        let now = Date()
        guard now.timeIntervalSince(lastPrint) >= (interactive ? 0.2 : 5) || step == total else { return }
        lastPrint = now
        let elapsed = now.timeIntervalSince(start)
        let rate = Double(step * tokensPerStep) / max(elapsed, 1e-9)
        let eta = elapsed / Double(step) * Double(total - step)
        let line = String(format: "step %d/%d  loss %.4f  %.0f tok/s  ETA %d:%02d", step, total, loss, rate, Int(eta) / 60, Int(eta) % 60)
        FileHandle.standardError.write(Data((interactive ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    mutating func note(_ text: String) {
        FileHandle.standardError.write(Data(((interactive ? "\r\u{1B}[K" : "") + text + "\n").utf8))
        lastPrint = .distantPast
    }

    func finish() {
        if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// `starling pretrain`
struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a small base model from scratch (every parameter) on local text.",
        discussion: """
            Writes a Hugging Face-layout checkpoint (model.safetensors + config.json) to
            --out, atomically, at every checkpoint and at the end; nodes and `finetune`
            use it as their base.

            Example:
              $ starling pretrain --text data/mixed.txt --out models/tiny-base --steps 600
              $ starling pretrain --family llama --layers 3 --heads 4 --kv-heads 2 --width 48 --text data/mixed.txt --out models/llama-base
            """
    )

    @OptionGroup var training: TrainingOptions

    @Option(help: "Output folder for the checkpoint.")
    var out: String

    @Option(help: "Tokenizer: bytes, or a GPT-2 tokenizer folder.")
    var tokenizer: String = "bytes"

    @Option(help: "Transformer blocks.")
    var layers: Int = 2
    @Option(help: "Attention heads.")
    var heads: Int = 2
    @Option(help: "Width of the residual stream.")
    var width: Int = 64
    @Option(help: "Longest sequence (position table size).")
    var context: Int = 64
    @Option(help: "Block family: gpt2 (LayerNorm, GELU, learned positions) or llama (RMSNorm, rotary grouped-query attention, SwiGLU).")
    var family: String = "gpt2"
    @Option(help: "Key/value heads of a llama model (a divisor of --heads; default --heads).")
    var kvHeads: Int?
    @Option(help: "Width of the MLP's hidden layer (default 4 × width for gpt2, 8/3 × width rounded up to 16 for llama).")
    var mlpWidth: Int?

    /// The shape the options describe, for a tokenizer of `vocabularySize` ids.
    func config(vocabularySize: Int) throws -> ModelConfig {
        guard let family = ModelConfig.Family(rawValue: family) else { throw ValidationError("--family must be gpt2 or llama") }
        let config: ModelConfig
        switch family {
        case .gpt2:
            guard kvHeads == nil else { throw ValidationError("--kv-heads needs --family llama") }
            config = ModelConfig(layers: layers, heads: heads, channels: width, maxSequenceLength: context, vocabularySize: vocabularySize,
                                 mlpWidth: mlpWidth)
        case .llama:
            config = .llama(layers: layers, heads: heads, kvHeads: kvHeads ?? heads, channels: width,
                            mlpWidth: mlpWidth ?? (8 * width / 3 + 15) / 16 * 16, maxSequenceLength: context, vocabularySize: vocabularySize)
        }
        do { try config.validate() } catch { throw ValidationError("\(error)") }
        return config
    }

    func validate() throws {
        try requireBetween(1, largestBlockCount, "--layers", layers)
        try requireBetween(1, largestBlockCount, "--heads", heads)
        try requireBetween(1, largestDimension, "--width", width)
        try requireBetween(2, largestDimension, "--context", context)
        guard width % heads == 0 else { throw ValidationError("--width must be a multiple of --heads (\(heads)), got \(width)") }
        guard context >= training.sequenceLength else {
            throw ValidationError("--context must be at least --seq (\(training.sequenceLength)), got \(context)")
        }
        try requireWritableOutput("--out", out)
    }

    func run() throws {
        let tok: any Tokenizer
        do { tok = try TokenizerSource.load(tokenizer, baseDirectory: FileManager.default.currentDirectoryPath) } catch {
            throw UserError("tokenizer: \(error)")
        }
        let model = TransformerModel(config: try config(vocabularySize: tok.vocabularySize), lora: nil, seed: training.seed)
        FileHandle.standardError.write(Data("pretraining \(model.parameterCount) parameters on \(training.text)\n".utf8))
        try training.train(model, tokenizer: tok) { _ in
            do { try Checkpoint.save(model, to: out) } catch { throw UserError("\(out): \(error)") }
        }
        print("wrote \(out)")
    }
}

/// `starling finetune`
struct Finetune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune LoRA adapters on local text, the base model frozen.",
        discussion: """
            Writes a PEFT adapter folder (adapter_model.safetensors + adapter_config.json)
            that the Python peft library loads onto the same base.

            Example:
              $ starling finetune --base models/tiny-base --text data/alice.txt --out adapters/alice
            """
    )

    @OptionGroup var model: ModelOptions
    @OptionGroup var training: TrainingOptions

    @Option(help: "Output folder for the adapter.")
    var out: String
    @Option(help: "LoRA rank.")
    var rank: Int = 4
    @Option(help: "LoRA alpha (the update is scaled by alpha / rank).")
    var alpha: Double = 32
    @Option(help: "LoRA dropout.")
    var dropout: Double = 0.1
    @Option(help: "Comma-separated projections: \(LoRAConfig.Target.gpt2.map(\.rawValue).joined(separator: ",")) (on a llama base these stand for all seven of its projections), or of \(LoRAConfig.Target.allCases.dropFirst(4).map(\.rawValue).joined(separator: ",")).")
    var targets: String = LoRAConfig.Target.gpt2.map(\.rawValue).joined(separator: ",")

    /// The projections --targets names, at least one.
    func chosenTargets() throws -> [LoRAConfig.Target] {
        // The family's own projections are checked when the base is loaded.
        let known = LoRAConfig.Target.allCases.map(\.rawValue).joined(separator: ", ")
        let chosen = try targets.split(separator: ",").map { name in
            let trimmed = name.trimmingCharacters(in: .whitespaces)
            guard let t = LoRAConfig.Target(rawValue: trimmed) else {
                throw ValidationError("--targets: unknown projection \"\(trimmed)\" (known: \(known))")
            }
            return t
        }
        guard !chosen.isEmpty else { throw ValidationError("--targets must name at least one of \(known)") }
        return chosen
    }

    func validate() throws {
        guard model.node == nil else { throw ValidationError("finetune trains from --base, not from a --node") }
        try requireBetween(1, largestDimension, "--rank", rank)
        try require("--alpha", alpha, in: "in (0, ∞)") { $0 > 0 }
        try require("--dropout", dropout, in: "in [0, 1)") { $0 >= 0 && $0 < 1 }
        _ = try chosenTargets()
        try requireWritableOutput("--out", out)
    }

    func run() throws {
        let lora = LoRAConfig(rank: rank, alpha: Float(alpha), dropout: Float(dropout), targets: try chosenTargets())
        let (tok, m) = try model.load(lora: lora, seed: training.seed)
        try model.requireContext("--seq", training.sequenceLength, of: m)
        FileHandle.standardError.write(Data("fine-tuning \(m.trainableParameterCount) LoRA parameters on \(training.text)\n".utf8))
        try training.train(m, tokenizer: tok) { _ in
            do { try PEFTAdapter.save(m.adapter(), to: out, baseModel: model.base!) } catch { throw UserError("\(out): \(error)") }
        }
        print("wrote \(out)")
    }
}

/// `starling eval`
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mean loss and perplexity of a model (and adapter) on text.",
        discussion: """
            With --node, the model is the one the node serves (for fdlora the fused one);
            without --text it is measured on the node's own test batches, the test
            perplexity of the node's metrics and status.

            Example:
              $ starling eval --base models/tiny-base --adapter adapters/alice --text data/alice.txt --split test
              {"batches":32,"loss":1.2345,"perplexity":3.437,"split":"test","tokens":16384}
              $ starling eval --topology topologies/demo.toml --node alice
            """
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "Text: a file or a folder of .txt (default with --node: the node's own test split).")
    var text: String?
    @Option(help: "Which part: train, trust, test, or all.")
    var split: String = "test"
    @Option(name: .customLong("seq"), help: "Tokens per sequence.")
    var sequenceLength: Int = 64
    @Option(name: .customLong("batch"), help: "Sequences per batch.")
    var batchSize: Int = 8
    @Option(help: "The seed the splits were made with.")
    var seed: UInt64 = 1

    static let splitNames = ["train", "trust", "test", "all"]

    func validate() throws {
        try requireBetween(1, largestDimension, "--seq", sequenceLength)
        try requireBetween(1, largestDimension, "--batch", batchSize)
        guard Self.splitNames.contains(split) else {
            throw ValidationError("--split must be one of \(Self.splitNames.joined(separator: ", ")), got \(split)")
        }
        guard text != nil || model.node != nil else { throw ValidationError("--text is required without --node") }
    }

    func run() throws {
        guard let text else {
            // The node's own test batches, as its rounds measure them.
            let served = try model.loadNode()!.model
            report(served.model.evaluateLoss(batches: served.testEvaluationBatches), served.testEvaluationBatches, split: "test")
            return
        }
        let (tok, m) = try model.load(lora: nil, seed: seed)
        try model.requireContext("--seq", sequenceLength, of: m)
        let dataset: TextDataset
        do { dataset = try TextDataset.load(from: text, tokenizer: tok) } catch { throw UserError("\(text): \(error)") }
        let part: DatasetSplit
        do {
            if split == "all" {
                part = try dataset.split(fractions: SplitFractions(train: 1, trust: 0, test: 0), sequenceLength: sequenceLength, seed: seed).train
            } else {
                let s = try dataset.split(sequenceLength: sequenceLength, seed: seed)
                part = ["train": s.train, "trust": s.trust, "test": s.test][split]!
            }
        } catch { throw UserError("\(text): \(error)") }
        let batches = Array(part.sequentialBatches(batchSize: batchSize))
        report(m.evaluateLoss(batches: batches), batches, split: split)
    }

    func report(_ loss: Float, _ batches: [TokenBatch], split: String) {
        let loss = Double(loss)
        let tokens = batches.reduce(0) { $0 + $1.batchSize * $1.sequenceLength }
        print(String(format: #"{"batches":%d,"loss":%.6f,"perplexity":%.6f,"split":"%@","tokens":%d}"#, batches.count, loss, exp(loss), split, tokens))
    }
}

/// `starling generate`
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt by sampling from a model (and adapter).",
        discussion: """
            Sampling runs over a key/value cache: each new token costs one position, not the
            whole window (`starling bench generate` measures the difference).

            Example:
              $ starling generate --base models/tiny-base --adapter adapters/alice --prompt "The old" --tokens 80
              $ starling generate --topology topologies/demo.toml --node alice --prompt "The old"
            """
    )

    @OptionGroup var model: ModelOptions

    @Option(help: "Text to continue.")
    var prompt: String
    @Option(help: "Tokens to generate.")
    var tokens: Int = 100
    @Option(help: "Softmax temperature (0: always the most likely token).")
    var temperature: Double = 0.8
    @Option(help: "Sample among the k most likely tokens only.")
    var topK: Int?
    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    func validate() throws {
        try requireAtLeast(0, "--tokens", tokens)
        try require("--temperature", temperature, in: "in [0, ∞)") { $0 >= 0 }
        if let topK { try requireAtLeast(1, "--top-k", topK) }
    }

    func run() throws {
        let (tok, m) = try model.load(lora: nil, seed: seed)
        let ids = tok.encode(prompt)
        guard !ids.isEmpty else { throw ValidationError("--prompt must not be empty") }
        let generator = TextGenerator(model: m, temperature: Float(temperature), topK: topK)
        print(prompt + tok.decode(generator.continuations(of: ids, count: tokens, seeds: [seed])[0]))
    }
}
