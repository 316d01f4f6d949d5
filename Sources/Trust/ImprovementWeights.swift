// The `fomo` rule of `validation`: trust a peer in proportion to how much its model
// improves on the node's own on the node's trust split, per unit of distance between
// the two adapters (FedFomo, Zhang et al., "Personalized Federated Learning with First
// Order Model Optimization", ICLR 2021, eq. 6–7).

import Learning

/// FedFomo's weights over a node and its peers.
///
/// For peer j, u_j = max(0, L_0 − L_j) / ‖θ_j − θ_0‖ (L the mean cross-entropy on the
/// node's trust split, θ every A and B of the adapter, ‖·‖ the Euclidean norm over all
/// of them); the row is u / Σ u, so the node itself gets 0. When no peer improves, the
/// node keeps weight 1. FedFomo applies the row as θ_0 + Σ_j w_j (θ_j − θ_0), which for
/// weights summing to 1 is the same average as `TrustAggregation`. FedFomo also
/// explores peers at random (ε-greedy) when choosing whom to download from; every
/// candidate here is already held, so nothing is explored.
public enum ImprovementWeights {
    /// The row over `losses` and `adapters`, the node itself at index 0.
    public static func row(losses: [Double], adapters: [LoRAAdapter]) -> [Double] {
        precondition(!losses.isEmpty && losses.count == adapters.count)
        var u = [Double](repeating: 0, count: losses.count)
        for j in losses.indices.dropFirst() where losses[j] < losses[0] {
            let d = distance(adapters[j], adapters[0])
            // A peer with the node's own values and a lower loss cannot happen (the same
            // adapter gives the same loss); guard the division all the same.
            if d > 0 { u[j] = (losses[0] - losses[j]) / d }
        }
        let total = u.reduce(0, +)
        guard total > 0 else {
            u[0] = 1
            return u
        }
        return u.map { $0 / total }
    }

    /// ‖a − b‖ over every tensor of two adapters of the same layout.
    public static func distance(_ a: LoRAAdapter, _ b: LoRAAdapter) -> Double { AdapterNorm.distance(a, b) }
}
