// An experiment entry of the fedbiot scheme: `fedbiot[:key=value,…]`.
//
//   drop=β            share of the middle blocks the emulator drops (default 0.2)
//   layout=fedbiot    the adapter is the last `adapter_blocks` blocks (default 2)
//   layout=offsite    the adapter is the first and the last `adapter_blocks` blocks
//                     (default 1 each); the emulator is aligned once before training,
//                     then frozen
//   layout=full       the reference: the clients hold the full model and train the
//                     same adapter as layout=fedbiot, aggregated by fedavg; no emulator
//   adapter_blocks=L, prealign=steps (before the first round, default 50),
//   align_steps=E (per aggregating round, default 10), align_lr (default 1e-3),
//   lambda (default 1), proximal=ε (default 0.01; 0 for layout=full)

import Foundation
import Schemes

/// Where a fedbiot entry's clients train.
public enum FedBiOTExperimentLayout: String, Sendable, CaseIterable {
    case fedbiot, offsite, full
}

/// A parsed `fedbiot` entry.
public struct FedBiOTEntry: Sendable, Equatable {
    public var layout: FedBiOTExperimentLayout = .fedbiot
    /// The scheme's keys; `settings.layout` is the emulator's (fedbiot for the reference).
    public var settings = FedBiOTSettings()
    /// Alignment steps before the first round.
    public var prealignSteps = 50

    public static let options = ["drop", "layout", "adapter_blocks", "prealign", "align_steps", "align_lr", "lambda", "proximal"]

    public init() {
        settings.alignLearningRate = 1e-3
    }

    /// Parses `spec` when it names the fedbiot scheme; nil otherwise.
    /// - Throws: `NodeError` naming the option that does not parse.
    public init?(spec: String) throws {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.first == FedBiOT.schemeName else { return nil }
        self.init()
        var adapterBlocks: Int?, proximal: Double?, alignSteps: Int?
        for option in parts.count > 1 ? parts[1].split(separator: ",", omittingEmptySubsequences: false) : [] {
            let kv = option.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw NodeError("run \"\(spec)\": \"\(option)\" is not key=value") }
            let (key, value) = (kv[0], kv[1])
            func number(_ range: String, _ valid: (Double) -> Bool) throws -> Double {
                guard let d = Double(value), d.isFinite, valid(d) else { throw NodeError("run \"\(spec)\": \(key) must be \(range), got \(value)") }
                return d
            }
            func count(_ least: Int) throws -> Int {
                guard let n = Int(value), n >= least else { throw NodeError("run \"\(spec)\": \(key) must be a whole number of at least \(least), got \(value)") }
                return n
            }
            switch key {
            case "drop": settings.dropRatio = try number("in [0, 1)") { $0 >= 0 && $0 < 1 }
            case "layout":
                guard let l = FedBiOTExperimentLayout(rawValue: value) else {
                    throw NodeError("run \"\(spec)\": unknown layout \(value) (known: \(FedBiOTExperimentLayout.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                layout = l
            case "adapter_blocks": adapterBlocks = try count(1)
            case "prealign": prealignSteps = try count(0)
            case "align_steps": alignSteps = try count(0)
            case "align_lr": settings.alignLearningRate = try number("in (0, 1)") { $0 > 0 && $0 < 1 }
            case "lambda": settings.lambda = try number("at least 0") { $0 >= 0 }
            case "proximal": proximal = try number("at least 0") { $0 >= 0 }
            default:
                throw NodeError("run \"\(spec)\": unknown option \(key) (known: \(Self.options.joined(separator: ", ")))")
            }
        }
        if let alignSteps {
            guard layout == .fedbiot else { throw NodeError("run \"\(spec)\": align_steps applies to layout=fedbiot only (\(layout.rawValue) aligns no more once the rounds start)") }
            settings.alignSteps = alignSteps
        }
        switch layout {
        case .fedbiot:
            settings.layout = .fedbiot
        case .offsite:
            settings.layout = .offsite
            // Aligned once, then frozen: nothing moves or travels in the rounds.
            settings.alignSteps = 0
            settings.emulatorEvery = 0
        case .full:
            settings.layout = .fedbiot
            settings.alignSteps = 0
            settings.emulatorEvery = 0
            prealignSteps = 0
        }
        settings.adapterBlocks = adapterBlocks ?? (layout == .offsite ? 1 : 2)
        settings.proximal = proximal ?? (layout == .full ? 0 : 0.01)
    }

    /// Whether the clients train on an emulator (all but the reference).
    public var hasEmulator: Bool { layout != .full }
}
