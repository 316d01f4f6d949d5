// EmulatorCheckpoint: an emulator on disk, a Hugging Face-layout checkpoint of its
// family (whose config lists the source block indices as `starling_blocks`) plus
// `emulator.json`, the plan it was cut by, so a device knows which blocks are its
// adapter without ever reading the full model.

import Foundation

public enum EmulatorCheckpoint {
    public static let planFileName = "emulator.json"

    /// Writes `emulator` into `directory`: `config.json`, `model.safetensors` (in
    /// `dtype`) and `emulator.json`.
    public static func save(_ emulator: EmulatorModel, to directory: String, as dtype: SafeTensors.DType = .f32) throws {
        switch emulator.config.family {
        case .gpt2: try GPT2Checkpoint(config: emulator.config, parameters: emulator.parameters).save(to: directory, as: dtype)
        case .llama: try LlamaCheckpoint(config: emulator.config, parameters: emulator.parameters).save(to: directory, as: dtype)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = try encoder.encode(emulator.plan)
        try FileSystem.writeAtomically(Array(json) + [0x0A], to: FileSystem.join(directory, planFileName))
    }

    /// The plan in `directory`'s `emulator.json`.
    public static func loadPlan(from directory: String) throws -> EmulatorPlan {
        let path = FileSystem.join(directory, planFileName)
        let bytes = try FileSystem.readBytes(path)
        do { return try JSONDecoder().decode(EmulatorPlan.self, from: Data(bytes)) } catch {
            throw EmulatorError("\(path): not an emulator plan: \(describe(error))")
        }
    }
}
