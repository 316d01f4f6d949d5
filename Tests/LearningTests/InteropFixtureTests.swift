// Files crossing between this package and the Python libraries (safetensors, peft).
// tools/fixtures/safetensors_interop.py writes python_written.* and reads what the Swift
// writer made; run with STARLING_WRITE_FIXTURES=1 to rewrite the Swift-made fixtures.

import Foundation
import Testing

@testable import Learning

@Suite struct InteropFixtureTests {
    static let regenerate = ProcessInfo.processInfo.environment["STARLING_WRITE_FIXTURES"] == "1"

    /// The tensors of swift_written_*.safetensors: values from a formula, some of them
    /// F16 subnormals and non-finite.
    static func swiftWrittenTensors() -> [NamedTensor] {
        [
            NamedTensor(name: "alpha", shape: [3, 5], values: (0..<15).map { Float($0) * 0.25 - 1.5 }),
            NamedTensor(name: "beta.weight", shape: [2, 2, 3], values: (0..<12).map { Float(sin(Double($0))) * 100 }),
            NamedTensor(name: "gamma", shape: [4], values: [1e-6, -3e-7, 65000, 0.1]),
            NamedTensor(name: "empty", shape: [0], values: []),
        ]
    }

    static let swiftWrittenMetadata = ["format": "pt", "writer": "starling"]

    static func files() throws -> [(name: String, bytes: [UInt8], dtype: SafeTensors.DType)] {
        try [SafeTensors.DType.f32, .f16].map { dtype in
            let name = "swift_written_\(dtype.rawValue.lowercased()).safetensors"
            return (name, try SafeTensors.encode(swiftWrittenTensors(), metadata: swiftWrittenMetadata, as: dtype), dtype)
        }
    }

    @Test func swiftWriterReproducesTheCommittedFiles() throws {
        if Self.regenerate {
            for file in try Self.files() {
                try FileSystem.writeAtomically(file.bytes, to: Fixture.sourcePath("safetensors/\(file.name)"))
            }
        }
        for file in try Self.files() {
            #expect(try FileSystem.readBytes(Fixture.path("safetensors/\(file.name)")) == file.bytes || Self.regenerate)
        }
    }

    @Test func pythonSawWhatTheSwiftWriterMeant() throws {
        let seen = try Fixture.json("safetensors/seen_by_python.json") as! [String: Any]
        for file in try Self.files() {
            let record = try #require(seen[file.name] as? [String: Any])
            #expect(record["metadata"] as? [String: String] == Self.swiftWrittenMetadata)
            let tensors = record["tensors"] as! [String: [String: Any]]
            let written = try SafeTensors.decode(file.bytes)
            #expect(Set(tensors.keys) == Set(written.tensors.map(\.name)))
            for tensor in written.tensors {
                let entry = tensors[tensor.name]!
                #expect(entry["shape"] as? [Int] == tensor.shape)
                #expect(entry["dtype"] as? String == (file.dtype == .f32 ? "float32" : "float16"))
                let sum = tensor.values.reduce(0.0) { $0 + Double($1) }
                let pythonSum = (entry["sum"] as! NSNumber).doubleValue
                #expect(abs(sum - pythonSum) <= 1e-9 * max(1, abs(sum)), "\(file.name) \(tensor.name): \(sum) vs \(pythonSum)")
            }
        }
    }

    /// The adapter of Fixtures/peft-adapter: rank 4, alpha 8, every target, for tiny-gpt2.
    static func fixtureAdapter() -> LoRAAdapter { sampleAdapter(layers: 2, c: 32) }

    @Test func peftAdapterFixtureIsWhatTheWriterMakes() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        try PEFTAdapter.save(Self.fixtureAdapter(), to: folder.path, baseModel: "tiny-gpt2")
        if Self.regenerate {
            try FileSystem.createDirectory(Fixture.sourcePath("peft-adapter"))
            try PEFTAdapter.save(Self.fixtureAdapter(), to: Fixture.sourcePath("peft-adapter"), baseModel: "tiny-gpt2")
        }
        let name = PEFTAdapter.weightsFileName
        #expect(try FileSystem.readBytes(folder.file(name)) == FileSystem.readBytes(Fixture.path("peft-adapter/\(name)")) || Self.regenerate)
        // The config compared as JSON: key order and spacing are the encoder's business.
        let made = try JSONSerialization.jsonObject(with: Data(FileSystem.readBytes(folder.file(PEFTAdapter.configFileName)))) as! NSDictionary
        let committed = try Fixture.json("peft-adapter/\(PEFTAdapter.configFileName)") as! NSDictionary
        #expect(made == committed || Self.regenerate)
        #expect(try PEFTAdapter.load(from: Fixture.path("peft-adapter")) == Self.fixtureAdapter())
    }

    @Test func peftLoadedTheAdapterOntoTheTinyModel() throws {
        let seen = try Fixture.json("safetensors/seen_by_python.json") as! [String: Any]
        let record = try #require(seen["peft-adapter"] as? [String: Any])
        #expect(record["every_file_tensor_loaded_equal"] as? Bool == true)
        #expect(record["lora_modules_in_model"] as? Int == Self.fixtureAdapter().tensors.count)
        let config = record["config_as_parsed_by_peft"] as! [String: Any]
        #expect(config["peft_type"] as? String == "LORA")
        #expect(config["r"] as? Int == 4)
        #expect((config["lora_alpha"] as? NSNumber)?.doubleValue == 8)
        #expect(config["target_modules"] as? [String] == ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"])
        #expect(config["fan_in_fan_out"] as? Bool == true)
        #expect(config["task_type"] as? String == "CAUSAL_LM")
        // The adapter changes the model's output: the recorded logits are a LoRA reference.
        #expect((record["max_abs_change_from_base_logits"] as! NSNumber).doubleValue > 0.01)
        let weights = (record["weights"] as! [String: Any])["tensors"] as! [String: [String: Any]]
        for tensor in Self.fixtureAdapter().tensors {
            let entry = weights[PEFTAdapter.peftName(tensor.name)]
            #expect(entry?["shape"] as? [Int] == tensor.shape)
        }
    }

    @Test func savedCheckpointFixtureIsWhatTheWriterMakes() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let checkpoint = try GPT2Checkpoint.load(from: Fixture.path("tiny-gpt2"))
        try checkpoint.save(to: folder.path)
        if Self.regenerate { try checkpoint.save(to: Fixture.sourcePath("tiny-gpt2-saved-by-swift")) }
        let name = GPT2Checkpoint.weightsFileName
        #expect(try FileSystem.readBytes(folder.file(name)) == FileSystem.readBytes(Fixture.path("tiny-gpt2-saved-by-swift/\(name)")) || Self.regenerate)
        let made = try JSONSerialization.jsonObject(with: Data(FileSystem.readBytes(folder.file(GPT2Checkpoint.configFileName)))) as! NSDictionary
        let committed = try Fixture.json("tiny-gpt2-saved-by-swift/\(GPT2Checkpoint.configFileName)") as! NSDictionary
        #expect(made == committed || Self.regenerate)
    }

    @Test func transformersLoadedTheSwiftSavedCheckpoint() throws {
        let seen = try Fixture.json("safetensors/seen_by_python.json") as! [String: Any]
        let record = try #require(seen["tiny-gpt2-saved-by-swift"] as? [String: Any])
        #expect(record["loaded_by"] as? String == "GPT2LMHeadModel.from_pretrained")
        #expect(record["missing_keys"] as? [String] == [])
        #expect(record["unexpected_keys"] as? [String] == [])
        #expect(record["every_weight_equal_to_original"] as? Bool == true)
        // The same weights give the logits of the original checkpoint (up to float64
        // summation order).
        #expect((record["max_abs_logit_difference_from_reference"] as! NSNumber).doubleValue < 1e-9)
    }

    @Test func readsWhatPythonSafetensorsWrote() throws {
        let file = try SafeTensors.read(from: Fixture.path("safetensors/python_written.safetensors"))
        let reference = try Fixture.json("safetensors/python_written.json") as! [String: Any]
        #expect(file.metadata == reference["metadata"] as? [String: String])
        let tensors = reference["tensors"] as! [String: [String: Any]]
        #expect(Set(file.tensors.map(\.name)) == Set(tensors.keys))
        for (name, entry) in tensors {
            let tensor = try #require(file[name])
            #expect(tensor.shape == entry["shape"] as! [Int])
            #expect(file.storedTypes[name]?.rawValue == entry["dtype"] as? String)
            let expected = (entry["values"] as! [Any]).map(decodeJSONFloat)
            #expect(tensor.values.count == expected.count)
            for (value, want) in zip(tensor.values, expected) {
                if want.isNaN {
                    #expect(value.isNaN, "\(name)")
                } else {
                    // Every value is a Float; the JSON text holds it exactly, but the
                    // JSON parser may miss the last bits of a tiny double.
                    #expect(value == Float(want), "\(name)")
                    #expect(value.sign == want.sign, "\(name): sign of \(want)")
                }
            }
        }
        // Among them: F16 subnormals, BF16 subnormals, infinities.
        #expect(file["weights.f16"]!.values.contains(0x1p-24))
        #expect(file["weights.bf16"]!.values.contains { $0 != 0 && abs($0) < Float.leastNormalMagnitude })
        #expect(file["weights.bf16"]!.values.contains(-.infinity))
    }
}
