// LocalLearner: a node's model and its own text — local training steps, test
// evaluation, and the evaluator trust strategies run candidate adapters through.

import Foundation
import Learning
import Trust

/// Errors of preparing a node's model and data.
public enum LearnerError: Error, CustomStringConvertible {
    case baseModel(String)
    case tokenizer(String)
    case data(String)

    public var description: String {
        switch self {
        case .baseModel(let why): "base model: \(why)"
        case .tokenizer(let why): "tokenizer: \(why)"
        case .data(let why): "data: \(why)"
        }
    }
}

/// The model, optimizer and data splits of one node. Its `evaluator` runs candidate
/// adapters through the same model buffers, so trust allocates nothing per candidate.
public final class LocalLearner {
    /// Evaluation batches taken from the trust split for `validation`, at most.
    public static let trustBatchLimit = 4
    /// Evaluation batches taken from the test split, at most.
    public static let testBatchLimit = 8
    /// Reference batches derived for `prediction`.
    public static let referenceBatchCount = 2

    public let model: TransformerModel
    public let trainer: Trainer
    public let splits: DatasetSplits
    public let settings: NodeSettings
    /// Runs candidate adapters through this node's model for trust.
    public let evaluator: ModelEvaluator
    let testBatches: [TokenBatch]
    /// Seed of this node's batch sampling; the round is mixed in so a restart resumes
    /// the same stream of batches.
    let samplingSeed: UInt64

    /// Builds the model from `settings.baseModel` (same base on every node: the seed is
    /// the topology's), loads and splits the text at `dataPath`, and prepares the
    /// evaluation batches. `referenceText` is the shared reference for `prediction`
    /// (nil: the node's own trust split).
    public init(settings: NodeSettings, dataPath: String, baseDirectory: String, nodeIndex: Int, referencePath: String?) throws {
        self.settings = settings
        let tokenizer = try Self.tokenizer(settings.tokenizer, baseDirectory: baseDirectory)
        model = try Self.baseModel(settings, baseDirectory: baseDirectory, vocabularySize: tokenizer.vocabularySize, lora: settings.lora)
        guard settings.sequenceLength <= model.config.maxSequenceLength else {
            throw LearnerError.baseModel(
                "sequence_length \(settings.sequenceLength) exceeds the model's context of \(model.config.maxSequenceLength)")
        }
        let dataset: TextDataset
        do {
            dataset = try TextDataset.load(from: dataPath, tokenizer: tokenizer)
            let f = settings.splits
            splits = try dataset.split(
                fractions: SplitFractions(train: f[0], trust: f[1], test: f[2]), sequenceLength: settings.sequenceLength,
                seed: settings.seed)
        } catch {
            throw LearnerError.data("\(dataPath): \(error)")
        }
        let totalSteps = settings.rounds * settings.localSteps
        trainer = Trainer(
            model: model,
            schedule: LearningRateSchedule(peak: Float(settings.learningRate), totalSteps: totalSteps, warmupFraction: 0.02),
            weightDecay: Float(settings.weightDecay))
        samplingSeed = settings.seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(nodeIndex + 1)
        let trustBatches = Array(splits.trust.sequentialBatches(batchSize: settings.batchSize).prefix(Self.trustBatchLimit))
        testBatches = Array(splits.test.sequentialBatches(batchSize: settings.batchSize).prefix(Self.testBatchLimit))
        let referenceTokens: [Int32]
        if let referencePath {
            do {
                referenceTokens = try TextDataset.load(from: referencePath, tokenizer: tokenizer).tokens
            } catch {
                throw LearnerError.data("reference \(referencePath): \(error)")
            }
        } else {
            let trust = splits.trust
            referenceTokens = trust.chunks.flatMap { Array(trust.tokens[$0]) }
        }
        let referenceBatches: [TokenBatch]
        do {
            referenceBatches = try ReferenceBatches.derive(
                seed: settings.seed, tokens: referenceTokens, count: Self.referenceBatchCount,
                batchSize: settings.batchSize, sequenceLength: settings.sequenceLength
            ).batches.map {
                TokenBatch(inputs: $0.inputs, targets: $0.targets, batchSize: settings.batchSize, sequenceLength: settings.sequenceLength)
            }
        } catch {
            throw LearnerError.data("reference batches: \(error)")
        }
        evaluator = ModelEvaluator(model: model, trustBatches: trustBatches, referenceBatches: referenceBatches)
    }

    /// The tokenizer named by a topology: `bytes`, or a folder with a GPT-2 tokenizer.
    public static func tokenizer(_ name: String, baseDirectory: String) throws -> any Tokenizer {
        if name == "bytes" { return ByteTokenizer() }
        let folder = name.hasPrefix("/") ? name : (baseDirectory as NSString).appendingPathComponent(name)
        do {
            let json = (folder as NSString).appendingPathComponent("tokenizer.json")
            if FileManager.default.fileExists(atPath: json) { return try GPT2Tokenizer(tokenizerJSONPath: json) }
            return try GPT2Tokenizer(
                vocabularyPath: (folder as NSString).appendingPathComponent("vocab.json"),
                mergesPath: (folder as NSString).appendingPathComponent("merges.txt"))
        } catch {
            throw LearnerError.tokenizer("\(folder): \(error)")
        }
    }

    /// `random:tiny` (ModelConfig.tiny, initialised from the topology's seed, so every node
    /// holds the same base), `random:gpt2` (ModelConfig.gpt2Small, likewise) or a Hugging
    /// Face-layout folder.
    /// `lora` nil makes a model without adapters (every parameter trainable).
    public static func baseModel(_ settings: NodeSettings, baseDirectory: String, vocabularySize: Int, lora: LoRAConfig?) throws -> TransformerModel {
        if settings.baseModel.hasPrefix("random:") {
            let shape = settings.baseModel.dropFirst("random:".count)
            var config: ModelConfig
            switch shape {
            case "tiny":
                config = ModelConfig.tiny
                config.vocabularySize = vocabularySize
            case "gpt2":
                // The GPT-2 124M shape, for measuring a node at full size; its vocabulary
                // of 50257 holds any tokenizer used here (bytes: 256, GPT-2 BPE: 50257).
                config = ModelConfig.gpt2Small
                guard config.vocabularySize >= vocabularySize else {
                    throw LearnerError.baseModel("the tokenizer's \(vocabularySize) ids exceed GPT-2's vocabulary of \(config.vocabularySize)")
                }
            default:
                throw LearnerError.baseModel("unknown random shape \"\(shape)\" (known: tiny, gpt2)")
            }
            return TransformerModel(config: config, lora: lora, seed: settings.seed)
        }
        let folder = settings.baseModel.hasPrefix("/") ? settings.baseModel
            : (baseDirectory as NSString).appendingPathComponent(settings.baseModel)
        do {
            let checkpoint = try GPT2Checkpoint.load(from: folder)
            // The base comes from the checkpoint: no random base is drawn only to be overwritten.
            let model = try TransformerModel(
                config: checkpoint.config, lora: lora, seed: settings.seed, parameters: checkpoint.parameters)
            guard model.config.vocabularySize >= vocabularySize else {
                throw LearnerError.baseModel("vocabulary \(model.config.vocabularySize) is smaller than the tokenizer's \(vocabularySize)")
            }
            return model
        } catch let e as LearnerError {
            throw e
        } catch {
            throw LearnerError.baseModel("\(folder): \(error)")
        }
    }

    // MARK: Training and evaluation

    /// Runs `steps` optimizer steps of round `round` and returns their mean loss.
    /// `shouldStop` is asked before each step; training ends early when it says yes.
    public func train(round: Int, steps: Int, shouldStop: () -> Bool) throws -> (meanLoss: Double, steps: Int) {
        var sampler = try splits.train.sampler(batchSize: settings.batchSize, seed: samplingSeed ^ UInt64(round) &* 0xD1B5_4A32_D192_ED03)
        var total = 0.0
        var done = 0
        while done < steps && !shouldStop() {
            total += Double(trainer.trainStep([sampler.next()]).loss)
            done += 1
        }
        return (done > 0 ? total / Double(done) : .nan, done)
    }

    /// Mean cross-entropy of the current adapter on the test split.
    public func testLoss() -> Double { Double(model.evaluateLoss(batches: testBatches)) }
}
