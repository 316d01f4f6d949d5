// Tokenizer: text to token ids and back, the interface every model input goes through.

/// Turns text into token ids and ids back into text.
public protocol Tokenizer: Sendable {
    /// Number of token ids; every id is in `0..<vocabularySize`.
    var vocabularySize: Int { get }
    /// The id of the end-of-text token, if the vocabulary has one.
    var endOfTextToken: Int32? { get }
    /// The ids of `text`.
    func encode(_ text: String) -> [Int32]
    /// The text of `tokens`. Ids outside the vocabulary and byte sequences that are not
    /// valid UTF-8 become U+FFFD.
    func decode(_ tokens: [Int32]) -> String
}

/// Bytes as tokens: the UTF-8 bytes of the text, vocabulary 256, no special tokens.
/// Serves tiny models and tests, where a real vocabulary would dominate the parameters.
public struct ByteTokenizer: Tokenizer {
    public init() {}

    public var vocabularySize: Int { 256 }
    public var endOfTextToken: Int32? { nil }

    public func encode(_ text: String) -> [Int32] { text.utf8.map { Int32($0) } }

    public func decode(_ tokens: [Int32]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(tokens.count)
        for token in tokens {
            if (0..<256).contains(token) {
                bytes.append(UInt8(token))
            } else {
                bytes += [0xEF, 0xBF, 0xBD]  // U+FFFD
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
