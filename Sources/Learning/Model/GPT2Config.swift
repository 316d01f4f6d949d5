// GPT2Config: the shape of a GPT-2-family transformer.

/// The hyperparameters that fix a GPT-2 model's tensor shapes.
public struct GPT2Config: Sendable, Equatable, Codable {
    /// Number of transformer blocks L.
    public var layers: Int
    /// Number of attention heads NH; `channels` must be a multiple of it.
    public var heads: Int
    /// Width of the residual stream C.
    public var channels: Int
    /// Longest sequence the position embedding covers (`n_positions`).
    public var maxSequenceLength: Int
    /// Number of token ids V.
    public var vocabularySize: Int

    public init(layers: Int, heads: Int, channels: Int, maxSequenceLength: Int, vocabularySize: Int) {
        precondition(layers > 0 && heads > 0 && channels > 0 && maxSequenceLength > 0 && vocabularySize > 0,
                     "GPT2Config: every dimension must be positive")
        precondition(channels % heads == 0, "GPT2Config: channels \(channels) is not a multiple of heads \(heads)")
        self.layers = layers
        self.heads = heads
        self.channels = channels
        self.maxSequenceLength = maxSequenceLength
        self.vocabularySize = vocabularySize
    }

    /// A tiny model over bytes, for tests and quick experiments.
    public static let tiny = GPT2Config(layers: 2, heads: 2, channels: 32, maxSequenceLength: 64, vocabularySize: 256)

    /// GPT-2 small (124M parameters), the Hugging Face `gpt2` checkpoint.
    public static let gpt2Small = GPT2Config(layers: 12, heads: 12, channels: 768, maxSequenceLength: 1024, vocabularySize: 50257)

    /// Channels per head, C / NH.
    public var headSize: Int { channels / heads }
}
