import Foundation
import Testing

@Suite struct BenchTrainCommandTests {
    @Test func benchTrainPrintsItsFiguresAsJSON() throws {
        let run = try runStarling(["bench", "train", "--layers", "1", "--heads", "2", "--width", "16", "--vocab", "64",
                                   "--seq", "8", "--batch", "2", "--steps", "2", "--warmup", "0", "--threads", "1", "--gemm-size", "64"])
        #expect(run.status == 0, "\(run.err)")
        let object = try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any]
        let figures = try #require(object)
        for key in ["tokens_per_second", "ms_per_step", "achieved_gflops", "sgemm_peak_gflops", "gflop_per_step"] {
            let value = figures[key] as? Double
            #expect(value.map { $0 > 0 && $0.isFinite } == true, "\(key) = \(String(describing: figures[key]))")
        }
        #expect(figures["mode"] as? String == "lora")
        // 1 layer, width 16, rank 4 on all four projections: 4·(16+48) + 4·(16+16) + 4·(16+64) + 4·(64+16).
        #expect(figures["trainable_parameters"] as? Int == 1024)
    }

    @Test func benchTrainRejectsAWidthThatIsNotAMultipleOfTheHeads() throws {
        let run = try runStarling(["bench", "train", "--heads", "5", "--width", "16"])
        #expect(run.status != 0)
        #expect(run.err.contains("--width must be a multiple of --heads"))
    }
}
