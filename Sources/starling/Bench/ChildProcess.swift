// A child process driven through its standard input and read line by line from its
// standard output: the second process of the gossip benchmark (and of process tests).

import Foundation

final class ChildProcess: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let condition = NSCondition()
    private var lines: [String] = []
    /// The lines that parsed as JSON objects, in order.
    private var parsed: [[String: Any]] = []
    private var closed = false

    /// Starts `executable` with `arguments`; standard error goes to `stderrPath` (or nowhere).
    init(executable: URL, arguments: [String], stderrPath: String? = nil) throws {
        process.executableURL = executable
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        if let p = stderrPath {
            _ = FileManager.default.createFile(atPath: p, contents: nil)
            process.standardError = FileHandle(forWritingAtPath: p)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        let handle = output.fileHandleForReading
        let reader = Thread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...nl)
                    let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                    condition.lock()
                    lines.append(line)
                    if let object { parsed.append(object) }
                    condition.broadcast()
                    condition.unlock()
                }
            }
            condition.lock()
            closed = true
            condition.broadcast()
            condition.unlock()
        }
        reader.start()
    }

    var pid: Int32 { process.processIdentifier }

    /// Writes one command line to the child's standard input.
    func send(_ line: String) {
        try? input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    /// Every line read so far.
    var allLines: [String] {
        condition.lock()
        defer { condition.unlock() }
        return lines
    }

    /// The lines read so far that are JSON objects.
    var objects: [[String: Any]] {
        condition.lock()
        defer { condition.unlock() }
        return parsed
    }

    /// Waits up to `timeoutSeconds` until `check` holds over the JSON objects read so
    /// far (`check` runs under the reader's lock: it must not call back into this child).
    @discardableResult
    func wait(timeoutSeconds: Double, until check: ([[String: Any]]) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        condition.lock()
        defer { condition.unlock() }
        while !check(parsed) {
            if closed || !condition.wait(until: deadline) { return check(parsed) }
        }
        return true
    }

    /// Waits for the first JSON object whose "event" is `event` and that `match` accepts.
    func waitForObject(event: String, timeoutSeconds: Double, where match: ([String: Any]) -> Bool = { _ in true }) -> [String: Any]? {
        var found: [String: Any]?
        wait(timeoutSeconds: timeoutSeconds) { objects in
            found = objects.first { $0["event"] as? String == event && match($0) }
            return found != nil
        }
        return found
    }

    /// Kills the child (SIGKILL) and reaps it.
    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
    }

    /// The `starling` binary this process runs from.
    static var starlingExecutable: URL {
        Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
    }
}
