import Foundation
import Testing

@testable import Node
import Trust

let keyA = String(repeating: "a", count: 64)
let keyB = String(repeating: "b", count: 64)

let validTopology = """
    name = "lab"
    sources = ["prose", "numbers"]

    [defaults]
    trust = "validation"
    rounds = 6
    warmup_rounds = 1
    lora = { rank = 8, alpha = 16, dropout = 0.0, targets = ["attn.c_attn", "mlp.c_fc"] }

    [[nodes]]
    name = "alice"
    endpoint = "tcp://127.0.0.1:7101"
    public_key = "\(keyA)"
    data = "data/alice.txt"
    mixture = [1, 0]

    [[nodes]]
    name = "bob"
    endpoint = "tcp://127.0.0.1:7102"
    public_key = "\(keyB)"
    mixture = [0.0, 1.0]
    local_steps = 5

    [[nodes]]
    name = "carol"
    endpoint = "ipc:///tmp/carol.sock"
    mixture = [0.5, 0.5]

    [edges]
    pairs = [["alice", "bob"], ["bob", "carol"]]
    """

@Suite struct TopologyParserTests {
    @Test func validFileParsesWithDefaultsAndOverrides() throws {
        let (t, diagnostics) = TopologyParser.parse(text: validTopology, path: "/x/lab.toml")
        #expect(diagnostics == [])
        let topology = try #require(t)
        #expect(topology.name == "lab")
        #expect(topology.stateRoot == "/x/state/lab")
        #expect(topology.nodes.map(\.name) == ["alice", "bob", "carol"])
        #expect(topology.nodes[0].settings.rounds == 6)
        #expect(topology.nodes[0].settings.localSteps == 25)
        #expect(topology.nodes[1].settings.localSteps == 5)
        #expect(topology.nodes[1].settings.lora.rank == 8)
        #expect(topology.nodes[1].settings.lora.targets == [.attentionQKV, .mlpIn])
        #expect(topology.nodes[2].publicKey == nil)
        #expect(topology.nodes[2].data == "data/lab/carol.txt")
        #expect(topology.shape == .explicit)
        #expect(topology.edges.map { [$0.0, $0.1] } == [[0, 1], [1, 2]])
        #expect(topology.neighbours(of: 1) == [0, 2])
        #expect(topology.resolve("data/alice.txt") == "/x/data/alice.txt")
    }

    @Test func everyPlantedProblemIsReportedWithItsLine() {
        let text = """
            name = "broken"
            sources = ["a", "b"]

            [defaults]
            trust = "magic"
            rounds = -3
            colour = "blue"

            [[nodes]]
            name = "alice"
            endpoint = "tcp://127.0.0.1:7101"
            public_key = "\(keyA)"

            [[nodes]]
            name = "bob"
            endpoint = "tcp://127.0.0.1:7101"
            public_key = "\(keyA)"
            mixture = [1, 0, 0]

            [[nodes]]
            name = "carol"
            endpoint = "udp://127.0.0.1:9"

            [[nodes]]
            name = "dave"
            endpoint = "tcp://127.0.0.1:7104"
            public_key = "xyz"

            [edges]
            pairs = [
              ["alice", "bob"],
              ["bob", "zed"],
            ]
            """
        let (_, d) = TopologyParser.parse(text: text, path: "broken.toml")
        let byLine = Dictionary(grouping: d, by: { $0.line ?? 0 }).mapValues { $0.map(\.message) }
        #expect(byLine[5]?.first?.contains("unknown trust strategy \"magic\"") == true)
        #expect(byLine[6]?.first?.contains("defaults.rounds must be at least 1, got -3") == true)
        #expect(byLine[7]?.first == "unknown key defaults.colour")
        #expect(byLine[16]?.first == "node bob: duplicate endpoint tcp://127.0.0.1:7101 (also used by alice)")
        #expect(byLine[17]?.first == "node bob: duplicate public key (also used by alice)")
        #expect(byLine[18]?.first == "node bob: mixture has 3 entries but there are 2 sources")
        #expect(byLine[22]?.first?.contains("must start with tcp://, ipc:// or inproc://") == true)
        #expect(byLine[27]?.first?.contains("public_key must be 64 hexadecimal digits") == true)
        #expect(byLine[32]?.first == "edge [bob, zed] names unknown node \"zed\"")
        // carol (line 20) and dave (line 24) have no edges at all.
        #expect(byLine[20]?.contains { $0.contains("carol is unreachable") } == true)
        #expect(byLine[24]?.contains { $0.contains("dave is unreachable") } == true)
        #expect(d.count == 11)
        #expect(d.allSatisfy { $0.description.hasPrefix("broken.toml:\($0.line!): ") })
    }

    @Test func syntaxErrorNamesItsLine() {
        let (t, d) = TopologyParser.parse(text: "name = \"x\"\n[[nodes]\nname = 1\n", path: "s.toml")
        #expect(t == nil)
        #expect(d.count == 1)
        #expect(d.first?.line == 2)
        #expect(d.first?.message.hasPrefix("TOML syntax:") == true)
    }

    @Test func maxPayloadBytesDefaultsTo64MiBAndIsRangeChecked() throws {
        let (t, d) = TopologyParser.parse(text: validTopology, path: "/x/lab.toml")
        #expect(d == [])
        #expect(try #require(t).nodes.map(\.settings.maxPayloadBytes) == [64 << 20, 64 << 20, 64 << 20])
        func parsed(_ line: String) -> (Int?, [String]) {
            let text = validTopology.replacingOccurrences(of: "[defaults]\n", with: "[defaults]\n\(line)\n")
            let (t, d) = TopologyParser.parse(text: text, path: "/x/lab.toml")
            return (t?.nodes[0].settings.maxPayloadBytes, d.map(\.message))
        }
        #expect(parsed("max_payload_bytes = 1048576").0 == 1 << 20)
        #expect(parsed("max_payload_bytes = 100").1 == ["defaults.max_payload_bytes must be at least 4096, got 100"])
        #expect(parsed("max_payload_bytes = 8589934592").1 == ["defaults.max_payload_bytes must be at most 4294967296, got 8589934592"])
        #expect(parsed("liveness = 1").1 == ["defaults.liveness must be at least 2, got 1"])
    }

    /// The topology fuzzer's input that aborted toml++ on a brace closing an array, and
    /// its kin: every unbalanced bracket outside strings and comments is a syntax error
    /// with its line.
    @Test func anUnbalancedBracketIsASyntaxErrorNotACrash() {
        let cases: [(String, Int, String)] = [
            (#"targets = ["a",}"b"]"#, 2, "'}' cannot close the '[' opened on line 2"),
            ("lora = { rank = 4 ]", 2, "']' cannot close the '{' opened on line 2"),
            ("x = 1 ]", 2, "']' closes nothing"),
            ("splits = [0.8,\n0.1", 2, "'[' is never closed"),
        ]
        for (body, line, message) in cases {
            let (t, d) = TopologyParser.parse(text: "name = \"x\"\n\(body)\n", path: "b.toml")
            #expect(t == nil)
            #expect(d.map(\.message) == ["TOML syntax: " + message], "\(body)")
            #expect(d.first?.line == line, "\(body)")
        }
        // Brackets inside strings, multi-line strings and comments are text.
        let text = #"""
            name = "a]}" # [ {
            reference = '''
            [ {
            '''
            sources = ["x\"]"]
            """#
        #expect(TopologyParser.syntaxProblem(text) == nil)
        #expect(TopologyParser.syntaxProblem(validTopology) == nil)
    }

    /// A header after a basic string holding ''' runs: the string is text, so the header
    /// is still checked (the fuzzer's fifth toml++ abort).
    @Test func aHeaderAfterQuotesInsideAStringIsStillChecked() {
        let text = "name = \"x\"\no = \"a'''''''''b\"\n[[\u{FFFD}odes]]\n"
        let (t, d) = TopologyParser.parse(text: text, path: "q.toml")
        #expect(t == nil)
        #expect(d.map(\.message) == ["TOML syntax: a table name must start with a letter, digit, '_', '-' or a quote"])
        #expect(d.first?.line == 3)
    }

    /// Inputs the topology fuzzer found to abort the process inside toml++: a table header
    /// whose name starts with a character no key starts with.
    @Test func aTableHeaderWithoutANameIsASyntaxErrorNotACrash() {
        let message = "TOML syntax: a table name must start with a letter, digit, '_', '-' or a quote"
        for header in ["[é]", "[!]", "[=]", "[.]", "[#]", "[[!]]", "[ \u{FFFD}", "[\n", "[[[\u{0}des]]", "[ [a]", "[\u{0359}"] {
            let (t, d) = TopologyParser.parse(text: "name = \"x\"\n\(header)\nrounds = 1\n", path: "h.toml")
            #expect(t == nil)
            #expect(d.map(\.message) == [message], "\(header)")
            #expect(d.first?.line == 2, "\(header)")
        }
        let (_, crlf) = TopologyParser.parse(text: "name = \"x\"\r\n[!]\r\n", path: "c.toml")
        #expect(crlf.first?.line == 2)
        // Such a line inside a multi-line string is text, not a header.
        let (_, d) = TopologyParser.parse(text: "name = \"\"\"\n[!]\n\"\"\"\n", path: "s.toml")
        #expect(!d.map(\.message).contains(message))
        // Ordinary headers are untouched.
        #expect(TopologyParser.syntaxProblem(validTopology) == nil)
        #expect(TopologyParser.syntaxProblem("[ \"quoted\" ]\n[[nodes]]\n[a-b]\n[_x]\n[9]\n") == nil)
    }

    @Test func missingNodesIsAnError() {
        let (_, d) = TopologyParser.parse(text: "name = \"empty\"\n", path: "e.toml")
        #expect(d.map(\.message) == ["the topology lists no nodes (add [[nodes]] entries)"])
    }

    @Test func badValuesAreReported() {
        let text = """
            name = "v"
            [defaults]
            splits = [0.5, 0.5, 0.5]
            temperature = 0
            warmup_rounds = 10
            rounds = 4
            lora = { rank = 0, targets = ["attn.q"] }
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:70000"
            """
        let (_, d) = TopologyParser.parse(text: text, path: "v.toml")
        let messages = d.map(\.message)
        #expect(messages.contains("defaults.splits must be three positive fractions (train, trust, test) summing to 1"))
        #expect(messages.contains("defaults.temperature must be positive, got 0.0"))
        #expect(messages.contains("defaults.warmup_rounds (10) must be less than rounds (4)"))
        #expect(messages.contains("defaults.lora.rank must be between 1 and 65536, got 0"))
        #expect(messages.contains { $0.hasPrefix("defaults.lora.targets: unknown projection \"attn.q\"") })
        #expect(messages.contains("node a: endpoint \"tcp://127.0.0.1:70000\" needs a port between 1 and 65535"))
        #expect(d.first { $0.message.hasPrefix("defaults.splits") }?.line == 3)
        #expect(d.first { $0.message.hasPrefix("defaults.lora.rank") }?.line == 7)
    }
}

@Suite struct EdgeShapeTests {
    func pairs(_ e: [(Int, Int)]) -> [[Int]] { e.map { [$0.0, $0.1] } }

    @Test func ringJoinsNeighboursInACycle() {
        #expect(pairs(Topology.edges(shape: .ring, count: 4)) == [[0, 1], [0, 3], [1, 2], [2, 3]])
    }

    @Test func fullJoinsEveryPair() {
        #expect(Topology.edges(shape: .full, count: 4).count == 6)
    }

    @Test func kRegularGivesEveryNodeDegreeK() {
        for (n, k) in [(8, 2), (8, 4), (8, 3), (10, 5)] {
            let e = Topology.edges(shape: .kRegular, count: n, k: k)
            var degree = Array(repeating: 0, count: n)
            for (a, b) in e { degree[a] += 1; degree[b] += 1 }
            #expect(degree.allSatisfy { $0 == k }, "n=\(n) k=\(k): \(degree)")
        }
    }

    @Test func clustersAreCliquesJoinedByBridges() {
        let e = pairs(Topology.edges(shape: .clusters, count: 9, groups: 3))
        #expect(Topology.clusterMembers(count: 9, groups: 3) == [[0, 1, 2], [3, 4, 5], [6, 7, 8]])
        // 3 edges inside each of 3 triangles, plus bridges 2-3 and 5-6.
        #expect(e.count == 11)
        #expect(e.contains([2, 3]) && e.contains([5, 6]) && !e.contains([0, 3]))
    }
}

/// Every setting a topology may give, out of its range, is one problem on its own line that
/// names the key and what it allows; nothing is left for the node to trip over when it starts.
@Suite struct TopologyValueTests {
    struct BadValue: CustomTestStringConvertible, Sendable {
        let entry: String
        let message: String
        var testDescription: String { entry }
    }

    static let cases: [BadValue] = [
        .init(entry: "temperature = 0", message: "defaults.temperature must be positive, got 0.0"),
        .init(entry: "temperature = nan", message: "defaults.temperature must be positive, got nan"),
        .init(entry: "warmup_rounds = -1", message: "defaults.warmup_rounds must be at least 0, got -1"),
        .init(entry: "local_steps = 0", message: "defaults.local_steps must be at least 1, got 0"),
        .init(entry: "rounds = 0", message: "defaults.rounds must be at least 1, got 0"),
        .init(entry: "rounds = 2.5", message: "defaults.rounds must be an integer"),
        .init(entry: "learning_rate = 1", message: "defaults.learning_rate must be in (0, 1), got 1.0"),
        .init(entry: "weight_decay = -0.5", message: "defaults.weight_decay must be in [0, 1), got -0.5"),
        .init(entry: "activation_budget = -0.25", message: "defaults.activation_budget must be in [0, 1000] (0 keeps everything), got -0.25"),
        .init(entry: "batch_size = 0", message: "defaults.batch_size must be between 1 and 65536, got 0"),
        .init(entry: "batch_size = 9000000000000000000", message: "defaults.batch_size must be between 1 and 65536, got 9000000000000000000"),
        .init(entry: "sequence_length = 1", message: "defaults.sequence_length must be between 2 and 65536, got 1"),
        .init(entry: "splits = [0.9, 0.1]", message: "defaults.splits must be three positive fractions (train, trust, test) summing to 1"),
        .init(entry: "splits = [0.8, 0.2, 0]", message: "defaults.splits must be three positive fractions (train, trust, test) summing to 1"),
        .init(entry: "splits = [\"a\"]", message: "defaults.splits[0] must be a number"),
        .init(entry: "trust_tokens = 0", message: "defaults.trust_tokens must be at least 1, got 0"),
        .init(entry: "test_tokens = -64", message: "defaults.test_tokens must be at least 1, got -64"),
        .init(entry: "test_every = 0", message: "defaults.test_every must be at least 1, got 0"),
        .init(entry: "trust_every = 0", message: "defaults.trust_every must be at least 1, got 0"),
        .init(entry: "ttl = -1", message: "defaults.ttl must be between 0 and 255, got -1"),
        .init(entry: "ttl = 256", message: "defaults.ttl must be between 0 and 255, got 256"),
        .init(entry: "round_timeout_ms = 0", message: "defaults.round_timeout_ms must be at least 1, got 0"),
        .init(entry: "staleness_rounds = -1", message: "defaults.staleness_rounds must be at least 0, got -1"),
        .init(entry: "heartbeat_ms = 5", message: "defaults.heartbeat_ms must be at least 10, got 5"),
        .init(entry: "liveness = 1", message: "defaults.liveness must be at least 2, got 1"),
        .init(entry: "seed = -1", message: "defaults.seed must be at least 0, got -1"),
        .init(entry: "curve = 1", message: "defaults.curve must be true or false"),
        .init(entry: "base_model = 7", message: "defaults.base_model must be a string"),
        .init(entry: "lora = 4", message: "defaults.lora must be a table such as { rank = 4, alpha = 32 }"),
        .init(entry: "lora = { rank = 0 }", message: "defaults.lora.rank must be between 1 and 65536, got 0"),
        .init(entry: "lora = { rank = 100000 }", message: "defaults.lora.rank must be between 1 and 65536, got 100000"),
        .init(entry: "lora = { alpha = -1 }", message: "defaults.lora.alpha must be positive, got -1.0"),
        .init(entry: "lora = { dropout = 1 }", message: "defaults.lora.dropout must be in [0, 1), got 1.0"),
        .init(entry: "lora = { targets = [] }", message: "defaults.lora.targets must name at least one projection"),
        .init(entry: "lora = { bias = true }", message: "unknown key defaults.lora.bias"),
        .init(entry: "trust = \"gut-feeling\"",
              message: "defaults.trust: unknown trust strategy \"gut-feeling\" (known: weights, validation, prediction, oracle, fedavg, local)"),
        .init(entry: "trust = \"validation:topk=0\"", message: "defaults.trust: trust \"validation:topk=0\": trust parameter topk cannot be '0'"),
        .init(entry: "trust = \"validation:depth=2\"",
              message: "defaults.trust: trust \"validation:depth=2\": unknown trust parameter 'depth' (expected temperature, topk, threshold, scale, rule, steps or logits)"),
        .init(entry: "trust = \"fedavg:temperature=2\"",
              message: "defaults.trust: trust \"fedavg:temperature=2\": strategy fedavg takes no temperature, topk or threshold"),
        .init(entry: "trust = \"fedavg\"\ntemperature = 0.5",
              message: "defaults.trust: trust \"fedavg\" with temperature 0.5: strategy fedavg takes no temperature, topk or threshold"),
        .init(entry: "screen_norm = 0.5", message: "defaults.screen_norm must be 0 (off) or at least 1, got 0.5"),
        .init(entry: "screen_norm = -3", message: "defaults.screen_norm must be 0 (off) or at least 1, got -3.0"),
        .init(entry: "colour = \"blue\"", message: "unknown key defaults.colour"),
    ]

    @Test(arguments: cases) func badSettingIsOneProblemOnItsLine(_ bad: BadValue) {
        let text = "name = \"v\"\n[defaults]\n\(bad.entry)\n[[nodes]]\nname = \"a\"\nendpoint = \"tcp://127.0.0.1:7101\"\n"
        let (_, d) = TopologyParser.parse(text: text, path: "v.toml")
        #expect(d == [TopologyDiagnostic(file: "v.toml", line: 3, message: bad.message)])
    }

    @Test func aNodesTemperatureIsCheckedWithTheTrustItInherits() {
        let text = """
            name = "v"
            [defaults]
            trust = "local"
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:7101"
            temperature = 0.25
            """
        let (_, d) = TopologyParser.parse(text: text, path: "v.toml")
        #expect(d == [TopologyDiagnostic(
            file: "v.toml", line: 7,
            message: "nodes[0].temperature: trust \"local\" with temperature 0.25: strategy local takes no temperature, topk or threshold")])
    }

    @Test func eachNodeHoldsItsParsedTrustSetting() throws {
        let text = """
            name = "v"
            [defaults]
            trust = "validation"
            temperature = 0.1
            [[nodes]]
            name = "a"
            endpoint = "tcp://127.0.0.1:7101"
            [[nodes]]
            name = "b"
            endpoint = "tcp://127.0.0.1:7102"
            trust = "prediction:topk=3,temperature=0.5"
            """
        let (t, d) = TopologyParser.parse(text: text, path: "v.toml")
        #expect(d.isEmpty)
        let nodes = try #require(t).nodes
        #expect(nodes[0].settings.trustConfig == TrustConfig(.validation, variant: TrustVariant(temperature: 0.1)))
        #expect(nodes[1].settings.trustConfig == TrustConfig(.prediction, variant: TrustVariant(temperature: 0.5, topK: 3)))
        #expect(nodes[1].settings.trust == "prediction:topk=3,temperature=0.5")
    }
}
