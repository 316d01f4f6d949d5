// GPT2PreTokenizer: the split of text into words before byte-pair merging, by hand.
//
// GPT-2 splits with the regular expression
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// whose alternatives are tried in order at each position (leftmost, first alternative
// that matches wins, each quantifier greedy with backtracking). This file follows those
// semantics over Unicode scalars, as Python's `regex` and the Rust `tokenizers` do:
// \p{L} and \p{N} are the general categories L* and N*, \s is the White_Space property,
// and the optional leading space is U+0020 only. The lookahead `\s+(?!\S)` takes a run
// of whitespace but leaves its last character to the next word when a non-space follows
// ("a   b" → "a", "  ", " b"); at the end of the text it takes the whole run.

/// Splits text into GPT-2 pre-tokens.
public enum GPT2PreTokenizer {
    /// GPT-2's pattern, as a tokenizer.json `Split` spells it.
    public static let pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// The class of a scalar as the pattern sees it.
    enum Kind: Equatable {
        case letter, number, space, other
    }

    static func kind(of scalar: Unicode.Scalar) -> Kind {
        let properties = scalar.properties
        if properties.isWhitespace { return .space }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    /// The pieces of `text`, in order; they concatenate back to `text`.
    public static func split(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        return ranges(of: scalars).map { range in
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: scalars[range])
            return String(piece)
        }
    }

    /// The ranges of the pieces of `scalars`, in order, covering every scalar.
    static func ranges(of scalars: [Unicode.Scalar]) -> [Range<Int>] {
        let kinds = scalars.map(kind(of:))
        var pieces: [Range<Int>] = []
        var i = 0
        let n = scalars.count
        while i < n {
            let end = matchEnd(scalars, kinds, at: i)
            pieces.append(i..<end)
            i = end
        }
        return pieces
    }

    /// The end of the match of the pattern starting at `i` (always past `i`).
    private static func matchEnd(_ s: [Unicode.Scalar], _ kinds: [Kind], at i: Int) -> Int {
        let n = s.count
        // 's|'t|'re|'ve|'m|'ll|'d (case-sensitive, as in GPT-2)
        if s[i] == "'" && i + 1 < n {
            switch s[i + 1] {
            case "s", "t", "m", "d": return i + 2
            case "r", "v":
                if i + 2 < n && s[i + 2] == "e" { return i + 3 }
            case "l":
                if i + 2 < n && s[i + 2] == "l" { return i + 3 }
            default: break
            }
        }
        // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+'
        let start = (s[i] == " " && i + 1 < n) ? i + 1 : i
        let first = kinds[start]
        if first != .space {
            var end = start + 1
            while end < n && kinds[end] == first { end += 1 }
            return end
        }
        // '\s+(?!\S)': the whitespace run, less its last scalar when a non-space follows.
        var end = i
        while end < n && kinds[end] == .space { end += 1 }
        if end == n { return end }
        if end - i >= 2 { return end - 1 }
        // '\s+' : a single whitespace scalar before a non-space.
        return end
    }
}
