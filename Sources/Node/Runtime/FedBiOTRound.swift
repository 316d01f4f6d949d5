// FedBiOTRound: the round of a fedbiot node after its local steps, in place of the
// trust row of the other schemes (README "FedBiOT").
//
//   client:  publish the adapter → wait for the aligner's aggregate of the round →
//            take it in; every complete, verified emulator the aligner sent replaces
//            the emulator's kept blocks (and is kept in the state folder for a restart)
//   aligner: wait for the clients' adapters → aggregate (fedavg over the clients, or
//            the trust row of the configured strategy) → E alignment steps on public
//            text → publish the emulator's chunks (every `emulator_every` rounds) and
//            then the aggregate, over the one link order, so a client holding the
//            aggregate holds the chunks sent before it
//
// Emulator chunks travel as CHUNK messages, which the mesh takes only from the aligner
// the topology names and keeps apart from the latest-update-per-origin store.

import Foundation
import Gossip
import Learning
import Logging
import Schemes
import Trust

final class FedBiOTNode {
    /// The largest emulator chunk, within the mesh's maximum payload.
    static let chunkBytes = 1 << 20

    let scheme: FedBiOT
    let nodeModel: NodeModel
    let role: FedBiOTRole
    let alignerKey: PublicKey
    /// The client's chunks on disk (resumable), under `<state>/emulator`.
    let assembler: EmulatorAssembler?
    /// The newest emulator applied (a client, kept for a restart) or published (the aligner).
    let emulatorPath: String
    /// The version (aligner round) of the emulator in use; 0: the one built at the start.
    private(set) var emulatorVersion: UInt64 = 0
    /// Emulators whose assembled file did not apply.
    private(set) var unusable = 0
    let log: Logger

    init(nodeModel: NodeModel, scheme: FedBiOT, role: FedBiOTRole, alignerKey: PublicKey, state: StateDirectory, log: Logger) throws {
        self.nodeModel = nodeModel
        self.scheme = scheme
        self.role = role
        self.alignerKey = alignerKey
        self.log = log
        emulatorPath = FileSystem.join(state.path, "emulator.safetensors")
        if role == .client {
            assembler = try EmulatorAssembler(directory: FileSystem.join(state.path, "emulator"), aligner: alignerKey)
            if FileSystem.exists(emulatorPath) { apply(try FileSystem.readBytes(emulatorPath), keep: false) }
        } else {
            assembler = nil
        }
    }

    /// The aligner named in `topology` and its key.
    static func aligner(of topology: Topology, keys: [PublicKey]) -> PublicKey? {
        topology.nodes.firstIndex { $0.settings.scheme == FedBiOT.schemeName && $0.settings.role == .aligner }.map { keys[$0] }
    }

    // MARK: Client

    /// Takes in the chunks the mesh holds; applies an emulator once one is complete.
    func takeChunks(_ mesh: GossipNode) {
        guard let assembler else { return }
        for bytes in mesh.takeChunks() {
            if case .complete(_, let file) = assembler.receive(bytes) { apply(file, keep: true) }
        }
    }

    private func apply(_ file: [UInt8], keep: Bool) {
        do {
            let version = try EmulatorUpdate.apply(file, to: nodeModel.model, plan: scheme.plan)
            if keep { try FileSystem.writeAtomically(file, to: emulatorPath) }
            emulatorVersion = version
            log.info("emulator replaced", metadata: ["version": "\(version)"])
        } catch {
            unusable += 1
            log.warning("emulator refused", metadata: ["reason": "\(error)"])
        }
    }

    /// What the client reports before the test text is read: the emulator's version and
    /// refused chunks (AdapEmu follows in `noteTest`).
    private func clientFigures() -> [String: Double] {
        var figures = ["emulator_version": Double(emulatorVersion), "emulator_unusable": Double(unusable)]
        for (reason, count) in assembler?.refusals ?? [:] { figures["emulator_refused_\(reason)"] = Double(count) }
        return figures
    }

    /// Publishes the adapter (`publish`) and takes the aligner's aggregate of `round` in.
    /// Returns 1 when the aggregate came, 0 when the round timed out without it.
    func clientRound(_ round: Int, mesh: GossipNode, settings: NodeSettings, stop: StopRequest, publish: () throws -> Void) throws -> Int {
        takeChunks(mesh)
        try publish()
        let deadline = Date().addingTimeInterval(Double(settings.roundTimeoutMilliseconds) / 1000)
        var aggregate: VerifiedUpdate?
        while !stop.isRequested && Date() < deadline && aggregate == nil {
            aggregate = mesh.waitForUpdates(round: UInt64(round), from: [alignerKey], timeoutSeconds: min(0.25, max(0, deadline.timeIntervalSinceNow)))[alignerKey]
            takeChunks(mesh)
        }
        var taken = 0
        if let aggregate {
            do {
                try nodeModel.takeIn(aggregate: try UpdatePayload.decode(aggregate.payload.bytes, expecting: try nodeModel.expectation()), round: round)
                taken = 1
            } catch {
                log.warning("aggregate refused", metadata: ["reason": "\(error)"])
            }
        } else if !stop.isRequested {
            log.warning("no aggregate from the aligner", metadata: ["round": "\(round)"])
        }
        takeChunks(mesh)
        scheme.figures = clientFigures()
        return taken
    }

    // MARK: Aligner

    /// Gathers the clients' adapters of `round`, aggregates and aligns, publishes the
    /// emulator (when due) and the aggregate. Returns how many adapters came, and the
    /// round's row: uniform over the clients `screen` keeps under `fedavg`, else the trust
    /// row of the configured strategy (`carrying`'s row when it still fits, under
    /// `trust_every`), with the screen's exclusions and the refused updates.
    ///
    /// `screen` is the node's copy and norm screens. The aligner trains no adapter of its
    /// own this round; every client started from the aggregate it published last (its
    /// own adapter), so the median of the clients' distances from it stands for the step
    /// of a round that bounds a copy.
    func alignerRound(
        _ round: Int, mesh: GossipNode, settings: NodeSettings, trust: TrustConfig, keys: SigningKeyPair, clients: Set<String>,
        stop: StopRequest, carrying: TrustRecord?,
        screen: (_ own: TrustCandidate, _ peers: [TrustCandidate], _ ownStep: Double?) -> CandidateScreen
    ) throws -> (candidates: Int, record: TrustRecord?) {
        guard let aligner = nodeModel.aligner else { throw NodeError("the fedbiot aligner has no emulator to align") }
        let live = Set(mesh.peers().filter { clients.contains($0.name) && $0.state != .gone }.map(\.publicKey))
        let deadline = Date().addingTimeInterval(Double(settings.roundTimeoutMilliseconds) / 1000)
        while !stop.isRequested && Date() < deadline {
            let got = mesh.waitForUpdates(round: UInt64(round), from: live, timeoutSeconds: min(0.25, max(0, deadline.timeIntervalSinceNow)))
            let gone = Set(mesh.peers().filter { $0.state == .gone }.map(\.publicKey))
            if live.subtracting(gone).allSatisfy({ got[$0] != nil }) { break }
        }
        if stop.isRequested { return (0, nil) }
        let expected = try nodeModel.expectation()
        let oldest = UInt64(max(0, round - settings.stalenessRounds))
        var peers: [TrustCandidate] = []
        var refusals: [TrustExclusion] = []
        for (key, update) in mesh.latestUpdates() where key != keys.publicKey && update.round >= oldest {
            do {
                peers.append(TrustCandidate(id: key.description, adapter: try UpdatePayload.decode(update.payload.bytes, expecting: expected)))
            } catch {
                refusals.append(TrustExclusion(candidate: key.description, reason: ExclusionReason(error.reason), detail: error.detail))
                log.warning("update refused", metadata: ["origin": "\(key.shortDescription)", "reason": "\(error)"])
            }
        }
        peers.sort { $0.id < $1.id }
        let own = TrustCandidate(id: keys.publicKey.description, adapter: try nodeModel.publishedAdapter())
        let screened = screen(own, peers, DuplicateScreen.medianStep(of: peers, from: own.adapter))
        for e in screened.exclusions {
            log.warning("client left out", metadata: ["origin": "\(e.candidate.prefix(8))", "reason": "\(e.reason)", "detail": "\(e.detail)"])
        }
        // A row that takes no scoring (uniform, or the aligner alone) is recorded at 0 ms.
        var record: TrustRecord?
        let output: FedBiOTAligner.RoundOutput
        if screened.kept.isEmpty {
            // No client this round (or none fit): the aggregate stays; the emulator is still aligned.
            output = try aligner.round(round, adapters: [own.adapter])
            if !peers.isEmpty || !refusals.isEmpty {
                record = TrustRecord(round: round, strategy: trust, candidates: [own.id], scores: [nil], weights: [1], exclusions: [], milliseconds: 0)
            }
        } else if trust.strategy == .fedavg {
            let n = screened.kept.count
            output = try aligner.round(round, adapters: screened.kept.map(\.adapter))
            record = TrustRecord(
                round: round, strategy: trust, candidates: [own.id] + screened.kept.map(\.id), scores: Array(repeating: nil, count: n + 1),
                weights: [0] + Array(repeating: 1 / Double(n), count: n), exclusions: [], milliseconds: 0)
        } else {
            let row = try carrying.flatMap { TrustRow.carried($0, round: round, own: own, peers: screened.kept) }
                ?? TrustRow.compute(config: trust, round: round, own: own, peers: screened.kept, evaluator: try nodeModel.evaluator(), mixtures: nil)
            record = row
            output = try aligner.round(round, adapters: [TrustAggregation.aggregate(own: own, peers: screened.kept, record: row)])
        }
        record?.exclusions += screened.exclusions + refusals
        if let emulator = output.emulator {
            let chunks = try EmulatorChunk.split(emulator, version: UInt64(round), maxPayloadBytes: min(Self.chunkBytes, settings.maxPayloadBytes), keys: keys)
            let interval = Double(scheme.fedbiot.chunkIntervalMilliseconds ?? 0) / 1000
            for (k, chunk) in chunks.enumerated() {
                if k > 0 && interval > 0 { Thread.sleep(forTimeInterval: interval) }
                try mesh.publishChunk(round: UInt64(round), payload: chunk, replacing: k == 0)
            }
            // Kept as sent: what every client's verified copy must equal byte for byte.
            try FileSystem.writeAtomically(emulator, to: emulatorPath)
            emulatorVersion = UInt64(round)
        }
        _ = try mesh.publish(round: UInt64(round), payload: try nodeModel.encode(output.adapter))
        var figures = ["emulator_version": Double(emulatorVersion)]
        if let loss = output.alignment {
            figures["align_loss"] = Double(loss.total)
            figures["align_nmse"] = Double(loss.hidden)
            figures["align_kl"] = Double(loss.distribution)
        }
        scheme.figures = figures
        return (peers.count, record)
    }

    // MARK: Test perplexity

    /// Adds the round's perplexities to the scheme's figures once the node has read its
    /// test text (every `test_every`-th round and the last): AdapEmu for a client, whose
    /// model is the emulator, so that it is the node's own test loss; for the aligner
    /// AdapFu, the aggregate in its full model (its own test loss), and AdapEmu, the
    /// aggregate on the aligned emulator.
    func noteTest(loss: Double) {
        var figures = scheme.figures ?? [:]
        switch role {
        case .client:
            figures["adap_emu_ppl"] = exp(loss)
        case .aligner:
            figures["adap_fu_ppl"] = exp(loss)
            if let aligner = nodeModel.aligner {
                figures["adap_emu_ppl"] = exp(Double(aligner.emulator.evaluateLoss(batches: nodeModel.testBatches)))
            }
        }
        scheme.figures = figures
    }
}
