// Members that publish poisoned updates, for measuring what trust and the screens before
// it do against them. An attacker trains like any member (its honest adapter is the
// yardstick of its poison), relays like any member, and signs its updates properly with
// its own key; only what it publishes is forged, in the layout every member expects.
//
//   none      publishes its honest adapter (the no-attack run, same members counted)
//   silent    publishes nothing
//   noise     Gaussian values, scaled to 10 × the norm of its honest adapter
//   signflip  −4 × the mean of the adapters it holds from the others
//   scale     20 × its honest adapter
//   mimic     the exact update payload of an honest member of another group, as soon as
//             that member's update of the round arrives (a free-rider)

import Foundation
import Gossip
import Learning
import Schemes
import Trust

/// What a node about to publish knows, for an `UpdateForger`.
public struct ForgeContext {
    public let round: Int
    /// The node's own adapter after this round's training.
    public let honest: LoRAAdapter
    /// What a received update must be to be read.
    public let expectation: PayloadExpectation
    public let mesh: GossipNode
    public let ownKey: PublicKey
    /// Held updates older than this round do not count.
    public let oldestRound: UInt64
    /// The longest the node may wait before publishing.
    public let timeoutSeconds: Double
    public let stop: StopRequest
    /// The payload of an update carrying an adapter of the published slot.
    public let encode: (LoRAAdapter) throws -> [UInt8]
}

/// Decides what a node publishes instead of its honest update.
public protocol UpdateForger: AnyObject {
    /// The payload to publish for `context.round`, or nil to publish nothing.
    func forge(_ context: ForgeContext) throws -> [UInt8]?
}

/// The kinds of attack `starling experiment --attack` knows.
public enum AttackKind: String, Sendable, CaseIterable, Codable {
    case none, silent, noise, signflip, scale, mimic

    /// Noise is drawn at this many times the honest adapter's norm.
    public static let noiseFactor = 10.0
    /// Signflip publishes this multiple of the mean of what the attacker holds.
    public static let signflipFactor: Float = -4
    /// Scale publishes this multiple of the attacker's honest adapter.
    public static let scaleFactor: Float = 20
}

/// N attackers of one kind in an experiment.
public struct ExperimentAttack: Sendable, Equatable {
    public var kind: AttackKind
    public var attackers: Int

    public init(kind: AttackKind, attackers: Int) {
        self.kind = kind
        self.attackers = attackers
    }

    /// Who attacks: the last member of each group in turn (the first N groups), then the
    /// last but one of each, and so on. In `clusters` topologies the last member of a
    /// group is the bridge to the next group: every update between two groups passes
    /// through it, the strongest place for an attacker.
    public func attackerIndices(groups: [[Int]]) -> [Int] {
        var out: [Int] = []
        let deepest = groups.map(\.count).max() ?? 0
        for depth in 0..<deepest {
            for g in groups where g.count > depth && out.count < attackers { out.append(g[g.count - 1 - depth]) }
        }
        return out
    }

    /// The honest member a mimic in `groups[g]` copies: the first honest member of the
    /// next group that has one (cyclically), or nil when no other group has one.
    public static func mimicTarget(ofGroup g: Int, groups: [[Int]], attackers: Set<Int>) -> Int? {
        for step in 1..<max(1, groups.count) {
            if let t = groups[(g + step) % groups.count].first(where: { !attackers.contains($0) }) { return t }
        }
        return nil
    }
}

/// An attacker's forger: `kind`, with the noise drawn from `seed` and round, and for
/// `mimic` the member it copies.
public final class PoisonForger: UpdateForger {
    public let kind: AttackKind
    public let seed: UInt64
    public let target: PublicKey?

    public init(kind: AttackKind, seed: UInt64, target: PublicKey? = nil) {
        self.kind = kind
        self.seed = seed
        self.target = target
    }

    public func forge(_ c: ForgeContext) throws -> [UInt8]? {
        switch kind {
        case .none:
            return try c.encode(c.honest)
        case .silent:
            return nil
        case .noise:
            return try c.encode(Self.noise(like: c.honest, norm: AttackKind.noiseFactor * AdapterNorm.norm(c.honest), seed: seed ^ UInt64(c.round) &* 0x9E37_79B9))
        case .scale:
            return try c.encode(Self.scaled(c.honest, by: AttackKind.scaleFactor))
        case .signflip:
            var held: [LoRAAdapter] = []
            for (key, update) in c.mesh.latestUpdates() where key != c.ownKey && update.round >= c.oldestRound {
                if let a = try? UpdatePayload.decode(update.payload.bytes, expecting: c.expectation) { held.append(a) }
            }
            let mean = held.isEmpty ? c.honest : Self.mean(held)
            return try c.encode(Self.scaled(mean, by: AttackKind.signflipFactor))
        case .mimic:
            guard let target else { return nil }
            let deadline = Date().addingTimeInterval(c.timeoutSeconds)
            while !c.stop.isRequested && Date() < deadline {
                let got = c.mesh.waitForUpdates(round: UInt64(c.round), from: [target], timeoutSeconds: min(0.25, max(0, deadline.timeIntervalSinceNow)))
                if let update = got[target] { return update.payload.bytes }
            }
            return nil
        }
    }

    /// `a` with every value times `factor`.
    static func scaled(_ a: LoRAAdapter, by factor: Float) -> LoRAAdapter {
        LoRAAdapter(config: a.config, tensors: a.tensors.map { NamedTensor(name: $0.name, shape: $0.shape, values: $0.values.map { $0 * factor }) })
    }

    /// The element-wise mean of adapters of one layout.
    static func mean(_ adapters: [LoRAAdapter]) -> LoRAAdapter {
        TrustAggregation.aggregate(adapters, weights: Array(repeating: 1 / Double(adapters.count), count: adapters.count))
    }

    /// Standard Gaussian values (Box–Muller) in the layout of `a`, scaled to norm `norm`.
    static func noise(like a: LoRAAdapter, norm: Double, seed: UInt64) -> LoRAAdapter {
        var g = SeededGenerator(seed: seed)
        func uniform() -> Double { (Double(g.next() >> 11) + 0.5) / Double(1 << 53) }
        var out = a
        var sum = 0.0
        for t in out.tensors.indices {
            out.tensors[t].values = (0..<out.tensors[t].count).map { _ in
                let z = (-2 * log(uniform())).squareRoot() * cos(2 * Double.pi * uniform())
                sum += z * z
                return Float(z)
            }
        }
        let factor = Float(norm / max(sum.squareRoot(), .leastNormalMagnitude))
        return scaled(out, by: factor)
    }
}
