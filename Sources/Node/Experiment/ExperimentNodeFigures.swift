// What a finished run's nodes hold beyond the served test perplexity, read back from
// their committed checkpoints: the test perplexity of each part of a two-part scheme's
// served model alone, the fusion weights, and what one update carries.
//
//   fdlora   served = the fusion with (w1, w2);  `global` = global slot alone at scale 1
//            (w = (1, 0));  `personal` = personal slot alone (w = (0, 1))
//   pftt     served = bottleneck adapter + local LoRA;  `adapter` = the adapter without
//            the local LoRA;  `local` = the local LoRA with the adapter zeroed (the
//            identity)
//
// The bytes are those of the encoded payload (`UpdatePayload`: the published slot with
// its metadata), as `NodeModel.payload` hands it to the mesh once per aggregating round;
// the signed envelope and relaying by neighbours come on top.

import Foundation
import Learning
import Schemes

/// Per-node figures of one run.
public struct ExperimentNodeFigures: Sendable, Equatable {
    /// The parts of the served model measured alone (`global`, `personal` for fdlora;
    /// `adapter`, `local` for pftt); empty for one-part schemes.
    public var partNames: [String]
    /// Per node, the test perplexity of each part alone, in `partNames` order.
    public var partPerplexities: [[Double]]
    /// Per node, the fusion weights (w1, w2) of the last round, for schemes that fuse.
    public var fusionWeights: [[Double]?]
    /// Per node, bytes of one update's payload.
    public var payloadBytes: [Int]
    /// Parameters (floats) of the published slot.
    public var publishedParameters: Int
    /// Rounds that published an update (the others are warm-up).
    public var publishedRounds: Int

    public init(
        partNames: [String], partPerplexities: [[Double]], fusionWeights: [[Double]?], payloadBytes: [Int], publishedParameters: Int,
        publishedRounds: Int
    ) {
        self.partNames = partNames
        self.partPerplexities = partPerplexities
        self.fusionWeights = fusionWeights
        self.payloadBytes = payloadBytes
        self.publishedParameters = publishedParameters
        self.publishedRounds = publishedRounds
    }

    /// Mean over nodes of the bytes one node publishes in an aggregating round.
    public var meanPayloadBytes: Double { Statistic(payloadBytes.map(Double.init)).mean }

    /// Reads every node of `t` from its committed state, after a run of `rounds` rounds.
    public static func measure(_ t: Topology, rounds: Int) throws -> ExperimentNodeFigures {
        var names: [String] = [], parts: [[Double]] = [], weights: [[Double]?] = [], bytes: [Int] = []
        var parameters = 0, published = 0
        for i in t.nodes.indices {
            let m = try NodeModel.committed(topology: t, index: i)
            let measured = try partPerplexities(m)
            names = measured.map(\.name)
            parts.append(measured.map(\.perplexity))
            weights.append(m.scheme.fusionWeights)
            bytes.append(try m.payload().count)
            parameters = try m.publishedAdapter().parameterCount
            published = (1...max(1, rounds)).filter { m.scheme.aggregates(round: $0) }.count
        }
        return ExperimentNodeFigures(
            partNames: names, partPerplexities: parts, fusionWeights: weights, payloadBytes: bytes, publishedParameters: parameters,
            publishedRounds: published)
    }

    /// The test perplexity of each part of `m`'s served model alone; the model is set
    /// up as served again after.
    static func partPerplexities(_ m: NodeModel) throws -> [(name: String, perplexity: Double)] {
        let model = m.model
        defer { try? m.scheme.configure(model: model, for: .serving) }
        func alone(_ slots: Set<String>) -> Double {
            model.activeSlots = slots
            model.slotScaleFactors = [:]
            return exp(m.testLossAsConfigured())
        }
        switch m.scheme {
        case is FDLoRA:
            return [(FDLoRA.globalSlot, alone([FDLoRA.globalSlot])), (FDLoRA.personalSlot, alone([FDLoRA.personalSlot]))]
        case is PFTT:
            guard let adapter = model.bottleneck(named: PFTT.adapterSlot) else { throw NodeError("pftt: the model has no bottleneck adapter") }
            let identity = adapter.tensors.map { NamedTensor(name: $0.name, shape: $0.shape, values: Array(repeating: 0, count: $0.count)) }
            let adapterOnly = alone([])
            let localOnly = try model.withBottleneck(identity, named: PFTT.adapterSlot) { alone([PFTT.localSlot]) }
            return [(PFTT.adapterSlot, adapterOnly), (PFTT.localSlot, localOnly)]
        default:
            return []
        }
    }
}
