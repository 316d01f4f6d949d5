// starling emulator build: cuts a FedBiOT / Offsite-tuning emulator out of a full
// checkpoint, the file a device trains its adapter on instead of the full model.

import ArgumentParser
import Foundation
import Learning

/// `starling emulator`
struct EmulatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulator",
        abstract: "Build the compressed emulator of a full model that devices tune their adapter on.",
        subcommands: [EmulatorBuild.self])
}

/// `starling emulator build`
struct EmulatorBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Keep the adapter blocks whole and drop middle blocks at a uniform stride.",
        discussion: """
            The adapter is the last --adapter-blocks blocks (--layout fedbiot) or the first
            and the last --adapter-blocks blocks (--layout offsite). Of the n blocks
            between, m = round(n (1 - drop)) stay (ties to even), the i-th at
            floor(i (n - 1) / (m - 1)): the first and the last always stay. The output is a
            checkpoint of the base's family whose config.json lists the kept blocks'
            indices in the full model (starling_blocks), plus emulator.json with the plan.
            Adapters trained on it name full-model blocks, so they plug into the base.

            Example:
              $ starling emulator build --base gpt2 --drop 0.2 --out gpt2-emu
              emulator of gpt2: adapter blocks 10, 11; kept 0, 1, 2, 3, 5, 6, 7, 9; dropped 4, 8
              wrote gpt2-emu (10 of 12 blocks)
            """)

    @Option(help: "The full model: a Hugging Face-layout folder of a GPT-2, Llama or Qwen2.")
    var base: String

    @Option(name: .customLong("drop"), help: "Fraction β of the middle blocks to drop, in [0, 1).")
    var dropRatio: Double

    @Option(help: "Blocks of the adapter (at each end with --layout offsite).")
    var adapterBlocks: Int = 2

    @Option(help: "Where the adapter sits: fedbiot (the last blocks) or offsite (the first and the last).")
    var layout: String = EmulatorLayout.fedbiot.rawValue

    @Option(help: "Precision of the written weights: f32, f16 or bf16.")
    var dtype: String = "f32"

    @Option(help: "Output folder for the emulator.")
    var out: String

    func validate() throws {
        try require("--drop", dropRatio, in: "in [0, 1)") { $0 >= 0 && $0 < 1 }
        try requireBetween(1, largestBlockCount, "--adapter-blocks", adapterBlocks)
        guard EmulatorLayout(rawValue: layout) != nil else {
            throw ValidationError("--layout must be one of \(EmulatorLayout.allCases.map(\.rawValue).joined(separator: ", ")), got \(layout)")
        }
        guard ["f32", "f16", "bf16"].contains(dtype) else {
            throw ValidationError("--dtype must be f32, f16 or bf16, got \(dtype)")
        }
        try requireWritableOutput("--out", out)
    }

    func run() throws {
        let (config, parameters): (ModelConfig, [String: NamedTensor])
        do { (config, parameters) = try Checkpoint.load(from: base) } catch { throw UserError("base model \(base): \(error)") }
        let emulator: EmulatorModel
        do {
            let plan = try EmulatorPlan(fullLayers: config.layers, adapterBlocks: adapterBlocks, dropRatio: dropRatio,
                                        layout: EmulatorLayout(rawValue: layout)!)
            emulator = try EmulatorModel(full: config, parameters: parameters, plan: plan)
        } catch { throw UserError("base model \(base): \(error)") }
        do { try EmulatorCheckpoint.save(emulator, to: out, as: SafeTensors.DType(rawValue: dtype.uppercased())!) } catch {
            throw UserError("\(out): \(error)")
        }
        let plan = emulator.plan
        func list(_ blocks: [Int]) -> String { blocks.isEmpty ? "none" : blocks.map(String.init).joined(separator: ", ") }
        print("emulator of \(base): adapter blocks \(list(plan.adapterBlocks)); kept \(list(plan.keptBlocks)); dropped \(list(plan.droppedBlocks))")
        print("wrote \(out) (\(plan.emulatorBlocks.count) of \(plan.fullLayers) blocks)")
    }
}
