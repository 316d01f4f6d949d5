// FedBiOTBase: what a node of the fedbiot scheme loads as its base. A client reads
// only the emulator folder `starling emulator build` wrote (its config lists the kept
// blocks, `emulator.json` the plan): it never opens the full model. The aligner
// loads the full model, plans the emulator from it and its `fedbiot` keys, and cuts
// its own copy of the emulator, the one it aligns and publishes.
//
// A `random:` base is drawn from the seed on every node; a client of such a base cuts
// its emulator from the drawn model (tests and the small in-process runs).

import Foundation
import Learning
import Schemes

struct FedBiOTBase {
    let plan: EmulatorPlan
    /// The model this node trains: the emulator on a client, the full model on the aligner.
    let config: ModelConfig
    let tensors: [String: NamedTensor]
    /// The aligner's copy of the emulator (nil on a client).
    let emulator: EmulatorModel?

    /// The base of a fedbiot node, or nil for another scheme (or one given in code).
    static func loadIfFedBiOT(settings: NodeSettings, replaced: Bool, baseDirectory: String, vocabularySize: Int) throws -> FedBiOTBase? {
        guard !replaced, settings.scheme == FedBiOT.schemeName else { return nil }
        return try load(settings: settings, baseDirectory: baseDirectory, vocabularySize: vocabularySize)
    }

    static func load(settings: NodeSettings, baseDirectory: String, vocabularySize: Int) throws(NodeModelError) -> FedBiOTBase {
        let source: ModelSource
        do { source = try ModelSource(parsing: settings.baseModel, baseDirectory: baseDirectory) } catch {
            throw .baseModel(error.description)
        }
        let f = settings.fedbiot
        func plan(_ config: ModelConfig) throws(NodeModelError) -> EmulatorPlan {
            do { return try EmulatorPlan(fullLayers: config.layers, adapterBlocks: f.adapterBlocks, dropRatio: f.dropRatio, layout: f.layout) } catch {
                throw .scheme("fedbiot: \(error)")
            }
        }
        func cut(_ config: ModelConfig, _ tensors: [String: NamedTensor], _ plan: EmulatorPlan) throws(NodeModelError) -> EmulatorModel {
            do { return try EmulatorModel(full: config, parameters: tensors, plan: plan) } catch { throw .baseModel("\(error)") }
        }
        switch source {
        case .random:
            let drawn: TransformerModel
            do { drawn = try source.load(slots: [], seed: settings.seed, vocabularySize: vocabularySize) } catch {
                throw .baseModel(error.description)
            }
            let tensors = Dictionary(uniqueKeysWithValues: drawn.namedParameters().map { ($0.name, $0) })
            let p = try plan(drawn.config), emulator = try cut(drawn.config, tensors, p)
            if settings.role == .aligner { return FedBiOTBase(plan: p, config: drawn.config, tensors: tensors, emulator: emulator) }
            return FedBiOTBase(plan: p, config: emulator.config, tensors: emulator.parameters, emulator: nil)
        case .folder(let folder):
            let planPath = FileSystem.join(folder, EmulatorCheckpoint.planFileName)
            switch settings.role {
            case .client:
                guard FileSystem.exists(planPath) else {
                    throw .baseModel("\(folder): a fedbiot client holds only the emulator; base_model must be the folder `starling emulator build` writes (it has no \(EmulatorCheckpoint.planFileName))")
                }
                do {
                    let p = try EmulatorCheckpoint.loadPlan(from: folder)
                    let (config, tensors) = try Checkpoint.load(from: folder)
                    guard config.blocks == p.emulatorBlocks else {
                        throw NodeModelError.baseModel("\(folder): the checkpoint has blocks \(config.blocks), its plan \(p.emulatorBlocks)")
                    }
                    return FedBiOTBase(plan: p, config: config, tensors: tensors, emulator: nil)
                } catch let error as NodeModelError { throw error } catch { throw .baseModel("\(folder): \(error)") }
            case .aligner:
                guard !FileSystem.exists(planPath) else {
                    throw .baseModel("\(folder) is an emulator; the aligner needs the full model it was cut from")
                }
                let config: ModelConfig, tensors: [String: NamedTensor]
                do { (config, tensors) = try Checkpoint.load(from: folder) } catch { throw .baseModel("\(folder): \(error)") }
                let p = try plan(config)
                return FedBiOTBase(plan: p, config: config, tensors: tensors, emulator: try cut(config, tensors, p))
            }
        }
    }
}
