// FedBiOT's rounds on the bytes that travel: a client publishes its adapter as an
// update payload (UpdatePayload.swift); the aligner aggregates the clients' decoded
// payloads and aligns (FedBiOT.swift), and publishes the aggregate as a payload and
// the emulator as an EmulatorUpdate; a client takes both in, the emulator first, so
// the aggregate lands on the blocks it was aligned with. A node and an in-process
// experiment call these same functions.
//
// The base digest every payload names is the one both sides can compute: the digest
// of the part the emulator and the full model hold alike (everything outside the
// emulated middle, `baseDigest(of:)`), so a client on the emulator, a client on the
// full model and the aligner name one base, and an aligned emulator does not change it.

import Learning

extension FedBiOT {
    /// The digest of `model`'s part outside the emulated middle blocks: equal on the
    /// emulator and on the full model it was cut from, whatever the emulator's blocks hold.
    public func baseDigest(of model: TransformerModel) -> String {
        model.baseDigest(outside: plan.middleBlocks)
    }

    /// What every payload of this scheme must be, for a model whose published slot
    /// looks like `model`'s.
    public func expectation(model: TransformerModel, baseDigest: String) throws -> PayloadExpectation {
        PayloadExpectation(scheme: name, slot: publishedSlot, baseDigest: baseDigest, layout: try published(model: model))
    }

    /// The client's round `round`: the anchor set, then every phase's steps with
    /// `trainer` on batches of `sampler(phase)`; returns the payload of the adapter.
    public func trainRound(
        _ round: Int, model: TransformerModel, trainer: Trainer, baseDigest: String, sampler: (Int) throws -> BatchSampler
    ) throws -> [UInt8] {
        try beginRound(round: round, model: model)
        for (k, phase) in phases(round: round).enumerated() {
            try model.setTrainable(phase.trains)
            var batches = try sampler(k)
            try runTraining(trainer, sampler: &batches, steps: phase.steps)
        }
        return try UpdatePayload.encode(try published(model: model), scheme: name, slot: publishedSlot, baseDigest: baseDigest)
    }

    /// Takes in what the aligner published in round `round`: the emulator update when
    /// there is one, then the aggregate.
    /// - Throws: `UpdateRefusal` when either does not fit this client's model.
    public func takeIn(aggregate: [UInt8], emulator: [UInt8]?, model: TransformerModel, expecting: PayloadExpectation, round: Int) throws {
        if let emulator { try EmulatorUpdate.apply(emulator, to: model, plan: plan) }
        try takeIn(aggregate: try UpdatePayload.decode(aggregate, expecting: expecting), model: model, round: round)
    }
}

extension FedBiOTAligner {
    /// What one aligner round publishes, as bytes.
    public struct PublishedRound {
        /// The payload of the aggregated adapter.
        public var aggregate: [UInt8]
        /// The emulator update, when the round publishes one.
        public var emulator: [UInt8]?
        public var alignment: AlignmentLoss?
    }

    /// Round `round` on the clients' decoded `adapters` (`round(_:adapters:weights:)`),
    /// its aggregate encoded as a payload naming `baseDigest`.
    public func round(_ round: Int, adapters: [LoRAAdapter], baseDigest: String, weights: [Double]? = nil) throws -> PublishedRound {
        let output = try self.round(round, adapters: adapters, weights: weights)
        let aggregate = try UpdatePayload.encode(output.adapter, scheme: FedBiOT.schemeName, slot: FedBiOT.slot, baseDigest: baseDigest)
        return PublishedRound(aggregate: aggregate, emulator: output.emulator, alignment: output.alignment)
    }

    /// The emulator as it stands, as an update of version `version` (what clients get
    /// before the first round).
    public func emulatorUpdate(version: UInt64) throws -> [UInt8] {
        try EmulatorUpdate.encode(emulator, plan: alignment.plan, version: version, as: fedbiot.emulatorDType)
    }
}
