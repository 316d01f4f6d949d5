// Between checkpoint files and the model: the shape a checkpoint holds, and the
// checkpoint of a model's base parameters.

extension GPT2CheckpointConfig {
    /// The model shape this checkpoint holds.
    public var modelConfig: GPT2Config {
        GPT2Config(layers: layerCount, heads: headCount, channels: embeddingSize, maxSequenceLength: contextLength, vocabularySize: vocabularySize)
    }
}

extension GPT2Checkpoint {
    /// The checkpoint of `model`'s base parameters (its adapter, if any, is not part of it).
    public init(model: GPT2Model) {
        let c = model.config
        let config = GPT2CheckpointConfig(
            layerCount: c.layers, headCount: c.heads, embeddingSize: c.channels, contextLength: c.maxSequenceLength,
            vocabularySize: c.vocabularySize)
        self.init(config: config, parameters: Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0) }))
    }
}
