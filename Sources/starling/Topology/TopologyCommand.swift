import ArgumentParser
import Foundation
import Node
import Schemes

/// `starling topology`: write and check topology files.
struct TopologyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "Create and check topology files.",
        subcommands: [Check.self, Init.self]
    )

    /// `starling topology check FILE`
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report every problem in a topology file, each with its line.",
            discussion: """
                Exits 0 and prints a summary when the file is sound; otherwise prints one
                line per problem (FILE:LINE: message) and exits 1.

                Example:
                  $ starling topology check topologies/demo.toml
                  topologies/demo.toml: ok: 4 nodes, 4 edges (ring), trust validation
                """
        )

        @Argument(help: "The topology file.")
        var file: String

        @Flag(help: "Also print every edge, one \"a b\" pair of node names a line.")
        var edges = false

        func run() throws {
            do {
                let t = try TopologyParser.load(path: file)
                let strategies = Set(t.nodes.map(\.settings.trust)).sorted().joined(separator: ", ")
                print("\(file): ok: \(t.nodes.count) nodes, \(t.edges.count) edges (\(t.shape.rawValue)), trust \(strategies)")
                if edges { for (a, b) in t.edges { print("\(t.nodes[a].name) \(t.nodes[b].name)") } }
            } catch let e as TopologyError {
                for d in e.diagnostics { printError(d.description) }
                printError("\(e.diagnostics.count) problem\(e.diagnostics.count == 1 ? "" : "s") in \(file)")
                throw ExitCode(1)
            }
        }
    }

    /// `starling topology init`
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Write a new topology file and a state folder with a key for each node.",
            discussion: """
                Nodes listen on 127.0.0.1 ports base-port+1, base-port+2, ...; edit the
                endpoints to spread the nodes over machines. Keys go to
                state/<name>/<node>/ beside the file.

                Example:
                  $ starling topology init --shape clusters --nodes 9 --groups 3 --out lab.toml
                  wrote lab.toml (9 nodes, clusters) and 9 keys under state/lab
                """
        )

        @Option(help: "Edge shape: \(Self.shapes.map(\.rawValue).joined(separator: ", ")).")
        var shape: String = "ring"

        @Option(help: "Number of nodes.")
        var nodes: Int

        @Option(help: "Number of clusters (shape clusters).")
        var groups: Int = 2

        @Option(name: [.customLong("k"), .customLong("degree")], help: "Degree of every node (shape k-regular).")
        var k: Int = 2

        @Option(help: "Shape k-regular: draw a random connected k-regular graph from this seed (default: the ring lattice).")
        var seed: UInt64?

        @Option(help: "Hops each update is relayed after its first.")
        var ttl: Int = 2

        @Option(help: "Comma-separated text sources: \(TextSource.allCases.map(\.rawValue).joined(separator: ", ")).")
        var sources: String?

        @Option(help: "Topology name (default: the file name without extension).")
        var name: String?

        @Option(help: "Ports are base-port+1 ... base-port+N.")
        var basePort: Int = 7100

        @Option(help: "Personalization scheme: \(Schemes.names.joined(separator: ", ")); its settings are written out.")
        var scheme: String = "collaborative"

        @Option(help: "The topology file to write.")
        var out: String

        static let shapes = EdgeShape.allCases.filter { $0 != .explicit }

        /// The edge shape --shape names.
        func edgeShape() throws -> EdgeShape {
            guard let s = EdgeShape(rawValue: shape), s != .explicit else {
                throw ValidationError("--shape must be one of \(Self.shapes.map(\.rawValue).joined(separator: ", ")), got \(shape)")
            }
            return s
        }

        /// The sources --sources names (at least one), or two (one per group for clusters) by default.
        func sourceList(_ edgeShape: EdgeShape) throws -> [TextSource] {
            guard let sources else {
                return Array(TextSource.allCases.prefix(edgeShape == .clusters ? min(groups, TextSource.allCases.count) : 2))
            }
            let known = TextSource.allCases.map(\.rawValue).joined(separator: ", ")
            let list = try sources.split(separator: ",").map {
                let trimmed = $0.trimmingCharacters(in: .whitespaces)
                guard let s = TextSource(rawValue: trimmed) else {
                    throw ValidationError("--sources: unknown source \"\(trimmed)\" (known: \(known))")
                }
                return s
            }
            guard !list.isEmpty else { throw ValidationError("--sources must name at least one of \(known)") }
            return list
        }

        /// --name, or the file name of --out without its extension.
        var topologyName: String { name ?? ((out as NSString).lastPathComponent as NSString).deletingPathExtension }

        func validate() throws {
            try requireAtLeast(1, "--nodes", nodes)
            guard groups >= 1 && groups <= nodes else { throw ValidationError("--groups must be between 1 and --nodes (\(nodes)), got \(groups)") }
            guard (1...65000).contains(basePort) && basePort + nodes <= 65535 else {
                throw ValidationError("--base-port must be between 1 and \(min(65000, 65535 - nodes)) to leave room for \(nodes) ports, got \(basePort)")
            }
            let edgeShape = try edgeShape()
            try requireAtLeast(1, "--k", k)
            if edgeShape == .kRegular && k >= nodes { throw ValidationError("--k must be less than --nodes (\(nodes)), got \(k)") }
            if edgeShape == .kRegular && (nodes * k) % 2 == 1 {
                throw ValidationError("--k (\(k)) times --nodes (\(nodes)) must be even: no \(k)-regular graph on \(nodes) nodes exists")
            }
            if edgeShape == .kRegular, seed != nil, k == 1 && nodes > 2 {
                throw ValidationError("--k 1 with --seed: no 1-regular graph on \(nodes) nodes is connected")
            }
            try requireAtLeast(0, "--ttl", ttl)
            guard ttl <= 255 else { throw ValidationError("--ttl must be at most 255, got \(ttl)") }
            _ = try sourceList(edgeShape)
            // The name is written into the file as a TOML string and used as a folder name.
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
            guard !topologyName.isEmpty, topologyName.allSatisfy(allowed.contains), topologyName != ".", topologyName != ".." else {
                throw ValidationError("--name must be letters, digits, '-', '_' or '.' (by default the name of --out), got \"\(topologyName)\"")
            }
        }

        func run() throws {
            let edgeShape = try edgeShape()
            let sourceList = try sourceList(edgeShape)
            do {
                try TopologyTemplate.create(
                    path: out, name: topologyName, shape: edgeShape, nodeCount: nodes, groups: groups, k: k,
                    sources: sourceList, basePort: basePort, scheme: scheme, seed: seed, ttl: ttl)
            } catch {
                throw UserError("\(error)")
            }
            print("wrote \(out) (\(nodes) nodes, \(edgeShape.rawValue)) and \(nodes) keys under state/\(topologyName)")
        }
    }
}
