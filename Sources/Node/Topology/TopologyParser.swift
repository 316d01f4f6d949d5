// Reading a topology file: TOML syntax through TOMLKit, then every semantic check,
// collecting all problems (with their lines) instead of stopping at the first.

import Foundation
import Gossip
import Learning
import Schemes
import TOMLKit
import Trust

/// One problem in a topology file.
public struct TopologyDiagnostic: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// 1-based line, when the problem has one.
    public var line: Int?
    public var message: String

    public var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}

/// A topology file with problems; `diagnostics` lists every one found.
public struct TopologyError: Error, CustomStringConvertible {
    public var diagnostics: [TopologyDiagnostic]
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

public enum TopologyParser {
    /// Reads and checks the topology file at `path`; throws `TopologyError` with every problem.
    public static func load(path: String) throws -> Topology {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TopologyError(diagnostics: [.init(file: path, line: nil, message: "cannot read the file")])
        }
        let text = String(decoding: data, as: UTF8.self)
        let (topology, diagnostics) = parse(text: text, path: path)
        if let topology, diagnostics.isEmpty { return topology }
        throw TopologyError(diagnostics: diagnostics)
    }

    /// Parses `text` (the contents of the file at `path`); returns the topology when it
    /// could be built and every problem found, sorted by line.
    public static func parse(text: String, path: String) -> (Topology?, [TopologyDiagnostic]) {
        if let (line, message) = syntaxProblem(text) {
            return (nil, [.init(file: path, line: line, message: "TOML syntax: \(message)")])
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let e as TOMLParseError {
            return (nil, [.init(file: path, line: e.source.begin.line, message: "TOML syntax: \(e.description)")])
        } catch {
            return (nil, [.init(file: path, line: nil, message: "TOML syntax: \(error)")])
        }
        var reader = Reader(file: path, index: TOMLLineIndex(text: text))
        let topology = reader.topology(table, directory: (path as NSString).deletingLastPathComponent)
        let sorted = reader.diagnostics.sorted { ($0.line ?? 0, $0.message) < ($1.line ?? 0, $1.message) }
        return (topology, sorted)
    }
}

extension TopologyParser {
    /// The first syntax error that toml++, under TOMLKit, would stop the process on
    /// instead of reporting: outside strings and comments, a table header whose name
    /// starts with a character no key can start with (`[!]`, `[é]`, a `[` ending its
    /// line), or a bracket that closes nothing, closes the wrong kind (`["a",}"b"]`) or
    /// is never closed. Valid TOML has none of these.
    static func syntaxProblem(_ text: String) -> (line: Int, message: String)? {
        let scalars = Array(text.unicodeScalars)
        var open: [(bracket: Unicode.Scalar, line: Int)] = []
        var line = 1, i = 0
        var atLineStart = true
        func at(_ k: Int, _ s: String) -> Bool {
            let pattern = Array(s.unicodeScalars)
            return k + pattern.count <= scalars.count && Array(scalars[k..<(k + pattern.count)]) == pattern
        }
        while i < scalars.count {
            let c = scalars[i]
            if c == "\n" { line += 1; i += 1; atLineStart = true; continue }
            if c == " " || c == "\t" || c == "\r" { i += 1; continue }
            // A table header: its name must start as a key does (toml++ aborts otherwise).
            if c == "[" && atLineStart && open.isEmpty {
                var k = i + 1
                if k < scalars.count && scalars[k] == "[" { k += 1 }
                while k < scalars.count && (scalars[k] == " " || scalars[k] == "\t") { k += 1 }
                if k < scalars.count {
                    let n = scalars[k]
                    let startsAName = n.isASCII && (n.properties.isAlphabetic || ("0"..."9").contains(n) || "_-\"'".unicodeScalars.contains(n))
                    if !startsAName { return (line, "a table name must start with a letter, digit, '_', '-' or a quote") }
                }
            }
            atLineStart = false
            if c == "#" {
                while i < scalars.count && scalars[i] != "\n" { i += 1 }
                continue
            }
            for quote in ["\"\"\"", "'''"] where at(i, quote) {
                i += 3
                while i < scalars.count && !at(i, quote) {
                    if scalars[i] == "\n" { line += 1 }
                    if quote.hasPrefix("\"") && scalars[i] == "\\" { i += 1 }
                    i += 1
                }
                i += 3
            }
            guard i < scalars.count else { break }
            let d = scalars[i]
            if d == "\"" || d == "'" {
                i += 1
                while i < scalars.count && scalars[i] != d && scalars[i] != "\n" {
                    if d == "\"" && scalars[i] == "\\" { i += 1 }
                    i += 1
                }
                i += 1
                continue
            }
            if d == "[" || d == "{" { open.append((d, line)) }
            if d == "]" || d == "}" {
                let wanted: Unicode.Scalar = d == "]" ? "[" : "{"
                guard let last = open.popLast() else { return (line, "'\(d)' closes nothing") }
                guard last.bracket == wanted else {
                    return (line, "'\(d)' cannot close the '\(last.bracket)' opened on line \(last.line)")
                }
            }
            i += 1
        }
        if let last = open.last { return (last.line, "'\(last.bracket)' is never closed") }
        return nil
    }
}

/// Walks the parsed TOML, reporting problems against key paths.
struct Reader {
    let file: String
    let index: TOMLLineIndex
    var diagnostics: [TopologyDiagnostic] = []

    mutating func problem(_ path: String, _ message: String) {
        diagnostics.append(.init(file: file, line: index.line(of: path), message: message))
    }

    // MARK: Typed values

    mutating func string(_ t: TOMLTable, _ key: String, _ path: String) -> String? {
        guard let v = t[key] else { return nil }
        guard let s = v.string else {
            problem(path, "\(path) must be a string")
            return nil
        }
        return s
    }

    mutating func int(_ t: TOMLTable, _ key: String, _ path: String, min lower: Int, max upper: Int? = nil) -> Int? {
        guard let v = t[key] else { return nil }
        guard let i = v.int else {
            problem(path, "\(path) must be an integer")
            return nil
        }
        if let upper, !(lower...upper).contains(i) {
            problem(path, "\(path) must be between \(lower) and \(upper), got \(i)")
            return nil
        }
        guard i >= lower else {
            problem(path, "\(path) must be at least \(lower), got \(i)")
            return nil
        }
        return i
    }

    mutating func number(_ v: TOMLValueConvertible, _ path: String) -> Double? {
        if let d = v.double { return d }
        if let i = v.int { return Double(i) }
        problem(path, "\(path) must be a number")
        return nil
    }

    mutating func double(_ t: TOMLTable, _ key: String, _ path: String, _ valid: (Double) -> Bool, _ rule: String) -> Double? {
        guard let v = t[key] else { return nil }
        guard let d = number(v, path) else { return nil }
        guard d.isFinite, valid(d) else {
            problem(path, "\(path) must be \(rule), got \(d)")
            return nil
        }
        return d
    }

    mutating func bool(_ t: TOMLTable, _ key: String, _ path: String) -> Bool? {
        guard let v = t[key] else { return nil }
        guard let b = v.bool else {
            problem(path, "\(path) must be true or false")
            return nil
        }
        return b
    }

    mutating func numbers(_ t: TOMLTable, _ key: String, _ path: String) -> [Double]? {
        guard let v = t[key] else { return nil }
        guard let a = v.array else {
            problem(path, "\(path) must be an array of numbers")
            return nil
        }
        var out: [Double] = []
        for (i, e) in a.enumerated() {
            guard let d = number(e, "\(path)[\(i)]") else { return nil }
            out.append(d)
        }
        return out
    }

    mutating func strings(_ t: TOMLTable, _ key: String, _ path: String) -> [String]? {
        guard let v = t[key] else { return nil }
        guard let a = v.array, let out = Optional(a.compactMap(\.string)), out.count == a.count else {
            problem(path, "\(path) must be an array of strings")
            return nil
        }
        return out
    }

    mutating func unknownKeys(_ t: TOMLTable, _ path: String, allowed: Set<String>) {
        for key in t.keys.sorted() where !allowed.contains(key) {
            let p = path.isEmpty ? key : "\(path).\(key)"
            problem(p, "unknown key \(p)")
        }
    }

    // MARK: Sections

    /// The largest batch, sequence or rank a topology may ask for: far past what a node
    /// trains, and small enough that no product of sizes the model computes overflows.
    static let largestDimension = 65_536

    static let settingKeys: Set<String> = [
        "scheme", "base_model", "tokenizer", "lora", "trust", "temperature", "warmup_rounds", "local_steps", "rounds",
        "learning_rate", "weight_decay", "batch_size", "sequence_length", "activation_budget", "splits", "trust_tokens", "test_tokens", "test_every", "trust_every", "ttl", "round_timeout_ms",
        "staleness_rounds", "heartbeat_ms", "liveness", "max_payload_bytes", "curve", "reference", "seed",
        "metrics", "aggregation", "outer_lr", "outer_momentum", "sync_every", "fusion", "fusion_budget", "fusion_weights",
        "personal_in_global", "bottleneck", "screen_norm", "rewards", "pfit", "fedbiot", "role", "public_data",
    ]

    /// Applies the setting keys present in `t` on top of `base`.
    mutating func settings(_ t: TOMLTable, _ path: String, base: NodeSettings) -> NodeSettings {
        var s = base
        func p(_ k: String) -> String { "\(path).\(k)" }
        if let v = string(t, "scheme", p("scheme")) {
            if Schemes.names.contains(v) {
                s.scheme = v
            } else {
                problem(p("scheme"), "\(p("scheme")): unknown scheme \"\(v)\" (known: \(Schemes.names.joined(separator: ", ")))")
            }
        }
        if let v = string(t, "base_model", p("base_model")) { s.baseModel = v }
        if let v = string(t, "tokenizer", p("tokenizer")) { s.tokenizer = v }
        let trust = string(t, "trust", p("trust"))
        let temperature = double(t, "temperature", p("temperature"), { $0 > 0 }, "positive")
        if trust != nil || temperature != nil {
            self.trust(trust ?? s.trust, temperature: temperature ?? s.temperature, into: &s, t, path)
        }
        if let v = int(t, "warmup_rounds", p("warmup_rounds"), min: 0) { s.warmupRounds = v }
        if let v = int(t, "local_steps", p("local_steps"), min: 1) { s.localSteps = v }
        if let v = int(t, "rounds", p("rounds"), min: 1) { s.rounds = v }
        if let v = double(t, "learning_rate", p("learning_rate"), { $0 > 0 && $0 < 1 }, "in (0, 1)") { s.learningRate = v }
        if let v = double(t, "weight_decay", p("weight_decay"), { $0 >= 0 && $0 < 1 }, "in [0, 1)") { s.weightDecay = v }
        if let v = int(t, "batch_size", p("batch_size"), min: 1, max: Self.largestDimension) { s.batchSize = v }
        if let v = int(t, "sequence_length", p("sequence_length"), min: 2, max: Self.largestDimension) { s.sequenceLength = v }
        if let v = double(t, "activation_budget", p("activation_budget"), { $0 >= 0 && $0 <= 1000 }, "in [0, 1000] (0 keeps everything)") {
            s.activationBudget = v
        }
        if let v = numbers(t, "splits", p("splits")) {
            if v.count != 3 || v.contains(where: { !($0 > 0) }) || abs(v.reduce(0, +) - 1) > 1e-6 {
                problem(p("splits"), "\(p("splits")) must be three positive fractions (train, trust, test) summing to 1")
            } else {
                s.splits = v
            }
        }
        if let v = int(t, "trust_tokens", p("trust_tokens"), min: 1) { s.trustTokens = v }
        if let v = int(t, "test_tokens", p("test_tokens"), min: 1) { s.testTokens = v }
        if let v = int(t, "test_every", p("test_every"), min: 1) { s.testEvery = v }
        if let v = int(t, "trust_every", p("trust_every"), min: 1) { s.trustEvery = v }
        // The hop count travels as one byte.
        if let v = int(t, "ttl", p("ttl"), min: 0, max: 255) { s.ttl = v }
        if let v = int(t, "round_timeout_ms", p("round_timeout_ms"), min: 1) { s.roundTimeoutMilliseconds = v }
        if let v = int(t, "staleness_rounds", p("staleness_rounds"), min: 0) { s.stalenessRounds = v }
        if let v = double(t, "screen_norm", p("screen_norm"), { $0 == 0 || $0 >= 1 }, "0 (off) or at least 1") { s.screenNorm = v }
        if let v = int(t, "heartbeat_ms", p("heartbeat_ms"), min: 10) { s.heartbeatMilliseconds = v }
        // A peer is suspect after two quiet intervals, so gone needs at least two.
        if let v = int(t, "liveness", p("liveness"), min: 2) { s.liveness = v }
        if let v = int(t, "max_payload_bytes", p("max_payload_bytes"), min: 4096) {
            // ZMQ_MAXMSGSIZE is 64-bit, but a payload is held in memory whole: 4 GiB is plenty.
            if v > 1 << 32 {
                problem(p("max_payload_bytes"), "\(p("max_payload_bytes")) must be at most \(1 << 32), got \(v)")
            } else {
                s.maxPayloadBytes = v
            }
        }
        if let v = bool(t, "curve", p("curve")) { s.curve = v }
        if let v = string(t, "reference", p("reference")) { s.reference = v }
        if let v = int(t, "seed", p("seed"), min: 0) { s.seed = UInt64(v) }
        if let v = string(t, "metrics", p("metrics")) {
            do { s.metrics = try MetricsAddress(parsing: v) } catch { problem(p("metrics"), "\(p("metrics")): \(error)") }
        }
        if let l = t["lora"] {
            if let lt = l.table {
                s.lora = lora(lt, p("lora"), base: s.lora)
            } else {
                problem(p("lora"), "\(p("lora")) must be a table such as { rank = 4, alpha = 32 }")
            }
        }
        schemeSettings(t, path, into: &s)
        fedbiotSettings(t, path, into: &s)
        if s.warmupRounds >= s.rounds && t["warmup_rounds"] != nil {
            problem(p("warmup_rounds"), "\(p("warmup_rounds")) (\(s.warmupRounds)) must be less than rounds (\(s.rounds))")
        }
        return s
    }

    /// Sets the trust string and temperature of `s` when together they make a trust
    /// setting; otherwise reports why, at the `trust` key when the table has one.
    mutating func trust(_ text: String, temperature: Double, into s: inout NodeSettings, _ t: TOMLTable, _ path: String) {
        let key = t["trust"] != nil ? "\(path).trust" : "\(path).temperature"
        let name = String(text.split(separator: ":").first ?? "").trimmingCharacters(in: .whitespaces)
        guard TrustStrategy(rawValue: name) != nil else {
            let known = TrustStrategy.allCases.map(\.rawValue).joined(separator: ", ")
            problem(key, "\(key): unknown trust strategy \"\(name)\" (known: \(known))")
            return
        }
        do {
            _ = try NodeSettings.trustConfig(text, temperature: temperature)
            s.trust = text
            s.temperature = temperature
        } catch {
            let setting = text.contains("temperature=") || temperature == 1 ? "\"\(text)\"" : "\"\(text)\" with temperature \(temperature)"
            problem(key, "\(key): trust \(setting): \(error)")
        }
    }

    /// The keys of the schemes that keep part of the model at home (FDLoRA, PFTT).
    mutating func schemeSettings(_ t: TOMLTable, _ path: String, into s: inout NodeSettings) {
        func p(_ k: String) -> String { "\(path).\(k)" }
        if let v = string(t, "aggregation", p("aggregation")) {
            let name = String(v.split(separator: ":").first ?? "")
            if TrustStrategy(rawValue: name) != nil {
                s.aggregation = v
            } else {
                problem(p("aggregation"),
                        "\(p("aggregation")): unknown aggregation \"\(name)\" (fedavg or a trust strategy: \(TrustStrategy.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        if let v = double(t, "outer_lr", p("outer_lr"), { $0 > 0 && $0 <= 2 }, "in (0, 2]") { s.outerLearningRate = v }
        if let v = double(t, "outer_momentum", p("outer_momentum"), { $0 >= 0 && $0 < 1 }, "in [0, 1)") { s.outerMomentum = v }
        if let v = int(t, "sync_every", p("sync_every"), min: 0) { s.syncEvery = v }
        if let v = string(t, "fusion", p("fusion")) {
            if let mode = FusionMode(rawValue: v) {
                s.fusion = mode
            } else {
                problem(p("fusion"), "\(p("fusion")): unknown fusion \"\(v)\" (known: \(FusionMode.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        if let v = int(t, "fusion_budget", p("fusion_budget"), min: 0) { s.fusionBudget = v }
        if let v = numbers(t, "fusion_weights", p("fusion_weights")) {
            if v.count != 2 || v.contains(where: { !(abs($0) <= FusionSearch.bound) }) {
                problem(p("fusion_weights"), "\(p("fusion_weights")) must be two weights [w1, w2] in [-1.5, 1.5]")
            } else {
                s.fusionWeights = v
            }
        }
        if let v = bool(t, "personal_in_global", p("personal_in_global")) { s.personalInGlobal = v }
        if let b = t["bottleneck"] {
            if let bt = b.table {
                unknownKeys(bt, p("bottleneck"), allowed: ["width"])
                if let v = int(bt, "width", "\(p("bottleneck")).width", min: 1) { s.bottleneckWidth = v }
            } else {
                problem(p("bottleneck"), "\(p("bottleneck")) must be a table such as { width = 16 }")
            }
        }
        pfitSettings(t, path, into: &s)
    }

    /// PFIT's `rewards = { arithmetic = 0.7, fluency = 0.3 }` and `pfit = { group = 4, … }`.
    mutating func pfitSettings(_ t: TOMLTable, _ path: String, into s: inout NodeSettings) {
        let r = "\(path).rewards", q = "\(path).pfit"
        if let v = t["rewards"] {
            if let table = v.table {
                var weights: [String: Double] = [:]
                for key in table.keys.sorted() {
                    guard let w = number(table[key]!, "\(r).\(key)") else { return }
                    weights[key] = w
                }
                do { s.pfit.rewards = try RewardMixture(weights: weights) } catch { problem(r, "\(r): \(error)") }
            } else {
                problem(r, "\(r) must be a table such as { arithmetic = 0.7, fluency = 0.3 }")
            }
        }
        guard let v = t["pfit"] else { return }
        guard let p = v.table else { return problem(q, "\(q) must be a table such as { group = 4, beta = 0.04 }") }
        unknownKeys(p, q, allowed: ["group", "completion_tokens", "prompt_tokens", "beta", "clip", "normalize", "updates",
                                    "temperature", "learning_rate", "length", "evaluation_prompts"])
        if let v = int(p, "group", "\(q).group", min: 2, max: 1024) { s.pfit.group = v }
        if let v = int(p, "completion_tokens", "\(q).completion_tokens", min: 1, max: Self.largestDimension) { s.pfit.completionTokens = v }
        if let v = int(p, "prompt_tokens", "\(q).prompt_tokens", min: 1, max: Self.largestDimension) { s.pfit.promptTokens = v }
        if let v = double(p, "beta", "\(q).beta", { $0 >= 0 }, "at least 0") { s.pfit.beta = v }
        // clip = 0 asks for the plain policy gradient.
        if let v = double(p, "clip", "\(q).clip", { $0 >= 0 && $0 < 1 }, "in [0, 1)") { s.pfit.clip = v > 0 ? v : nil }
        if let v = bool(p, "normalize", "\(q).normalize") { s.pfit.normalizeAdvantages = v }
        if let v = int(p, "updates", "\(q).updates", min: 1, max: 64) { s.pfit.updatesPerGroup = v }
        if let v = double(p, "temperature", "\(q).temperature", { $0 > 0 }, "positive") { s.pfit.temperature = v }
        if let v = double(p, "learning_rate", "\(q).learning_rate", { $0 > 0 && $0 < 1 }, "in (0, 1)") { s.pfit.learningRate = v }
        if let v = int(p, "evaluation_prompts", "\(q).evaluation_prompts", min: 1, max: 4096) { s.pfit.evaluationPrompts = v }
        if let v = numbers(p, "length", "\(q).length") {
            if v.count == 2, v.allSatisfy({ $0 >= 0 && $0 == $0.rounded() && $0 <= 1e6 }), v[0] <= v[1] {
                s.pfit.lengthBand = Int(v[0])...Int(v[1])
            } else {
                problem("\(q).length", "\(q).length must be a band [shortest, longest] of whole characters")
            }
        }
    }

    mutating func lora(_ t: TOMLTable, _ path: String, base: LoRAConfig) -> LoRAConfig {
        var c = base
        unknownKeys(t, path, allowed: ["rank", "alpha", "dropout", "targets"])
        if let v = int(t, "rank", "\(path).rank", min: 1, max: Self.largestDimension) { c.rank = v }
        if let v = double(t, "alpha", "\(path).alpha", { $0 > 0 }, "positive") { c.alpha = Float(v) }
        if let v = double(t, "dropout", "\(path).dropout", { $0 >= 0 && $0 < 1 }, "in [0, 1)") { c.dropout = Float(v) }
        if let v = strings(t, "targets", "\(path).targets") {
            var targets: [LoRAConfig.Target] = []
            for name in v {
                if let target = LoRAConfig.Target(rawValue: name) {
                    targets.append(target)
                } else {
                    let known = LoRAConfig.Target.allCases.map(\.rawValue).joined(separator: ", ")
                    problem("\(path).targets", "\(path).targets: unknown projection \"\(name)\" (known: \(known))")
                }
            }
            if targets.isEmpty {
                problem("\(path).targets", "\(path).targets must name at least one projection")
            } else {
                c = LoRAConfig(rank: c.rank, alpha: c.alpha, dropout: c.dropout, targets: targets)
            }
        }
        return c
    }

    mutating func topology(_ root: TOMLTable, directory: String) -> Topology? {
        unknownKeys(root, "", allowed: ["name", "state", "sources", "defaults", "nodes", "edges"])
        let name = string(root, "name", "name") ?? ""
        if name.isEmpty { problem("name", "the topology needs a name (name = \"...\")") }
        let sources = strings(root, "sources", "sources") ?? []

        var defaults = NodeSettings()
        if let d = root["defaults"] {
            if let dt = d.table {
                unknownKeys(dt, "defaults", allowed: Self.settingKeys)
                defaults = settings(dt, "defaults", base: defaults)
            } else {
                problem("defaults", "defaults must be a table ([defaults])")
            }
        }

        var nodes: [TopologyNode] = []
        guard let nodeArray = root["nodes"]?.array, !nodeArray.isEmpty else {
            problem("nodes", "the topology lists no nodes (add [[nodes]] entries)")
            return nil
        }
        for (i, entry) in nodeArray.enumerated() {
            let path = "nodes[\(i)]"
            guard let t = entry.table else {
                problem(path, "\(path) must be a table")
                continue
            }
            unknownKeys(t, path, allowed: Self.settingKeys.union(["name", "endpoint", "public_key", "data", "mixture"]))
            let nodeName = string(t, "name", "\(path).name") ?? ""
            if nodeName.isEmpty { problem(path, "\(path) needs a name") }
            let endpoint = string(t, "endpoint", "\(path).endpoint") ?? ""
            if endpoint.isEmpty {
                problem(path, "node \(nodeName) needs an endpoint")
            } else if let reason = Self.endpointProblem(endpoint) {
                problem("\(path).endpoint", "node \(nodeName): endpoint \"\(endpoint)\" \(reason)")
            }
            let key = string(t, "public_key", "\(path).public_key")
            if let key, PublicKey(text: key) == nil {
                problem("\(path).public_key", "node \(nodeName): public_key must be 64 hexadecimal digits (as `starling keygen` prints)")
            }
            let data = string(t, "data", "\(path).data") ?? "data/\(name)/\(nodeName).txt"
            let mixture = numbers(t, "mixture", "\(path).mixture")
            if let mixture {
                if !sources.isEmpty && mixture.count != sources.count {
                    problem("\(path).mixture", "node \(nodeName): mixture has \(mixture.count) entries but there are \(sources.count) sources")
                } else if mixture.contains(where: { $0 < 0 }) || !(mixture.reduce(0, +) > 0) {
                    problem("\(path).mixture", "node \(nodeName): mixture entries must be non-negative with a positive sum")
                }
            }
            let s = settings(t, path, base: defaults)
            nodes.append(TopologyNode(name: nodeName, endpoint: endpoint, publicKey: key, data: data, mixture: mixture, settings: s))
        }
        checkUnique(nodes)
        checkAligner(nodes)
        if nodes.contains(where: { $0.settings.trustConfig?.strategy == .oracle }) {
            for (i, n) in nodes.enumerated() where n.mixture == nil {
                problem("nodes[\(i)]", "node \(n.name): the oracle strategy needs a mixture row for every node")
            }
        }

        let (shape, edges) = self.edges(root, nodes: nodes)
        checkReachable(nodes: nodes, edges: edges)

        let stateRoot = string(root, "state", "state") ?? "state/\(name)"
        let resolvedState = stateRoot.hasPrefix("/") ? stateRoot : (directory as NSString).appendingPathComponent(stateRoot)
        return Topology(
            name: name, baseDirectory: directory, stateRoot: resolvedState, sources: sources, defaults: defaults,
            nodes: nodes, shape: shape, edges: edges)
    }

    mutating func checkUnique(_ nodes: [TopologyNode]) {
        var names: [String: Int] = [:], endpoints: [String: Int] = [:], keys: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            if !n.name.isEmpty {
                if let j = names[n.name] {
                    problem("nodes[\(i)].name", "duplicate node name \"\(n.name)\" (first at line \(index.line(of: "nodes[\(j)].name") ?? 0))")
                } else { names[n.name] = i }
            }
            if !n.endpoint.isEmpty {
                if let j = endpoints[n.endpoint] {
                    problem("nodes[\(i)].endpoint", "node \(n.name): duplicate endpoint \(n.endpoint) (also used by \(nodes[j].name))")
                } else { endpoints[n.endpoint] = i }
            }
            if let k = n.publicKey?.lowercased(), PublicKey(text: k) != nil {
                if let j = keys[k] {
                    problem("nodes[\(i)].public_key", "node \(n.name): duplicate public key (also used by \(nodes[j].name))")
                } else { keys[k] = i }
            }
        }
    }

    mutating func edges(_ root: TOMLTable, nodes: [TopologyNode]) -> (EdgeShape, [(Int, Int)]) {
        guard let e = root["edges"] else { return (.full, Topology.edges(shape: .full, count: nodes.count)) }
        guard let t = e.table else {
            problem("edges", "edges must be a table ([edges])")
            return (.full, [])
        }
        unknownKeys(t, "edges", allowed: ["shape", "k", "groups", "pairs", "seed"])
        var shape: EdgeShape = t["pairs"] != nil ? .explicit : .full
        if let s = string(t, "shape", "edges.shape") {
            if let parsed = EdgeShape(rawValue: s) {
                shape = parsed
            } else {
                problem("edges.shape", "edges.shape: unknown shape \"\(s)\" (known: \(EdgeShape.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        let n = nodes.count
        let k = int(t, "k", "edges.k", min: 1) ?? 2
        if shape == .kRegular && k >= n {
            problem("edges.k", "edges.k (\(k)) must be less than the number of nodes (\(n))")
        } else if shape == .kRegular && (n * k) % 2 == 1 {
            problem("edges.k", "edges.k (\(k)) times the number of nodes (\(n)) must be even: no \(k)-regular graph on \(n) nodes exists")
        }
        // With a seed, k-regular is a random regular graph drawn from it; without, the ring lattice.
        let seed = int(t, "seed", "edges.seed", min: 0)
        let groups = int(t, "groups", "edges.groups", min: 1) ?? 1
        if shape == .clusters && groups > n {
            problem("edges.groups", "edges.groups (\(groups)) exceeds the number of nodes (\(n))")
        }
        var result = shape == .explicit ? [] : Topology.edges(shape: shape, count: n, k: k, groups: groups)
        if shape == .kRegular, let seed {
            do { result = try RandomRegularGraph.edges(nodes: n, degree: k, seed: UInt64(seed)) } catch {
                if case .cannotConnect = error { problem("edges.k", "edges.k: \(error)") }
            }
        }
        if let pairs = t["pairs"] {
            guard let array = pairs.array else {
                problem("edges.pairs", "edges.pairs must be an array of [\"a\", \"b\"] pairs")
                return (shape, result)
            }
            var set = Set(result.map { [$0.0, $0.1] })
            for (i, p) in array.enumerated() {
                let path = "edges.pairs[\(i)]"
                guard let pair = p.array, pair.count == 2, let a = pair[0].string, let b = pair[1].string else {
                    problem(path, "\(path) must be a pair of node names such as [\"alice\", \"bob\"]")
                    continue
                }
                let ia = nodes.firstIndex { $0.name == a }, ib = nodes.firstIndex { $0.name == b }
                if ia == nil { problem(path, "edge [\(a), \(b)] names unknown node \"\(a)\"") }
                if ib == nil { problem(path, "edge [\(a), \(b)] names unknown node \"\(b)\"") }
                guard let ia, let ib else { continue }
                if ia == ib {
                    problem(path, "edge [\(a), \(b)] joins a node to itself")
                    continue
                }
                set.insert([min(ia, ib), max(ia, ib)])
            }
            result = set.map { ($0[0], $0[1]) }.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        }
        return (shape, result)
    }

    mutating func checkReachable(nodes: [TopologyNode], edges: [(Int, Int)]) {
        guard nodes.count > 1 else { return }
        var adjacency = Array(repeating: [Int](), count: nodes.count)
        for (a, b) in edges {
            adjacency[a].append(b)
            adjacency[b].append(a)
        }
        var seen = Set([0]), stack = [0]
        while let i = stack.popLast() {
            for j in adjacency[i] where !seen.contains(j) {
                seen.insert(j)
                stack.append(j)
            }
        }
        for i in nodes.indices where !seen.contains(i) {
            problem("nodes[\(i)]", "node \(nodes[i].name) is unreachable from \(nodes[0].name): no path of edges joins them")
        }
    }

    /// Why an endpoint cannot be used, or nil when it can.
    static func endpointProblem(_ endpoint: String) -> String? {
        if endpoint.hasPrefix("ipc://") { return endpoint.count > "ipc://".count ? nil : "has an empty path" }
        if endpoint.hasPrefix("inproc://") { return endpoint.count > "inproc://".count ? nil : "has an empty name" }
        guard endpoint.hasPrefix("tcp://") else { return "must start with tcp://, ipc:// or inproc://" }
        let rest = endpoint.dropFirst("tcp://".count)
        guard let colon = rest.lastIndex(of: ":"), colon != rest.startIndex else { return "needs host:port" }
        guard let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
            return "needs a port between 1 and 65535"
        }
        return nil
    }
}
