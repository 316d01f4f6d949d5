// StateDirectory: everything a node keeps on disk, and the order it is written in so
// that a node killed at any moment restarts from its last completed round.
//
//   <state>/node.key, node.pub          identity (written by keygen / topology init)
//   <state>/state.json                  the commit point: last completed round and its checkpoint
//   <state>/checkpoints/round-NNNNNN/   that round's slots (PEFT layout: `default` at the top,
//                                       others in subfolders), optimizer.safetensors (AdamW
//                                       per parameter group), scheme.safetensors (the
//                                       scheme's own state, when it keeps any)
//   <state>/trust.jsonl                 one TrustRecord per aggregation round
//   <state>/metrics.jsonl               one RoundMetrics per completed round
//   <state>/control.endpoint            where a running node answers control requests
//
// A round is committed by writing its checkpoint folder, then the two histories, then
// state.json, each file atomically (temporary file, fsync, rename, fsync of the folder).
// Until state.json names the new round, a restart sees the previous round: checkpoint
// folders newer than state.json and history lines past its round are discarded on load.

import Foundation
import Learning
import Trust

/// What one completed round measured.
public struct RoundMetrics: Codable, Sendable, Equatable {
    public var round: Int
    /// Mean training loss of the round's local steps.
    public var trainLoss: Double
    /// Mean cross-entropy on the test split after the round (after aggregation); nil in
    /// a round that did not measure it (`test_every`).
    public var testLoss: Double?
    public var testPerplexity: Double? { testLoss.map(exp) }
    /// Whether the round aggregated (false in warm-up).
    public var aggregated: Bool
    /// Peers whose updates were candidates.
    public var candidates: Int
    /// Wall time of the round and of its parts, in seconds.
    public var seconds: Double
    public var trainingSeconds: Double
    public var waitingSeconds: Double
    public var trustSeconds: Double
    /// The served model's fusion weights (w1, w2) after the round, for schemes that fuse.
    public var fusionWeights: [Double]?
    /// The scheme's own figures of the round (PFIT: mean reward per component, KL, samples/s).
    public var schemeFigures: [String: Double]? = nil
    /// Wall seconds of the round's phases (`training`, `publish`, `wait` with its part
    /// `prescoring`, `candidates`, `screening`, `trust`, `aggregation`, `evaluation`),
    /// and `previous_commit`: the commit of the round before, which ran between the two
    /// rounds and is in neither's `seconds`.
    public var phaseSeconds: [String: Double]? = nil
    /// CPU seconds of the round's thread in the same phases.
    public var phaseCPUSeconds: [String: Double]? = nil
    /// The process's peak resident set in MiB (Linux `VmHWM`, never falling) at the end of
    /// each of the same phases; nil where /proc lacks it. With one node per process the
    /// first phase at the process's final peak is where that peak was made.
    public var phasePeakResidentMiB: [String: Double]? = nil
    /// CPU seconds of the round's thread over the span of `seconds`, and in training
    /// (all of the round's work when BLAS runs on the calling thread, as in experiments).
    public var cpuSeconds: Double? = nil
    public var trainingCPUSeconds: Double? = nil
    /// The mesh's traffic totals when the round was committed.
    public var traffic: MeshTraffic? = nil

    public init(
        round: Int, trainLoss: Double, testLoss: Double?, aggregated: Bool, candidates: Int, seconds: Double,
        trainingSeconds: Double, waitingSeconds: Double, trustSeconds: Double, fusionWeights: [Double]? = nil
    ) {
        self.fusionWeights = fusionWeights
        self.round = round
        self.trainLoss = trainLoss
        self.testLoss = testLoss
        self.aggregated = aggregated
        self.candidates = candidates
        self.seconds = seconds
        self.trainingSeconds = trainingSeconds
        self.waitingSeconds = waitingSeconds
        self.trustSeconds = trustSeconds
    }
}

extension Array where Element == RoundMetrics {
    /// The test perplexity of the last round that measured it.
    public var lastTestPerplexity: Double? { last { $0.testLoss != nil }?.testPerplexity }
}

/// The commit record of a node's progress.
public struct NodeProgress: Codable, Sendable, Equatable {
    public static let currentVersion = 2
    public var version: Int = NodeProgress.currentVersion
    /// Last completed round; 0 before the first.
    public var round: Int
    /// Optimizer steps taken.
    public var step: Int
    /// Folder under checkpoints/ holding this round's adapter and optimizer state.
    public var checkpoint: String?
    /// Position of the model's dropout stream after the round (`TransformerModel.dropoutPosition`).
    public var dropoutPosition: UInt64

    public init(round: Int, step: Int, checkpoint: String?, dropoutPosition: UInt64 = 0) {
        self.round = round
        self.step = step
        self.checkpoint = checkpoint
        self.dropoutPosition = dropoutPosition
    }

    enum CodingKeys: String, CodingKey { case version, round, step, checkpoint, dropoutPosition }

    /// Reads version 1 too (written before the dropout position was kept: 0).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        round = try c.decode(Int.self, forKey: .round)
        step = try c.decode(Int.self, forKey: .step)
        checkpoint = try c.decodeIfPresent(String.self, forKey: .checkpoint)
        dropoutPosition = try c.decodeIfPresent(UInt64.self, forKey: .dropoutPosition) ?? 0
    }
}

/// Errors of reading a state folder.
public struct StateError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// A node's state folder.
public struct StateDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public var progressPath: String { FileSystem.join(path, "state.json") }
    public var trustHistoryPath: String { FileSystem.join(path, "trust.jsonl") }
    public var metricsPath: String { FileSystem.join(path, "metrics.jsonl") }
    public var checkpointsPath: String { FileSystem.join(path, "checkpoints") }
    public var keyPath: String { FileSystem.join(path, "node.key") }
    public var publicKeyPath: String { FileSystem.join(path, "node.pub") }
    public var controlEndpointPath: String { FileSystem.join(path, "control.endpoint") }
    public var logPath: String { FileSystem.join(path, "node.log") }

    static func checkpointName(round: Int) -> String { String(format: "round-%06d", round) }

    // MARK: Reading

    /// The committed progress, or nil for a node that has completed no round.
    public func progress() throws -> NodeProgress? {
        guard FileSystem.exists(progressPath) else { return nil }
        do {
            return try JSONDecoder().decode(NodeProgress.self, from: Data(try FileSystem.readBytes(progressPath)))
        } catch {
            throw StateError(path: progressPath, reason: "cannot be read: \(error)")
        }
    }

    /// Trust records of committed rounds (at most `round`), oldest first.
    public func trustHistory(upTo round: Int? = nil) throws -> [TrustRecord] {
        try lines(trustHistoryPath).map { line in
            do { return try TrustRecord(jsonLine: line) } catch {
                throw StateError(path: trustHistoryPath, reason: "a line is not a trust record: \(error)")
            }
        }.filter { round == nil || $0.round <= round! }
    }

    /// Metrics of committed rounds (at most `round`), oldest first.
    public func metrics(upTo round: Int? = nil) throws -> [RoundMetrics] {
        try lines(metricsPath).map { line in
            do { return try JSONDecoder().decode(RoundMetrics.self, from: Data(line.utf8)) } catch {
                throw StateError(path: metricsPath, reason: "a line is not a metrics record: \(error)")
            }
        }.filter { round == nil || $0.round <= round! }
    }

    private func lines(_ file: String) throws -> [String] {
        guard FileSystem.exists(file) else { return [] }
        let text: String
        do { text = try FileSystem.readText(file) } catch { throw StateError(path: file, reason: "\(error)") }
        return text.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
    }

    /// The model state committed by `progress`, for a model whose slots are `slots`.
    public func loadCheckpoint(_ progress: NodeProgress, slots: [String]) throws -> ModelCheckpoint? {
        guard let name = progress.checkpoint else { return nil }
        let folder = FileSystem.join(checkpointsPath, name)
        do {
            let adapters = try slots.map { ($0, try PEFTAdapter.load(named: $0, from: folder)) }
            let optimizer = try OptimizerState.read(from: FileSystem.join(folder, "optimizer.safetensors"))
            let schemePath = FileSystem.join(folder, "scheme.safetensors")
            let schemeState = FileSystem.exists(schemePath) ? try SafeTensors.read(from: schemePath).tensors : []
            return ModelCheckpoint(adapters: adapters, optimizer: optimizer, schemeState: schemeState, dropoutPosition: progress.dropoutPosition)
        } catch {
            throw StateError(path: folder, reason: "checkpoint cannot be read: \(error)")
        }
    }

    // MARK: Writing

    /// Commits round `progress.round`: checkpoint folder, histories, then state.json;
    /// finally removes every other checkpoint folder.
    public func commit(
        progress: NodeProgress, checkpoint: ModelCheckpoint, baseModel: String, trustHistory: [TrustRecord], metrics: [RoundMetrics]
    ) throws {
        var progress = progress
        let name = Self.checkpointName(round: progress.round)
        progress.checkpoint = name
        progress.dropoutPosition = checkpoint.dropoutPosition
        let folder = FileSystem.join(checkpointsPath, name)
        try FileSystem.createDirectory(folder)
        try PEFTAdapter.save(named: checkpoint.adapters, to: folder, baseModel: baseModel)
        try checkpoint.optimizer.write(to: FileSystem.join(folder, "optimizer.safetensors"))
        if !checkpoint.schemeState.isEmpty {
            try SafeTensors.write(checkpoint.schemeState, metadata: [:], to: FileSystem.join(folder, "scheme.safetensors"))
        }
        let trustLines = try trustHistory.map { try $0.jsonLine() }.joined(separator: "\n")
        try FileSystem.writeAtomically(Array((trustLines.isEmpty ? "" : trustLines + "\n").utf8), to: trustHistoryPath)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let metricLines = try metrics.map { String(decoding: try encoder.encode($0), as: UTF8.self) }.joined(separator: "\n")
        try FileSystem.writeAtomically(Array((metricLines.isEmpty ? "" : metricLines + "\n").utf8), to: metricsPath)
        try FileSystem.writeAtomically(Array(try encoder.encode(progress)), to: progressPath)
        removeCheckpoints(except: name)
    }

    /// Removes checkpoint folders other than `keep`, and temporary files left by a crash.
    public func removeCheckpoints(except keep: String?) {
        for entry in (try? FileSystem.contentsOfDirectory(checkpointsPath)) ?? [] where entry != keep {
            try? FileManager.default.removeItem(atPath: FileSystem.join(checkpointsPath, entry))
        }
        for entry in (try? FileSystem.contentsOfDirectory(path)) ?? [] where entry.hasPrefix(FileSystem.temporaryPrefix) {
            try? FileSystem.removeFile(FileSystem.join(path, entry))
        }
    }

    /// Writes (or removes, with nil) the control endpoint file.
    public func setControlEndpoint(_ endpoint: String?) {
        if let endpoint {
            try? FileSystem.writeAtomically(Array((endpoint + "\n").utf8), to: controlEndpointPath)
        } else {
            try? FileSystem.removeFile(controlEndpointPath)
        }
    }
}
