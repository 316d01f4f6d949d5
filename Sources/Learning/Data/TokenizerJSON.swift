// TokenizerJSON: a Hugging Face `tokenizer.json` of a byte-level BPE, read and checked.
//
// The loader takes what GPT-2, SmolLM, Llama 3 and Qwen2 ship: model BPE (with
// ignore_merges), added tokens, normalizer none or NFC, pre_tokenizer ByteLevel, Split
// with a known pattern, Digits or a Sequence of them, post_processor ByteLevel or
// TemplateProcessing (its special tokens are reported, not added by `encode`) or a
// Sequence of them, decoder ByteLevel. Everything that would change the ids and that
// this loader does not do is refused with its name, never skipped.
//
// A file with no pre_tokenizer at all is read as GPT-2's (ByteLevel with its pattern):
// such files are hand-written minimal ones, as a byte-level vocabulary needs ByteLevel.

/// The parts of a Hugging Face `tokenizer.json` that a byte-level BPE needs.
struct TokenizerJSON: Decodable {
    struct Model: Decodable {
        var type: String?
        var vocab: [String: Int32]
        var merges: [Merge]
        var ignoreMerges: Bool?
        var byteFallback: Bool?
        var continuingSubwordPrefix: String?
        var endOfWordSuffix: String?
        var dropout: Double?

        enum CodingKeys: String, CodingKey {
            case type, vocab, merges, dropout
            case ignoreMerges = "ignore_merges"
            case byteFallback = "byte_fallback"
            case continuingSubwordPrefix = "continuing_subword_prefix"
            case endOfWordSuffix = "end_of_word_suffix"
        }
    }

    /// One merge, written either "left right" or ["left", "right"].
    struct Merge: Decodable {
        var pair: (String, String)?

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                let parts = text.split(separator: " ", omittingEmptySubsequences: false)
                pair = parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty ? (String(parts[0]), String(parts[1])) : nil
            } else {
                let parts = try container.decode([String].self)
                pair = parts.count == 2 ? (parts[0], parts[1]) : nil
            }
        }
    }

    struct AddedToken: Decodable {
        var id: Int32
        var content: String
        var special: Bool?
        var lstrip: Bool?
        var rstrip: Bool?
        var singleWord: Bool?

        enum CodingKeys: String, CodingKey {
            case id, content, special, lstrip, rstrip
            case singleWord = "single_word"
        }
    }

    var model: Model
    var addedTokens: [AddedToken]?
    var normalizer: JSONValue?
    var preTokenizer: JSONValue?
    var postProcessor: JSONValue?
    var decoder: JSONValue?
    var truncation: JSONValue?
    var padding: JSONValue?

    enum CodingKeys: String, CodingKey {
        case model, normalizer, decoder, truncation, padding
        case addedTokens = "added_tokens"
        case preTokenizer = "pre_tokenizer"
        case postProcessor = "post_processor"
    }

    // ----------------------------------------------------------------------------
    // Checks and the pipeline

    /// Refuses model options and added-token flags that would change the ids.
    func checkModelAndAddedTokens(path: String) throws(TokenizerError) {
        if model.byteFallback == true { throw .unsupported(path: path, what: "BPE option byte_fallback") }
        if let prefix = model.continuingSubwordPrefix, !prefix.isEmpty {
            throw .unsupported(path: path, what: "BPE option continuing_subword_prefix")
        }
        if let suffix = model.endOfWordSuffix, !suffix.isEmpty { throw .unsupported(path: path, what: "BPE option end_of_word_suffix") }
        if let dropout = model.dropout, dropout > 0 { throw .unsupported(path: path, what: "BPE option dropout") }
        for token in addedTokens ?? [] {
            for (flag, set) in [("lstrip", token.lstrip), ("rstrip", token.rstrip), ("single_word", token.singleWord)] where set == true {
                throw .unsupported(path: path, what: "added token \(token.content.debugDescription) with \(flag)")
            }
        }
        if let truncation, truncation != .null { throw .unsupported(path: path, what: "truncation") }
        if let padding, padding != .null { throw .unsupported(path: path, what: "padding") }
    }

    func textNormalizer(path: String) throws(TokenizerError) -> TextNormalizer? {
        guard let normalizer, normalizer != .null else { return nil }
        let type = try Self.type(of: normalizer, field: "normalizer", path: path)
        switch type {
        case "NFC": return .nfc
        case "Sequence":
            guard case .object(let fields) = normalizer, case .array(let parts)? = fields["normalizers"] else {
                throw .malformed(path: path, reason: "normalizer Sequence has no normalizers array")
            }
            var found: TextNormalizer?
            for part in parts {
                let partType = try Self.type(of: part, field: "normalizer", path: path)
                guard partType == "NFC" else { throw .unsupported(path: path, what: "normalizer \(partType)") }
                found = .nfc
            }
            return found
        default: throw .unsupported(path: path, what: "normalizer \(type)")
        }
    }

    func preTokenizerSteps(path: String) throws(TokenizerError) -> PreTokenizer {
        guard let preTokenizer, preTokenizer != .null else { return .gpt2 }
        var steps: [PreTokenizer.Step] = []
        var byteLevel = false
        try Self.appendSteps(of: preTokenizer, to: &steps, byteLevel: &byteLevel, path: path)
        guard byteLevel else { throw .unsupported(path: path, what: "pre_tokenizer without ByteLevel") }
        return PreTokenizer(steps: steps)
    }

    private static func appendSteps(
        of value: JSONValue, to steps: inout [PreTokenizer.Step], byteLevel: inout Bool, path: String
    ) throws(TokenizerError) {
        let type = try Self.type(of: value, field: "pre_tokenizer", path: path)
        guard case .object(let fields) = value else { return }
        switch type {
        case "Sequence":
            guard case .array(let parts)? = fields["pretokenizers"] else {
                throw .malformed(path: path, reason: "pre_tokenizer Sequence has no pretokenizers array")
            }
            for part in parts { try appendSteps(of: part, to: &steps, byteLevel: &byteLevel, path: path) }
        case "ByteLevel":
            byteLevel = true
            if fields["add_prefix_space"] == .bool(true) { steps.append(.prefixSpace) }
            if fields["use_regex"] ?? .bool(true) != .bool(false) { steps.append(.gpt2Split) }
        case "Split":
            guard case .object(let pattern)? = fields["pattern"], pattern.count == 1 else {
                throw .malformed(path: path, reason: "pre_tokenizer Split has no pattern object")
            }
            let behavior = fields["behavior"] ?? .string("Isolated")
            guard behavior == .string("Isolated") else {
                let name = if case .string(let text) = behavior { text } else { behavior.typeName }
                throw .unsupported(path: path, what: "Split behavior \(name)")
            }
            if fields["invert"] == .bool(true) { throw .unsupported(path: path, what: "Split with invert") }
            switch pattern.first! {
            case ("Regex", .string(Llama3PreTokenizer.llama3Pattern)): steps.append(.llama3Split(digitsPerPiece: 3))
            case ("Regex", .string(Llama3PreTokenizer.qwen2Pattern)): steps.append(.llama3Split(digitsPerPiece: 1))
            case ("Regex", .string(GPT2PreTokenizer.pattern)): steps.append(.gpt2Split)
            case (let kind, .string(let text)): throw .unsupported(path: path, what: "Split pattern \(kind) \(text.debugDescription)")
            default: throw .malformed(path: path, reason: "pre_tokenizer Split pattern is not a string")
            }
        case "Digits":
            steps.append(.digits(individual: fields["individual_digits"] == .bool(true)))
        default:
            throw .unsupported(path: path, what: "pre_tokenizer \(type)")
        }
    }

    /// The special tokens TemplateProcessing puts before and after a single sequence
    /// (none when there is no such post-processor).
    func template(path: String) throws(TokenizerError) -> (before: [Int32], after: [Int32]) {
        guard let postProcessor, postProcessor != .null else { return ([], []) }
        var before: [Int32] = [], after: [Int32] = []
        try Self.readTemplate(postProcessor, before: &before, after: &after, path: path)
        return (before, after)
    }

    private static func readTemplate(_ value: JSONValue, before: inout [Int32], after: inout [Int32], path: String) throws(TokenizerError) {
        let type = try Self.type(of: value, field: "post_processor", path: path)
        guard case .object(let fields) = value else { return }
        switch type {
        case "ByteLevel": return  // offsets only
        case "Sequence":
            guard case .array(let parts)? = fields["processors"] else {
                throw .malformed(path: path, reason: "post_processor Sequence has no processors array")
            }
            for part in parts { try readTemplate(part, before: &before, after: &after, path: path) }
        case "TemplateProcessing":
            guard case .array(let single)? = fields["single"], case .object(let specials)? = fields["special_tokens"] else {
                throw .malformed(path: path, reason: "TemplateProcessing lacks single or special_tokens")
            }
            var seenSequence = false
            for item in single {
                guard case .object(let entry) = item, entry.count == 1, case .object(let body) = entry.first!.value,
                      case .string(let id)? = body["id"] else {
                    throw .malformed(path: path, reason: "TemplateProcessing single has an item that is not one piece")
                }
                switch entry.first!.key {
                case "Sequence":
                    guard id == "A", !seenSequence else {
                        throw .unsupported(path: path, what: "TemplateProcessing single sequence \(id)")
                    }
                    seenSequence = true
                case "SpecialToken":
                    guard case .object(let special)? = specials[id], case .array(let ids)? = special["ids"] else {
                        throw .malformed(path: path, reason: "TemplateProcessing special token \(id) has no ids")
                    }
                    for value in ids {
                        guard case .integer(let number) = value, let tokenID = Int32(exactly: number) else {
                            throw .malformed(path: path, reason: "TemplateProcessing special token \(id) has an id that is not an integer")
                        }
                        if seenSequence { after.append(tokenID) } else { before.append(tokenID) }
                    }
                default:
                    throw .malformed(path: path, reason: "TemplateProcessing single has a \(entry.first!.key) item")
                }
            }
        default:
            throw .unsupported(path: path, what: "post_processor \(type)")
        }
    }

    func checkDecoder(path: String) throws(TokenizerError) {
        guard let decoder, decoder != .null else { return }
        let type = try Self.type(of: decoder, field: "decoder", path: path)
        guard type == "ByteLevel" else { throw .unsupported(path: path, what: "decoder \(type)") }
    }

    /// The "type" of a component object.
    private static func type(of value: JSONValue, field: String, path: String) throws(TokenizerError) -> String {
        guard case .object(let fields) = value, case .string(let type)? = fields["type"] else {
            throw .malformed(path: path, reason: "\(field) is not an object with a type")
        }
        return type
    }
}
