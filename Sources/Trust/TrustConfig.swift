// The trust setting a topology file or the command line names: a strategy and its variant,
// written as one string such as `validation` or `prediction:topk=3,temperature=0.5`.

/// How a learned strategy's affinities are put on a common scale before the softmax.
///
/// Both divide the gaps g_j = max_k a_k − a_j (≥ 0, the best candidate at 0) by a
/// statistic m of the row's own positive gaps, giving affinities −g_j / m: the row no
/// longer depends on the units of the score (perplexity, logit distance, cosine), and
/// not on its offset either. With no positive gap (every candidate alike) the row is
/// uniform. nil keeps each strategy's formula from the reference code.
public enum TrustScale: String, Sendable, CaseIterable {
    /// m = the smallest positive gap: the best candidate but one sits at −1. Candidates
    /// added farther away than every other leave the others' affinities unchanged.
    case nearest
    /// m = the median of the positive gaps: a temperature set from the spread of the
    /// row. Depends on how the candidates are spread, not only on the nearest one.
    case median
}

/// How a row is made from the scores.
public enum TrustRule: String, Sendable, CaseIterable {
    /// softmax(a_j / τ) over the candidates the variant keeps.
    case softmax
    /// FedFomo (Zhang et al., ICLR 2021), `validation` only: a peer whose model has a
    /// lower loss than the node's own on the node's trust split gets weight in proportion
    /// to (L_ii − L_ij) / ‖θ_j − θ_i‖; a peer that does not improve gets nothing, and the
    /// node keeps weight 1 only when no peer improves. See `ImprovementWeights`.
    case fomo
    /// `validation` only: a few greedy steps on the simplex that choose the row
    /// minimising the trust-split loss of the aggregate itself. See `AggregateDescent`.
    case descent
}

/// Sharpening and sparsifying of a learned strategy's row.
///
/// Applied to the affinities a_j of the usable candidates (see `TrustStrategy`), in this
/// order: `scale`, `threshold`, then `topK`, then softmax(a_j / `temperature`) over the
/// kept candidates. Dropped candidates get weight 0. Ranking is by affinity, larger first;
/// equal affinities rank by candidate index, smaller first, so the node itself (index 0)
/// wins every tie and the row never depends on sort stability. The rules `fomo` and
/// `descent` replace all of this and take no other parameter (`descent` takes `steps`).
public struct TrustVariant: Sendable, Equatable, Hashable {
    /// τ > 0: the row is softmax(a / τ). Below 1 sharpens, above 1 flattens. The
    /// reference code uses 1.
    public var temperature: Double
    /// Keep only the k candidates of largest affinity (the self entry competes like any
    /// other). Since softmax is monotone, this equals keeping the k largest weights and
    /// renormalising. nil keeps all.
    public var topK: Int?
    /// Drop candidates whose affinity is at most this value, but always keep the best
    /// two: the two largest affinities in the ranking above, which is the node itself
    /// whenever it scores highest (always so for `weights` and `prediction`, where self
    /// similarity is 1 and self distance 0), plus the best peer. The value is on the
    /// affinity scale, before the temperature, as in the reference code (0.5 for
    /// `weights`, −30 for `validation`; see `TrustStrategy.referenceThreshold`), after
    /// `scale` when one is set. nil keeps all.
    public var threshold: Double?
    /// The row's own scale (see `TrustScale`); nil: the reference formula.
    public var scale: TrustScale?
    public var rule: TrustRule
    /// Greedy steps of the `descent` rule.
    public var steps: Int

    /// Steps of `descent` unless told: each costs one trust-split evaluation per candidate.
    public static let defaultSteps = 3

    public init(
        temperature: Double = 1, topK: Int? = nil, threshold: Double? = nil, scale: TrustScale? = nil,
        rule: TrustRule = .softmax, steps: Int = TrustVariant.defaultSteps
    ) {
        self.temperature = temperature
        self.topK = topK
        self.threshold = threshold
        self.scale = scale
        self.rule = rule
        self.steps = steps
    }

    /// Whether this is the plain softmax at temperature 1 of the reference formula.
    public var isPlain: Bool {
        temperature == 1 && topK == nil && threshold == nil && scale == nil && rule == .softmax && steps == Self.defaultSteps
    }

    /// Whether anything other than the rule and its steps is set.
    var shapesTheSoftmax: Bool { temperature != 1 || topK != nil || threshold != nil || scale != nil }
}

/// A strategy with its variant and parameters.
///
/// Written as `strategy[:key=value[,key=value...]]` with keys `temperature` (τ, default
/// 1), `topk` (keep the k best), `threshold` (drop affinities ≤ value, keep the best
/// two), `scale` (`nearest` or `median`), `rule` (`softmax`, `fomo` or `descent`),
/// `steps` (of `descent`, default 3), `logits` (how many top logits `prediction`
/// compares per position, default 100). Variant keys apply only to `weights`,
/// `validation` and `prediction`, `fomo` and `descent` only to `validation`, and
/// `logits` only to `prediction`. Encodes (Codable) as that same string.
///
/// ```
/// "validation"                      plain softmax of −perplexity
/// "prediction:topk=3"               the three best candidates, renormalised
/// "weights:threshold=0.5"           the reference `dynamic-thresh`
/// "validation:temperature=0.25"     a sharper row
/// "prediction:scale=nearest"        distances in units of the nearest peer's
/// "validation:rule=fomo"            FedFomo: only peers that beat the node's own model
/// ```
public struct TrustConfig: Sendable, Equatable, Hashable {
    public var strategy: TrustStrategy
    public var variant: TrustVariant
    /// k of the `prediction` strategy: logits compared per position.
    public var logitsTopK: Int

    /// The reference code's k for the prediction strategy.
    public static let defaultLogitsTopK = 100

    public init(_ strategy: TrustStrategy, variant: TrustVariant = TrustVariant(), logitsTopK: Int = TrustConfig.defaultLogitsTopK) {
        self.strategy = strategy
        self.variant = variant
        self.logitsTopK = logitsTopK
    }

    /// Checks the parameters against the strategy.
    public func validate() throws(TrustConfigError) {
        if !strategy.isLearned && !variant.isPlain {
            throw .variantNotApplicable(strategy)
        }
        if strategy != .prediction && logitsTopK != Self.defaultLogitsTopK {
            throw .logitsNotApplicable(strategy)
        }
        guard variant.temperature.isFinite && variant.temperature > 0 else {
            throw .badValue(key: "temperature", value: "\(variant.temperature)")
        }
        if let k = variant.topK, k < 1 { throw .badValue(key: "topk", value: "\(k)") }
        if let t = variant.threshold, !t.isFinite { throw .badValue(key: "threshold", value: "\(t)") }
        if variant.rule != .softmax {
            guard strategy == .validation else { throw .ruleNotApplicable(strategy, variant.rule) }
            guard !variant.shapesTheSoftmax else { throw .variantNotApplicableToRule(variant.rule) }
        }
        if variant.steps != TrustVariant.defaultSteps {
            guard variant.rule == .descent else { throw .stepsNotApplicable }
            guard variant.steps >= 1 else { throw .badValue(key: "steps", value: "\(variant.steps)") }
        }
        guard logitsTopK >= 1 else { throw .badValue(key: "logits", value: "\(logitsTopK)") }
    }
}

/// Why a trust setting string was refused.
public enum TrustConfigError: Error, Equatable, CustomStringConvertible {
    case unknownStrategy(String)
    case unknownKey(String)
    case malformedParameter(String)
    case badValue(key: String, value: String)
    case duplicateKey(String)
    case variantNotApplicable(TrustStrategy)
    case logitsNotApplicable(TrustStrategy)
    case ruleNotApplicable(TrustStrategy, TrustRule)
    case variantNotApplicableToRule(TrustRule)
    case stepsNotApplicable

    public var description: String {
        switch self {
        case .unknownStrategy(let name):
            "unknown trust strategy '\(name)' (expected one of \(TrustStrategy.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .unknownKey(let key):
            "unknown trust parameter '\(key)' (expected temperature, topk, threshold, scale, rule, steps or logits)"
        case .malformedParameter(let text):
            "trust parameter '\(text)' is not key=value"
        case .badValue(let key, let value):
            "trust parameter \(key) cannot be '\(value)'"
        case .duplicateKey(let key):
            "trust parameter \(key) given twice"
        case .variantNotApplicable(let strategy):
            "strategy \(strategy.rawValue) takes no temperature, topk or threshold"
        case .logitsNotApplicable(let strategy):
            "strategy \(strategy.rawValue) takes no logits parameter (only prediction does)"
        case .ruleNotApplicable(let strategy, let rule):
            "strategy \(strategy.rawValue) cannot use rule \(rule.rawValue) (only validation can)"
        case .variantNotApplicableToRule(let rule):
            "rule \(rule.rawValue) takes no temperature, topk, threshold or scale"
        case .stepsNotApplicable:
            "trust parameter steps applies to rule descent only"
        }
    }
}

extension TrustConfig: LosslessStringConvertible {
    /// Parses `strategy[:key=value,...]`; nil when the text is not a valid setting. Use
    /// `init(parsing:)` to learn why.
    public init?(_ description: String) {
        guard let config = try? TrustConfig(parsing: description) else { return nil }
        self = config
    }

    /// Parses `strategy[:key=value,...]`, throwing the exact reason on failure.
    public init(parsing text: String) throws(TrustConfigError) {
        let trimmed = text.trimmingWhitespace()
        let nameEnd = trimmed.firstIndex(of: ":") ?? trimmed.endIndex
        let name = String(trimmed[..<nameEnd])
        guard let strategy = TrustStrategy(rawValue: name) else { throw .unknownStrategy(name) }
        var config = TrustConfig(strategy)
        if nameEnd < trimmed.endIndex {
            var seen: Set<String> = []
            for item in trimmed[trimmed.index(after: nameEnd)...].split(separator: ",", omittingEmptySubsequences: false) {
                let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard pair.count == 2 else { throw .malformedParameter(String(item)) }
                let key = String(pair[0]).trimmingWhitespace()
                let value = String(pair[1]).trimmingWhitespace()
                guard seen.insert(key).inserted else { throw .duplicateKey(key) }
                switch key {
                case "temperature":
                    guard let v = Double(value) else { throw .badValue(key: key, value: value) }
                    config.variant.temperature = v
                case "topk":
                    guard let v = Int(value) else { throw .badValue(key: key, value: value) }
                    config.variant.topK = v
                case "threshold":
                    guard let v = Double(value) else { throw .badValue(key: key, value: value) }
                    config.variant.threshold = v
                case "scale":
                    guard let v = TrustScale(rawValue: value) else { throw .badValue(key: key, value: value) }
                    config.variant.scale = v
                case "rule":
                    guard let v = TrustRule(rawValue: value) else { throw .badValue(key: key, value: value) }
                    config.variant.rule = v
                case "steps":
                    guard let v = Int(value) else { throw .badValue(key: key, value: value) }
                    config.variant.steps = v
                case "logits":
                    guard let v = Int(value) else { throw .badValue(key: key, value: value) }
                    config.logitsTopK = v
                default:
                    throw .unknownKey(key)
                }
            }
        }
        try config.validate()
        self = config
    }

    /// The canonical text: the strategy, then only the parameters that differ from their
    /// defaults, in the order temperature, topk, threshold, scale, rule, steps, logits.
    public var description: String {
        var parameters: [String] = []
        if variant.temperature != 1 { parameters.append("temperature=\(Self.format(variant.temperature))") }
        if let k = variant.topK { parameters.append("topk=\(k)") }
        if let t = variant.threshold { parameters.append("threshold=\(Self.format(t))") }
        if let scale = variant.scale { parameters.append("scale=\(scale.rawValue)") }
        if variant.rule != .softmax { parameters.append("rule=\(variant.rule.rawValue)") }
        if variant.steps != TrustVariant.defaultSteps { parameters.append("steps=\(variant.steps)") }
        if logitsTopK != Self.defaultLogitsTopK { parameters.append("logits=\(logitsTopK)") }
        return parameters.isEmpty ? strategy.rawValue : strategy.rawValue + ":" + parameters.joined(separator: ",")
    }

    /// A number as written by hand: whole numbers without ".0", others in Swift's
    /// shortest round-tripping form.
    private static func format(_ value: Double) -> String {
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

extension TrustConfig: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try TrustConfig(parsing: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
