// `starling topology init`: a new topology file and a state folder with a fresh key per node.

import Foundation
import Gossip
import Schemes

/// Makes a topology of a chosen shape, ready to run on this machine.
public enum TopologyTemplate {
    /// Friendly node names; past the list nodes are called node-N.
    static let names = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
        "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yolanda",
    ]

    public static func nodeName(_ i: Int) -> String { i < names.count ? names[i] : "node-\(i + 1)" }

    /// The settings a new topology of each scheme spells out, with their defaults.
    static let schemeSettings: [String: String] = [
        "collaborative": "",
        "fdlora": """
            # FDLoRA: a personal LoRA that stays here, a global LoRA that is published.
            aggregation = "fedavg"      # or a trust strategy, e.g. "validation"
            outer_lr = 0.7              # outer Nesterov step (1 with momentum 0: plain averaging)
            outer_momentum = 0.9
            sync_every = 0              # refresh the personal slot every k federated rounds (0: never)
            fusion = "factor"           # or "delta"
            fusion_budget = 40          # loss evaluations of the fusion search per round
            personal_in_global = false  # apply the personal slot while the global one trains

            """,
        "pftt": """
            # PFTT: a bottleneck adapter per block is published; a LoRA on attention stays here.
            aggregation = "fedavg"      # or a trust strategy, e.g. "validation"
            bottleneck = { width = 16 }

            """,
        "pfit": """
            # PFIT: the policy LoRA is published; the reward mixture and reward models stay here.
            aggregation = "fedavg"      # or a trust strategy, e.g. "validation"
            rewards = { fluency = 0.7, length = 0.3 }   # arithmetic, style, fluency, length
            pfit = { group = 4, completion_tokens = 12, prompt_tokens = 12, beta = 0.04, clip = 0.2, learning_rate = 0.001, length = [8, 32] }

            """,
    ]

    /// Writes the topology file at `path` and a key for every node under its state
    /// folder (`state/<name>/<node>` beside the file). Refuses to replace an existing
    /// file or key. Returns the file's text.
    @discardableResult
    public static func create(
        path: String, name: String, shape: EdgeShape, nodeCount n: Int, groups: Int, k: Int = 2,
        sources: [TextSource], basePort: Int = 7100, scheme: String = "collaborative", seed: UInt64? = nil, ttl: Int = 2
    ) throws -> String {
        guard let schemeKeys = schemeSettings[scheme] else {
            let known = Schemes.names.joined(separator: ", ")
            throw TopologyError(diagnostics: [.init(file: path, line: nil, message: "unknown scheme \"\(scheme)\" (known: \(known))")])
        }
        guard n >= 1 else { throw TopologyError(diagnostics: [.init(file: path, line: nil, message: "--nodes must be at least 1")]) }
        guard !FileManager.default.fileExists(atPath: path) else {
            throw TopologyError(diagnostics: [.init(file: path, line: nil, message: "already exists; choose another --out or remove it")])
        }
        let directory = (path as NSString).deletingLastPathComponent
        let stateRoot = "state/\(name)"
        var text = """
            # Starling topology "\(name)": \(n) nodes, \(shape.rawValue) edges.
            # Check it with `starling topology check \((path as NSString).lastPathComponent)`,
            # make the nodes' text with `starling data synth --topology ...`, run it with `starling up ...`.
            name = "\(name)"
            state = "\(stateRoot)"
            sources = [\(sources.map { "\"\($0.rawValue)\"" }.joined(separator: ", "))]

            [defaults]
            scheme = "\(scheme)"
            base_model = "random:tiny"
            tokenizer = "bytes"
            trust = "validation"
            temperature = 1.0
            warmup_rounds = 2
            local_steps = 25
            rounds = 10
            learning_rate = 0.002
            batch_size = 4
            sequence_length = 64
            ttl = \(ttl)
            round_timeout_ms = 30000
            curve = true
            lora = { rank = 4, alpha = 32, dropout = 0.1 }
            \(schemeKeys)
            [edges]
            shape = "\(shape.rawValue)"

            """
        if shape == .clusters { text += "groups = \(groups)\n" }
        if shape == .kRegular { text += "k = \(k)\n" + (seed.map { "seed = \($0)\n" } ?? "") }
        let members = Topology.clusterMembers(count: n, groups: shape == .clusters ? groups : sources.count)
        for i in 0..<n {
            let nodeName = nodeName(i)
            let stateDir = ((directory as NSString).appendingPathComponent(stateRoot) as NSString).appendingPathComponent(nodeName)
            try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
            let keyPath = (stateDir as NSString).appendingPathComponent(SigningKeyPair.secretKeyFileName)
            let keys = try SigningKeyPair()
            try keys.save(to: keyPath)
            try keys.savePublicKey(to: (stateDir as NSString).appendingPathComponent(SigningKeyPair.publicKeyFileName), overwrite: true)
            let group = members.firstIndex { $0.contains(i) } ?? 0
            var mixture = Array(repeating: 0.0, count: sources.count)
            mixture[group % sources.count] = 1
            text += """

                [[nodes]]
                name = "\(nodeName)"
                endpoint = "tcp://127.0.0.1:\(basePort + i + 1)"
                public_key = "\(keys.publicKey)"
                data = "data/\(name)/\(nodeName).txt"
                mixture = [\(mixture.map { $0 == 0 ? "0" : "1" }.joined(separator: ", "))]

                """
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return text
    }
}
