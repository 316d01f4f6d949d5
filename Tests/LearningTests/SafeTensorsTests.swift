import Foundation
import Testing

@testable import Learning

/// A safetensors file made of a header text and data bytes, with a chosen length field.
private func file(_ header: String, data: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
    let headerBytes = Array(header.utf8)
    var out: [UInt8] = []
    withUnsafeBytes(of: (length ?? UInt64(headerBytes.count)).littleEndian) { out += $0 }
    return out + headerBytes + data
}

private func decodeError(_ bytes: [UInt8]) -> SafeTensorsError? {
    #expect(throws: SafeTensorsError.self) { try SafeTensors.decode(bytes) }
}

@Suite struct SafeTensorsMalformedTests {
    @Test func shorterThanTheLengthField() {
        #expect(decodeError([1, 2, 3]) == .fileTooShort(byteCount: 3))
        #expect(decodeError([]) == .fileTooShort(byteCount: 0))
    }

    @Test func headerLengthOverTheLimit() {
        #expect(decodeError(file("{}", length: 100_000_001)) == .headerTooLarge(length: 100_000_001, limit: 100_000_000))
        #expect(decodeError(file("{}", length: UInt64.max)) == .headerTooLarge(length: UInt64.max, limit: 100_000_000))
    }

    @Test func headerLengthPastTheEnd() {
        #expect(decodeError(file("{}", length: 50)) == .headerPastEnd(length: 50, available: 2))
    }

    @Test func headerNotJSON() {
        guard case .headerNotJSON = decodeError(file("{\"a\": ")) else { Issue.record("expected headerNotJSON"); return }
        guard case .headerNotJSON = decodeError(file("")) else { Issue.record("expected headerNotJSON"); return }
        guard case .headerNotJSON = decodeError([2, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFE]) else {
            Issue.record("expected headerNotJSON for invalid UTF-8")
            return
        }
    }

    @Test func headerNotAnObject() {
        #expect(decodeError(file("[1, 2]")) == .headerNotObject)
        #expect(decodeError(file("\"text\"")) == .headerNotObject)
    }

    @Test func entryMissingAField() {
        #expect(decodeError(file(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])) == .missingField(tensor: "a", field: "dtype"))
        #expect(decodeError(file(#"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])) == .missingField(tensor: "a", field: "shape"))
        #expect(decodeError(file(#"{"a":{"dtype":"F32","shape":[1]}}"#, data: [0, 0, 0, 0])) == .missingField(tensor: "a", field: "data_offsets"))
        #expect(decodeError(file(#"{"a":7}"#)) == .missingField(tensor: "a", field: "description object"))
    }

    @Test func unknownDType() {
        #expect(decodeError(file(#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}"#, data: [0])) == .unknownDType(tensor: "a", dtype: "Q4"))
        #expect(decodeError(file(#"{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))) == .unknownDType(tensor: "a", dtype: "I64"))
    }

    @Test func negativeNonIntegerAndWronglyTypedNumbers() {
        #expect(decodeError(file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            == .invalidField(tensor: "a", field: "shape", reason: "-1 is negative"))
        #expect(decodeError(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}}"#, data: [0, 0, 0, 0]))
            == .invalidField(tensor: "a", field: "data_offsets", reason: "4.5 is not an integer"))
        #expect(decodeError(file(#"{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            == .invalidField(tensor: "a", field: "shape", reason: "holds a string, not a number"))
        #expect(decodeError(file(#"{"a":{"dtype":"F32","shape":1,"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            == .invalidField(tensor: "a", field: "shape", reason: "is a number, not an array"))
        #expect(decodeError(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#, data: [0, 0, 0, 0]))
            == .invalidField(tensor: "a", field: "data_offsets", reason: "has 3 numbers, not 2"))
        #expect(decodeError(file(#"{"a":{"dtype":5,"shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            == .invalidField(tensor: "a", field: "dtype", reason: "is a number, not a string"))
        #expect(decodeError(file(#"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            == .invalidField(tensor: "a", field: "shape", reason: "[4611686018427387904, 4] is too large"))
    }

    @Test func shapeAndByteRangeDisagree() {
        #expect(decodeError(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            == .sizeMismatch(tensor: "a", expectedBytes: 8, actualBytes: 4))
        #expect(decodeError(file(#"{"a":{"dtype":"F16","shape":[3],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
            == .sizeMismatch(tensor: "a", expectedBytes: 6, actualBytes: 4))
    }

    @Test func offsetsOutOfOrder() {
        #expect(decodeError(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, data: [UInt8](repeating: 0, count: 8)))
            == .offsetsOutOfOrder(tensor: "a", begin: 8, end: 4))
    }

    @Test func overlappingTensors() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        #expect(decodeError(file(header, data: [UInt8](repeating: 0, count: 12))) == .overlapping(tensor: "b", other: "a"))
    }

    @Test func gapsInTheDataRegion() {
        let middle = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#
        #expect(decodeError(file(middle, data: [UInt8](repeating: 0, count: 12))) == .gap(from: 4, to: 8))
        let front = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        #expect(decodeError(file(front, data: [UInt8](repeating: 0, count: 8))) == .gap(from: 0, to: 4))
    }

    @Test func tensorPastTheEndOfTheData() {
        #expect(decodeError(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]))
            == .offsetPastEnd(tensor: "a", end: 8, dataLength: 4))
    }

    @Test func trailingBytesAfterTheLastTensor() {
        #expect(decodeError(file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0, 9, 9]))
            == .trailingBytes(count: 2))
        #expect(decodeError(file("{}", data: [1])) == .trailingBytes(count: 1))
    }

    @Test func metadataThatIsNotAStringMap() {
        #expect(decodeError(file(#"{"__metadata__":{"a":1}}"#)) == .invalidMetadata(reason: "value of 'a' is a number, not a string"))
        #expect(decodeError(file(#"{"__metadata__":[]}"#)) == .invalidMetadata(reason: "is an array, not an object"))
    }

    @Test func writerRejectsDuplicateAndReservedNames() {
        let t = NamedTensor(name: "x", shape: [1], values: [1])
        #expect(throws: SafeTensorsError.duplicateName("x")) { try SafeTensors.encode([t, t]) }
        #expect(throws: SafeTensorsError.reservedName) {
            try SafeTensors.encode([NamedTensor(name: "__metadata__", shape: [1], values: [1])])
        }
    }

    @Test func missingFileIsAFileError() {
        guard case .file(let error) = #expect(throws: SafeTensorsError.self, performing: { try SafeTensors.read(from: "/nonexistent/x.safetensors") }) else {
            Issue.record("expected a file error")
            return
        }
        #expect(error.code == ENOENT)
    }

    @Test func randomCorruptionsNeverCrash() throws {
        let valid = try SafeTensors.encode([NamedTensor(name: "a", shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), NamedTensor(name: "b", shape: [1], values: [7])], metadata: ["k": "v"], as: .f16)
        var generator = SeededGenerator(seed: 11)
        var failures = 0
        for _ in 0..<2_000 {
            var bytes = valid
            for _ in 0..<(1 + generator.uniform(below: 3)) {
                bytes[generator.uniform(below: bytes.count)] = UInt8(truncatingIfNeeded: generator.next())
            }
            if generator.uniform(below: 4) == 0 { bytes.removeLast(generator.uniform(below: bytes.count)) }
            do { _ = try SafeTensors.decode(bytes) } catch { failures += 1 }
        }
        #expect(failures > 0)
    }
}

@Suite struct SafeTensorsRoundTripTests {
    let tensors = [
        NamedTensor(name: "h.0.attn.c_attn.lora_A", shape: [2, 3], values: [0.5, -1, 2, 3.25, -0.125, 1e-3]),
        NamedTensor(name: "scalar", shape: [], values: [42]),
        NamedTensor(name: "empty", shape: [0, 4], values: []),
        NamedTensor(name: "ünïcode \"quoted\"\n", shape: [3], values: [.infinity, -.infinity, -0.0]),
    ]

    @Test func f32RoundTripIsExact() throws {
        let bytes = try SafeTensors.encode(tensors, metadata: ["format": "pt", "note": "a \"b\" ✓"])
        let file = try SafeTensors.decode(bytes)
        #expect(file.tensors == tensors)
        #expect(file.metadata == ["format": "pt", "note": "a \"b\" ✓"])
        #expect(file.storedTypes.values.allSatisfy { $0 == .f32 })
        #expect(file["ünïcode \"quoted\"\n"]?.values[2].sign == .minus)
    }

    @Test func headerIsPaddedToEightBytes() throws {
        for count in 0..<9 {
            let bytes = try SafeTensors.encode([NamedTensor(name: String(repeating: "x", count: count + 1), shape: [1], values: [1])])
            let length = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            #expect(length % 8 == 0)
        }
    }

    @Test func f16RoundTripRoundsEachValueOnce() throws {
        let values: [Float] = [1, -2.5, 0.1, 65504, 70000, 1e-8, 0x1p-24, .nan]
        let file = try SafeTensors.decode(try SafeTensors.encode([NamedTensor(name: "x", shape: [8], values: values)], as: .f16))
        let read = file["x"]!.values
        #expect(file.storedTypes["x"] == .f16)
        for (original, value) in zip(values, read) {
            let expected = HalfPrecision.float(fromF16: HalfPrecision.f16Bits(from: original))
            #expect(value == expected || (value.isNaN && expected.isNaN))
        }
        #expect(read[4] == .infinity)
        #expect(read[6] == 0x1p-24)
    }

    @Test func bf16AndF64AreWrittenAndRead() throws {
        let values: [Float] = [1, -2.5, 3e38, Float(bitPattern: 0x0001_1234)]
        for dtype in [SafeTensors.DType.bf16, .f64] {
            let file = try SafeTensors.decode(try SafeTensors.encode([NamedTensor(name: "x", shape: [4], values: values)], as: dtype))
            #expect(file.storedTypes["x"] == dtype)
            let expected = dtype == .f64 ? values : values.map { HalfPrecision.float(fromBF16: HalfPrecision.bf16Bits(from: $0)) }
            #expect(file["x"]!.values == expected)
        }
    }

    @Test func writeThenReadFromDisk() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let path = folder.file("t.safetensors")
        try SafeTensors.write(tensors, metadata: ["a": "b"], to: path)
        let file = try SafeTensors.read(from: path)
        #expect(file.tensors == tensors)
        #expect(try FileSystem.contentsOfDirectory(folder.path) == ["t.safetensors"])
    }

    @Test func readsTensorsInDataOrderWhateverTheHeaderOrder() throws {
        let header = #"{"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        var data: [UInt8] = []
        for v: Float in [1, 2] { withUnsafeBytes(of: v.bitPattern.littleEndian) { data += $0 } }
        let file = try SafeTensors.decode(file(header, data: data))
        #expect(file.tensors.map(\.name) == ["z", "a"])
        #expect(file["a"]?.values == [2])
    }
}
