// Child processes of `starling up`: one node process each, started together, watched,
// and stopped together (SIGTERM, then SIGKILL after a grace period), always by pid.

import Foundation

/// A set of child processes, each with its output sent to a log file.
public final class ProcessGroup: @unchecked Sendable {
    /// What to start for one member.
    public struct Member: Sendable {
        public var name: String
        public var arguments: [String]
        /// Standard output and error go here (appended).
        public var logPath: String
        public var environment: [String: String]

        public init(name: String, arguments: [String], logPath: String, environment: [String: String] = [:]) {
            self.name = name
            self.arguments = arguments
            self.logPath = logPath
            self.environment = environment
        }
    }

    public let executable: URL
    public let members: [Member]
    private var processes: [Process] = []
    private let lock = NSLock()

    public init(executable: URL, members: [Member]) {
        self.executable = executable
        self.members = members
    }

    /// Starts every member. If one fails to start, those already started are stopped.
    public func start() throws {
        for m in members {
            let p = Process()
            p.executableURL = executable
            p.arguments = m.arguments
            var env = ProcessInfo.processInfo.environment
            for (k, v) in m.environment { env[k] = v }
            p.environment = env
            if !FileManager.default.fileExists(atPath: m.logPath) {
                _ = FileManager.default.createFile(atPath: m.logPath, contents: nil)
            }
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: m.logPath))
            log.seekToEndOfFile()
            p.standardOutput = log
            p.standardError = log
            p.standardInput = FileHandle.nullDevice
            do {
                try p.run()
            } catch {
                stop(gracePeriodSeconds: 2)
                throw error
            }
            lock.withLock { processes.append(p) }
        }
    }

    /// The pid of each started member.
    public var pids: [Int32] { lock.withLock { processes.map(\.processIdentifier) } }

    /// Whether member `i` is still running.
    public func isRunning(_ i: Int) -> Bool { lock.withLock { i < processes.count && processes[i].isRunning } }

    /// Whether any member is still running.
    public var anyRunning: Bool { lock.withLock { processes.contains { $0.isRunning } } }

    /// Exit status of member `i` once it has ended.
    public func exitStatus(_ i: Int) -> Int32? {
        lock.withLock { i < processes.count && !processes[i].isRunning ? processes[i].terminationStatus : nil }
    }

    /// Sends SIGTERM to every running member, waits up to `gracePeriodSeconds` for them
    /// to end, then sends SIGKILL to the rest and reaps them.
    public func stop(gracePeriodSeconds: Double = 10) {
        let ps = lock.withLock { processes }
        for p in ps where p.isRunning { kill(p.processIdentifier, SIGTERM) }
        let deadline = Date().addingTimeInterval(gracePeriodSeconds)
        while ps.contains(where: \.isRunning) && Date() < deadline { usleep(20_000) }
        for p in ps where p.isRunning { kill(p.processIdentifier, SIGKILL) }
        for p in ps { p.waitUntilExit() }
    }

    deinit {
        for p in processes where p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
    }
}
