// PreTokenizer: the steps that cut text into the pieces a byte-level BPE merges within,
// as a tokenizer.json declares them in `pre_tokenizer`.
//
// Each step cuts every piece it is given, in order, as `tokenizers` runs a `Sequence`:
//   ByteLevel  — add_prefix_space puts " " before each piece that lacks one; use_regex
//                cuts with GPT-2's pattern (GPT2PreTokenizer). The byte→character table
//                of ByteLevel is implicit: this tokenizer works on bytes throughout.
//   Split      — Llama 3's or Qwen2's pattern (Llama3PreTokenizer) or GPT-2's, with the
//                Isolated behaviour, recognised by their exact text.
//   Digits     — each digit apart (individual_digits) or each run of digits apart.
// Anything else is refused by TokenizerJSON with its name.

/// The pre-tokenization of a byte-level BPE: steps applied one after another.
public struct PreTokenizer: Equatable, Sendable {
    /// One step, applied to every piece the previous steps made.
    public enum Step: Equatable, Sendable {
        /// ByteLevel's add_prefix_space: " " before every piece that does not start with one.
        case prefixSpace
        /// GPT-2's pattern (ByteLevel's use_regex, or a Split with that pattern).
        case gpt2Split
        /// Llama 3's pattern (3 digits per piece) or Qwen2's (1).
        case llama3Split(digitsPerPiece: Int)
        /// Digits: every digit alone, or every run of digits.
        case digits(individual: Bool)
    }

    public var steps: [Step]

    public init(steps: [Step]) { self.steps = steps }

    /// GPT-2's: ByteLevel with use_regex and no prefix space.
    public static let gpt2 = PreTokenizer(steps: [.gpt2Split])
    /// Llama 3's: its Split, then ByteLevel without regex.
    public static let llama3 = PreTokenizer(steps: [.llama3Split(digitsPerPiece: 3)])

    /// The pieces of `scalars`, in order.
    func pieces(of scalars: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var pieces = scalars.isEmpty ? [] : [scalars]
        for step in steps {
            var next: [[Unicode.Scalar]] = []
            next.reserveCapacity(pieces.count)
            for piece in pieces {
                switch step {
                case .prefixSpace:
                    next.append(piece.first == " " ? piece : [" "] + piece)
                case .gpt2Split:
                    for range in GPT2PreTokenizer.ranges(of: piece) { next.append(Array(piece[range])) }
                case .llama3Split(let digits):
                    for range in Llama3PreTokenizer.ranges(of: piece, digitsPerPiece: digits) { next.append(Array(piece[range])) }
                case .digits(let individual):
                    for range in Self.digitRanges(of: piece, individual: individual) { next.append(Array(piece[range])) }
                }
            }
            pieces = next
        }
        return pieces
    }

    /// Digits apart from what surrounds them: one piece per digit, or per run of digits.
    static func digitRanges(of scalars: [Unicode.Scalar], individual: Bool) -> [Range<Int>] {
        let isDigit = scalars.map { GPT2PreTokenizer.kind(of: $0) == .number }
        var ranges: [Range<Int>] = []
        var i = 0
        while i < scalars.count {
            var end = i + 1
            if isDigit[i] {
                if !individual { while end < scalars.count && isDigit[end] { end += 1 } }
            } else {
                while end < scalars.count && !isDigit[end] { end += 1 }
            }
            ranges.append(i..<end)
            i = end
        }
        return ranges
    }
}
