// The family of trust strategies: each turns what a node holds into one row of weights
// over its candidates (itself first, then the peers whose adapters it holds), summing to 1.
//
// The formulas are those of the reference code of "Personalized Collaborative Fine-Tuning
// for On-Device Large Language Models" (arXiv 2404.09753, `src/optim/strategies.py`),
// where the strategies are called `dynamic`, `dynamic-ref`, `dynamic-token`, `static`
// and `naive`.

/// How a node weighs its candidates.
///
/// Every strategy yields an affinity a_ij per usable candidate j (larger means more
/// trusted); the row is softmax(a_ij / τ) over the candidates its `TrustVariant` keeps.
/// The raw score recorded in `TrustRecord.scores` is the quantity each strategy measures:
///
/// | strategy | raw score | affinity a_ij |
/// |---|---|---|
/// | `weights` | s_ij, mean cosine similarity of the LoRA matrices | s_ij |
/// | `validation` | p_ij = exp(mean cross-entropy of θ_j on i's trust split) | −p_ij |
/// | `prediction` | d_ij, mean L1 distance of the top-k logits on the reference batches | −10 · d_ij / Σ_k d_ik |
/// | `oracle` | (P Pᵀ)_ij, overlap of the two nodes' source mixtures | weight (P Pᵀ)_ij / Σ_k (P Pᵀ)_ik directly |
/// | `fedavg` | none | weight 1 / \|C\| |
/// | `local` | none | weight 1 on the node itself |
public enum TrustStrategy: String, Sendable, Codable, CaseIterable {
    /// Similarity of the adapters themselves (reference: `dynamic`). See `WeightSimilarity`.
    case weights
    /// Loss of each candidate's model on the node's own trust split (reference:
    /// `dynamic-ref`). Needs a `CandidateEvaluator`.
    case validation
    /// Agreement of each candidate's next-token predictions with the node's own on
    /// reference batches every node derives identically (reference: `dynamic-token`).
    /// Needs a `CandidateEvaluator`. See `PredictionDistance`.
    case prediction
    /// The known answer: the overlap of the nodes' data-source mixtures, W = row-normalised
    /// P Pᵀ (reference: `static`). Needs a `MixtureMatrix`.
    case oracle
    /// Uniform weights over the usable candidates (reference: `naive`).
    case fedavg
    /// Weight 1 on the node itself: no collaboration (reference: `none`).
    case local

    /// Whether the row comes from measured affinities, so that a `TrustVariant`
    /// (temperature, top-k, threshold) applies.
    public var isLearned: Bool {
        switch self {
        case .weights, .validation, .prediction: true
        case .oracle, .fedavg, .local: false
        }
    }

    /// Whether the strategy runs the model through a `CandidateEvaluator`.
    public var needsEvaluator: Bool { self == .validation || self == .prediction }

    /// The threshold the reference code uses for its `-thresh` variant of this strategy,
    /// on the affinity scale: 0.5 for cosine similarity, −30 for −perplexity, −50 for
    /// −10·d̃ (which never drops anything, since −10·d̃ ≥ −10).
    public var referenceThreshold: Double? {
        switch self {
        case .weights: 0.5
        case .validation: -30
        case .prediction: -50
        case .oracle, .fedavg, .local: nil
        }
    }
}
