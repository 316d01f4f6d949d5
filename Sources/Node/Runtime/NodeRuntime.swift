// NodeRuntime: one node's round loop, joining its NodeModel (model, trainer, scheme),
// the gossip mesh, trust and its state folder.
//
//   warm-up rounds:  the scheme's local phases → evaluate → commit
//   later rounds:    the scheme's local phases → publish the published slot, signed
//                    → collect neighbours' updates (until all are in or the round
//                    timeout) → trust row → aggregate → the scheme takes it in
//                    → evaluate → commit
//
// A node restarted after a crash resumes after its last committed round. A node whose
// neighbours are all gone waits for no one and trains on alone.

import Foundation
import Gossip
import Learning
import Logging
import Schemes
import Trust

/// A flag a signal handler or another thread sets to end the run after the current step.
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    public init() {}
    public func request() { lock.withLock { requested = true } }
    public var isRequested: Bool { lock.withLock { requested } }
}

/// How a node's run ended.
public enum NodeOutcome: Sendable, Equatable {
    /// Every round is complete.
    case finished(round: Int)
    /// A stop was requested; `round` is the last committed round.
    case stopped(round: Int)
}

/// Errors that stop a node from starting.
public struct NodeError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public final class NodeRuntime: @unchecked Sendable {
    public let topology: Topology
    public let index: Int
    public let state: StateDirectory
    public var node: TopologyNode { topology.nodes[index] }
    var settings: NodeSettings { node.settings }

    let keys: SigningKeyPair
    /// Every member's public key, in topology order.
    let memberKeys: [PublicKey]
    let nodeModel: NodeModel
    let trustConfig: TrustConfig
    let mixtures: MixtureMatrix?
    let context: ZMQContext
    /// Endpoint of each member (rewritten to inproc:// when nodes share a process).
    let endpoints: [String]
    let log: Logger
    /// Hears every update the mesh accepts and every peer change (on the mesh thread).
    let meshObserver: (@Sendable (MeshEvent) -> Void)?
    /// Replaces what the node publishes (experiments with poisoned updates); nil: honest.
    let forger: (any UpdateForger)?
    /// When each origin's held update arrived, for the copy screen.
    let arrivals = UpdateArrivals()
    /// Each received update decoded once, for prescoring and the candidate list.
    let decoded = DecodedUpdates()
    /// For each origin, its latest update's round and this node's round when it was
    /// first held: how long the origin has been silent, whatever round it is at.
    private var progress: [PublicKey: (round: UInt64, seenAt: Int)] = [:]
    /// The fedbiot scheme's round (FedBiOTRound.swift); nil for the other schemes.
    let fedbiot: FedBiOTNode?

    private let lock = NSLock()
    private var status: NodeStatus
    private var mesh: GossipNode?

    /// Prepares node `index` of `topology`: reads its key and committed state, loads its
    /// model and text. `endpoints` overrides the topology's endpoints (in-process runs);
    /// `scheme` replaces the one the topology names; `meshObserver` hears the mesh's events.
    public init(
        topology: Topology, index: Int, stateDirectory: String? = nil, context: ZMQContext, endpoints: [String]? = nil,
        scheme: (any PersonalizationScheme)? = nil, meshObserver: (@Sendable (MeshEvent) -> Void)? = nil,
        forger: (any UpdateForger)? = nil
    ) throws {
        self.meshObserver = meshObserver
        self.forger = forger
        self.topology = topology
        self.index = index
        let node = topology.nodes[index]
        state = StateDirectory(path: stateDirectory ?? topology.stateDirectory(of: index))
        log = Logger(label: "starling.node.\(node.name)")
        self.context = context
        self.endpoints = endpoints ?? topology.nodes.map(\.endpoint)

        do { keys = try SigningKeyPair.load(from: state.keyPath) } catch {
            throw NodeError("node \(node.name): \(error) (create it with `starling keygen --out \(state.path)`)")
        }
        memberKeys = try Self.memberKeys(topology)
        guard memberKeys[index] == keys.publicKey else {
            throw NodeError("node \(node.name): the key in \(state.keyPath) is \(keys.publicKey.shortDescription)…, "
                + "but the topology lists \(memberKeys[index].shortDescription)… for this node")
        }
        guard let trustConfig = node.settings.trustConfig else {
            throw NodeError("node \(node.name): trust \"\(node.settings.trust)\" with temperature \(node.settings.temperature) is not a trust setting")
        }
        self.trustConfig = trustConfig
        var rows: [String: [Double]] = [:]
        for (i, n) in topology.nodes.enumerated() { if let m = n.mixture { rows[memberKeys[i].description] = m } }
        mixtures = rows.isEmpty ? nil : MixtureMatrix(rows: rows)
        nodeModel = try NodeModel(
            settings: node.settings, dataPath: topology.resolve(node.data), baseDirectory: topology.baseDirectory,
            nodeIndex: index, referencePath: node.settings.reference.map(topology.resolve), scheme: scheme)
        status = NodeStatus(name: node.name, phase: .starting, round: 0, rounds: node.settings.rounds)
        if let scheme = nodeModel.scheme as? FedBiOT, let aligner = FedBiOTNode.aligner(of: topology, keys: memberKeys) {
            fedbiot = try FedBiOTNode(nodeModel: nodeModel, scheme: scheme, role: node.settings.role, alignerKey: aligner, state: state, log: log)
        } else {
            fedbiot = nil
        }
    }

    /// Public keys of every member: from the topology, or from `<state>/<node>/node.pub`.
    public static func memberKeys(_ topology: Topology) throws -> [PublicKey] {
        try topology.nodes.enumerated().map { i, n in
            if let text = n.publicKey, let key = PublicKey(text: text) { return key }
            let path = StateDirectory(path: topology.stateDirectory(of: i)).publicKeyPath
            guard let data = FileManager.default.contents(atPath: path),
                let key = PublicKey(text: String(decoding: data, as: UTF8.self))
            else {
                throw NodeError("node \(n.name) has no public_key in the topology and no readable \(path)")
            }
            return key
        }
    }

    // MARK: Status

    /// A snapshot for the control endpoint.
    public func currentStatus() -> NodeStatus {
        var s = lock.withLock { status }
        if let mesh = lock.withLock({ self.mesh }) {
            let held = mesh.latestUpdates()
            s.peers = mesh.peers().map { p in
                NeighbourStatus(name: p.name, state: p.state.rawValue, latestRound: held[p.publicKey].map { Int($0.round) })
            }
            let c = mesh.counters(), total = c.totals
            s.bytesIn = UInt64(total.bytesIn)
            s.bytesOut = UInt64(total.bytesOut)
            s.messagesIn = UInt64(total.messagesIn)
            s.messagesOut = UInt64(total.messagesOut)
            s.rejections = Dictionary(uniqueKeysWithValues: c.rejections.filter { $0.value > 0 }.map { ("\($0.key)", UInt64($0.value)) })
        }
        return s
    }

    private func update(_ change: (inout NodeStatus) -> Void) { lock.withLock { change(&status) } }

    /// Answers a control request as JSON.
    public func answer(_ request: ControlRequest) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do {
            switch request.command {
            case "status":
                return try encoder.encode(currentStatus())
            case "trust":
                let last = try state.trustHistory().last
                return try encoder.encode(TrustReply(node: node.name, record: last))
            case "history":
                return try encoder.encode(HistoryReply(node: node.name, records: try state.trustHistory()))
            case "block":
                guard let mesh = lock.withLock({ self.mesh }) else { return Data(#"{"error":"the mesh is not running"}"#.utf8) }
                mesh.setBlockedPeers(Set(request.peers ?? []))
                return try encoder.encode(BlockReply(node: node.name, blocked: mesh.blockedPeers().sorted()))
            default:
                return Data(#"{"error":"unknown command; known: status, trust, history, block"}"#.utf8)
            }
        } catch {
            return (try? encoder.encode(["error": "\(error)"])) ?? Data()
        }
    }

    // MARK: The round loop

    /// Runs the remaining rounds. Returns when all are done or `stop` is requested.
    public func run(stop: StopRequest) throws -> NodeOutcome {
        // Resume after the last committed round.
        state.removeCheckpoints(except: (try state.progress())?.checkpoint)
        var progress = try state.progress() ?? NodeProgress(round: 0, step: 0, checkpoint: nil)
        var trustHistory = try state.trustHistory(upTo: progress.round)
        var metrics = try state.metrics(upTo: progress.round)
        if let checkpoint = try state.loadCheckpoint(progress, slots: nodeModel.model.slotNames) {
            try nodeModel.restore(checkpoint)
            log.info("resumed", metadata: ["round": "\(progress.round)", "step": "\(progress.step)"])
        }
        update {
            $0.round = progress.round
            $0.loss = metrics.last?.trainLoss
            $0.testPerplexity = metrics.lastTestPerplexity
        }

        let mesh = try startMesh()
        lock.withLock { self.mesh = mesh }
        let control = try ControlServer(context: context) { [unowned self] in self.answer($0) }
        state.setControlEndpoint(control.endpoint)
        let exporter = try MetricsEndpoint.start(settings.metrics, node: node.name) { [unowned self] in (self.currentStatus(), mesh.counters()) }
        defer {
            exporter?.stop()
            state.setControlEndpoint(nil)
            control.stop()
            mesh.stop()
            lock.withLock { self.mesh = nil }
        }

        let neighbours = Set(topology.neighbours(of: index).map { topology.nodes[$0].name })
        let clock = ContinuousClock()
        var previousCommit: (wall: Double, cpu: Double, peakMiB: Double?)?
        // What the copy screen compares late copies with: the adapters held in the rounds
        // an update may stay a candidate.
        var held = HeldUpdates(rounds: settings.stalenessRounds + 1)
        // The screens every aggregation runs before any strategy sees its peers: copies
        // (of the node's own adapter, of each other, of what it held lately), then the
        // norm bound. What they keep is remembered for the copies of later rounds.
        func screen(own: TrustCandidate, peers: [TrustCandidate], ownStep: Double?, round: Int) -> CandidateScreen {
            let screened = PeerScreen.screen(
                own: own, peers: peers, arrival: arrivals.ranks(of: mesh.latestUpdates()), ownStep: ownStep, held: held,
                norm: NormScreen(bound: settings.screenNorm))
            held.note([own] + screened.kept, round: round)
            return screened
        }
        // Within `trust_every` rounds of the last scored row, the node means to carry that
        // row over and score nothing.
        func carriedRow(round: Int) -> TrustRecord? {
            trustHistory.last { $0.scoredRound == nil && $0.strategy == trustConfig }
                .flatMap { round - $0.round < settings.trustEvery ? $0 : nil }
        }
        while progress.round < settings.rounds {
            let round = progress.round + 1
            let roundStart = clock.now
            let phases = RoundPhases()
            update { $0.phase = .training }
            // What the node publishes before this round's training, for the copy screen's
            // yardstick: how far its own training moves it.
            let startAdapter = nodeModel.scheme.aggregates(round: round) && fedbiot == nil ? try nodeModel.publishedAdapter() : nil
            let (trainLoss, steps) = try nodeModel.train(round: round) { stop.isRequested }
            if stop.isRequested { return .stopped(round: progress.round) }
            let trainingSeconds = (clock.now - roundStart).seconds
            phases.end("training")
            let trainingCPUSeconds = phases.cpuSeconds["training"] ?? 0

            var waitingSeconds = 0.0, trustSeconds = 0.0, candidates = 0
            let aggregates = nodeModel.scheme.aggregates(round: round)
            if aggregates, let fedbiot {
                update { $0.phase = .waiting }
                let waitStart = clock.now
                if fedbiot.role == .aligner {
                    let clients = Set(topology.neighbours(of: index).map { topology.nodes[$0].name })
                    let (n, record) = try fedbiot.alignerRound(
                        round, mesh: mesh, settings: settings, trust: trustConfig, keys: keys, clients: clients, stop: stop,
                        carrying: carriedRow(round: round), screen: { screen(own: $0, peers: $1, ownStep: $2, round: round) })
                    candidates = n
                    if let record { trustHistory.append(record) }
                } else {
                    candidates = try fedbiot.clientRound(round, mesh: mesh, settings: settings, stop: stop) {
                        try self.publish(round: round, mesh: mesh, stop: stop)
                    }
                }
                waitingSeconds = (clock.now - waitStart).seconds
                if stop.isRequested { return .stopped(round: progress.round) }
            } else if aggregates {
                update { $0.phase = .waiting }
                let own = TrustCandidate(id: keys.publicKey.description, adapter: try nodeModel.publishedAdapter())
                let evaluator = PrescoredEvaluator(try nodeModel.evaluator(), config: trustConfig)
                let carryFrom = carriedRow(round: round)
                let (peers, refusals) = try exchange(
                    round: round, mesh: mesh, neighbours: neighbours, stop: stop, phases: phases,
                    whileWaiting: carryFrom != nil ? {} : try prescoring(round: round, own: own.adapter, mesh: mesh, into: evaluator))
                // The exchange's phases, read off the same clock marks as the phases themselves.
                waitingSeconds = ["publish", "wait", "candidates"].reduce(0) { $0 + phases.seconds[$1, default: 0] }
                if stop.isRequested { return .stopped(round: progress.round) }

                update { $0.phase = .trusting }
                let trustStart = clock.now
                // Copies and oversized adapters are left out before any strategy sees them.
                let ownStep = startAdapter.flatMap { $0.hasSameLayout(as: own.adapter) ? AdapterNorm.distance(own.adapter, $0) : nil }
                let screened = screen(own: own, peers: peers, ownStep: ownStep, round: round)
                phases.end("screening")
                // A carried row needs the same candidates as the scored one, each still fit to
                // be weighed; otherwise the round scores afresh.
                var record = try carryFrom.flatMap { TrustRow.carried($0, round: round, own: own, peers: screened.kept) }
                    ?? TrustRow.compute(
                        config: trustConfig, round: round, own: own, peers: screened.kept, evaluator: evaluator, mixtures: mixtures)
                record.exclusions += screened.exclusions + refusals
                phases.end("trust")
                try nodeModel.takeIn(aggregate: TrustAggregation.aggregate(own: own, peers: screened.kept, record: record), round: round)
                // The candidates' adapters are done with; an update still held next round
                // is decoded again then.
                decoded.removeAll()
                phases.end("aggregation")
                trustSeconds = (clock.now - trustStart).seconds
                trustHistory.append(record)
                candidates = peers.count
            }

            update { $0.phase = .evaluating }
            let measuresTest = round % settings.testEvery == 0 || round == settings.rounds
            let testLoss = measuresTest ? try nodeModel.testLoss() : nil
            if let testLoss, aggregates, let fedbiot { fedbiot.noteTest(loss: testLoss) }
            // The scoring and evaluation buffers (31 MiB at GPT-2 124M) are not held
            // through the commit and the idle time before the next round.
            nodeModel.model.releasePassBuffers()
            phases.end("evaluation")
            if let previousCommit {
                phases.note("previous_commit", wall: previousCommit.wall, cpu: previousCommit.cpu)
                phases.notePeak("previous_commit", mebibytes: previousCommit.peakMiB)
            }
            metrics.append(
                RoundMetrics(
                    round: round, trainLoss: trainLoss, testLoss: testLoss, aggregated: aggregates, candidates: candidates,
                    seconds: (clock.now - roundStart).seconds, trainingSeconds: trainingSeconds, waitingSeconds: waitingSeconds,
                    trustSeconds: trustSeconds, fusionWeights: nodeModel.scheme.fusionWeights))
            metrics[metrics.count - 1].schemeFigures = nodeModel.scheme.roundFigures
            metrics[metrics.count - 1].measure(phases, trainingCPUSeconds: trainingCPUSeconds)
            metrics[metrics.count - 1].traffic = MeshTraffic(mesh.counters())
            progress = NodeProgress(round: round, step: progress.step + steps, checkpoint: nil)
            let commitStart = clock.now, commitCPU = threadCPUSeconds()
            try state.commit(
                progress: progress, checkpoint: nodeModel.checkpoint(), baseModel: settings.baseModel, trustHistory: trustHistory,
                metrics: metrics)
            // What the round made and freed goes back before the next round's training.
            HeapReturn.trim()
            previousCommit = ((clock.now - commitStart).seconds, threadCPUSeconds() - commitCPU, PeakResidentMemory.mebibytes())
            exporter?.record(metrics: metrics[metrics.count - 1], trust: aggregates ? trustHistory.last : nil)
            update {
                $0.round = round
                $0.loss = trainLoss
                if let testLoss { $0.testPerplexity = exp(testLoss) }
                $0.fusionWeights = nodeModel.scheme.fusionWeights
                $0.schemeFigures = nodeModel.scheme.roundFigures
            }
            log.info(
                "round complete",
                metadata: [
                    "round": "\(round)", "loss": "\(String(format: "%.4f", trainLoss))",
                    "test_ppl": "\(testLoss.map { String(format: "%.3f", exp($0)) } ?? "-")", "candidates": "\(candidates)",
                ])
        }
        update { $0.phase = .finished }
        // Stay reachable a little so that neighbours still waiting for this round get it.
        lingerForNeighbours(mesh: mesh, neighbours: neighbours, stop: stop)
        return .finished(round: progress.round)
    }

    /// Publishes this round's update (the published slot only) and gathers the
    /// candidates: every other member whose latest update is recent enough and fits,
    /// after waiting (bounded) for the live neighbours. Updates that do not fit come
    /// back as exclusions with their reasons.
    private func exchange(round: Int, mesh: GossipNode, neighbours: Set<String>, stop: StopRequest, phases: RoundPhases,
                          whileWaiting: () throws -> Void) throws
        -> (peers: [TrustCandidate], refusals: [TrustExclusion])
    {
        try publish(round: round, mesh: mesh, stop: stop)
        phases.end("publish")

        // A live neighbour that has published nothing new for `staleness_rounds` of this
        // node's rounds is not waited for. One that publishes but is rounds behind (it was
        // slower, or cut off) is: while this node waits, it catches up, since everything
        // newer than its own round already counts for it.
        noteProgress(mesh.latestUpdates(), round: round)
        let waitFor = Set(mesh.peers().filter { peer in
            guard neighbours.contains(peer.name), peer.state != .gone else { return false }
            let silentSince = progress[peer.publicKey]?.seenAt ?? settings.warmupRounds
            return round - silentSince <= max(1, settings.stalenessRounds)
        }.map(\.publicKey))
        let deadline = Date().addingTimeInterval(Double(settings.roundTimeoutMilliseconds) / 1000)
        while !stop.isRequested && Date() < deadline {
            let got = mesh.waitForUpdates(round: UInt64(round), from: waitFor, timeoutSeconds: min(0.25, max(0, deadline.timeIntervalSinceNow)))
            if got.count == waitFor.count { break }
            // Neighbours that went away meanwhile are no longer waited for.
            let gone = Set(mesh.peers().filter { $0.state == .gone }.map(\.publicKey))
            if waitFor.subtracting(gone).allSatisfy({ got[$0] != nil }) { break }
            try phases.timing("prescoring", whileWaiting)
        }
        phases.end("wait")

        let expected = try nodeModel.expectation()
        let oldest = UInt64(max(0, round - settings.stalenessRounds))
        var peers: [TrustCandidate] = []
        var refusals: [TrustExclusion] = []
        let latest = mesh.latestUpdates()
        noteProgress(latest, round: round)
        decoded.keep(only: Set(latest.values.map(\.digest)))
        for (key, update) in latest where key != keys.publicKey && update.round >= oldest {
            do {
                peers.append(TrustCandidate(id: key.description, adapter: try decoded.adapter(of: update, expecting: expected)))
            } catch {
                refusals.append(TrustExclusion(candidate: key.description, reason: ExclusionReason(error.reason), detail: error.detail))
                log.warning("update refused", metadata: ["origin": "\(key.shortDescription)", "reason": "\(error)"])
            }
        }
        // Updates the mesh refused at receipt are recorded too, unless a usable one is held.
        let candidates = Set(peers.map(\.id))
        for (name, refusal) in mesh.counters().payloadRefusals where refusal.round >= oldest {
            guard let i = topology.nodes.firstIndex(where: { $0.name == name }), !candidates.contains(memberKeys[i].description) else { continue }
            let parts = refusal.reason.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            let reason = UpdateRefusal.Reason(rawValue: parts[0]) ?? .unreadable
            refusals.append(TrustExclusion(candidate: memberKeys[i].description, reason: ExclusionReason(reason),
                                           detail: parts.count > 1 ? parts[1] : refusal.reason))
        }
        // Topology order keeps rows comparable between rounds.
        let order = Dictionary(uniqueKeysWithValues: memberKeys.enumerated().map { ($1.description, $0) })
        phases.end("candidates")
        return (peers.sorted { (order[$0.id] ?? .max) < (order[$1.id] ?? .max) }, refusals.sorted { (order[$0.candidate] ?? .max) < (order[$1.candidate] ?? .max) })
    }

    /// Publishes this round's update: the published slot, or what the forger makes of it.
    private func publish(round: Int, mesh: GossipNode, stop: StopRequest) throws {
        if let forger {
            let context = ForgeContext(
                round: round, honest: try nodeModel.publishedAdapter(), expectation: try nodeModel.expectation(), mesh: mesh,
                ownKey: keys.publicKey, oldestRound: UInt64(max(0, round - settings.stalenessRounds)),
                timeoutSeconds: Double(settings.roundTimeoutMilliseconds) / 1000, stop: stop, encode: nodeModel.encode)
            if let forged = try forger.forge(context) { _ = try mesh.publish(round: UInt64(round), payload: forged) }
        } else {
            _ = try mesh.publish(round: UInt64(round), payload: try nodeModel.payload())
        }
    }

    /// Records, for every origin whose latest held update is new, this node's round.
    private func noteProgress(_ held: [PublicKey: VerifiedUpdate], round: Int) {
        for (key, update) in held where progress[key]?.round != update.round {
            progress[key] = (update.round, round)
        }
    }

    /// What the node does between its waits for updates: score its own adapter, then
    /// each update of this round as soon as it is verified, readable and fit to be a
    /// candidate, so the row at the end of the wait finds those scores done.
    private func prescoring(round: Int, own: LoRAAdapter, mesh: GossipNode, into evaluator: PrescoredEvaluator) throws -> () throws -> Void {
        // Strategies that need no model have nothing to score ahead of time.
        guard trustConfig.strategy.needsEvaluator else { return {} }
        let expected = try nodeModel.expectation()
        var seen: Set<PublicKey> = []
        return {
            try evaluator.prescore(own)
            for (key, update) in mesh.latestUpdates() where key != self.keys.publicKey && update.round == UInt64(round) {
                guard seen.insert(key).inserted else { continue }
                guard let adapter = try? self.decoded.adapter(of: update, expecting: expected),
                      CandidateScreening.exclusion(of: adapter, against: own) == nil else { continue }
                try evaluator.prescore(adapter)
            }
        }
    }

    /// After the last round, waits (bounded by the round timeout) until every live
    /// neighbour has published the final round, so that none waits in vain for relays.
    private func lingerForNeighbours(mesh: GossipNode, neighbours: Set<String>, stop: StopRequest) {
        let live = Set(mesh.peers().filter { neighbours.contains($0.name) && $0.state != .gone }.map(\.publicKey))
        let deadline = Date().addingTimeInterval(Double(settings.roundTimeoutMilliseconds) / 1000)
        while !stop.isRequested && Date() < deadline {
            if mesh.waitForUpdates(round: UInt64(settings.rounds), from: live, timeoutSeconds: 0.25).count == live.count { return }
        }
    }

    private func startMesh() throws -> GossipNode {
        var members: [Member] = []
        for (i, n) in topology.nodes.enumerated() {
            members.append(Member(name: n.name, publicKey: memberKeys[i], endpoint: endpoints[i]))
        }
        var config = MeshConfig(
            keys: keys, endpoint: endpoints[index], members: members,
            neighbours: topology.neighbours(of: index).map { topology.nodes[$0].name })
        config.heartbeatMilliseconds = settings.heartbeatMilliseconds
        config.livenessIntervals = settings.liveness
        config.maxPayloadBytes = settings.maxPayloadBytes
        config.ttl = UInt8(min(255, settings.ttl))
        config.curve = settings.curve
        config.chunkPublisher = fedbiot?.alignerKey
        // An update that is no adapter of this node's published slot and base is refused
        // at receipt: never stored, never relayed, counted and kept with its reason.
        let expected = try nodeModel.expectation()
        config.payloadValidator = { buffer in
            do {
                _ = try UpdatePayload.decode(buffer, expecting: expected)
                return nil
            } catch {
                return "\(error)"
            }
        }
        let (arrivals, observer) = (self.arrivals, meshObserver)
        do {
            return try GossipNode(config: config, context: context) { event in
                if case .update(let update, _) = event { arrivals.note(update) }
                observer?(event)
            }
        } catch {
            throw NodeError("node \(node.name): cannot start gossip on \(endpoints[index]): \(error)")
        }
    }
}

/// The peers a round's screens keep, and the exclusions of the rest with their reasons.
typealias CandidateScreen = (kept: [TrustCandidate], exclusions: [TrustExclusion])

/// Reply to the control endpoint's `trust` request.
public struct TrustReply: Codable, Sendable {
    public var node: String
    public var record: TrustRecord?
}

/// Reply to the control endpoint's `history` request.
public struct HistoryReply: Codable, Sendable {
    public var node: String
    public var records: [TrustRecord]
}

extension Duration {
    /// The duration in seconds as a Double.
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}

extension ExclusionReason {
    /// The exclusion a refused update payload is recorded as.
    init(_ reason: UpdateRefusal.Reason) {
        switch reason {
        case .unreadable: self = .unreadablePayload
        case .otherAdapter: self = .otherAdapter
        case .otherBase: self = .otherBase
        case .layoutMismatch: self = .layoutMismatch
        case .nonFiniteValues: self = .nonFiniteValues
        }
    }
}
