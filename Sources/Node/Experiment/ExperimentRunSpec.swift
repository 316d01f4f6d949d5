// What one entry of an experiment compares: a trust strategy (`validation:temperature=0.1`,
// the collaborative scheme aggregating by it), or a scheme with its settings
// (`fdlora`, `fdlora:aggregation=validation,fusion=delta`, `pftt:width=8`,
// `fedbiot:drop=0.5`, whose options ExperimentFedBiOTEntry.swift reads).

import Foundation
import Schemes
import Trust

public enum ExperimentRunSpec {
    /// The scheme options an entry may set, as `key=value`.
    static let options = ["aggregation", "outer_lr", "outer_momentum", "sync_every", "fusion", "fusion_budget", "personal_in_global", "width"]

    /// Applies entry `spec` to a node's settings: its scheme and options, or its trust
    /// strategy under the collaborative scheme.
    /// - Throws: `NodeError` naming what does not parse.
    public static func apply(_ spec: String, to s: inout NodeSettings) throws {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        let head = parts.first ?? ""
        guard head != Collaborative.schemeName, Schemes.names.contains(head) else {
            // A trust strategy, or `collaborative:STRATEGY`.
            let strategy = head == Collaborative.schemeName ? (parts.count > 1 ? parts[1] : s.trust) : spec
            do { _ = try TrustConfig(parsing: strategy) } catch { throw NodeError("run \"\(spec)\": \(error)") }
            s.scheme = Collaborative.schemeName
            s.trust = strategy
            s.aggregation = nil
            return
        }
        s.scheme = head
        s.aggregation = "fedavg"
        if let fedbiot = try FedBiOTEntry(spec: spec) {
            s.fedbiot = fedbiot.settings
            return
        }
        guard parts.count > 1 else { return }
        for option in parts[1].split(separator: ",") {
            let kv = option.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw NodeError("run \"\(spec)\": \"\(option)\" is not key=value") }
            let (key, value) = (kv[0], kv[1])
            func number(_ valid: (Double) -> Bool) throws -> Double {
                guard let d = Double(value), valid(d) else { throw NodeError("run \"\(spec)\": bad value \(key)=\(value)") }
                return d
            }
            switch key {
            case "aggregation":
                // A trust strategy with its own options would need commas; one without them fits here.
                do { _ = try TrustConfig(parsing: value) } catch { throw NodeError("run \"\(spec)\": aggregation: \(error)") }
                s.aggregation = value
            case "outer_lr": s.outerLearningRate = try number { $0 > 0 && $0 <= 2 }
            case "outer_momentum": s.outerMomentum = try number { $0 >= 0 && $0 < 1 }
            case "sync_every": s.syncEvery = Int(try number { $0 >= 0 && $0 == $0.rounded() })
            case "fusion_budget": s.fusionBudget = Int(try number { $0 >= 0 && $0 == $0.rounded() })
            case "width": s.bottleneckWidth = Int(try number { $0 >= 1 && $0 == $0.rounded() })
            case "fusion":
                guard let mode = FusionMode(rawValue: value) else { throw NodeError("run \"\(spec)\": unknown fusion \(value)") }
                s.fusion = mode
            case "personal_in_global":
                guard let b = Bool(value) else { throw NodeError("run \"\(spec)\": personal_in_global must be true or false") }
                s.personalInGlobal = b
            default:
                throw NodeError("run \"\(spec)\": unknown option \(key) (known: \(options.joined(separator: ", ")))")
            }
        }
    }
}
