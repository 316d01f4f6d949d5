import Foundation
import Learning
import Testing
import Trust

@testable import Schemes

/// A tiny model's adapter with values that are not all zero.
private func adapter(seed: UInt64 = 1, config: ModelConfig = .tiny, lora: LoRAConfig = LoRAConfig(rank: 2)) -> LoRAAdapter {
    var random = SeededGenerator(seed: seed)
    let tensors = config.adapterShapes(lora).map { name, shape in
        NamedTensor(name: name, shape: shape, values: (0..<(shape[0] * shape[1])).map { _ in random.nextSignedUnitFloat() })
    }
    return LoRAAdapter(config: lora, tensors: tensors)
}

private let expectation = PayloadExpectation(scheme: "collaborative", slot: "default", baseDigest: "00112233aabbccdd", layout: adapter())

@Suite struct UpdatePayloadTests {
    @Test func aPayloadDecodesToTheAdapterItCarries() throws {
        let sent = adapter(seed: 7)
        let bytes = try UpdatePayload.encode(sent, scheme: "collaborative", slot: "default", baseDigest: "00112233aabbccdd")
        #expect(try UpdatePayload.decode(bytes, expecting: expectation) == sent)
    }

    @Test func theMetadataSaysWhatThePayloadIs() throws {
        let bytes = try UpdatePayload.encode(adapter(), scheme: "collaborative", slot: "default", baseDigest: "00112233aabbccdd")
        let metadata = try SafeTensors.decode(bytes).metadata
        #expect(metadata["starling.scheme"] == "collaborative")
        #expect(metadata["starling.slot"] == "default")
        #expect(metadata["starling.base"] == "00112233aabbccdd")
        #expect(metadata["starling.kind"] == "lora")
        #expect(metadata["starling.rank"] == "2")
        #expect(metadata["starling.alpha"] == "32.0")
        #expect(metadata["starling.targets"] == "attn.c_attn,attn.c_proj,mlp.c_fc,mlp.c_proj")
        #expect(metadata["starling.blocks"] == "0,1")
    }

    @Test(arguments: [
        ("scheme", UpdateRefusal.Reason.otherAdapter, "starling.scheme is fdlora, expected collaborative"),
        ("slot", .otherAdapter, "starling.slot is personal, expected default"),
        ("base", .otherBase, "base ffffffffffffffff, expected 00112233aabbccdd"),
    ])
    func aPayloadOfAnotherSchemeSlotOrBaseIsRefused(field: String, reason: UpdateRefusal.Reason, detail: String) throws {
        let bytes = try UpdatePayload.encode(
            adapter(), scheme: field == "scheme" ? "fdlora" : "collaborative", slot: field == "slot" ? "personal" : "default",
            baseDigest: field == "base" ? "ffffffffffffffff" : "00112233aabbccdd")
        #expect(throws: UpdateRefusal(reason, detail)) { try UpdatePayload.decode(bytes, expecting: expectation) }
    }

    @Test func anAdapterOfAnotherRankIsRefusedByItsMetadata() throws {
        let bytes = try UpdatePayload.encode(adapter(lora: LoRAConfig(rank: 4)), scheme: "collaborative", slot: "default",
                                             baseDigest: "00112233aabbccdd")
        #expect(throws: UpdateRefusal(.otherAdapter, "starling.rank is 4, expected 2")) { try UpdatePayload.decode(bytes, expecting: expectation) }
    }

    @Test func bytesThatAreNoSafetensorsAreUnreadable() {
        let error = #expect(throws: UpdateRefusal.self) { try UpdatePayload.decode([1, 2, 3], expecting: expectation) }
        #expect(error?.reason == .unreadable)
    }

    @Test func honestMetadataOverTransposedTensorsIsALayoutMismatch() throws {
        var wrong = adapter()
        wrong.tensors[0] = NamedTensor(name: wrong.tensors[0].name, shape: wrong.tensors[0].shape.reversed(), values: wrong.tensors[0].values)
        let bytes = try SafeTensors.encode(
            wrong.tensors.map { NamedTensor(name: PEFTAdapter.peftName($0.name), shape: $0.shape, values: $0.values) },
            metadata: UpdatePayload.metadata(scheme: "collaborative", slot: "default", baseDigest: "00112233aabbccdd", adapter: adapter()))
        let error = #expect(throws: UpdateRefusal.self) { try UpdatePayload.decode(bytes, expecting: expectation) }
        #expect(error?.reason == .unreadable || error?.reason == .layoutMismatch)
    }

    @Test func aNaNIsRefused() throws {
        var poisoned = adapter()
        poisoned.tensors[3].values[5] = .nan
        let bytes = try UpdatePayload.encode(poisoned, scheme: "collaborative", slot: "default", baseDigest: "00112233aabbccdd")
        let error = #expect(throws: UpdateRefusal.self) { try UpdatePayload.decode(bytes, expecting: expectation) }
        #expect(error?.reason == .nonFiniteValues)
    }
}

@Suite struct CollaborativeTests {
    @Test func oneSlotTrainsPublishesAndTakesInTheAggregate() throws {
        let scheme = Collaborative(settings: SchemeSettings(lora: LoRAConfig(rank: 2), localSteps: 5, warmupRounds: 1))
        #expect(scheme.slots.map(\.name) == ["default"])
        #expect(scheme.publishedSlot == "default")
        #expect(scheme.phases(round: 1) == [TrainingPhase(name: "local", trains: [.slot("default")], steps: 5)])
        #expect(!scheme.aggregates(round: 1))
        #expect(scheme.aggregates(round: 2))
        let model = try TransformerModel(config: .tiny, slots: scheme.slots, seed: 1)
        let aggregate = adapter(seed: 9, lora: LoRAConfig(rank: 2))
        try scheme.takeIn(aggregate: aggregate, model: model, round: 2)
        #expect(try model.adapter(named: "default") == aggregate)
    }
}

@Suite struct BottleneckPayloadTests {
    func bottleneck(seed: UInt64, width: Int = 3) -> LoRAAdapter {
        var random = SeededGenerator(seed: seed)
        let tensors = [0, 1].flatMap { b in
            [NamedTensor(name: "h.\(b).adapter.down.weight", shape: [width, 32], values: (0..<(width * 32)).map { _ in random.nextSignedUnitFloat() }),
             NamedTensor(name: "h.\(b).adapter.up.weight", shape: [32, width], values: (0..<(width * 32)).map { _ in random.nextSignedUnitFloat() })]
        }
        return LoRAAdapter(config: LoRAConfig(rank: 2), tensors: tensors)
    }

    var expectation: PayloadExpectation {
        PayloadExpectation(scheme: "pftt", slot: "adapter", baseDigest: "00112233aabbccdd", layout: bottleneck(seed: 1), kind: .bottleneck)
    }

    @Test func aBottleneckPayloadSaysItsKindAndDecodesToItsTensors() throws {
        let sent = bottleneck(seed: 5)
        let bytes = try UpdatePayload.encode(sent, scheme: "pftt", slot: "adapter", baseDigest: "00112233aabbccdd", kind: .bottleneck)
        let metadata = try SafeTensors.decode(bytes).metadata
        #expect(metadata["starling.kind"] == "bottleneck" && metadata["starling.width"] == "3" && metadata["starling.blocks"] == "0,1")
        #expect(metadata["starling.rank"] == nil)
        #expect(try UpdatePayload.decode(bytes, expecting: expectation).tensors == sent.tensors)
    }

    @Test func aBottleneckOfAnotherWidthOrALoRAUpdateIsRefused() throws {
        let wide = try UpdatePayload.encode(bottleneck(seed: 5, width: 4), scheme: "pftt", slot: "adapter", baseDigest: "00112233aabbccdd", kind: .bottleneck)
        #expect(throws: UpdateRefusal(.otherAdapter, "starling.width is 4, expected 3")) { try UpdatePayload.decode(wide, expecting: expectation) }
        let lora = try UpdatePayload.encode(adapter(), scheme: "pftt", slot: "adapter", baseDigest: "00112233aabbccdd")
        #expect(throws: UpdateRefusal(.otherAdapter, "starling.kind is lora, expected bottleneck")) { try UpdatePayload.decode(lora, expecting: expectation) }
    }
}
