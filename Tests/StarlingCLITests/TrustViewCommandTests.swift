import Foundation
import Gossip
import Learning
import Node
import Testing
import Trust

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// State folders of a three-node run written round by round by hand, as nodes commit
/// them: the histories first, then state.json, each file atomically.
struct HandWrittenRun {
    let dir: String
    let file: String
    let names = ["alice", "bob", "carol"]
    let keys: [PublicKey]
    var trust: [[String]] = [[], [], []]
    var metrics: [[String]] = [[], [], []]

    init(rounds: Int) throws {
        dir = try clusterFolder()
        file = dir + "/hand.toml"
        keys = try names.map { _ in try SigningKeyPair().publicKey }
        var text = """
            name = "hand"
            sources = ["prose", "code"]
            [defaults]
            rounds = \(rounds)
            warmup_rounds = 1

            """
        for (i, n) in names.enumerated() {
            text += """

                [[nodes]]
                name = "\(n)"
                endpoint = "tcp://127.0.0.1:\(7990 + i)"
                public_key = "\(keys[i])"
                mixture = \(i == 2 ? "[0, 1]" : "[1, 0]")

                """
        }
        try text.write(toFile: file, atomically: true, encoding: .utf8)
    }

    func state(_ i: Int) -> String { "\(dir)/state/hand/\(names[i])" }

    /// Commits round `round` of node `i`: its test loss and, unless nil, its trust row
    /// over every node (self first in the record, as nodes write it).
    mutating func commit(_ i: Int, round: Int, testLoss: Double, row: [Double]?) throws {
        try FileSystem.createDirectory(state(i))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if let row {
            let order = [i] + row.indices.filter { $0 != i }
            let record = TrustRecord(
                round: round, strategy: try TrustConfig(parsing: "validation"), candidates: order.map { keys[$0].description },
                scores: order.map { _ in nil }, weights: order.map { row[$0] }, exclusions: [], milliseconds: 1)
            trust[i].append(try record.jsonLine())
        }
        let m = RoundMetrics(
            round: round, trainLoss: testLoss + 0.1, testLoss: testLoss, aggregated: row != nil, candidates: row == nil ? 0 : 2,
            seconds: 1, trainingSeconds: 0.5, waitingSeconds: 0.3, trustSeconds: 0.2)
        metrics[i].append(String(decoding: try encoder.encode(m), as: UTF8.self))
        try FileSystem.writeAtomically(Array((trust[i].map { $0 + "\n" }.joined()).utf8), to: state(i) + "/trust.jsonl")
        try FileSystem.writeAtomically(Array((metrics[i].map { $0 + "\n" }.joined()).utf8), to: state(i) + "/metrics.jsonl")
        try FileSystem.writeAtomically(
            Array(try encoder.encode(NodeProgress(round: round, step: round * 10, checkpoint: nil))), to: state(i) + "/state.json")
    }

    /// The row node `i` gives in `round` of the runs below: more and more on its own kind.
    static func row(_ i: Int, round: Int) -> [Double] {
        let same = 0.4 + 0.1 * Double(round)
        switch i {
        case 0: return [same / 2 + 0.05, same / 2 - 0.05, 1 - same]
        case 1: return [same / 2, same / 2, 1 - same]
        default: return [(1 - same) / 2, (1 - same) / 2, same]
        }
    }

    /// Commits `round` for every node (round 1 is warm-up, without a trust row).
    mutating func commitRound(_ round: Int) throws {
        for i in 0..<3 {
            try commit(i, round: round, testLoss: 2.0 - 0.1 * Double(round) + 0.01 * Double(i), row: round == 1 ? nil : Self.row(i, round: round))
        }
    }
}

/// `starling trust` with arguments, its standard output on a pseudo-terminal; the
/// returned reader collects what it printed.
final class TerminalRun: @unchecked Sendable {
    let process = Process()
    private let master: Int32
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var reader: Thread?

    init(_ arguments: [String]) throws {
        // Glibc hides the pseudo-terminal calls from Swift behind _XOPEN_SOURCE; they are
        // plain C functions of libc, so look them up by name.
        typealias OpenPT = @convention(c) (Int32) -> Int32
        typealias PTName = @convention(c) (Int32) -> UnsafeMutablePointer<CChar>?
        func libc<T>(_ name: String, as type: T.Type) throws -> T {
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { throw POSIXError(.ENOSYS) }
            return unsafeBitCast(symbol, to: type)
        }
        let openpt = try libc("posix_openpt", as: OpenPT.self), grantpt = try libc("grantpt", as: OpenPT.self)
        let unlockpt = try libc("unlockpt", as: OpenPT.self), ptsname = try libc("ptsname", as: PTName.self)
        master = openpt(O_RDWR | O_NOCTTY)
        guard master >= 0, grantpt(master) == 0, unlockpt(master) == 0, let name = ptsname(master) else {
            throw POSIXError(.ENOTTY)
        }
        let slave = FileHandle(forUpdatingAtPath: String(cString: name))!
        process.executableURL = starlingExecutable()
        process.arguments = arguments
        process.standardOutput = slave
        process.standardError = slave
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try slave.close()
        let t = Thread { [unowned self] in
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(self.master, $0.baseAddress, $0.count) }
                if n <= 0 { return }
                self.lock.withLock { self.bytes += chunk[0..<n] }
            }
        }
        reader = t
        t.start()
    }

    var output: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }

    /// Waits (bounded) until the output holds `text`.
    func waitFor(_ text: String, seconds: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if output.contains(text) { return true }
            usleep(20_000)
        }
        return false
    }

    /// Waits (bounded) for the process to end; kills it if it does not.
    func finish(seconds: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        usleep(100_000)
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        close(master)
    }
}

@Suite(.serialized) struct TrustViewCommandTests {
    @Test func htmlPageHasOneHeatmapPerRoundWithTheValuesOfFormatJSON() throws {
        var run = try HandWrittenRun(rounds: 4)
        defer { try? FileManager.default.removeItem(atPath: run.dir) }
        for r in 1...3 { try run.commitRound(r) }
        // carol lags a round behind: round 4 has no row of hers.
        for i in 0..<2 { try run.commit(i, round: 4, testLoss: 1.5, row: HandWrittenRun.row(i, round: 4)) }

        let page = run.dir + "/trust.html"
        let made = try runStarling(["trust", "--topology", run.file, "--format", "html", "--out", page])
        #expect(made.status == 0, "\(made.err)")
        let html = try String(contentsOfFile: page, encoding: .utf8)

        // Well-formed, and self-contained: no scripts, styles or pictures from elsewhere.
        let parser = XMLParser(data: Data(html.utf8))
        #expect(parser.parse(), "\(parser.parserError.map { "\($0)" } ?? "")")
        #expect(!html.contains("src=") && !html.contains("<link") && !html.contains("@import") && !html.contains("url(http"))
        #expect(html.replacingOccurrences(of: "http://www.w3.org/", with: "").range(of: "https?://", options: .regularExpression) == nil)

        // Rounds 2 to 4 aggregated: one heatmap, one network and one section each, a slider over them.
        #expect(html.components(separatedBy: "<div class=\"heatmap\"").count - 1 == 3)
        #expect(html.components(separatedBy: "<div class=\"network\"").count - 1 == 3)
        for r in 2...4 { #expect(html.contains("<div class=\"heatmap\" data-round=\"\(r)\">")) }
        #expect(html.contains("<input id=\"slider\" type=\"range\" min=\"0\" max=\"2\""))

        // Each round's cells and embedded data are what `--format json --round R` says.
        let start = try #require(html.range(of: "<script type=\"application/json\" id=\"starling-data\">"))
        let end = try #require(html.range(of: "</script>", range: start.upperBound..<html.endIndex))
        let data = try JSONDecoder().decode(TrustTimeline.self, from: Data(html[start.upperBound..<end.lowerBound].utf8))
        #expect(data.nodes == run.names && data.rounds == [2, 3, 4])
        for (k, r) in [2, 3, 4].enumerated() {
            let json = try runStarling(["trust", "--topology", run.file, "--format", "json", "--round", "\(r)"])
            #expect(json.status == 0, "\(json.err)")
            let graph = try JSONDecoder().decode(TrustGraph.self, from: Data(json.out.utf8))
            #expect(data.graphs[k] == graph)
            let section = try #require(html.range(of: "<div class=\"heatmap\" data-round=\"\(r)\">"))
            let heatmap = html[section.upperBound...].prefix { _ in true }
            for i in 0..<3 {
                #expect(heatmap.contains(">\(run.names[i])</text>"))
                for j in 0..<3 {
                    #expect(heatmap.contains("<title>\(run.names[i]) → \(run.names[j]): \(String(format: "%.4f", graph.weights[i][j]))</title>"))
                }
            }
        }
        #expect(data.graphs[2].rounds == [4, 4, nil])
        // Perplexity per node and round, round 1 included; carol has no round 4.
        #expect(data.testPerplexity[2].count == 4 && data.testPerplexity[2][3] == nil)
        #expect(abs(data.testPerplexity[0][0]! - exp(1.9)) < 1e-9)
        #expect(html.components(separatedBy: "class=\"marker\"").count - 1 == 3)
    }

    @Test func watchRedrawsInPlaceOnATerminalUntilEveryNodeHasFinished() throws {
        var run = try HandWrittenRun(rounds: 3)
        defer { try? FileManager.default.removeItem(atPath: run.dir) }
        try run.commitRound(1)
        try run.commitRound(2)
        let watch = try TerminalRun(["trust", "--topology", run.file, "--watch", "--interval", "0.1"])
        #expect(watch.waitFor("round 2 of 3"), "\(watch.output)")
        #expect(watch.process.isRunning)
        try run.commitRound(3)
        #expect(watch.waitFor("round 3 of 3"), "\(watch.output)")
        #expect(watch.finish() == 0, "\(watch.output)")
        let out = watch.output
        // The second frame moved the cursor up over the first (header + 4 lines + scale) and cleared below.
        #expect(out.contains("\u{1B}[6A\u{1B}[J"), "\(out.debugDescription)")
        #expect(out.contains("\u{1B}[48;2;"))
        // Row change from round 2 to 3: carol's self-weight grew by 0.1, the largest change.
        #expect(out.contains("change since round 2: largest 0.100"), "\(out)")
        #expect(out.components(separatedBy: "round 3 of 3").count - 1 == 1)
    }

    @Test func watchAppendsPlainFramesWhenNotOnATerminal() throws {
        var run = try HandWrittenRun(rounds: 3)
        defer { try? FileManager.default.removeItem(atPath: run.dir) }
        try run.commitRound(1)
        try run.commitRound(2)
        let process = Process()
        process.executableURL = starlingExecutable()
        process.arguments = ["trust", "--topology", run.file, "--watch", "--interval", "0.1"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        usleep(1_500_000)
        #expect(process.isRunning, "--watch ended before the nodes finished")
        try run.commitRound(3)
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(!text.contains("\u{1B}"))
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        // Frames one after the other, six lines each: heading, column header, three rows,
        // blank. The nodes commit round 3 one by one, so a frame of rounds 2–3 may come
        // between the first and the last.
        let frames = (lines.count - 1) / 6
        #expect(lines.count == 6 * frames + 1 && frames >= 2, "\(text)")
        #expect(lines[0] == "round 2 of 3")
        let last = Array(lines[(6 * (frames - 1))...])
        #expect(last[0].hasPrefix("round 3 of 3 · change since round "), "\(text)")
        #expect(last[0].contains(": largest 0.100 ("), "\(text)")
        #expect(last[3].hasPrefix("bob") && last[3].contains("0.35") && last[3].hasSuffix("round 3"))
        for k in 1..<frames { #expect(lines[6 * k].hasPrefix("round") && lines[6 * k].contains(" of 3 · change since round ")) }
    }
}
