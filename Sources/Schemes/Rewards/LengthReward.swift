// LengthReward: the completion's first line (up to a newline) should be between
// `band.lowerBound` and `band.upperBound` characters. Inside the band the reward is 1;
// outside it falls by 1 per band width of distance, down to −1.

public final class LengthReward: Reward {
    public static let rewardName = "length"
    public var name: String { Self.rewardName }
    /// The target length in characters.
    public let band: ClosedRange<Int>

    public init(band: ClosedRange<Int>) {
        precondition(band.lowerBound >= 0, "a length band starts at 0 or more")
        self.band = band
    }

    public func scores(_ samples: [RewardSample]) -> [Double] { samples.map { score($0.completionText) } }

    public func score(_ completion: String) -> Double {
        let n = completion.prefix { $0 != "\n" }.count
        let distance = n < band.lowerBound ? band.lowerBound - n : n > band.upperBound ? n - band.upperBound : 0
        let width = max(1, band.upperBound - band.lowerBound)
        return max(-1, 1 - Double(distance) / Double(width))
    }
}
