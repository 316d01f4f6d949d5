// TextNormalizer: what a tokenizer.json's `normalizer` does to text before it is cut
// into pieces. Qwen2 declares NFC; Llama 3 and SmolLM declare none.

import Foundation

/// A normalization of text ahead of pre-tokenization.
public enum TextNormalizer: Equatable, Sendable {
    /// Unicode canonical composition (`"e\u{301}"` → `"é"`), through Foundation.
    case nfc

    func apply(_ text: String) -> String {
        switch self {
        case .nfc: text.precomposedStringWithCanonicalMapping
        }
    }
}
