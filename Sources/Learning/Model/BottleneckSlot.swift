// BottleneckSlot: a named set of bottleneck adapters, one per block, that a
// TransformerModel applies to each block's output after its MLP residual
// (Layers/BottleneckAdapter.swift). A bottleneck slot is always applied; it trains as
// the parameter group `.slot(name)`, like a LoRA slot.
//
// Tensors, per block index b: `h.b.adapter.down.weight` D [m, C] and
// `h.b.adapter.up.weight` U [C, m]. D is drawn Kaiming-uniform (bound 1 / sqrt(C)) as
// a LoRA A is, U is zero, so a new slot leaves the model as it was.

/// One bottleneck slot inside a model: its values, gradients and the activations its
/// backward pass needs.
public final class BottleneckSlot {
    public let name: String
    /// The bottleneck width m.
    public let width: Int
    let channels: Int
    let blocks: [Int]
    let values: FloatBuffer
    var gradients: FloatBuffer?
    /// Per block position, for the last forward: the stream before the adapter (N,C),
    /// z = D·h and a = gelu(z) (N,m); dz is scratch.
    private var inputs: FloatBuffer?, z: FloatBuffer?, a: FloatBuffer?, dz: FloatBuffer?
    private var rows = 0
    /// z and a of a forward-only pass (2·N·m).
    private var scratch: FloatBuffer?

    init(name: String, width: Int, config: ModelConfig, seed: UInt64) {
        self.name = name
        self.width = width
        channels = config.channels
        blocks = config.blocks
        values = FloatBuffer(count: config.layers * 2 * width * config.channels)
        var random = SeededRandom(seed: SeededRandom.mix(seed ^ 0x426F_7474))  // "Bott"
        let bound = 1 / Float(config.channels).squareRoot()
        for l in 0..<config.layers {
            let d = values[down(l)]
            for i in 0..<(width * channels) { d[i] = random.uniform(-bound, bound) }
        }
    }

    var perLayer: Int { 2 * width * channels }
    func down(_ l: Int) -> Int { l * perLayer }
    func up(_ l: Int) -> Int { l * perLayer + width * channels }

    /// The slot's tensors, block by block (down, then up).
    public var tensors: [NamedTensor] {
        blocks.indices.flatMap { l in
            [NamedTensor(name: "h.\(blocks[l]).adapter.down.weight", shape: [width, channels],
                         values: Array(UnsafeBufferPointer(start: values[down(l)], count: width * channels))),
             NamedTensor(name: "h.\(blocks[l]).adapter.up.weight", shape: [channels, width],
                         values: Array(UnsafeBufferPointer(start: values[up(l)], count: width * channels)))]
        }
    }

    /// Copies `tensors` (as `tensors` names and shapes them) into the slot.
    /// - Throws: `ModelError.adapterMismatch` naming the first tensor that does not fit.
    public func set(_ given: [NamedTensor]) throws(ModelError) {
        let own = tensors
        guard given.count == own.count else { throw .adapterMismatch("\(given.count) bottleneck tensors, expected \(own.count)") }
        for (g, o) in zip(given, own) where g.name != o.name || g.shape != o.shape {
            throw .adapterMismatch("tensor \(g.name) \(g.shape) where \(o.name) \(o.shape) belongs")
        }
        for (k, g) in given.enumerated() {
            g.values.withUnsafeBufferPointer { values[k * width * channels].update(from: $0.baseAddress!, count: g.count) }
        }
    }

    func allocateGradients() { if gradients == nil { gradients = FloatBuffer(count: values.count) } }

    /// h ← h + U·gelu(D·h) on block position `l`'s output stream (N,C), in place.
    func forward(layer l: Int, stream: UnsafeMutablePointer<Float>, N: Int) {
        let layers = blocks.count
        if rows != N || inputs == nil {
            inputs = FloatBuffer(count: layers * N * channels)
            z = FloatBuffer(count: layers * N * width)
            a = FloatBuffer(count: layers * N * width)
            dz = FloatBuffer(count: N * width)
            rows = N
        }
        let x = inputs![l * N * channels]
        x.update(from: stream, count: N * channels)
        bottleneckForward(out: stream, z: z![l * N * width], a: a![l * N * width], inp: x, D: values[down(l)], U: values[up(l)],
                          N: N, C: channels, m: width)
    }

    /// h ← h + U·gelu(D·h) in place, keeping nothing for backward: z and a are scratch.
    /// `values` stand in for the slot's own (a candidate's, in the slot's layout).
    func forwardOnly(layer l: Int, stream: UnsafeMutablePointer<Float>, N: Int, values: UnsafePointer<Float>? = nil) {
        if scratch == nil || scratch!.count < 2 * N * width { scratch = FloatBuffer(count: 2 * N * width) }
        let z = scratch!.pointer, v = values ?? UnsafePointer(self.values.pointer)
        bottleneckForward(out: stream, z: z, a: z + N * width, inp: stream, D: v + down(l), U: v + up(l), N: N, C: channels, m: width)
    }

    /// Turns dStream, the gradient of block position `l`'s output, into the gradient of
    /// the stream before the adapter, accumulating dD and dU when `trains`.
    func backward(layer l: Int, dStream: UnsafeMutablePointer<Float>, N: Int, trains: Bool) {
        let g = trains ? gradients : nil
        bottleneckBackward(dinp: dStream, dD: g?[down(l)], dU: g?[up(l)], dout: dStream, inp: inputs![l * N * channels],
                           z: z![l * N * width], a: a![l * N * width], D: values[down(l)], U: values[up(l)], dz: dz!.pointer,
                           N: N, C: channels, m: width)
    }
}

extension TransformerModel {
    /// Adds a bottleneck slot `name` of width `width` to every block.
    @discardableResult
    public func addBottleneck(named name: String, width: Int) throws(ModelError) -> BottleneckSlot {
        guard slot(named: name) == nil, bottleneck(named: name) == nil else { throw .adapterMismatch("a slot \"\(name)\" exists already") }
        guard width >= 1 else { throw .adapterMismatch("bottleneck width \(width) must be at least 1") }
        let made = BottleneckSlot(name: name, width: width, config: config, seed: seed)
        bottlenecks.append(made)
        return made
    }

    /// The bottleneck slot `name`, if the model has one.
    public func bottleneck(named name: String) -> BottleneckSlot? { bottlenecks.first { $0.name == name } }

    /// Runs `body` with `tensors` in bottleneck slot `name`, putting the slot's own values back afterwards.
    public func withBottleneck<R>(_ tensors: [NamedTensor], named name: String, _ body: () throws -> R) throws -> R {
        guard let slot = bottleneck(named: name) else { throw ModelError.noSlot(name) }
        let saved = slot.values.array
        defer { slot.values.copy(from: saved) }
        try slot.set(tensors)
        return try body()
    }

    /// Every bottleneck slot on block position `l`'s output stream (the forward hook),
    /// keeping its activations for backward when `keep`; a slot whose candidates are
    /// stacked along the rows applies each candidate's values to its own rows.
    func applyBottlenecks(layer l: Int, stream: UnsafeMutablePointer<Float>, N: Int, keep: Bool) {
        for b in bottlenecks {
            if keep {
                b.forward(layer: l, stream: stream, N: N)
            } else if let stacked = candidateRows, stacked.slot == b.name {
                let n = N / stacked.groups
                for g in 0..<stacked.groups {
                    b.forwardOnly(layer: l, stream: stream + g * n * config.channels, N: n, values: stacked.values(g))
                }
            } else {
                b.forwardOnly(layer: l, stream: stream, N: N)
            }
        }
    }

    /// Backward of `applyBottlenecks`, in reverse order (the backward hook).
    func backpropagateBottlenecks(layer l: Int, dStream: UnsafeMutablePointer<Float>, N: Int) {
        for b in bottlenecks.reversed() { b.backward(layer: l, dStream: dStream, N: N, trains: trainableGroups.contains(.slot(b.name))) }
    }
}
