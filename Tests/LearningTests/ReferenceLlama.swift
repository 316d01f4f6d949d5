// A slow, independent double-precision Llama, written from Hugging Face's
// modeling_llama.py formulas with plain loops: the reference that the Float kernels,
// their gradients and (later) the engine are checked against. It reads a Hugging Face
// folder (config.json, model.safetensors) and a PEFT adapter folder directly by their
// tensor names, and covers Qwen2 too (q/k/v biases, tied lm_head).

import Foundation

@testable import Learning

enum ReferenceLlama {
    /// out (N,OC) = x (N,IC) · Wᵀ + bias, W stored (OC,IC) as torch.nn.Linear stores it.
    static func linear(_ x: [Double], weight: [Double], bias: [Double]?, N: Int, IC: Int, OC: Int) -> [Double] {
        var out = [Double](repeating: 0, count: N * OC)
        for n in 0..<N {
            for o in 0..<OC {
                var sum = bias?[o] ?? 0
                for i in 0..<IC { sum += x[n * IC + i] * weight[o * IC + i] }
                out[n * OC + o] = sum
            }
        }
        return out
    }

    /// LlamaRMSNorm: weight · x / sqrt(mean(x²) + eps) per row of x (N,C).
    static func rmsNorm(_ x: [Double], weight: [Double], N: Int, C: Int, epsilon: Double) -> [Double] {
        var out = [Double](repeating: 0, count: N * C)
        for n in 0..<N {
            let variance = (0..<C).reduce(0.0) { $0 + x[n * C + $1] * x[n * C + $1] } / Double(C)
            for c in 0..<C { out[n * C + c] = weight[c] * (x[n * C + c] / (variance + epsilon).squareRoot()) }
        }
        return out
    }

    /// apply_rotary_pos_emb on x (B,T,NH,hs): x · cos + rotate_half(x) · sin, where
    /// rotate_half(x) = cat(−x[hs/2...], x[..<hs/2]) and cos, sin repeat the hs/2
    /// frequencies t · theta^(−2i/hs) twice (emb = cat(freqs, freqs)).
    static func rotary(_ x: [Double], B: Int, T: Int, NH: Int, hs: Int, theta: Double) -> [Double] {
        let half = hs / 2
        var out = x
        for b in 0..<B {
            for t in 0..<T {
                let inverseFrequencies = (0..<half).map { 1 / pow(theta, Double(2 * $0) / Double(hs)) }
                let emb = (inverseFrequencies + inverseFrequencies).map { Double(t) * $0 }
                for h in 0..<NH {
                    let base = ((b * T + t) * NH + h) * hs
                    let head = Array(x[base..<(base + hs)])
                    let rotated = head[half...].map { -$0 } + head[..<half]
                    for i in 0..<hs { out[base + i] = head[i] * cos(emb[i]) + rotated[i] * sin(emb[i]) }
                }
            }
        }
        return out
    }

    /// LlamaMLP's middle: act_fn(gate) · up with act_fn = SiLU.
    static func swiGLU(gate: [Double], up: [Double]) -> [Double] {
        zip(gate, up).map { g, u in g / (1 + exp(-g)) * u }
    }

    /// eager_attention_forward with repeat_kv: q (B,T,NH·hs), k and v (B,T,NKV·hs);
    /// query head h uses kv head h / (NH / NKV). Causal, scale 1 / sqrt(hs).
    static func attention(q: [Double], k: [Double], v: [Double], B: Int, T: Int, NH: Int, NKV: Int, hs: Int) -> [Double] {
        let group = NH / NKV
        let scale = 1 / Double(hs).squareRoot()
        var out = [Double](repeating: 0, count: B * T * NH * hs)
        for b in 0..<B {
            for h in 0..<NH {
                let kv = h / group
                for t1 in 0..<T {
                    var scores = [Double](repeating: 0, count: t1 + 1)
                    for t2 in 0...t1 {
                        var dot = 0.0
                        for i in 0..<hs { dot += q[((b * T + t1) * NH + h) * hs + i] * k[((b * T + t2) * NKV + kv) * hs + i] }
                        scores[t2] = dot * scale
                    }
                    let maximum = scores.max()!
                    let exps = scores.map { exp($0 - maximum) }
                    let sum = exps.reduce(0, +)
                    for i in 0..<hs {
                        var value = 0.0
                        for t2 in 0...t1 { value += exps[t2] / sum * v[((b * T + t2) * NKV + kv) * hs + i] }
                        out[((b * T + t1) * NH + h) * hs + i] = value
                    }
                }
            }
        }
        return out
    }
}

/// The numbers of a Llama or Qwen2 `config.json` that the forward pass needs.
struct LlamaShape {
    var layers: Int
    var channels: Int
    var heads: Int
    var kvHeads: Int
    var hiddenMLP: Int
    var vocabularySize: Int
    var epsilon: Double
    var ropeTheta: Double
    var tied: Bool

    var headSize: Int { channels / heads }
}

extension LlamaShape {
    init(configPath: String) throws {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as! [String: Any]
        layers = json["num_hidden_layers"] as! Int
        channels = json["hidden_size"] as! Int
        heads = json["num_attention_heads"] as! Int
        kvHeads = json["num_key_value_heads"] as? Int ?? heads
        hiddenMLP = json["intermediate_size"] as! Int
        vocabularySize = json["vocab_size"] as! Int
        epsilon = (json["rms_norm_eps"] as! NSNumber).doubleValue
        // transformers 5 nests rope_theta in rope_parameters; earlier releases (and the
        // published SmolLM, Llama 3.2 and Qwen2.5 configs) keep it at the top level.
        let rope = json["rope_parameters"] as? [String: Any] ?? json
        ropeTheta = (rope["rope_theta"] as! NSNumber).doubleValue
        tied = json["tie_word_embeddings"] as? Bool ?? false
    }
}

/// A committed tiny Llama-family fixture (tools/fixtures/make_tiny_llama.py): its shape,
/// its tensors by Hugging Face name, its PEFT adapter and transformers' logits.
struct LlamaFixture {
    let shape: LlamaShape
    let tensors: [String: NamedTensor]
    let adapterTensors: [String: NamedTensor]
    /// PEFT's scaling, lora_alpha / r.
    let adapterScale: Double
    let adapterRank: Int
    let tokens: [Int32]
    /// (T,V) flattened, from transformers in float64.
    let logits: [Double]
    /// (T,V) flattened, from peft in float64.
    let adaptedLogits: [Double]
    /// The next tokens (the first token after the last), and transformers' and peft's
    /// mean cross-entropy of them.
    let targets: [Int32]
    let loss: Double
    let adaptedLoss: Double

    init(_ name: String) throws {
        shape = try LlamaShape(configPath: Fixture.path("\(name)/config.json"))
        tensors = try SafeTensors.read(from: Fixture.path("\(name)/model.safetensors")).tensorsByName
        adapterTensors = try SafeTensors.read(from: Fixture.path("\(name)/adapter/adapter_model.safetensors")).tensorsByName
        let adapterConfig = try Fixture.json("\(name)/adapter/adapter_config.json") as! [String: Any]
        adapterRank = adapterConfig["r"] as! Int
        adapterScale = (adapterConfig["lora_alpha"] as! NSNumber).doubleValue / Double(adapterRank)
        let reference = try Fixture.json("\(name)/reference_logits.json") as! [String: Any]
        tokens = (reference["tokens"] as! [Int]).map(Int32.init)
        logits = (reference["logits"] as! [[Double]]).flatMap { $0 }
        adaptedLogits = (reference["adapted_logits"] as! [[Double]]).flatMap { $0 }
        targets = (reference["targets"] as! [Int]).map(Int32.init)
        loss = reference["mean_cross_entropy"] as! Double
        adaptedLoss = reference["adapted_mean_cross_entropy"] as! Double
    }

    /// The tensor called `name`, or nil (a bias the model does not have).
    func optional(_ name: String) -> [Float]? { tensors[name]?.values }

    func tensor(_ name: String) -> [Float] {
        guard let values = tensors[name]?.values else { fatalError("the fixture has no tensor \(name)") }
        return values
    }

    /// The output layer: lm_head, or the embedding when tied.
    var outputWeight: [Float] { shape.tied ? tensor("model.embed_tokens.weight") : tensor("lm_head.weight") }

    /// PEFT's (A (r,IN), B (OUT,r)) for the projection at `path` (e.g.
    /// "model.layers.0.self_attn.q_proj").
    func adapter(_ path: String) -> (A: [Float], B: [Float]) {
        let prefix = "base_model.model." + path
        guard let a = adapterTensors[prefix + ".lora_A.weight"], let b = adapterTensors[prefix + ".lora_B.weight"] else {
            fatalError("the adapter has no tensors for \(path)")
        }
        return (a.values, b.values)
    }

    /// The logits (T,V) of `tokens` in double precision, with the adapter when asked.
    func referenceLogits(adapted: Bool) -> [Double] {
        ReferenceLlama.logits(shape: shape, parameters: tensors.mapValues { $0.values.doubles },
                              adapter: adapted ? referenceAdapter : nil, tokens: tokens, B: 1, T: tokens.count)
    }

    /// The adapter's tensors by their PEFT names, in double precision.
    var referenceAdapter: ReferenceLlama.Adapter {
        ReferenceLlama.Adapter(tensors: adapterTensors.mapValues { $0.values.doubles }, rank: adapterRank, scale: adapterScale)
    }
}

extension ReferenceLlama {
    /// A PEFT LoRA adapter: `base_model.model.<path>.lora_A.weight` (r,IN) and
    /// `….lora_B.weight` (OUT,r) for each adapted projection, scaled by alpha / r.
    struct Adapter {
        var tensors: [String: [Double]]
        var rank: Int
        var scale: Double
    }

    /// The logits (B·T,V) of `tokens` (B,T) from Hugging Face-named `parameters`
    /// (model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight, …), with the
    /// LoRA branches of `adapter` on every projection it names.
    static func logits(shape s: LlamaShape, parameters: [String: [Double]], adapter: Adapter?, tokens: [Int32], B: Int, T: Int) -> [Double] {
        let N = B * T, C = s.channels, hs = s.headSize, KC = s.kvHeads * hs
        func tensor(_ name: String) -> [Double] {
            guard let values = parameters[name] else { fatalError("no parameter \(name)") }
            return values
        }
        func projection(_ path: String, _ x: [Double], IC: Int, OC: Int) -> [Double] {
            var out = linear(x, weight: tensor(path + ".weight"), bias: parameters[path + ".bias"], N: N, IC: IC, OC: OC)
            let prefix = "base_model.model." + path
            if let adapter, let a = adapter.tensors[prefix + ".lora_A.weight"], let b = adapter.tensors[prefix + ".lora_B.weight"] {
                let delta = Reference.lora(x, A: a, B: b, N: N, IN: IC, OUT: OC, r: adapter.rank, scale: adapter.scale, mask: nil)
                for i in out.indices { out[i] += delta[i] }
            }
            return out
        }
        let embedding = tensor("model.embed_tokens.weight")
        var x = tokens.flatMap { embedding[(Int($0) * C)..<((Int($0) + 1) * C)] }
        for l in 0..<s.layers {
            let p = "model.layers.\(l)."
            let h = rmsNorm(x, weight: tensor(p + "input_layernorm.weight"), N: N, C: C, epsilon: s.epsilon)
            let q = rotary(projection(p + "self_attn.q_proj", h, IC: C, OC: C), B: B, T: T, NH: s.heads, hs: hs, theta: s.ropeTheta)
            let k = rotary(projection(p + "self_attn.k_proj", h, IC: C, OC: KC), B: B, T: T, NH: s.kvHeads, hs: hs, theta: s.ropeTheta)
            let v = projection(p + "self_attn.v_proj", h, IC: C, OC: KC)
            let y = attention(q: q, k: k, v: v, B: B, T: T, NH: s.heads, NKV: s.kvHeads, hs: hs)
            let o = projection(p + "self_attn.o_proj", y, IC: C, OC: C)
            for i in x.indices { x[i] += o[i] }
            let h2 = rmsNorm(x, weight: tensor(p + "post_attention_layernorm.weight"), N: N, C: C, epsilon: s.epsilon)
            let gate = projection(p + "mlp.gate_proj", h2, IC: C, OC: s.hiddenMLP)
            let up = projection(p + "mlp.up_proj", h2, IC: C, OC: s.hiddenMLP)
            let down = projection(p + "mlp.down_proj", swiGLU(gate: gate, up: up), IC: s.hiddenMLP, OC: C)
            for i in x.indices { x[i] += down[i] }
        }
        let final = rmsNorm(x, weight: tensor("model.norm.weight"), N: N, C: C, epsilon: s.epsilon)
        let output = s.tied ? embedding : tensor("lm_head.weight")
        return linear(final, weight: output, bias: nil, N: N, IC: C, OC: s.vocabularySize)
    }

    /// The mean cross-entropy of `targets` (B,T; negative for none) under `logits`: the
    /// loss whose gradient the engine's backward pass computes.
    static func loss(shape: LlamaShape, parameters: [String: [Double]], adapter: Adapter?, tokens: [Int32], targets: [Int32],
                     B: Int, T: Int) -> Double {
        let logits = logits(shape: shape, parameters: parameters, adapter: adapter, tokens: tokens, B: B, T: T)
        return Reference.crossEntropy(logits, targets: targets, N: B * T, V: shape.vocabularySize)
    }
}

/// The largest |a − b| over two arrays of the same length.
func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "\(a.count) values against \(b.count)")
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}
