import Foundation
import Testing

@testable import Learning

@Suite struct ByteTokenizerTests {
    @Test func encodesUTF8BytesAndDecodesThemBack() {
        let tokenizer = ByteTokenizer()
        #expect(tokenizer.encode("aé") == [0x61, 0xC3, 0xA9])
        #expect(tokenizer.vocabularySize == 256)
        #expect(tokenizer.endOfTextToken == nil)
        var generator = SeededGenerator(seed: 5)
        for _ in 0..<500 {
            // Random scalars from every plane, surrogates excluded.
            var text = String.UnicodeScalarView()
            for _ in 0..<generator.uniform(below: 20) {
                var value = UInt32(generator.uniform(below: 0x11_0000))
                if (0xD800...0xDFFF).contains(value) { value = 0x41 }
                text.append(Unicode.Scalar(value)!)
            }
            let string = String(text)
            let ids = tokenizer.encode(string)
            #expect(ids.count == string.utf8.count)
            #expect(tokenizer.decode(ids) == string)
        }
    }

    @Test func invalidIdsAndBrokenUTF8DecodeToReplacementCharacters() {
        let tokenizer = ByteTokenizer()
        #expect(tokenizer.decode([0x61, 300, -1]) == "a\u{FFFD}\u{FFFD}")
        #expect(tokenizer.decode([0xC3]) == "\u{FFFD}")
    }
}

@Suite struct GPT2PreTokenizerTests {
    @Test func splitsLikeTheRegularExpression() {
        #expect(GPT2PreTokenizer.split("Hello world") == ["Hello", " world"])
        #expect(GPT2PreTokenizer.split("a   b") == ["a", "  ", " b"])
        #expect(GPT2PreTokenizer.split("a  ") == ["a", "  "])
        #expect(GPT2PreTokenizer.split("x\n\ny") == ["x", "\n", "\n", "y"])
        #expect(GPT2PreTokenizer.split("it's I'M") == ["it", "'s", " I", "'", "M"])
        #expect(GPT2PreTokenizer.split("3.14 ab12") == ["3", ".", "14", " ab", "12"])
        #expect(GPT2PreTokenizer.split(" !!? ") == [" !!?", " "])
        #expect(GPT2PreTokenizer.split("") == [])
    }

    @Test func matchesThePythonRegexPiecesOfTheFixture() throws {
        let reference = try Fixture.json("bpe/reference_ids.json") as! [String: Any]
        for case let entry as [String: Any] in reference["cases"] as! [Any] {
            let text = entry["text"] as! String
            let pieces = text.components(separatedBy: GPT2Tokenizer.endOfTextString).flatMap(GPT2PreTokenizer.split)
            #expect(pieces == entry["pieces"] as! [String], "\(text.debugDescription)")
        }
    }
}

@Suite struct GPT2TokenizerTests {
    static func fromVocabularyAndMerges() throws -> GPT2Tokenizer {
        try GPT2Tokenizer(vocabularyPath: Fixture.path("bpe/vocab.json"), mergesPath: Fixture.path("bpe/merges.txt"))
    }

    static func fromTokenizerJSON() throws -> GPT2Tokenizer {
        try GPT2Tokenizer(tokenizerJSONPath: Fixture.path("bpe/tokenizer.json"))
    }

    static func referenceCases() throws -> [(text: String, ids: [Int32])] {
        let reference = try Fixture.json("bpe/reference_ids.json") as! [String: Any]
        return (reference["cases"] as! [[String: Any]]).map { ($0["text"] as! String, ($0["ids"] as! [Int]).map(Int32.init)) }
    }

    @Test func vocabularyAndMergesGiveTheReferenceIds() throws {
        let tokenizer = try Self.fromVocabularyAndMerges()
        for (text, ids) in try Self.referenceCases() {
            #expect(tokenizer.encode(text) == ids, "\(text.debugDescription)")
        }
    }

    @Test func tokenizerJSONGivesTheReferenceIds() throws {
        let tokenizer = try Self.fromTokenizerJSON()
        for (text, ids) in try Self.referenceCases() {
            #expect(tokenizer.encode(text) == ids, "\(text.debugDescription)")
        }
    }

    @Test func bothLoadingPathsAgreeOnSizeAndEndOfText() throws {
        let a = try Self.fromVocabularyAndMerges()
        let b = try Self.fromTokenizerJSON()
        let reference = try Fixture.json("bpe/reference_ids.json") as! [String: Any]
        #expect(a.vocabularySize == reference["vocabulary_size"] as! Int)
        #expect(b.vocabularySize == a.vocabularySize)
        #expect(a.endOfTextToken == Int32(reference["end_of_text_id"] as! Int))
        #expect(b.endOfTextToken == a.endOfTextToken)
    }

    @Test func decodeInvertsEncode() throws {
        let tokenizer = try Self.fromVocabularyAndMerges()
        for (text, ids) in try Self.referenceCases() {
            #expect(tokenizer.decode(ids) == text)
        }
    }

    @Test func repeatedEncodingUsesTheCacheAndGivesTheSameIds() throws {
        let tokenizer = try Self.fromVocabularyAndMerges()
        let text = "the quick brown fox, the quick brown fox"
        #expect(tokenizer.encode(text) == tokenizer.encode(text))
    }

    @Test func heapMergingMatchesTheScanningReference() throws {
        let tokenizer = try Self.fromVocabularyAndMerges()
        let alphabet = Array("the quick brown fox café 東京 😀 aaaa ---- 1234 'll".utf8)
        var generator = SeededGenerator(seed: 21)
        for _ in 0..<2_000 {
            let bytes = (0..<generator.uniform(below: 40)).map { _ in alphabet[generator.uniform(below: alphabet.count)] }
            #expect(tokenizer.bytePairEncode(bytes) == tokenizer.bytePairEncodeByScanning(bytes))
        }
        let long = Array(String(repeating: "the", count: 3_000).utf8) + Array(String(repeating: "-", count: 5_000).utf8)
        #expect(tokenizer.bytePairEncode(long) == tokenizer.bytePairEncodeByScanning(long))
    }

    @Test func byteTableHas256DistinctPrintableScalars() {
        let table = GPT2Tokenizer.byteToScalar
        #expect(Set(table).count == 256)
        #expect(table[0x20] == "Ġ")
        #expect(table[0x0A] == "Ċ")
        #expect(table[0x41] == "A")
        #expect(table.allSatisfy { !$0.properties.isWhitespace })
    }

    @Test func missingFilesAreFileErrors() {
        let error = #expect(throws: TokenizerError.self) {
            try GPT2Tokenizer(vocabularyPath: "/nonexistent/vocab.json", mergesPath: "/nonexistent/merges.txt")
        }
        guard case .file(let fileError) = error else { Issue.record("expected a file error"); return }
        #expect(fileError.path == "/nonexistent/vocab.json")
    }

    @Test func malformedFilesAreReportedWithTheirPathAndReason() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let vocab = folder.file("vocab.json")
        let merges = folder.file("merges.txt")
        var table: [String: Int32] = [:]
        for (byte, scalar) in GPT2Tokenizer.byteToScalar.enumerated() { table[String(scalar)] = Int32(byte) }
        table["ab"] = 256
        try FileSystem.writeAtomically(Array(try JSONEncoder().encode(table)), to: vocab)

        try FileSystem.writeAtomically(Array("#version: 0.2\na b\n".utf8), to: merges)
        let good = try GPT2Tokenizer(vocabularyPath: vocab, mergesPath: merges)
        #expect(good.encode("abab") == [256, 256])

        try FileSystem.writeAtomically(Array("a b c\n".utf8), to: merges)
        #expect(throws: TokenizerError.malformed(path: merges, reason: "line 1 is not two tokens separated by one space")) {
            try GPT2Tokenizer(vocabularyPath: vocab, mergesPath: merges)
        }
        try FileSystem.writeAtomically(Array("a q\n".utf8), to: merges)
        #expect(throws: TokenizerError.malformed(path: merges, reason: "merge 1 (a q) uses tokens not in the vocabulary")) {
            try GPT2Tokenizer(vocabularyPath: vocab, mergesPath: merges)
        }
        try FileSystem.writeAtomically(Array("[1, 2]".utf8), to: vocab)
        let error = #expect(throws: TokenizerError.self) { try GPT2Tokenizer(vocabularyPath: vocab, mergesPath: merges) }
        guard case .malformed(let path, _) = error else { Issue.record("expected malformed"); return }
        #expect(path == vocab)

        try FileSystem.writeAtomically(Array(#"{"a": 0}"#.utf8), to: vocab)
        #expect(throws: TokenizerError.malformed(path: merges, reason: "the vocabulary lacks the token of byte 0")) {
            try GPT2Tokenizer(vocabularyPath: vocab, mergesPath: merges)
        }
    }

    @Test func tokenizerJSONWithStringMergesAndAnotherModelType() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        var vocab: [String: Int32] = [:]
        for (byte, scalar) in GPT2Tokenizer.byteToScalar.enumerated() { vocab[String(scalar)] = Int32(byte) }
        vocab["ab"] = 256
        let vocabJSON = String(decoding: try JSONEncoder().encode(vocab), as: UTF8.self)
        let path = folder.file("tokenizer.json")
        try FileSystem.writeAtomically(Array(#"{"model":{"type":"BPE","vocab":\#(vocabJSON),"merges":["a b"]},"added_tokens":[{"id":257,"content":"<|endoftext|>","special":true}]}"#.utf8), to: path)
        let tokenizer = try GPT2Tokenizer(tokenizerJSONPath: path)
        #expect(tokenizer.encode("ab<|endoftext|>") == [256, 257])
        #expect(tokenizer.endOfTextToken == 257)
        #expect(tokenizer.vocabularySize == 258)

        try FileSystem.writeAtomically(Array(#"{"model":{"type":"WordPiece","vocab":{},"merges":[]}}"#.utf8), to: path)
        #expect(throws: TokenizerError.malformed(path: path, reason: "model type is WordPiece, not BPE")) {
            try GPT2Tokenizer(tokenizerJSONPath: path)
        }
    }
}
