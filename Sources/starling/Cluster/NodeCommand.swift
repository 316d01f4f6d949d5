import ArgumentParser
import Foundation
import Gossip
import Learning
import Logging
import Node

/// `starling node`: runs one node of a topology in this process.
struct NodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run one node of a topology until its rounds are done.",
        discussion: """
            The node trains on its own text, gossips its signed adapter to its neighbours,
            weighs them by trust and aggregates, committing its state after every round.
            Killed at any moment, it resumes from its last completed round when started
            again. SIGINT or SIGTERM stops it after the current step.

            Example:
              $ starling node --topology topologies/demo.toml --name alice
            """
    )

    @Option(help: "The topology file.")
    var topology: String

    @Option(help: "This node's name in the topology.")
    var name: String

    @Option(help: "State folder (default: the topology's state root / name).")
    var state: String?

    @Option(help: "BLAS threads for this node.")
    var threads: Int = 1

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        try requireAtLeast(1, "--threads", threads)
    }

    func run() throws {
        global.bootstrapLogging()
        Parallel.setThreads(threads)
        let t: Topology
        do { t = try TopologyParser.load(path: topology) } catch { throw UserError("\(error)") }
        guard let index = t.index(of: name) else {
            throw UserError("\(topology) has no node \"\(name)\" (nodes: \(t.nodes.map(\.name).joined(separator: ", ")))")
        }
        let stop = StopRequest()
        let trap = SignalTrap { _ in stop.request() }
        defer { withExtendedLifetime(trap) {} }
        let outcome: NodeOutcome
        do {
            let context = try ZMQContext(ioThreads: t.nodes[index].settings.curve ? 2 : 1)
            let runtime = try NodeRuntime(topology: t, index: index, stateDirectory: state, context: context)
            outcome = try runtime.run(stop: stop)
        } catch {
            throw UserError("\(error)")
        }
        switch outcome {
        case .finished(let round): print("\(name): finished after round \(round)")
        case .stopped(let round): print("\(name): stopped; round \(round) is the last one saved")
        }
    }
}
