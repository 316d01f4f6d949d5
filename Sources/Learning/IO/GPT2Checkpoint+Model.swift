// Between checkpoint files and the model: the checkpoint of a model's base parameters.

extension GPT2Checkpoint {
    /// The checkpoint of `model`'s base parameters (its adapters are not part of it).
    public init(model: TransformerModel) {
        self.init(config: model.config, parameters: Dictionary(uniqueKeysWithValues: model.namedParameters().map { ($0.name, $0) }))
    }
}
