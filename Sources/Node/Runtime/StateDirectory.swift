// StateDirectory: everything a node keeps on disk, and the order it is written in so
// that a node killed at any moment restarts from its last completed round.
//
//   <state>/node.key, node.pub          identity (written by keygen / topology init)
//   <state>/state.json                  the commit point: last completed round and its checkpoint
//   <state>/checkpoints/round-NNNNNN/   adapter (PEFT layout) and optimizer state of that round
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
    /// Mean cross-entropy on the test split after the round (after aggregation).
    public var testLoss: Double
    public var testPerplexity: Double { exp(testLoss) }
    /// Whether the round aggregated (false in warm-up).
    public var aggregated: Bool
    /// Peers whose updates were candidates.
    public var candidates: Int
    /// Wall time of the round and of its parts, in seconds.
    public var seconds: Double
    public var trainingSeconds: Double
    public var waitingSeconds: Double
    public var trustSeconds: Double

    public init(
        round: Int, trainLoss: Double, testLoss: Double, aggregated: Bool, candidates: Int, seconds: Double,
        trainingSeconds: Double, waitingSeconds: Double, trustSeconds: Double
    ) {
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

/// The commit record of a node's progress.
public struct NodeProgress: Codable, Sendable, Equatable {
    public static let currentVersion = 1
    public var version: Int = NodeProgress.currentVersion
    /// Last completed round; 0 before the first.
    public var round: Int
    /// Optimizer steps taken.
    public var step: Int
    /// Folder under checkpoints/ holding this round's adapter and optimizer state.
    public var checkpoint: String?

    public init(round: Int, step: Int, checkpoint: String?) {
        self.round = round
        self.step = step
        self.checkpoint = checkpoint
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

    /// The adapter and optimizer state committed by `progress`.
    public func loadCheckpoint(_ progress: NodeProgress) throws -> (adapter: LoRAAdapter, optimizer: OptimizerState)? {
        guard let name = progress.checkpoint else { return nil }
        let folder = FileSystem.join(checkpointsPath, name)
        do {
            let adapter = try PEFTAdapter.load(from: folder)
            let optimizer = try OptimizerState.read(from: FileSystem.join(folder, "optimizer.safetensors"))
            return (adapter, optimizer)
        } catch {
            throw StateError(path: folder, reason: "checkpoint cannot be read: \(error)")
        }
    }

    // MARK: Writing

    /// Commits round `progress.round`: checkpoint folder, histories, then state.json;
    /// finally removes every other checkpoint folder.
    public func commit(
        progress: NodeProgress, adapter: LoRAAdapter, optimizer: OptimizerState, baseModel: String,
        trustHistory: [TrustRecord], metrics: [RoundMetrics]
    ) throws {
        var progress = progress
        let name = Self.checkpointName(round: progress.round)
        progress.checkpoint = name
        let folder = FileSystem.join(checkpointsPath, name)
        try FileSystem.createDirectory(folder)
        try PEFTAdapter.save(adapter, to: folder, baseModel: baseModel)
        try optimizer.write(to: FileSystem.join(folder, "optimizer.safetensors"))
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
