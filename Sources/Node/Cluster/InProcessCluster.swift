// InProcessCluster: every node of a topology as a thread of this process, over
// inproc:// in one ZeroMQ context — what `starling up --in-process`, experiments and
// tests run. Each node keeps its own state folder, keys and mesh exactly as a
// separate process would; only the transport is shared memory.

import Foundation
import Gossip
import Schemes

public final class InProcessCluster: @unchecked Sendable {
    public let topology: Topology
    /// One runtime per node, in topology order.
    public let runtimes: [NodeRuntime]
    private let context: ZMQContext
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var outcomes: [Result<NodeOutcome, any Error>?]

    /// Prepares every node of `t` (their keys, models and text) without starting any.
    /// `schemes` replaces a node's scheme where given; `observers` hear each node's mesh;
    /// `forgers` replace what a node publishes (experiments with attackers).
    public init(
        _ t: Topology, ioThreads: Int32 = 1, schemes: [(any PersonalizationScheme)?]? = nil,
        observers: [(@Sendable (MeshEvent) -> Void)?]? = nil, forgers: [(any UpdateForger)?]? = nil
    ) throws {
        topology = t
        context = try ZMQContext(ioThreads: ioThreads)
        let prefix = "inproc://starling-\(t.name)-\(UUID().uuidString)"
        let endpoints = t.nodes.map { "\(prefix)/\($0.name)" }
        let context = self.context
        runtimes = try t.nodes.indices.map { i in
            try NodeRuntime(topology: t, index: i, context: context, endpoints: endpoints, scheme: schemes?[i] ?? nil,
                            meshObserver: observers?[i] ?? nil, forger: forgers?[i] ?? nil)
        }
        outcomes = Array(repeating: nil, count: t.nodes.count)
    }

    /// Starts every node on a thread of its own. With `stopOnFailure`, a node that fails
    /// asks every other to stop too.
    public func start(stop: StopRequest, stopOnFailure: Bool = false) {
        for (i, runtime) in runtimes.enumerated() {
            group.enter()
            let thread = Thread { [self] in
                let outcome = Result { try runtime.run(stop: stop) }
                lock.withLock { outcomes[i] = outcome }
                if case .failure = outcome, stopOnFailure { stop.request() }
                group.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Waits until every node has ended, or `seconds` have passed; true when all ended.
    public func wait(seconds: Double) -> Bool { group.wait(timeout: .now() + seconds) == .success }

    /// Each node's outcome so far, in topology order (nil while it runs).
    public var results: [Result<NodeOutcome, any Error>?] { lock.withLock { outcomes } }

    /// Runs every node to its end and returns their outcomes.
    public func run(stop: StopRequest = StopRequest(), stopOnFailure: Bool = false) -> [Result<NodeOutcome, any Error>] {
        start(stop: stop, stopOnFailure: stopOnFailure)
        group.wait()
        return results.map { $0! }
    }

    /// The failures, as "node: error" lines, in topology order.
    public func failures() -> [String] {
        zip(runtimes, results).compactMap { runtime, result in
            guard case .failure(let error)? = result else { return nil }
            return "\(runtime.node.name): \(error)"
        }
    }
}
