import ArgumentParser
import Foundation
import Gossip
import Learning
import Logging
import Node

/// `starling up`: a whole topology on this machine.
struct UpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run every node of a topology on this machine and show their progress.",
        discussion: """
            Starts one child process per node (or, with --in-process, one thread per node
            over inproc:// in this process), shows a live table, and at the end prints the
            trust graph and each node's test perplexity. Missing keys, missing generated
            text and a missing shared base model (pretrained on the generated text) are
            made first. Ctrl-C stops every node cleanly; run the same
            command again to resume from the last completed rounds (--fresh starts over).

            Example:
              $ starling up topologies/demo.toml
            """
    )

    @Argument(help: "The topology file.")
    var topology: String

    @Flag(help: "Run the nodes as threads of this process, linked over inproc://.")
    var inProcess = false

    @Flag(help: "Forget earlier progress (keeps keys and text) and start from round 1.")
    var fresh = false

    @Option(help: "BLAS threads per node (default: the cores shared out among the nodes, at least 1).")
    var threads: Int?

    @Option(help: "Bytes of generated text per node, when it has to be made.")
    var bytes: Int = 200_000

    @Option(help: "Family of a base model that is missing and has to be pretrained: gpt2 or llama (the random:llama-tiny shape).")
    var baseFamily: String = "gpt2"

    @Flag(help: "No colours and no live redraw, even on a terminal.")
    var plain = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let threads { try requireAtLeast(1, "--threads", threads) }
        try requireAtLeast(1, "--bytes", bytes)
    }

    func run() throws {
        global.bootstrapLogging()
        let t: Topology
        do { t = try TopologyParser.load(path: topology) } catch { throw UserError("\(error)") }
        do {
            guard let family = ModelConfig.Family(rawValue: baseFamily) else { throw UserError("--base-family must be gpt2 or llama") }
            try ClusterPreparation.prepare(t, bytesPerNode: bytes, fresh: fresh, baseFamily: family) { print("starling up: \($0)") }
        } catch {
            throw UserError("\(error)")
        }
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let perNode = threads ?? max(1, cores / t.nodes.count)
        let interactive = !plain && isatty(STDOUT_FILENO) != 0
        let stop = StopRequest()
        let trap = SignalTrap { _ in stop.request() }
        defer { withExtendedLifetime(trap) {} }

        print("starling up: \(t.nodes.count) nodes of \(t.name), \(t.edges.count) edges (\(t.shape.rawValue)), "
            + "\(inProcess ? "threads in this process" : "one process each"), \(perNode) BLAS thread\(perNode == 1 ? "" : "s") per node")
        let failures: [String]
        if inProcess {
            failures = try runInProcess(t, threads: perNode, stop: stop, interactive: interactive)
        } else {
            failures = try runProcesses(t, threads: perNode, stop: stop, interactive: interactive)
        }
        try printSummary(t, color: interactive)
        if !failures.isEmpty {
            throw UserError("node\(failures.count == 1 ? "" : "s") failed: \(failures.joined(separator: "; "))")
        }
    }

    /// Child processes, watched through their control endpoints.
    func runProcesses(_ t: Topology, threads: Int, stop: StopRequest, interactive: Bool) throws -> [String] {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let members = t.nodes.indices.map { i in
            let state = StateDirectory(path: t.stateDirectory(of: i))
            return ProcessGroup.Member(
                name: t.nodes[i].name,
                arguments: ["node", "--topology", topology, "--name", t.nodes[i].name, "--threads", "\(threads)",
                    "--log-level", global.logLevel.rawValue],
                logPath: state.logPath, environment: ["OPENBLAS_NUM_THREADS": "\(threads)"])
        }
        let group = ProcessGroup(executable: executable, members: members)
        try group.start()
        var display = LiveDisplay(interactive: interactive)
        while group.anyRunning {
            if stop.isRequested {
                display.note("stopping every node (after its current step)…")
                group.stop(gracePeriodSeconds: 30)
                break
            }
            display.show(StatusTable.render(zip(t.nodes.map(\.name), try ClusterReader.statuses(t, offlinePhase: .starting)).map { ($0, $1) }))
            for _ in 0..<10 where group.anyRunning && !stop.isRequested { usleep(100_000) }
        }
        display.show(StatusTable.render(zip(t.nodes.map(\.name), try ClusterReader.statuses(t)).map { ($0, $1) }))
        return t.nodes.indices.compactMap { i in
            guard let status = group.exitStatus(i), status != 0, !stop.isRequested else { return nil }
            return "\(t.nodes[i].name) exited with status \(status) (see \(members[i].logPath))"
        }
    }

    /// One thread per node, all over inproc:// in one shared context.
    func runInProcess(_ t: Topology, threads: Int, stop: StopRequest, interactive: Bool) throws -> [String] {
        Parallel.setThreads(1)
        let cluster = try InProcessCluster(t, ioThreads: 2)
        cluster.start(stop: stop)
        var display = LiveDisplay(interactive: interactive)
        while !cluster.wait(seconds: 1) {
            display.show(StatusTable.render(cluster.runtimes.map { ($0.node.name, $0.currentStatus()) }))
        }
        display.show(StatusTable.render(cluster.runtimes.map { ($0.node.name, $0.currentStatus()) }))
        return cluster.failures()
    }

    func printSummary(_ t: Topology, color: Bool) throws {
        let graph = try TrustGraph.fromStateFolders(t)
        print("\nTrust graph (row: the node that trusts, column: the node it trusts)")
        print(graph.rendered(as: .heatmap, color: color), terminator: "")
        var rows = [["node", "round", "train loss", "test ppl (first)", "test ppl (last)"]]
        for i in t.nodes.indices {
            let m = try StateDirectory(path: t.stateDirectory(of: i)).metrics()
            rows.append([
                t.nodes[i].name, "\(m.last?.round ?? 0)/\(t.nodes[i].settings.rounds)",
                m.last.map { String(format: "%.3f", $0.trainLoss) } ?? "-",
                m.first { $0.testLoss != nil }?.testPerplexity.map { String(format: "%.2f", $0) } ?? "-",
                m.lastTestPerplexity.map { String(format: "%.2f", $0) } ?? "-",
            ])
        }
        print("\nPerplexity on each node's own test text")
        print(StatusTable.format(rows), terminator: "")
        print("\nMore: starling trust --topology \(topology) --format svg > trust.svg")
    }
}

/// A status table redrawn in place on a terminal, or printed every few seconds otherwise.
struct LiveDisplay {
    let interactive: Bool
    private var lastLines = 0
    private var lastPrint = Date.distantPast

    init(interactive: Bool) { self.interactive = interactive }

    mutating func show(_ table: String) {
        if interactive {
            if lastLines > 0 { print("\u{1B}[\(lastLines)A\u{1B}[J", terminator: "") }
            print(table, terminator: "")
            lastLines = table.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        } else if Date().timeIntervalSince(lastPrint) >= 10 {
            print(table)
            lastPrint = Date()
        }
        fflush(nil)
    }

    mutating func note(_ line: String) {
        print(line)
        lastLines = 0
    }
}
