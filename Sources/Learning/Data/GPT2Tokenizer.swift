// GPT2Tokenizer: byte-level byte-pair encoding, as GPT-2 made it and SmolLM, Llama 3
// and Qwen2 ship it.
//
// Text → split on added tokens (`<|endoftext|>`, `<|begin_of_text|>`, …) → the
// normalizer (none, or NFC) → PreTokenizer pieces (GPT-2's pattern by default; what a
// tokenizer.json declares otherwise) → the UTF-8 bytes of each piece → byte tokens →
// merges applied lowest rank first → ids. With ignore_merges (Llama 3), a piece that
// is itself in the vocabulary is that one token.
// The vocabulary files spell each token's bytes with GPT-2's printable byte↔unicode
// table (space is "Ġ", newline "Ċ"); internally tokens are byte strings and merges are
// pairs of ids, so the table is only needed while loading.

import Foundation

/// A tokenizer file could not be used.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    /// A file could not be read.
    case file(FileError)
    /// A file is not in the expected format.
    case malformed(path: String, reason: String)
    /// A file declares something this tokenizer does not do (a pre-tokenizer, a
    /// normalizer, an option), named in `what`.
    case unsupported(path: String, what: String)

    public var description: String {
        switch self {
        case .file(let error): return error.description
        case .malformed(let path, let reason): return "\(path): not a GPT-2 tokenizer file: \(reason)"
        case .unsupported(let path, let what): return "\(path): \(what) is not supported"
        }
    }
}

/// GPT-2 byte-level BPE, loaded from `vocab.json` + `merges.txt` or from a Hugging Face
/// `tokenizer.json`.
public final class GPT2Tokenizer: Tokenizer, @unchecked Sendable {
    /// The end-of-text marker of GPT-2.
    public static let endOfTextString = "<|endoftext|>"

    /// Bytes of every id (special tokens: their text); empty for unused ids.
    private let tokenBytes: [[UInt8]]
    /// Id of each single byte.
    private let byteTokens: [Int32]
    /// (left id, right id) → (rank, merged id).
    private let merges: [UInt64: (rank: Int32, merged: Int32)]
    /// Added tokens recognised in text, as scalars with their ids, by their first scalar,
    /// longest first (Llama 3 has 256, so each position looks only at its candidates).
    private let specialTokens: [Unicode.Scalar: [(scalars: [Unicode.Scalar], id: Int32)]]
    /// How text between added tokens is cut into pieces.
    public let preTokenizer: PreTokenizer
    /// What is done to text between added tokens first, if anything.
    public let normalizer: TextNormalizer?
    /// With ignore_merges: the id of every vocabulary token by its bytes.
    private let wholeTokens: [[UInt8]: Int32]?
    /// The ids the file's post-processor puts before and after a single text (Llama 3's
    /// `<|begin_of_text|>`); `encode` never adds them, `encode(_:addingSpecialTokens:)` does.
    public let specialTokensBefore: [Int32]
    public let specialTokensAfter: [Int32]

    public let vocabularySize: Int
    public let endOfTextToken: Int32?

    /// Encodings of recent pieces; guarded by `cacheLock` (encode may run on many threads).
    private var cache: [String: [Int32]] = [:]
    private let cacheLock = NSLock()
    private static let cacheLimit = 50_000

    // ----------------------------------------------------------------------------
    // Loading

    /// Loads `vocab.json` (token → id) and `merges.txt` (one "left right" pair per line,
    /// after an optional `#version` line). `<|endoftext|>`, if in the vocabulary, is special.
    public convenience init(vocabularyPath: String, mergesPath: String) throws(TokenizerError) {
        let vocabulary = try Self.readVocabulary(vocabularyPath)
        let text: String
        do { text = try FileSystem.readText(mergesPath) } catch { throw .file(error) }
        var pairs: [(String, String)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = line.hasSuffix("\r") ? line.dropLast() : line
            if line.isEmpty || (number == 0 && line.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw .malformed(path: mergesPath, reason: "line \(number + 1) is not two tokens separated by one space")
            }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        let specials = vocabulary[Self.endOfTextString].map { [(Self.endOfTextString, $0)] } ?? []
        try self.init(vocabulary: vocabulary, merges: pairs, specialTokens: specials, path: mergesPath)
    }

    /// Loads a Hugging Face `tokenizer.json` whose model is a byte-level BPE, with the
    /// normalizer, pre-tokenizer and post-processor it declares (TokenizerJSON says
    /// which are supported; any other is a `.unsupported` error naming it). Its added
    /// tokens are recognised in text.
    public convenience init(tokenizerJSONPath path: String) throws(TokenizerError) {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(path) } catch { throw .file(error) }
        let file: TokenizerJSON
        do { file = try JSONDecoder().decode(TokenizerJSON.self, from: Data(bytes)) } catch {
            throw .malformed(path: path, reason: describe(error))
        }
        if let type = file.model.type, type != "BPE" { throw .malformed(path: path, reason: "model type is \(type), not BPE") }
        var pairs: [(String, String)] = []
        for (index, merge) in file.model.merges.enumerated() {
            guard let pair = merge.pair else { throw .malformed(path: path, reason: "merge \(index) is not a pair of tokens") }
            pairs.append(pair)
        }
        try file.checkModelAndAddedTokens(path: path)
        try file.checkDecoder(path: path)
        let normalizer = try file.textNormalizer(path: path)
        let preTokenizer = try file.preTokenizerSteps(path: path)
        let template = try file.template(path: path)
        var vocabulary = file.model.vocab
        var added: [(String, Int32)] = []
        for token in file.addedTokens ?? [] {
            vocabulary[token.content] = token.id
            added.append((token.content, token.id))
        }
        try self.init(vocabulary: vocabulary, merges: pairs, specialTokens: added, preTokenizer: preTokenizer,
                      normalizer: normalizer, ignoreMerges: file.model.ignoreMerges ?? false,
                      specialTokensBefore: template.before, specialTokensAfter: template.after, path: path)
    }

    /// Builds the tokenizer from a vocabulary spelled with the byte↔unicode table, merges
    /// in rank order, and special (added) tokens spelled as plain text, recognised in text.
    public init(
        vocabulary: [String: Int32], merges pairs: [(String, String)], specialTokens specials: [(String, Int32)],
        preTokenizer: PreTokenizer = .gpt2, normalizer: TextNormalizer? = nil, ignoreMerges: Bool = false,
        specialTokensBefore: [Int32] = [], specialTokensAfter: [Int32] = [], path: String = "(memory)"
    ) throws(TokenizerError) {
        let specialIDs = Set(specials.map(\.1))
        let size = Int((vocabulary.values.max() ?? -1) + 1)
        guard size > 0 else { throw .malformed(path: path, reason: "the vocabulary is empty") }
        guard vocabulary.values.allSatisfy({ $0 >= 0 }) else { throw .malformed(path: path, reason: "the vocabulary has a negative id") }
        var tokenBytes = [[UInt8]](repeating: [], count: size)
        var idOfBytes: [[UInt8]: Int32] = [:]
        for (text, id) in vocabulary {
            if specialIDs.contains(id) {
                tokenBytes[Int(id)] = Array(text.utf8)
                continue
            }
            guard let bytes = Self.bytes(ofVocabularyToken: text) else {
                throw .malformed(path: path, reason: "token \(text.debugDescription) has a character outside the byte table")
            }
            tokenBytes[Int(id)] = bytes
            idOfBytes[bytes] = id
        }
        var byteTokens = [Int32](repeating: 0, count: 256)
        for byte in 0..<256 {
            guard let id = idOfBytes[[UInt8(byte)]] else {
                throw .malformed(path: path, reason: "the vocabulary lacks the token of byte \(byte)")
            }
            byteTokens[byte] = id
        }
        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        merges.reserveCapacity(pairs.count)
        for (rank, (left, right)) in pairs.enumerated() {
            guard let leftID = vocabulary[left], let rightID = vocabulary[right], let merged = vocabulary[left + right] else {
                throw .malformed(path: path, reason: "merge \(rank + 1) (\(left) \(right)) uses tokens not in the vocabulary")
            }
            let key = Self.pairKey(leftID, rightID)
            if merges[key] == nil { merges[key] = (Int32(rank), merged) }
        }
        self.tokenBytes = tokenBytes
        self.byteTokens = byteTokens
        self.merges = merges
        let added = specials.map { (scalars: Array($0.0.unicodeScalars), id: $0.1) }.filter { !$0.scalars.isEmpty }
        self.specialTokens = Dictionary(grouping: added, by: { $0.scalars[0] })
            .mapValues { $0.sorted { $0.scalars.count > $1.scalars.count } }
        self.preTokenizer = preTokenizer
        self.normalizer = normalizer
        self.wholeTokens = ignoreMerges ? idOfBytes : nil
        for id in specialTokensBefore + specialTokensAfter where !(0..<Int32(size)).contains(id) {
            throw .malformed(path: path, reason: "the post-processor's token \(id) is not in the vocabulary")
        }
        self.specialTokensBefore = specialTokensBefore
        self.specialTokensAfter = specialTokensAfter
        self.vocabularySize = size
        self.endOfTextToken = specials.first { $0.0 == Self.endOfTextString }?.1 ?? vocabulary[Self.endOfTextString]
    }

    private static func readVocabulary(_ path: String) throws(TokenizerError) -> [String: Int32] {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(path) } catch { throw .file(error) }
        do { return try JSONDecoder().decode([String: Int32].self, from: Data(bytes)) } catch {
            throw .malformed(path: path, reason: "expected an object of token → id: \(describe(error))")
        }
    }

    // ----------------------------------------------------------------------------
    // The byte↔unicode table

    /// GPT-2's table: printable Latin-1 bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for
    /// themselves; the other 68 bytes map, in order, to U+0100 upwards.
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte) {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The inverse of `byteToScalar`.
    static let scalarToByte: [UInt32: UInt8] = {
        var inverse: [UInt32: UInt8] = [:]
        for (byte, scalar) in byteToScalar.enumerated() { inverse[scalar.value] = UInt8(byte) }
        return inverse
    }()

    /// The bytes a vocabulary token spells, or nil if it uses a character outside the table.
    static func bytes(ofVocabularyToken text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            guard let byte = scalarToByte[scalar.value] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    private static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    // ----------------------------------------------------------------------------
    // Encoding and decoding

    public func encode(_ text: String) -> [Int32] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int32] = []
        var segmentStart = 0
        var i = 0
        while i < scalars.count {
            if let special = specialToken(in: scalars, at: i) {
                encodeOrdinary(scalars[segmentStart..<i], into: &ids)
                ids.append(special.id)
                i += special.length
                segmentStart = i
            } else {
                i += 1
            }
        }
        encodeOrdinary(scalars[segmentStart..<scalars.count], into: &ids)
        return ids
    }

    /// The ids of `text`, with the post-processor's special tokens around them when
    /// `addingSpecialTokens` (as `tokenizers` encodes with add_special_tokens).
    public func encode(_ text: String, addingSpecialTokens: Bool) -> [Int32] {
        addingSpecialTokens ? specialTokensBefore + encode(text) + specialTokensAfter : encode(text)
    }

    public func decode(_ tokens: [Int32]) -> String {
        var bytes: [UInt8] = []
        for token in tokens {
            if token >= 0 && Int(token) < tokenBytes.count && !tokenBytes[Int(token)].isEmpty {
                bytes += tokenBytes[Int(token)]
            } else {
                bytes += [0xEF, 0xBF, 0xBD]
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The special token that starts at `i`, if any (the longest one).
    private func specialToken(in scalars: [Unicode.Scalar], at i: Int) -> (id: Int32, length: Int)? {
        for special in specialTokens[scalars[i]] ?? [] where i + special.scalars.count <= scalars.count {
            if scalars[i..<(i + special.scalars.count)].elementsEqual(special.scalars) {
                return (special.id, special.scalars.count)
            }
        }
        return nil
    }

    private func encodeOrdinary(_ scalars: ArraySlice<Unicode.Scalar>, into ids: inout [Int32]) {
        guard !scalars.isEmpty else { return }
        var segment = Array(scalars)
        if let normalizer {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: segment)
            segment = Array(normalizer.apply(String(view)).unicodeScalars)
        }
        for scalars in preTokenizer.pieces(of: segment) {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars)
            let piece = String(view)
            cacheLock.lock()
            let cached = cache[piece]
            cacheLock.unlock()
            if let cached {
                ids += cached
                continue
            }
            let bytes = Array(piece.utf8)
            let encoded = wholeTokens?[bytes].map { [$0] } ?? bytePairEncode(bytes)
            cacheLock.lock()
            if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[piece] = encoded
            cacheLock.unlock()
            ids += encoded
        }
    }

    /// Merges the byte tokens of one piece: repeatedly the adjacent pair of lowest rank,
    /// leftmost first, until no pair has a merge. Symbols form a linked list and the
    /// candidate pairs a min-heap keyed by (rank, position), so a piece of n bytes costs
    /// O(n log n) rather than the O(n²) of rescanning (`bytePairEncodeByScanning`, kept as
    /// the reference the tests compare against). The two agree whenever every merge
    /// ranks after the merges that make its two parts, which holds for trained lists.
    func bytePairEncode(_ bytes: [UInt8]) -> [Int32] {
        let n = bytes.count
        if n < 2 { return bytes.map { byteTokens[Int($0)] } }
        var ids = bytes.map { byteTokens[Int($0)] }
        var next = Array(1...n)  // n means "none"
        next[n - 1] = -1
        var previous = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()
        func push(_ left: Int) {
            let right = next[left]
            if right >= 0, let merge = merges[Self.pairKey(ids[left], ids[right])] {
                heap.push(UInt64(UInt32(merge.rank)) << 32 | UInt64(left))
            }
        }
        for k in 0..<(n - 1) { push(k) }
        while let top = heap.pop() {
            let rank = Int32(truncatingIfNeeded: top >> 32)
            let left = Int(top & 0xFFFF_FFFF)
            let right = next[left]
            // Skip entries made stale by an earlier merge.
            guard alive[left], right >= 0, let merge = merges[Self.pairKey(ids[left], ids[right])], merge.rank == rank else { continue }
            ids[left] = merge.merged
            alive[right] = false
            next[left] = next[right]
            if next[right] >= 0 { previous[next[right]] = left }
            if previous[left] >= 0 { push(previous[left]) }
            push(left)
        }
        var out: [Int32] = []
        var k = 0
        while k >= 0 {
            out.append(ids[k])
            k = next[k]
        }
        return out
    }

    /// The textbook form of `bytePairEncode`: rescan for the lowest-rank pair, merge
    /// every occurrence left to right, repeat. Quadratic; the tests' reference.
    func bytePairEncodeByScanning(_ bytes: [UInt8]) -> [Int32] {
        var word = bytes.map { byteTokens[Int($0)] }
        while word.count >= 2 {
            var best: (rank: Int32, merged: Int32)?
            var bestPair: UInt64 = 0
            for k in 0..<(word.count - 1) {
                let key = Self.pairKey(word[k], word[k + 1])
                if let merge = merges[key], best == nil || merge.rank < best!.rank {
                    best = merge
                    bestPair = key
                }
            }
            guard let best else { break }
            var merged: [Int32] = []
            merged.reserveCapacity(word.count)
            var k = 0
            while k < word.count {
                if k + 1 < word.count && Self.pairKey(word[k], word[k + 1]) == bestPair {
                    merged.append(best.merged)
                    k += 2
                } else {
                    merged.append(word[k])
                    k += 1
                }
            }
            word = merged
        }
        return word
    }
}

/// A binary min-heap of packed (rank, position) keys.
private struct MinHeap {
    private var items: [UInt64] = []

    mutating func push(_ item: UInt64) {
        items.append(item)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if items[parent] <= items[child] { break }
            items.swapAt(parent, child)
            child = parent
        }
    }

    mutating func pop() -> UInt64? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < items.count && items[left] < items[smallest] { smallest = left }
                if right < items.count && items[right] < items[smallest] { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}
