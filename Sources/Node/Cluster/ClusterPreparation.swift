// What `starling up` makes before starting nodes: keys for nodes the topology lists
// without one, generated text for nodes whose text is missing, the shared base model
// when its folder is missing and the text is generated, and (on request) a clean slate.

import Foundation
import Gossip
import Learning
import Schemes

public enum ClusterPreparation {
    /// Makes missing keys (only for nodes without a public_key in the topology), writes
    /// missing generated text, and with `fresh` forgets every node's progress.
    /// A missing base is pretrained in `baseFamily`'s small shape.
    public static func prepare(
        _ t: Topology, bytesPerNode: Int, fresh: Bool, baseFamily: ModelConfig.Family = .gpt2, note: (String) -> Void = { _ in }
    ) throws {
        for (i, node) in t.nodes.enumerated() {
            let state = StateDirectory(path: t.stateDirectory(of: i))
            try FileSystem.createDirectory(state.path)
            if !FileSystem.exists(state.keyPath) {
                guard node.publicKey == nil else {
                    throw NodeError(
                        "node \(node.name): the topology lists its public key but \(state.keyPath) is missing; "
                            + "copy the node's key there, or remove public_key to make a new one")
                }
                let keys = try SigningKeyPair()
                try keys.save(to: state.keyPath)
                try keys.savePublicKey(to: state.publicKeyPath, overwrite: true)
            }
            if fresh {
                for file in [state.progressPath, state.trustHistoryPath, state.metricsPath] { try FileSystem.removeFile(file) }
                state.removeCheckpoints(except: nil)
            }
        }
        let missing = t.nodes.contains { !FileSystem.exists(t.resolve($0.data)) }
        if missing {
            guard !t.sources.isEmpty else {
                let names = t.nodes.filter { !FileSystem.exists(t.resolve($0.data)) }.map(\.name)
                throw NodeError("no text for \(names.joined(separator: ", ")) and no sources to generate it from")
            }
            note("writing generated text for \(t.nodes.count) nodes")
            try SyntheticText.write(topology: t, bytesPerNode: bytesPerNode)
        }
        // A fedbiot client's base is the emulator cut from the aligner's; it is made below.
        let emulators = Set(t.nodes.filter { $0.settings.scheme == FedBiOT.schemeName && $0.settings.role == .client }.map(\.settings.baseModel))
        let fedbiotFull = Set(t.nodes.filter { $0.settings.scheme == FedBiOT.schemeName && $0.settings.role == .aligner }.map(\.settings.baseModel))
        for base in Set(t.nodes.map(\.settings.baseModel)).subtracting(emulators) where !base.hasPrefix("random:") {
            let folder = t.resolve(base)
            guard !FileSystem.exists(FileSystem.join(folder, "model.safetensors")) else { continue }
            guard !t.sources.isEmpty else {
                throw NodeError("base model \(folder) is missing; make one with `starling pretrain`")
            }
            note("pretraining the shared base model \(base) on an even mix of \(t.sources.joined(separator: ", "))")
            try pretrainBase(t, to: folder, bytes: bytesPerNode * 2, family: baseFamily,
                             layers: fedbiotFull.contains(base) ? fedbiotBaseLayers : 2)
        }
        try buildEmulators(t, note: note)
    }

    /// Blocks of the generated base of a fedbiot topology: an adapter block and a middle
    /// of three, so that an emulator has a block to drop.
    public static let fedbiotBaseLayers = 4

    /// Cuts each missing fedbiot client base (an emulator folder) out of the aligner's
    /// full base, with the client's `fedbiot` keys, as `starling emulator build` does.
    static func buildEmulators(_ t: Topology, note: (String) -> Void) throws {
        guard let aligner = t.nodes.first(where: { $0.settings.scheme == FedBiOT.schemeName && $0.settings.role == .aligner }),
              !aligner.settings.baseModel.hasPrefix("random:") else { return }
        for node in t.nodes where node.settings.scheme == FedBiOT.schemeName && node.settings.role == .client {
            let base = node.settings.baseModel
            guard !base.hasPrefix("random:") else { continue }
            let folder = t.resolve(base)
            guard !FileSystem.exists(FileSystem.join(folder, "model.safetensors")) else { continue }
            let f = node.settings.fedbiot
            let (config, tensors) = try Checkpoint.load(from: t.resolve(aligner.settings.baseModel))
            let plan = try EmulatorPlan(fullLayers: config.layers, adapterBlocks: f.adapterBlocks, dropRatio: f.dropRatio, layout: f.layout)
            note("cutting the emulator \(base) (blocks \(plan.emulatorBlocks) of \(config.layers)) from \(aligner.settings.baseModel)")
            try EmulatorCheckpoint.save(try EmulatorModel(full: config, parameters: tensors, plan: plan), to: folder)
        }
    }

    /// The default shared base: a GPT-2 of 2 blocks (or `layers`), width 64 (or, for the llama family,
    /// the `random:llama-tiny` shape), trained from scratch (every parameter) for
    /// `baseSteps` steps on an even mixture of the topology's sources, saved in the
    /// Hugging Face layout.
    public static let baseSteps = 200

    static func pretrainBase(_ t: Topology, to folder: String, bytes: Int, family: ModelConfig.Family = .gpt2, layers: Int = 2) throws {
        let text = SyntheticText.text(
            sources: t.sources.compactMap(TextSource.init(rawValue:)), mixture: Array(repeating: 1, count: t.sources.count),
            byteCount: bytes, seed: t.defaults.seed &+ 0x5EED, nodeIndex: t.nodes.count)
        try pretrainBase(t, to: folder, tokens: ByteTokenizer().encode(text), family: family, layers: layers)
    }

    /// The default shared base as above, trained on `tokens` (bytes) instead.
    static func pretrainBase(_ t: Topology, to folder: String, tokens: [Int32], family: ModelConfig.Family = .gpt2, layers: Int = 2) throws {
        let sequenceLength = 64
        let context = max(sequenceLength, t.nodes.map(\.settings.sequenceLength).max() ?? 64)
        var config = ModelConfig(layers: layers, heads: 2, channels: 64, maxSequenceLength: context, vocabularySize: 256)
        if family == .llama {
            config = .llamaTiny
            config.maxSequenceLength = context
        }
        let model = TransformerModel(config: config, lora: nil, seed: t.defaults.seed)
        let trainer = Trainer(model: model, schedule: LearningRateSchedule(peak: 3e-3, totalSteps: baseSteps))
        var sampler = try TextDataset(tokens: tokens)
            .split(fractions: SplitFractions(train: 1, trust: 0, test: 0), sequenceLength: sequenceLength, seed: t.defaults.seed)
            .train.sampler(batchSize: 8, seed: t.defaults.seed)
        try runTraining(trainer, sampler: &sampler, steps: baseSteps)
        try Checkpoint.save(model, to: folder)
    }
}
