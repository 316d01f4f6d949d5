import Foundation
import Gossip
import Learning
import Schemes
import Testing
import Trust

@testable import Node

@Suite(.serialized) struct PFITRunTests {
    static let settings = """
        scheme = "pfit"
        aggregation = "fedavg"
        trust = "validation"
        rounds = 3
        warmup_rounds = 1
        local_steps = 2
        lora = { rank = 2, alpha = 4, dropout = 0 }
        rewards = { arithmetic = 0.5, style = 0.3, fluency = 0.2 }
        pfit = { group = 3, completion_tokens = 6, prompt_tokens = 8, beta = 0.05, clip = 0.2 }
        """

    /// Over a whole PFIT run every UPDATE a peer received is the policy LoRA and nothing
    /// else: its names and shapes, no reward names or weights in its metadata, and none
    /// of the sender's style-classifier weights among its values. The RL rounds report
    /// their mean rewards, KL and samples per second.
    @Test func theRewardsAndTheirWeightsNeverLeaveTheDevice() throws {
        let t = try preparedTopology(topologyText(name: "pfit-private", settings: Self.settings), bytesPerNode: 4000)
        defer { try? FileManager.default.removeItem(atPath: t.baseDirectory) }
        let (runtimes, captures) = try runCapturing(t)
        let keys = try NodeRuntime.memberKeys(t)
        let policy = try runtimes[0].nodeModel.model.adapter(named: PFIT.policySlot)
        var seen = 0
        for (receiver, capture) in captures.enumerated() {
            for sender in t.nodes.indices where sender != receiver {
                let scheme = try #require(runtimes[sender].nodeModel.scheme as? PFIT)
                let style = try #require(scheme.rewards["style"] as? StyleReward)
                let styleBits = Set(style.weights.filter { $0 != 0 }.map { Float($0).bitPattern })
                #expect(styleBits.count > 100)
                let fromSender = capture.updates.filter { $0.origin == keys[sender] }
                #expect(Set(fromSender.map(\.round)) == [2, 3])
                for update in fromSender {
                    let file = try SafeTensors.decode(update.payload.bytes)
                    #expect(file.metadata["starling.slot"] == PFIT.policySlot && file.metadata["starling.scheme"] == "pfit")
                    // The policy LoRA in PEFT's names: one lora_A and lora_B per projection, nothing else.
                    let names: [String] = file.tensors.map { $0.name }
                    let sentCount: Int = file.tensors.reduce(0) { $0 + $1.values.count }
                    let policyCount: Int = policy.tensors.reduce(0) { $0 + $1.values.count }
                    #expect(names.count == policy.tensors.count)
                    #expect(names.allSatisfy { $0.contains(".lora_") })
                    #expect(sentCount == policyCount)
                    for (key, value) in file.metadata {
                        for word in ["reward", "arithmetic", "style", "fluency", "alpha_"] {
                            #expect(!key.contains(word) && !value.contains(word), "metadata \(key) = \(value)")
                        }
                    }
                    let sent = file.tensors.flatMap(\.values).map(\.bitPattern)
                    #expect(sent.filter(styleBits.contains).count <= 1)
                    seen += 1
                }
            }
        }
        #expect(seen == 3 * 2 * 2)
        for runtime in runtimes {
            let metrics = try runtime.state.metrics()
            #expect(metrics.count == 3)
            #expect(metrics[0].schemeFigures == nil)
            for m in metrics.dropFirst() {
                let f = try #require(m.schemeFigures)
                #expect(Set(f.keys) == ["arithmetic", "style", "fluency", "mixture", "kl", "samples_per_second", "policy_loss", "policy_steps",
                                     "eval_arithmetic", "eval_style", "eval_fluency", "eval_mixture"])
                #expect(f["kl"]! >= 0 && f["samples_per_second"]! > 0)
                #expect((0...1).contains(f["arithmetic"]!))
                #expect(f["fluency"]! < 0)
                #expect(f["policy_steps"] == 2 && m.trainLoss == f["policy_loss"])
            }
            #expect(runtime.currentStatus().schemeFigures == metrics.last?.schemeFigures)
        }
    }
}
