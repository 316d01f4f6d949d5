// Llama3PreTokenizer: the split of text into words of Llama 3 (and Qwen2), by hand.
//
// Llama 3 declares, as a `Split` pre-tokenizer of its tokenizer.json, the pattern
//     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
// and Qwen2 the same with \p{N} for \p{N}{1,3}. As GPT2PreTokenizer does for GPT-2's
// pattern, this file follows its semantics over Unicode scalars, the way the Oniguruma
// engine inside `tokenizers` runs it: at each position the first alternative that
// matches wins, quantifiers greedy with backtracking. The classes are GPT2PreTokenizer's
// (\p{L}, \p{N} general categories, \s the White_Space property). Compared with GPT-2:
// contractions ignore case (Oniguruma folds case, so 'ſ counts as 's); a letter run may
// take one leading non-letter, non-digit, non-newline scalar of any kind (" word",
// "\tword", "$word"); digits come in runs of at most three; a punctuation run keeps the
// newlines that follow it; and a whitespace run that holds a newline ends after its last
// newline.

/// Splits text into Llama 3 (or, with `digitsPerPiece` 1, Qwen2) pre-tokens.
public enum Llama3PreTokenizer {
    /// Llama 3's pattern, as its tokenizer.json spells it.
    public static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Qwen2's pattern: Llama 3's with single digits.
    public static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The pieces of `text`, in order; they concatenate back to `text`.
    public static func split(_ text: String, digitsPerPiece: Int = 3) -> [String] {
        let scalars = Array(text.unicodeScalars)
        return ranges(of: scalars, digitsPerPiece: digitsPerPiece).map { range in
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: scalars[range])
            return String(piece)
        }
    }

    /// The ranges of the pieces of `scalars`, in order, covering every scalar.
    static func ranges(of scalars: some RandomAccessCollection<Unicode.Scalar>, digitsPerPiece: Int) -> [Range<Int>] {
        let s = Array(scalars)
        let kinds = s.map(GPT2PreTokenizer.kind(of:))
        var pieces: [Range<Int>] = []
        var i = 0
        while i < s.count {
            let end = matchEnd(s, kinds, at: i, digitsPerPiece: digitsPerPiece)
            pieces.append(i..<end)
            i = end
        }
        return pieces
    }

    private static func isNewline(_ scalar: Unicode.Scalar) -> Bool { scalar == "\r" || scalar == "\n" }

    /// The scalar as case-insensitive matching of the contractions sees it.
    private static func folded(_ scalar: Unicode.Scalar) -> Unicode.Scalar {
        if scalar == "\u{17F}" { return "s" }  // ſ, LATIN SMALL LETTER LONG S, folds to s
        if ("A"..."Z").contains(scalar) { return Unicode.Scalar(scalar.value + 32)! }
        return scalar
    }

    /// The end of the match of the pattern starting at `i` (always past `i`).
    private static func matchEnd(_ s: [Unicode.Scalar], _ kinds: [GPT2PreTokenizer.Kind], at i: Int, digitsPerPiece: Int) -> Int {
        let n = s.count
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if s[i] == "'" && i + 1 < n {
            switch folded(s[i + 1]) {
            case "s", "t", "m", "d": return i + 2
            case "r", "v":
                if i + 2 < n && folded(s[i + 2]) == "e" { return i + 3 }
            case "l":
                if i + 2 < n && folded(s[i + 2]) == "l" { return i + 3 }
            default: break
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        var start = i
        if kinds[i] != .letter && kinds[i] != .number && !isNewline(s[i]) && i + 1 < n && kinds[i + 1] == .letter { start = i + 1 }
        if kinds[start] == .letter {
            var end = start + 1
            while end < n && kinds[end] == .letter { end += 1 }
            return end
        }
        // \p{N}{1,3}
        if kinds[i] == .number {
            var end = i + 1
            while end < n && end - i < digitsPerPiece && kinds[end] == .number { end += 1 }
            return end
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        start = (s[i] == " " && i + 1 < n && kinds[i + 1] == .other) ? i + 1 : i
        if kinds[start] == .other {
            var end = start + 1
            while end < n && kinds[end] == .other { end += 1 }
            while end < n && isNewline(s[end]) { end += 1 }
            return end
        }
        // Whitespace from here on. \s*[\r\n]+: the run up to and including its last newline.
        var end = i
        while end < n && kinds[end] == .space { end += 1 }
        if let last = (i..<end).last(where: { isNewline(s[$0]) }) { return last + 1 }
        // \s+(?!\S): the run, less its last scalar when a non-space follows; \s+ otherwise.
        if end == n { return end }
        if end - i >= 2 { return end - 1 }
        return end
    }
}
