// A tokenizer.json as Llama 3, Qwen2 and SmolLM ship it, against the ids of the Rust
// `tokenizers` library (tools/fixtures/make_llama3_bpe.py), and the refusal of what the
// loader does not support.

import Foundation
import Testing

@testable import Learning

@Suite struct LlamaTokenizerTests {
    struct Case {
        var text: String
        var ids: [Int32]
        var idsWithSpecialTokens: [Int32]
        var pieces: [String]
    }

    static func reference() throws -> [String: Any] { try Fixture.json("llama3-bpe/reference_ids.json") as! [String: Any] }

    static func cases() throws -> [Case] {
        (try reference()["cases"] as! [[String: Any]]).map {
            Case(text: $0["text"] as! String, ids: ($0["ids"] as! [Int]).map(Int32.init),
                 idsWithSpecialTokens: ($0["ids_with_special_tokens"] as! [Int]).map(Int32.init), pieces: $0["pieces"] as! [String])
        }
    }

    static func tokenizer() throws -> GPT2Tokenizer { try GPT2Tokenizer(tokenizerJSONPath: Fixture.path("llama3-bpe/tokenizer.json")) }

    /// The fixture's tokenizer.json with `change` applied to its top-level object, written
    /// to a temporary file and loaded.
    static func loadChanged(_ change: (inout [String: Any]) -> Void) throws -> GPT2Tokenizer {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var document = try Fixture.json("llama3-bpe/tokenizer.json") as! [String: Any]
        change(&document)
        let path = folder.file("tokenizer.json")
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: document)), to: path)
        return try GPT2Tokenizer(tokenizerJSONPath: path)
    }

    /// The error loading the fixture's tokenizer.json with `change` applied, at the path it names.
    static func errorLoadingChanged(_ change: (inout [String: Any]) -> Void) throws -> TokenizerError? {
        do {
            _ = try loadChanged(change)
            return nil
        } catch let error as TokenizerError {
            guard case .unsupported(_, let what) = error else { return error }
            return .unsupported(path: "tokenizer.json", what: what)
        }
    }

    @Test func splitMatchesTheLlama3PatternAsTokenizersRunsIt() throws {
        let specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                        "<|im_start|>", "<|im_end|>"]
        for entry in try Self.cases() {
            var segments = [entry.text]
            for special in specials { segments = segments.flatMap { $0.components(separatedBy: special) } }
            #expect(segments.flatMap { Llama3PreTokenizer.split($0) } == entry.pieces, "\(entry.text.debugDescription)")
        }
    }

    @Test func splitByHand() {
        #expect(Llama3PreTokenizer.split("Hello world") == ["Hello", " world"])
        #expect(Llama3PreTokenizer.split("1234567") == ["123", "456", "7"])
        #expect(Llama3PreTokenizer.split("1234567", digitsPerPiece: 1) == ["1", "2", "3", "4", "5", "6", "7"])
        #expect(Llama3PreTokenizer.split("IT'S we'Re") == ["IT", "'S", " we", "'Re"])
        #expect(Llama3PreTokenizer.split("$x\tyz") == ["$x", "\tyz"])
        #expect(Llama3PreTokenizer.split("a!!\n\nb") == ["a", "!!\n\n", "b"])
        #expect(Llama3PreTokenizer.split("a \n \n  b") == ["a", " \n \n", " ", " b"])
        #expect(Llama3PreTokenizer.split("a   b") == ["a", "  ", " b"])
        #expect(Llama3PreTokenizer.split("") == [])
    }

    @Test func idsMatchTokenizersOnTheTrickyStrings() throws {
        let tokenizer = try Self.tokenizer()
        for entry in try Self.cases() {
            #expect(tokenizer.encode(entry.text) == entry.ids, "\(entry.text.debugDescription)")
        }
    }

    @Test func thePostProcessorsSpecialTokensAreAddedOnlyWhenAsked() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.specialTokensBefore == [0])  // <|begin_of_text|>
        #expect(tokenizer.specialTokensAfter == [])
        for entry in try Self.cases() {
            #expect(tokenizer.encode(entry.text, addingSpecialTokens: true) == entry.idsWithSpecialTokens, "\(entry.text.debugDescription)")
        }
    }

    @Test func decodeInvertsEncode() throws {
        let tokenizer = try Self.tokenizer()
        for entry in try Self.cases() {
            #expect(tokenizer.decode(entry.ids) == entry.text, "\(entry.text.debugDescription)")
        }
        let reference = try Self.reference()
        #expect(tokenizer.vocabularySize == reference["vocabulary_size"] as! Int)
    }

    @Test func otherDeclaredPipelinesMatchTokenizers() throws {
        let reference = try Self.reference()
        let texts = (reference["cases"] as! [[String: Any]]).map { $0["text"] as! String }
        for variant in reference["variants"] as! [[String: Any]] {
            let tokenizer = try Self.loadChanged {
                $0["pre_tokenizer"] = variant["pre_tokenizer"]
                $0["normalizer"] = variant["normalizer"]
            }
            let expected = (variant["ids"] as! [[Int]]).map { $0.map(Int32.init) }
            let name = variant["name"] as! String
            for (text, ids) in zip(texts, expected) {
                #expect(tokenizer.encode(text) == ids, "\(name): \(text.debugDescription)")
            }
        }
    }

    @Test func theDeclaredPipelineIsRead() throws {
        let tokenizer = try Self.tokenizer()
        #expect(tokenizer.preTokenizer == .llama3)
        #expect(tokenizer.normalizer == nil)
        let qwen2 = try Self.loadChanged {
            $0["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"]]]
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": Llama3PreTokenizer.qwen2Pattern], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "use_regex": false],
            ]]
        }
        #expect(qwen2.preTokenizer == PreTokenizer(steps: [.llama3Split(digitsPerPiece: 1)]))
        #expect(qwen2.normalizer == .nfc)
        #expect(qwen2.encode("e\u{301}") == qwen2.encode("\u{E9}"))
        let prefixed = try Self.loadChanged {
            $0["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": true, "use_regex": true]
        }
        #expect(prefixed.preTokenizer == PreTokenizer(steps: [.prefixSpace, .gpt2Split]))
    }

    @Test func ignoreMergesTakesAPieceInTheVocabularyWhole() throws {
        // "abc" is a token, but the only merge makes "ab": BPE gives [ab, c], ignore_merges [abc].
        var vocabulary: [String: Int32] = [:]
        for (byte, scalar) in GPT2Tokenizer.byteToScalar.enumerated() { vocabulary[String(scalar)] = Int32(byte) }
        vocabulary["ab"] = 256
        vocabulary["abc"] = 257
        let merging = try GPT2Tokenizer(vocabulary: vocabulary, merges: [("a", "b")], specialTokens: [])
        let ignoring = try GPT2Tokenizer(vocabulary: vocabulary, merges: [("a", "b")], specialTokens: [], ignoreMerges: true)
        #expect(merging.encode("abc abc") == [256, 99, 32, 256, 99])
        #expect(ignoring.encode("abc abc") == [257, 32, 256, 99])  // " abc" is not a token, so it merges
    }

    @Test func addedTokensThatAreNotSpecialAreRecognisedToo() throws {
        let tokenizer = try Self.loadChanged {
            var added = $0["added_tokens"] as! [[String: Any]]
            added.append(["id": 600, "content": "zyx", "special": false, "single_word": false, "lstrip": false, "rstrip": false,
                          "normalized": true])
            $0["added_tokens"] = added
        }
        #expect(tokenizer.encode("azyxb").count == 3)
        #expect(tokenizer.encode("azyxb")[1] == 600)
        #expect(tokenizer.vocabularySize == 601)
    }

    @Test func unsupportedComponentsAreRefusedByName() throws {
        func refused(_ what: String, _ change: (inout [String: Any]) -> Void) throws {
            #expect(try Self.errorLoadingChanged(change) == .unsupported(path: "tokenizer.json", what: what))
        }
        try refused("pre_tokenizer Metaspace") { $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "▁", "prepend_scheme": "always"] }
        try refused("pre_tokenizer Whitespace") {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "Whitespace"], ["type": "ByteLevel"]]]
        }
        try refused("pre_tokenizer without ByteLevel") { $0["pre_tokenizer"] = ["type": "Digits", "individual_digits": true] }
        try refused(#"Split pattern Regex "\\s+""#) {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": #"\s+"#], "behavior": "Isolated", "invert": false], ["type": "ByteLevel"],
            ]]
        }
        try refused(#"Split pattern String " ""#) {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["String": " "], "behavior": "Isolated", "invert": false], ["type": "ByteLevel"],
            ]]
        }
        try refused("Split behavior MergedWithPrevious") {
            $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": Llama3PreTokenizer.llama3Pattern], "behavior": "MergedWithPrevious",
                 "invert": false], ["type": "ByteLevel"],
            ]]
        }
        try refused("normalizer NFKC") { $0["normalizer"] = ["type": "NFKC"] }
        try refused("normalizer Lowercase") {
            $0["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "Lowercase"]]]
        }
        try refused("post_processor RobertaProcessing") {
            $0["post_processor"] = ["type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0]]
        }
        try refused("decoder Metaspace") { $0["decoder"] = ["type": "Metaspace"] }
        try refused("BPE option byte_fallback") {
            var model = $0["model"] as! [String: Any]
            model["byte_fallback"] = true
            $0["model"] = model
        }
        try refused("BPE option continuing_subword_prefix") {
            var model = $0["model"] as! [String: Any]
            model["continuing_subword_prefix"] = "##"
            $0["model"] = model
        }
        try refused(#"added token "<|eot_id|>" with lstrip"#) {
            $0["added_tokens"] = ($0["added_tokens"] as! [[String: Any]]).map {
                var token = $0
                if token["content"] as! String == "<|eot_id|>" { token["lstrip"] = true }
                return token
            }
        }
        try refused("truncation") { $0["truncation"] = ["max_length": 8, "strategy": "LongestFirst", "stride": 0] }
    }

    @Test func theErrorNamesTheFileAndTheComponent() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var document = try Fixture.json("llama3-bpe/tokenizer.json") as! [String: Any]
        document["normalizer"] = ["type": "NFKC"]
        let path = folder.file("tokenizer.json")
        try FileSystem.writeAtomically(Array(try JSONSerialization.data(withJSONObject: document)), to: path)
        let error = #expect(throws: TokenizerError.self) { try GPT2Tokenizer(tokenizerJSONPath: path) }
        #expect(error == .unsupported(path: path, what: "normalizer NFKC"))
        #expect(error?.description == "\(path): normalizer NFKC is not supported")
    }
}
