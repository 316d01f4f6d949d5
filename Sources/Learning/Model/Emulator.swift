// Emulator: the compressed stand-in for a transformer's middle blocks that FedBiOT
// (arXiv 2406.17706) and Offsite-tuning (arXiv 2302.04870) hand to devices which
// cannot hold the full model.
//
// The full model's n_full blocks split into an adapter (the blocks a device tunes
// with LoRA, kept whole) and a middle. The middle's n blocks are compressed by
// dropping at a uniform stride: keep m = round(n (1 − β)) of them, the i-th kept one
// (i = 0 … m − 1) at middle position ⌊i (n − 1) / (m − 1)⌋, so the first and the last
// middle block always stay. The emulator is then a model whose config lists, in
// order, the source index of every block it kept (`ModelConfig.blocks`): adapters
// name blocks by those indices, so one adapter file fits the emulator and the full
// model alike.
//
// Not here: aligning the emulator to the full model (EmulatorAlignment.swift).

/// An emulator that cannot be planned or built; the message names the setting.
public struct EmulatorError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Where the adapter sits in the full model.
public enum EmulatorLayout: String, Sendable, Codable, CaseIterable {
    /// FedBiOT: the adapter is the last `adapterBlocks` blocks.
    case fedbiot
    /// Offsite-tuning: the adapter is the first `adapterBlocks` and the last
    /// `adapterBlocks` blocks (2 + 2 in the paper), the emulator between them.
    case offsite
}

/// m = round(x) with ties to the even integer, for x = n (1 − β) ≥ 0. A tie is a
/// fractional part within 1e-9 of one half, so β = 0.25 on n = 10 (7.5 in decimals,
/// 7.4999… or 7.5000…1 in binary) is a tie, as a reader of the formula means it.
func roundHalfToEven(_ x: Double) -> Int {
    let floor = x.rounded(.down), fraction = x - floor
    if abs(fraction - 0.5) < 1e-9 {
        let low = Int(floor)
        return low % 2 == 0 ? low : low + 1
    }
    return Int(x.rounded(.toNearestOrAwayFromZero))
}

/// The positions (0-based, increasing) of the blocks a uniform-stride drop of ratio
/// `dropRatio` keeps out of `count`: m = round(count (1 − β)) half to even, then
/// ⌊i (count − 1) / (m − 1)⌋ for i = 0 … m − 1.
/// - Throws: `EmulatorError` when β is outside [0, 1) or fewer than two blocks
///   would stay (the formula keeps the first and the last, so it needs m ≥ 2).
public func uniformStrideKeep(count n: Int, dropRatio beta: Double) throws(EmulatorError) -> [Int] {
    guard beta.isFinite, beta >= 0, beta < 1 else {
        throw EmulatorError("drop ratio must be in [0, 1) (got \(beta))")
    }
    guard n >= 2 else {
        throw EmulatorError("the emulator compresses \(n) middle block\(n == 1 ? "" : "s"); it needs at least 2 (the first and the last stay)")
    }
    let m = roundHalfToEven(Double(n) * (1 - beta))
    guard m >= 2 else {
        throw EmulatorError("drop ratio \(beta) keeps \(m) of \(n) middle blocks; the emulator needs at least 2 (the first and the last stay)")
    }
    return (0..<m).map { i in i * (n - 1) / (m - 1) }
}

/// Which full-model blocks are the adapter, which the emulator keeps and which it drops.
public struct EmulatorPlan: Sendable, Equatable, Codable {
    public var layout: EmulatorLayout
    public var dropRatio: Double
    /// Number of blocks of the full model.
    public var fullLayers: Int
    /// The adapter's blocks, by full-model index, increasing.
    public var adapterBlocks: [Int]
    /// The full model's middle blocks, the ones the emulator stands in for.
    public var middleBlocks: [Int]
    /// The middle blocks the emulator keeps.
    public var keptBlocks: [Int]

    /// Plans an emulator of a model with `fullLayers` blocks.
    /// - Parameters:
    ///   - adapterBlocks: L, the adapter's size: the last L blocks (`fedbiot`) or the
    ///     first L and the last L (`offsite`).
    ///   - dropRatio: β, the fraction of middle blocks dropped.
    /// - Throws: `EmulatorError` naming the setting that cannot work.
    public init(fullLayers: Int, adapterBlocks L: Int, dropRatio: Double, layout: EmulatorLayout) throws(EmulatorError) {
        guard L >= 1 else { throw EmulatorError("adapter blocks must be at least 1 (got \(L))") }
        let adapterCount = layout == .fedbiot ? L : 2 * L
        guard fullLayers - adapterCount >= 2 else {
            throw EmulatorError("an adapter of \(adapterCount) blocks (\(layout.rawValue)) leaves \(max(0, fullLayers - adapterCount)) of \(fullLayers) blocks to emulate; at least 2 must remain")
        }
        let first = layout == .offsite ? L : 0
        let middle = Array(first..<(fullLayers - L))
        let kept = try uniformStrideKeep(count: middle.count, dropRatio: dropRatio)
        self.layout = layout
        self.dropRatio = dropRatio
        self.fullLayers = fullLayers
        adapterBlocks = Array(0..<first) + Array((fullLayers - L)..<fullLayers)
        middleBlocks = middle
        keptBlocks = kept.map { middle[$0] }
    }

    /// The middle blocks the emulator drops.
    public var droppedBlocks: [Int] { middleBlocks.filter { !keptBlocks.contains($0) } }

    /// Every block of the emulator model, by full-model index: what its config lists.
    public var emulatorBlocks: [Int] { (adapterBlocks + keptBlocks).sorted() }

    /// The adapter blocks that come before the middle (offsite's first ones).
    public var lowerAdapterBlocks: [Int] { adapterBlocks.filter { $0 < middleBlocks[0] } }

    /// The adapter blocks that read the middle's output.
    public var upperAdapterBlocks: [Int] { adapterBlocks.filter { $0 > middleBlocks[middleBlocks.count - 1] } }
}

/// The emulator of a full model: its shape and its parameters, named by position in
/// the emulator as a checkpoint of it stores them.
public struct EmulatorModel: Sendable, Equatable {
    public var plan: EmulatorPlan
    public var config: ModelConfig
    public var parameters: [String: NamedTensor]

    /// Takes the blocks `plan` keeps out of a full model's `parameters` (named as
    /// `ModelConfig.parameterShapes` names them) and renames each to its position in
    /// the emulator; the embeddings, the final norm and the output layer stay.
    /// - Throws: `EmulatorError` when `config` is itself a subset of another model's
    ///   blocks, does not have the plan's block count, or a tensor is missing.
    public init(full config: ModelConfig, parameters: [String: NamedTensor], plan: EmulatorPlan) throws(EmulatorError) {
        guard config.blocks == Array(0..<config.layers) else {
            throw EmulatorError("the base keeps only blocks \(config.blocks) of another model; build the emulator from the full model")
        }
        guard config.layers == plan.fullLayers else {
            throw EmulatorError("the plan is for \(plan.fullLayers) blocks, the base has \(config.layers)")
        }
        let blocks = plan.emulatorBlocks
        let emulator = config.keepingBlocks(at: blocks)
        var taken: [String: NamedTensor] = [:]
        for (name, shape) in emulator.parameterShapes {
            let source = Self.sourceName(of: name, config: emulator)
            guard var tensor = parameters[source] else { throw EmulatorError("the base has no tensor \(source)") }
            guard tensor.shape == shape else { throw EmulatorError("tensor \(source) has shape \(tensor.shape), expected \(shape)") }
            tensor.name = name
            taken[name] = tensor
        }
        self.plan = plan
        self.config = emulator
        self.parameters = taken
    }

    /// The full model's name of emulator parameter `name`: block position p becomes
    /// block index `config.blocks[p]`.
    static func sourceName(of name: String, config: ModelConfig) -> String {
        for p in 0..<config.layers {
            let prefix = config.blockPrefix(p)
            if name.hasPrefix(prefix) { return config.blockPrefix(config.blocks[p]) + name.dropFirst(prefix.count) }
        }
        return name
    }
}

extension TransformerModel {
    /// Copies of the base parameters of the blocks with indices `blocks`
    /// (`ModelConfig.blocks`), named by those indices (`h.4.attn.c_attn.weight` for
    /// block 4 wherever it sits in this model), as an emulator update carries them.
    /// - Throws: `ModelError.unknownGroup` for a block the model lacks.
    public func blockParameters(_ blocks: [Int]) throws(ModelError) -> [NamedTensor] {
        var out: [NamedTensor] = []
        for b in blocks {
            guard let l = config.blocks.firstIndex(of: b) else { throw .unknownGroup("block \(b) is not in the model") }
            let prefix = config.blockPrefix(l)
            for slot in parameterLayout.slots where slot.name.hasPrefix(prefix) {
                out.append(NamedTensor(name: config.blockPrefix(b) + slot.name.dropFirst(prefix.count), shape: slot.shape,
                                       values: Array(UnsafeBufferPointer(start: parameters[slot.offset], count: slot.count))))
            }
        }
        return out
    }

    /// Overwrites the base parameters of every block `tensors` name (by block index, as
    /// `blockParameters` names them). Nothing changes unless every tensor of those
    /// blocks is there with its shape, and no other.
    /// - Throws: `ModelError` naming the first tensor that does not fit.
    public func setBlockParameters(_ tensors: [NamedTensor]) throws(ModelError) {
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var found: [(TensorSlot, NamedTensor)] = []
        var used = 0
        for (l, b) in config.blocks.enumerated() {
            let prefix = config.blockPrefix(l), named = config.blockPrefix(b)
            let own = parameterLayout.slots.filter { $0.name.hasPrefix(prefix) }
            let given = own.compactMap { byName[named + $0.name.dropFirst(prefix.count)] }
            guard !given.isEmpty else { continue }
            for slot in own {
                let name = named + slot.name.dropFirst(prefix.count)
                guard let tensor = byName[name] else { throw .missingTensor(name: name) }
                guard tensor.shape == slot.shape else { throw .shapeMismatch(name: name, expected: slot.shape, found: tensor.shape) }
                found.append((slot, tensor))
            }
            used += own.count
        }
        guard used == byName.count else {
            let known = Set(found.map(\.1.name))
            throw .adapterMismatch("tensor \(byName.keys.sorted().first { !known.contains($0) }!) is no block parameter of the model")
        }
        for (slot, tensor) in found {
            tensor.values.withUnsafeBufferPointer { parameters[slot.offset].update(from: $0.baseAddress!, count: slot.count) }
        }
    }
}
