// A node's numbers for a fleet's monitoring, in Prometheus's text format. The values go
// through swift-metrics (counters, gauges, timers) into a Prometheus registry of the
// node's own, so several nodes in one process keep apart and nothing is set globally.
//
// Two kinds of value: those a round produces (losses, perplexity, the trust row, phase
// times), recorded when the round is committed; and those that move all the time
// (traffic, refusals, peer states, the current phase), read from the node when scraped.
// The mesh counts traffic and refusals as running totals: each scrape adds the growth
// since the last one to the swift-metrics counters.

import CoreMetrics
import Foundation
import Gossip
import Prometheus
import Trust

/// Every metric of one node, and the text a scrape gets.
public final class NodeMetrics: @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let node: String
    private let lock = NSLock()

    private let round, rounds, trainLoss, testLoss, testPerplexity: CoreMetrics.Gauge
    private let trustEntropy, trustSelfWeight, trustCandidates: CoreMetrics.Gauge
    private var phaseSeconds: [String: CoreMetrics.Gauge] = [:]
    private var phaseTimers: [String: CoreMetrics.Timer] = [:]
    private var counters: [String: CoreMetrics.Counter] = [:]
    /// The running totals the counters last reached, by the same key.
    private var totals: [String: Int] = [:]

    /// The phases of a round that are timed.
    public static let timedPhases = ["training", "waiting", "trust", "round"]

    public init(node: String) {
        self.node = node
        var factory = PrometheusMetricsFactory(registry: registry)
        // Rounds last from a fraction of a second to many minutes.
        factory.durationHistogramBuckets["starling_round_phase_seconds"] = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900].map {
            Duration.milliseconds(Int64($0 * 1000))
        }
        self.factory = factory
        func gauge(_ name: String) -> CoreMetrics.Gauge { CoreMetrics.Gauge(label: name, dimensions: [("node", node)], factory: factory) }
        round = gauge("starling_round")
        rounds = gauge("starling_rounds")
        trainLoss = gauge("starling_train_loss")
        testLoss = gauge("starling_test_loss")
        testPerplexity = gauge("starling_test_perplexity")
        trustEntropy = gauge("starling_trust_row_entropy")
        trustSelfWeight = gauge("starling_trust_self_weight")
        trustCandidates = gauge("starling_trust_candidates")
        for phase in Self.timedPhases {
            let d = [("node", node), ("phase", phase)]
            phaseSeconds[phase] = CoreMetrics.Gauge(label: "starling_last_round_phase_seconds", dimensions: d, factory: factory)
            phaseTimers[phase] = CoreMetrics.Timer(label: "starling_round_phase_seconds", dimensions: d, factory: factory)
        }
        // Every refusal reason from the start, so a scraper sees the counters at zero.
        for reason in RejectionReason.allCases { _ = counter("starling_rejections_total", [("reason", reason.rawValue)]) }
    }

    /// The counter `name` with `labels` (and this node's), made on first use.
    private func counter(_ name: String, _ labels: [(String, String)]) -> (key: String, counter: CoreMetrics.Counter) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        if let c = counters[key] { return (key, c) }
        let c = CoreMetrics.Counter(label: name, dimensions: [("node", node)] + labels, factory: factory)
        counters[key] = c
        return (key, c)
    }

    /// Brings counter `name` with `labels` up to the running total `total`.
    private func advance(_ name: String, _ labels: [(String, String)] = [], to total: Int) {
        let (key, c) = counter(name, labels)
        let grown = total - (totals[key] ?? 0)
        if grown > 0 { c.increment(by: grown) }
        totals[key] = max(total, totals[key] ?? 0)
    }

    /// Records a committed round: its losses, perplexity, phase times and, when it
    /// aggregated, the entropy and self-weight of its trust row.
    public func record(metrics m: RoundMetrics, trust: TrustRecord?) {
        lock.withLock {
            round.record(m.round)
            trainLoss.record(m.trainLoss)
            if let loss = m.testLoss {
                testLoss.record(loss)
                testPerplexity.record(exp(loss))
            }
            let times = ["training": m.trainingSeconds, "waiting": m.waitingSeconds, "trust": m.trustSeconds, "round": m.seconds]
            for (phase, seconds) in times {
                phaseSeconds[phase]?.record(seconds)
                phaseTimers[phase]?.recordNanoseconds(Int64((seconds * 1e9).rounded()))
            }
            if let trust {
                trustEntropy.record(-trust.weights.reduce(0) { $0 + ($1 > 0 ? $1 * log($1) : 0) })
                trustSelfWeight.record(trust.weights.first ?? 0)
                trustCandidates.record(trust.weights.count)
            }
        }
    }

    /// Takes in what moves between rounds: the node's status (round, phase, peers, and
    /// values restored from its state on start) and the mesh's running totals.
    public func observe(status: NodeStatus, mesh: MeshCounters?) {
        lock.withLock {
            round.record(status.round)
            rounds.record(status.rounds)
            if let l = status.loss { trainLoss.record(l) }
            if let p = status.testPerplexity {
                testPerplexity.record(p)
                testLoss.record(log(p))
            }
            for phase in ["starting", "training", "waiting", "trusting", "evaluating", "finished", "stopping", "stopped"] {
                CoreMetrics.Gauge(label: "starling_phase", dimensions: [("node", node), ("phase", phase)], factory: factory)
                    .record(status.phase.rawValue == phase ? 1 : 0)
            }
            for peer in status.peers {
                for state in PeerState.allCases {
                    CoreMetrics.Gauge(label: "starling_peer_state", dimensions: [("node", node), ("peer", peer.name), ("state", state.rawValue)], factory: factory)
                        .record(peer.state == state.rawValue ? 1 : 0)
                }
            }
            guard let mesh else { return }
            for (peer, c) in mesh.peers {
                advance("starling_bytes_in_total", [("peer", peer)], to: c.bytesIn)
                advance("starling_bytes_out_total", [("peer", peer)], to: c.bytesOut)
                advance("starling_messages_in_total", [("peer", peer)], to: c.messagesIn)
                advance("starling_messages_out_total", [("peer", peer)], to: c.messagesOut)
                advance("starling_messages_dropped_total", [("peer", peer)], to: c.dropped)
            }
            for (reason, n) in mesh.rejections { advance("starling_rejections_total", [("reason", reason.rawValue)], to: n) }
            advance("starling_admissions_refused_total", to: mesh.admissionsRefused)
            advance("starling_updates_accepted_total", to: mesh.updatesAccepted)
            advance("starling_updates_relayed_total", to: mesh.updatesRelayed)
        }
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}

/// A node's metrics served over HTTP, refreshed from the node at each scrape.
public final class MetricsEndpoint: @unchecked Sendable {
    public let metrics: NodeMetrics
    private let server: MetricsHTTPServer

    /// Serves node `node`'s metrics on `address`; `snapshot` gives its status and the
    /// mesh's counters at the moment of a scrape.
    public init(address: MetricsAddress, node: String, snapshot: @escaping @Sendable () -> (NodeStatus, MeshCounters?)) throws {
        let metrics = NodeMetrics(node: node)
        self.metrics = metrics
        server = try MetricsHTTPServer(address: address) {
            let (status, mesh) = snapshot()
            metrics.observe(status: status, mesh: mesh)
            return metrics.exposition()
        }
    }

    /// Records a committed round (see `NodeMetrics.record`).
    public func record(metrics m: RoundMetrics, trust: TrustRecord?) { metrics.record(metrics: m, trust: trust) }

    public func stop() { server.stop() }
}

extension MetricsEndpoint {
    /// The endpoint of node `node` when its settings name an address, else nil.
    public static func start(
        _ address: MetricsAddress?, node: String, snapshot: @escaping @Sendable () -> (NodeStatus, MeshCounters?)
    ) throws -> MetricsEndpoint? {
        guard let address else { return nil }
        do { return try MetricsEndpoint(address: address, node: node, snapshot: snapshot) } catch {
            throw NodeError("node \(node): cannot serve metrics on \(address): \(error)")
        }
    }
}
