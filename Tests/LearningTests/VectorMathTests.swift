import Foundation
import Testing

@testable import Learning

@Suite struct VectorMathTests {
    @Test func exp8MatchesTheLibraryExponentialToFloatPrecision() {
        var worst = 0.0
        for i in stride(from: -8700, through: 8800, by: 7) {
            let x = Float(i) / 100
            let relative = abs(Double(exp1(x)) - Foundation.exp(Double(x))) / Foundation.exp(Double(x))
            worst = max(worst, relative)
        }
        #expect(worst < 5e-7)
    }

    @Test func exp8IsZeroLikeFarBelowTheRangeAndFiniteAbove() {
        #expect(exp1(-1000) < 1e-37)
        #expect(exp1(1000).isFinite)
        #expect(exp1(0) == 1)
    }
}
