// What an experiment runs: every strategy in every setting for every seed, plus a
// data-size sweep, each run a fresh in-memory copy of one topology with overrides.

import Foundation

/// The settings of a comparison over one topology.
public struct ExperimentPlan: Sendable, Equatable {
    /// Trust settings to compare, e.g. `local`, `validation:temperature=0.1`.
    public var strategies: [String]
    public var settings: [ExperimentSetting]
    /// One run of every strategy and setting per seed; the seed changes the text, the
    /// base model, the initialisation and the sampling.
    public var seeds: [UInt64]
    public var rounds: Int
    public var warmupRounds: Int
    public var localSteps: Int
    public var batchSize: Int
    /// Bytes (= tokens, with the bytes tokenizer) of generated training text per node.
    public var bytesPerNode: Int
    /// Bytes of each node's trust part and of its test part, on top of the training text,
    /// so that every text size is evaluated alike.
    public var evaluationBytes: Int
    /// Bytes of a node's whole text and the train / trust / test fractions of it, for
    /// `trainBytes` of training text.
    public func text(trainBytes: Int) -> (bytes: Int, splits: [Double]) {
        let total = trainBytes + 2 * evaluationBytes
        let e = Double(evaluationBytes) / Double(total)
        return (total, [1 - 2 * e, e, e])
    }

    /// Further text sizes per node for the sweep (specific setting, first seed); empty:
    /// no sweep. The main size is part of the sweep without being run again.
    public var sweepBytes: [Int]
    /// Own-source share of the mixed setting.
    public var ownShare: Double
    /// Bytes of the even mixture the shared base model of each seed is pretrained on.
    public var baseBytes: Int
    /// Peak learning rate of every node; nil keeps the topology's.
    public var learningRate: Double?
    /// A base model for every run instead (a folder, or `random:tiny`); nil pretrains one per seed.
    public var baseModel: String?
    /// Text (a file) each seed's base model is pretrained on, its first `baseBytes`
    /// bytes; nil: an even mix of the topology's generated sources.
    public var baseText: String?
    /// Blocks of the base model pretrained per seed (gpt2 family, width 64).
    public var baseLayers: Int = 2
    /// Members that publish poisoned updates in every run; nil: none.
    public var attack: ExperimentAttack? = nil

    public init(
        strategies: [String], settings: [ExperimentSetting] = ExperimentSetting.allCases, seeds: [UInt64] = [1],
        rounds: Int = 6, warmupRounds: Int = 1, localSteps: Int = 15, batchSize: Int = 4, bytesPerNode: Int = 20_000,
        evaluationBytes: Int = 2_080, sweepBytes: [Int] = [], ownShare: Double = ExperimentSetting.defaultOwnShare, baseBytes: Int = 200_000,
        learningRate: Double? = nil, baseModel: String? = nil, baseText: String? = nil
    ) {
        self.strategies = strategies
        self.settings = settings
        self.seeds = seeds
        self.rounds = rounds
        self.warmupRounds = warmupRounds
        self.localSteps = localSteps
        self.batchSize = batchSize
        self.bytesPerNode = bytesPerNode
        self.evaluationBytes = evaluationBytes
        self.sweepBytes = sweepBytes
        self.ownShare = ownShare
        self.baseBytes = baseBytes
        self.learningRate = learningRate
        self.baseModel = baseModel
        self.baseText = baseText
    }

    /// Every run, in the order they are made: all seeds of the main comparison, then the
    /// extra sizes of the sweep.
    public var runs: [ExperimentRunKey] {
        var keys: [ExperimentRunKey] = []
        for seed in seeds {
            for setting in settings {
                for strategy in strategies {
                    keys.append(ExperimentRunKey(setting: setting, seed: seed, strategy: strategy, bytesPerNode: bytesPerNode))
                }
            }
        }
        if let first = seeds.first {
            for bytes in sweepBytes where bytes != bytesPerNode {
                for strategy in strategies {
                    keys.append(ExperimentRunKey(setting: .specific, seed: first, strategy: strategy, bytesPerNode: bytes))
                }
            }
        }
        return keys
    }

    /// The sizes the sweep plots, ascending (the main size included); empty without a sweep.
    public var sweepSizes: [Int] {
        sweepBytes.isEmpty ? [] : Array(Set(sweepBytes + [bytesPerNode])).sorted()
    }
}

/// One run: a strategy in a setting, for a seed and a text size.
public struct ExperimentRunKey: Sendable, Hashable, Codable {
    public var setting: ExperimentSetting
    public var seed: UInt64
    public var strategy: String
    public var bytesPerNode: Int

    public init(setting: ExperimentSetting, seed: UInt64, strategy: String, bytesPerNode: Int) {
        self.setting = setting
        self.seed = seed
        self.strategy = strategy
        self.bytesPerNode = bytesPerNode
    }

    /// A folder-safe name of the run, e.g. `specific-seed1-20000-validation_temperature=0.1`.
    public var folderName: String {
        "\(setting.rawValue)-seed\(seed)-\(bytesPerNode)-" + ExperimentRunKey.fileSafe(strategy)
    }

    /// `text` with every character other than letters, digits, `.`, `=` and `-` as `_`.
    public static func fileSafe(_ text: String) -> String {
        String(text.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "=" || $0 == "-" ? $0 : "_" })
    }
}
