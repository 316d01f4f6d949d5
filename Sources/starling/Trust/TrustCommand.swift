import ArgumentParser
import Foundation
import Gossip
import Learning
import Node

/// `starling trust`: the trust graph of a topology.
struct TrustCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trust",
        abstract: "Show the trust graph: the weight every node gives every other.",
        discussion: """
            Rows are read from the running nodes' control endpoints, or from their state
            folders when they are stopped. Row i, column j is the weight node i gave
            node j in its latest aggregation (or in --round R).

            --format html writes one self-contained page of the whole run (every
            aggregation round's heatmap and network of nodes, a round slider, each
            node's test perplexity per round), read from the state folders. --watch
            redraws the heatmap as rounds complete (in place on a terminal, appended
            otherwise) until every node has finished or Ctrl-C.

            Example:
              $ starling trust --topology topologies/demo.toml
              $ starling trust --topology topologies/demo.toml --format svg > trust.svg
              $ starling trust --topology topologies/demo.toml --format html --out trust.html
              $ starling trust --topology topologies/demo.toml --watch
            """
    )

    static let formats = TrustGraph.Format.allCases.map(\.rawValue) + ["html"]

    @Option(help: "The topology file.")
    var topology: String

    @Option(help: "Output: \(formats.joined(separator: ", ")).")
    var format: String = "heatmap"

    @Option(help: "Show this round's rows instead of the latest.")
    var round: Int?

    @Option(help: "Write the output to this file instead of standard output.")
    var out: String?

    @Flag(help: "Redraw the heatmap as rounds complete, until every node has finished.")
    var watch = false

    @Option(help: "Seconds between looks at the nodes, with --watch.")
    var interval: Double = 1

    @Flag(help: "No colours in the heatmap.")
    var noColor = false

    func validate() throws {
        guard Self.formats.contains(format) else {
            throw ValidationError("--format must be one of \(Self.formats.joined(separator: ", ")), got \(format)")
        }
        if let round { try requireAtLeast(1, "--round", round) }
        if watch && (format != "heatmap" || round != nil || out != nil) {
            throw ValidationError("--watch shows the heatmap on standard output; it takes no --format, --round or --out")
        }
        guard interval > 0 && interval.isFinite else { throw ValidationError("--interval must be a positive number of seconds") }
        if format == "html" && round != nil { throw ValidationError("--format html shows every round; it takes no --round") }
    }

    func run() throws {
        let t: Topology
        do { t = try TopologyParser.load(path: topology) } catch { throw UserError("\(error)") }
        if watch { return try watchGraph(t) }
        let text: String
        do {
            if format == "html" {
                text = try TrustTimeline.fromStateFolders(t).html()
            } else {
                let color = !noColor && out == nil && isatty(STDOUT_FILENO) != 0
                text = try ClusterReader.trustGraph(t, round: round)
                    .rendered(as: TrustGraph.Format(rawValue: format)!, color: color, title: "\(t.name): trust weights")
            }
        } catch {
            throw UserError("\(error)")
        }
        if let out {
            do { try FileSystem.writeAtomically(Array(text.utf8), to: out) } catch { throw UserError("cannot write \(out): \(error)") }
        } else {
            print(text, terminator: "")
        }
    }

    /// Shows a frame whenever a row's round changes; on a terminal each frame replaces
    /// the last one. Returns once every node has finished its rounds, or on Ctrl-C.
    func watchGraph(_ t: Topology) throws {
        let terminal = isatty(STDOUT_FILENO) != 0
        let stop = StopRequest()
        let trap = SignalTrap { _ in stop.request() }
        defer { withExtendedLifetime(trap) {} }
        let total = t.nodes.map(\.settings.rounds).max() ?? 0
        var shown: TrustGraph?, linesShown = 0
        while true {
            let graph: TrustGraph, finished: Bool
            do {
                // Statuses before rows: a node commits its row before it reports itself
                // finished, so once every node is seen finished the rows read next are
                // the last ones, and the last frame shows them.
                finished = try ClusterReader.statuses(t).allSatisfy { $0?.phase == .finished }
                graph = try ClusterReader.trustGraph(t, round: nil)
            } catch {
                throw UserError("\(error)")
            }
            if shown == nil || graph.rounds != shown!.rounds {
                let frame = TrustWatch.frame(graph, previous: shown, rounds: total, color: terminal && !noColor)
                if terminal {
                    // Up to the first line of the last frame, then clear to the end of the screen.
                    if linesShown > 0 { print("\u{1B}[\(linesShown)A\u{1B}[J", terminator: "") }
                    linesShown = frame.split(separator: "\n", omittingEmptySubsequences: false).count - 1
                    print(frame, terminator: "")
                } else {
                    print(frame)
                }
                fflush(nil)
                shown = graph
            }
            if finished || stop.isRequested { return }
            let deadline = Date().addingTimeInterval(interval)
            while !stop.isRequested && Date() < deadline { usleep(useconds_t(min(100_000, max(1_000, interval * 1e6)))) }
        }
    }
}
