import Foundation
import Learning
import Testing
import Trust

#if canImport(FoundationXML)
    import FoundationXML
#endif

@testable import Node

/// A run result with given per-node perplexities and a trust graph of weight 1 on self.
func runResult(_ strategy: String, _ setting: ExperimentSetting, seed: UInt64, bytes: Int = 1000, _ perplexities: [Double]) -> ExperimentRunResult {
    let names = perplexities.indices.map { "n\($0)" }
    let weights = names.indices.map { i in names.indices.map { $0 == i ? 1.0 : 0.0 } }
    return ExperimentRunResult(
        key: ExperimentRunKey(setting: setting, seed: seed, strategy: strategy, bytesPerNode: bytes), nodes: names,
        perplexities: perplexities, graph: TrustGraph(nodes: names, weights: weights, rounds: names.map { _ in 3 }, strategies: names.map { _ in strategy }),
        seconds: 1)
}

/// Parses `text` as XML; returns the error, if any, and every element name with its attributes.
func parseXML(_ text: String) -> (error: Error?, elements: [(String, [String: String])], text: String) {
    final class Collector: NSObject, XMLParserDelegate {
        var elements: [(String, [String: String])] = []
        var text = ""
        func parser(_ p: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            elements.append((name, attributes))
        }
        func parser(_ p: XMLParser, foundCharacters string: String) { text += string }
    }
    let parser = XMLParser(data: Data(text.utf8))
    let collector = Collector()
    parser.delegate = collector
    let ok = parser.parse()
    return (ok ? nil : (parser.parserError ?? NSError(domain: "xml", code: 1)), collector.elements, collector.text)
}

@Suite struct ExperimentTests {
    @Test func statisticIsTheMeanAndTheSampleStandardDeviation() {
        let s = Statistic([2, 4, 4, 4, 5, 5, 7, 9])
        #expect(s.mean == 5)
        // Σ(x − 5)² = 32, over n − 1 = 7.
        #expect(abs(s.standardDeviation - (32.0 / 7).squareRoot()) < 1e-12)
        #expect(Statistic([3.5]).standardDeviation == 0)
        #expect(Statistic([3.5]).mean == 3.5)
    }

    @Test func perplexityIsTheMeanOverSeedsOfPerSeedNodeMeans() {
        let plan = ExperimentPlan(strategies: ["local", "validation"], settings: [.specific], seeds: [1, 2, 3], bytesPerNode: 1000)
        let results = [
            runResult("local", .specific, seed: 1, [4, 6, 8]),  // 6
            runResult("local", .specific, seed: 2, [5, 7, 9]),  // 7
            runResult("local", .specific, seed: 3, [7, 8, 12]),  // 9
            runResult("validation", .specific, seed: 1, [3, 3, 3]),
            runResult("validation", .specific, seed: 2, [4, 4, 4]),
            runResult("validation", .specific, seed: 3, [5, 5, 5]),
            // Another size and another setting must not enter the table's cell.
            runResult("local", .specific, seed: 1, bytes: 5000, [100, 100, 100]),
            runResult("local", .mixed, seed: 1, [50, 50, 50]),
        ]
        let summary = ExperimentSummary(plan: plan, results: results, groups: [[0, 1, 2]])
        let local = summary.perplexity(strategy: "local", setting: .specific)
        #expect(local.count == 3)
        #expect(abs(local.mean - 22.0 / 3) < 1e-12)
        // Per-seed means 6, 7, 9 around 22/3: squares 16/9, 1/9, 25/9 → 42/9 over 2.
        #expect(abs(local.standardDeviation - (42.0 / 18).squareRoot()) < 1e-12)
        let validation = summary.perplexity(strategy: "validation", setting: .specific)
        #expect(validation.mean == 4 && validation.standardDeviation == 1)
        let shares = summary.trustShares(strategy: "local", setting: .specific)
        #expect(shares.own == 1 && shares.groupPeers == 0 && shares.others == 0)
        let table = summary.markdown()
        #expect(table.contains("| `local` | 7.333 ± 1.528 |  | – | 1.00 / 0.00 / 0.00 |"))
        // (4 / (22/3) − 1) = −45.45…%.
        #expect(table.contains("| `validation` | 4.000 ± 1.000 | -45.5% |"))
    }

    @Test func trustSharesSplitEachRowIntoSelfGroupPeersAndOthers() {
        var run = runResult("validation", .specific, seed: 1, [5, 5, 5])
        run.graph.weights = [[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]]
        let plan = ExperimentPlan(strategies: ["validation"], settings: [.specific], seeds: [1], bytesPerNode: 1000)
        let t = ExperimentSummary(plan: plan, results: [run], groups: [[0, 1], [2]]).trustShares(strategy: "validation", setting: .specific)
        #expect(abs(t.own - 1.6 / 3) < 1e-12)
        #expect(abs(t.groupPeers - 0.4 / 3) < 1e-12)
        #expect(abs(t.others - 1.0 / 3) < 1e-12)
    }

    @Test func csvHasOneRowPerNodeOfEveryRun() {
        let plan = ExperimentPlan(strategies: ["fedavg"], settings: [.mixed], seeds: [7], bytesPerNode: 1000)
        let summary = ExperimentSummary(plan: plan, results: [runResult("fedavg", .mixed, seed: 7, [2.5, 3.25])], groups: [[0], [1]])
        #expect(summary.csv() == """
            setting,seed,strategy,bytes_per_node,node,test_perplexity
            mixed,7,"fedavg",1000,n0,2.500000
            mixed,7,"fedavg",1000,n1,3.250000

            """)
    }

    @Test func mixedRowsKeepTheOwnShareAndSpreadTheRestOverTheOtherSources() {
        let specific: [[Double]] = [[1, 0, 0], [0, 1, 0], [0, 0, 2], [0.5, 0.5, 0]]
        #expect(ExperimentSetting.specific.mixtureRows(specific) == [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0]])
        let mixed = ExperimentSetting.mixed.mixtureRows(specific)
        let expected: [[Double]] = [[0.6, 0.2, 0.2], [0.2, 0.6, 0.2], [0.2, 0.2, 0.6], [0.4, 0.4, 0.2]]
        for (row, want) in zip(mixed, expected) {
            for (a, b) in zip(row, want) { #expect(abs(a - b) < 1e-12, "\(row) vs \(want)") }
            #expect(abs(row.reduce(0, +) - 1) < 1e-12)
        }
        let half = ExperimentSetting.mixed.mixtureRows([[0, 1]], ownShare: 0.75)
        #expect(half == [[0.25, 0.75]])
    }

    @Test func planRunsEveryStrategySettingAndSeedThenTheSweepWithoutRepeatingTheMainSize() {
        let plan = ExperimentPlan(
            strategies: ["local", "fedavg"], settings: [.specific, .mixed], seeds: [1, 2], bytesPerNode: 2000, sweepBytes: [1000, 2000, 4000])
        let runs = plan.runs
        #expect(runs.count == 2 * 2 * 2 + 2 * 2)
        #expect(Set(runs).count == runs.count)
        #expect(runs.last == ExperimentRunKey(setting: .specific, seed: 1, strategy: "fedavg", bytesPerNode: 4000))
        #expect(plan.sweepSizes == [1000, 2000, 4000])
        #expect(ExperimentPlan(strategies: ["local"]).sweepSizes == [])
    }

    @Test func aRunsTopologyCarriesItsOverridesAndTheSeedChangesTheText() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("starling-exp-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (parsed, problems) = TopologyParser.parse(text: """
            name = "three"
            sources = ["prose", "code"]
            [defaults]
            trust = "local"
            rounds = 9
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:7001"
            mixture = [1, 0]
            [[nodes]]
            name = "b"
            endpoint = "tcp://127.0.0.1:7002"
            local_steps = 99
            """, path: dir + "/three.toml")
        let t = try #require(parsed, "\(problems)")
        let plan = ExperimentPlan(strategies: ["validation:temperature=0.1"], seeds: [1, 2], rounds: 3, localSteps: 5, batchSize: 2)
        let experiment = try Experiment(topology: t, plan: plan, workDirectory: dir)
        let key = ExperimentRunKey(setting: .mixed, seed: 2, strategy: "validation:temperature=0.1", bytesPerNode: 500)
        let run = experiment.topology(for: key)
        #expect(run.nodes.map(\.mixture) == [[0.6, 0.4], [0.4, 0.6]])
        for n in run.nodes {
            #expect(n.settings.trust == "validation:temperature=0.1")
            #expect(n.settings.trustConfig == TrustConfig(.validation, variant: TrustVariant(temperature: 0.1)))
            #expect(n.settings.seed == 2 && n.settings.rounds == 3 && n.settings.localSteps == 5 && n.settings.batchSize == 2)
            #expect(!n.settings.curve)
        }
        #expect(run.stateRoot.hasPrefix(dir + "/state/"))
        // 500 training bytes plus 2 × 2080 of trust and test text.
        for n in run.nodes {
            #expect(abs(n.settings.splits[1] - 2080.0 / 4660) < 1e-12 && abs(n.settings.splits[2] - 2080.0 / 4660) < 1e-12)
            #expect(abs(n.settings.splits.reduce(0, +) - 1) < 1e-12)
        }
        #expect(t.nodes[1].settings.localSteps == 99)

        try SyntheticText.write(topology: run, bytesPerNode: 4660, seed: 2, force: true)
        let other = experiment.topology(for: ExperimentRunKey(setting: .mixed, seed: 1, strategy: "local", bytesPerNode: 500))
        try SyntheticText.write(topology: other, bytesPerNode: 4660, seed: 1, force: true)
        #expect(run.nodes[0].data != other.nodes[0].data)
        #expect(try FileSystem.readText(run.nodes[0].data) != (try FileSystem.readText(other.nodes[0].data)))

        #expect(throws: NodeError.self) {
            _ = try Experiment(topology: t, plan: ExperimentPlan(strategies: ["gut-feeling"]), workDirectory: dir)
        }
    }

    @Test func linePlotIsWellFormedSVGWithEverySeriesInItsLegend() {
        let plot = LinePlot(
            title: "Perplexity & size", xLabel: "tokens", yLabel: "ppl",
            series: [
                .init(name: "local", points: [(1000, 6.5), (10_000, 5.25), (100_000, 4.75)]),
                .init(name: "validation:temperature=0.1", points: [(1000, 5.5), (10_000, 4.5), (100_000, 4.25)]),
                .init(name: "<oracle>", points: [(10_000, 4.0)]),
            ], logarithmicX: true)
        let (error, elements, text) = parseXML(plot.svg())
        #expect(error == nil)
        #expect(elements.first?.0 == "svg")
        #expect(elements.filter { $0.0 == "polyline" }.count == 2)
        #expect(elements.filter { $0.0 == "circle" }.count == 7)
        for name in ["local", "validation:temperature=0.1", "<oracle>", "Perplexity & size", "tokens", "ppl", "1k", "10k", "100k"] {
            #expect(text.contains(name), "\(name)")
        }
        // Every coordinate is inside the picture.
        for (_, attributes) in elements {
            for key in ["x", "y", "cx", "cy", "x1", "x2", "y1", "y2"] {
                if let v = attributes[key].flatMap(Double.init) { #expect(v >= 0 && v <= 640, "\(key)=\(v)") }
            }
        }
    }

    @Test func ticksAreRoundNumbersCoveringTheRange() {
        #expect(LinePlot.ticks(low: 4.2, high: 6.9) == [4.5, 5, 5.5, 6, 6.5])
        #expect(LinePlot.ticks(low: 0, high: 100) == [0, 20, 40, 60, 80, 100])
        #expect(LinePlot.ticks(low: 3, high: 3) == [3])
    }
}
