import Foundation
import Testing

@Suite struct BenchTrustCommandTests {
    @Test func printsOneJSONFigurePerOperationAndCount() throws {
        let r = try runStarling(["bench", "trust", "--shape", "tiny", "--candidates", "2,3", "--repeats", "1", "--model-batch", "1"])
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n")
        #expect(lines.count == 18)
        var seen: [String] = []
        for line in lines {
            let figure = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(figure["bench"] as? String == "trust")
            #expect(figure["shape"] as? String == "tiny")
            #expect(figure["parameters"] as? Int == 8192)
            #expect((figure["medianMilliseconds"] as? Double ?? -1) >= 0)
            let mode = figure["mode"] as? String
            if mode != nil {
                #expect((figure["peakResidentMiB"] as? Double ?? 0) > 0)
            } else {
                #expect(figure["peakResidentMiB"] == nil)
            }
            seen.append("\(figure["candidates"] as? Int ?? 0) \(figure["operation"] as? String ?? "")" + (mode.map { " " + $0 } ?? ""))
        }
        // The model-based strategies twice: candidates stacked in one pass, then one by one.
        #expect(seen == ["2 weights", "2 oracle", "2 fedavg", "2 local", "2 validation stacked", "2 validation one-by-one",
                         "2 prediction stacked", "2 prediction one-by-one", "2 aggregate",
                         "3 weights", "3 oracle", "3 fedavg", "3 local", "3 validation stacked", "3 validation one-by-one",
                         "3 prediction stacked", "3 prediction one-by-one", "3 aggregate"])
    }

    @Test func refusesNonNumericCandidateCounts() throws {
        let r = try runStarling(["bench", "trust", "--candidates", "8,many"])
        #expect(r.status != 0)
        #expect(r.err.contains("--candidates must be positive integers"))
    }
}
