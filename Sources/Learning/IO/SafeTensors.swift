// SafeTensors: the safetensors file format (huggingface/safetensors), read and written.
//
//   [8 bytes: header length N, u64 little-endian]
//   [N bytes: JSON object {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
//             "__metadata__": {"key": "value"}}, padded with spaces]
//   [data region: every tensor's little-endian bytes, offsets relative to its start]
//
// Reading validates everything before touching tensor bytes: the offsets of all tensors
// must tile the data region exactly (no gap, no overlap, no trailing byte), and each
// range must hold exactly shape × dtype size bytes. Values are converted to Float.

/// The tensors and metadata of one safetensors file.
public struct SafeTensors: Sendable, Equatable {
    /// Element types this module reads and writes.
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32"
        case f16 = "F16"
        case bf16 = "BF16"
        case f64 = "F64"

        /// Bytes per element.
        public var byteSize: Int {
            switch self {
            case .f16, .bf16: 2
            case .f32: 4
            case .f64: 8
            }
        }
    }

    /// The largest header accepted, as in the reference implementation.
    public static let maximumHeaderLength = 100_000_000

    /// The tensors, in the order of their bytes in the file.
    public var tensors: [NamedTensor]
    /// The `__metadata__` map (empty when absent).
    public var metadata: [String: String]
    /// The element type each tensor was stored with, by name.
    public var storedTypes: [String: DType]

    public init(tensors: [NamedTensor], metadata: [String: String] = [:], storedTypes: [String: DType] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
        self.storedTypes = storedTypes
    }

    /// The tensor called `name`, if present.
    public subscript(name: String) -> NamedTensor? { tensors.first { $0.name == name } }

    /// The tensors by name.
    public var tensorsByName: [String: NamedTensor] {
        Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    // ----------------------------------------------------------------------------
    // Reading

    /// Reads and validates the safetensors file at `path` (one read into one buffer).
    public static func read(from path: String) throws(SafeTensorsError) -> SafeTensors {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readBytes(path) } catch { throw .file(error) }
        return try decode(bytes)
    }

    /// Decodes and validates safetensors bytes.
    public static func decode(_ bytes: [UInt8]) throws(SafeTensorsError) -> SafeTensors {
        // Array.withUnsafeBytes rethrows untyped errors; carry the typed one out by hand.
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(SafeTensorsError) in try decode(buffer) }
        }
        return try result.get()
    }

    /// Decodes and validates safetensors bytes held anywhere in memory.
    public static func decode(_ buffer: UnsafeRawBufferPointer) throws(SafeTensorsError) -> SafeTensors {
        guard buffer.count >= 8 else { throw .fileTooShort(byteCount: buffer.count) }
        let headerLength = UInt64(littleEndian: buffer.loadUnaligned(as: UInt64.self))
        guard headerLength <= UInt64(maximumHeaderLength) else {
            throw .headerTooLarge(length: headerLength, limit: maximumHeaderLength)
        }
        guard headerLength <= UInt64(buffer.count - 8) else {
            throw .headerPastEnd(length: headerLength, available: buffer.count - 8)
        }
        let dataStart = 8 + Int(headerLength)
        let entries = try parseHeader(UnsafeRawBufferPointer(rebasing: buffer[8..<dataStart]))
        let data = UnsafeRawBufferPointer(rebasing: buffer[dataStart...])
        try validateLayout(entries.tensors, dataLength: data.count)

        var tensors: [NamedTensor] = []
        tensors.reserveCapacity(entries.tensors.count)
        var storedTypes: [String: DType] = [:]
        for entry in entries.tensors {
            let bytes = UnsafeRawBufferPointer(rebasing: data[entry.begin..<entry.end])
            tensors.append(NamedTensor(name: entry.name, shape: entry.shape, values: convert(bytes, from: entry.dtype)))
            storedTypes[entry.name] = entry.dtype
        }
        return SafeTensors(tensors: tensors, metadata: entries.metadata, storedTypes: storedTypes)
    }

    /// One tensor's header entry.
    struct Entry {
        var name: String
        var dtype: DType
        var shape: [Int]
        var begin: Int
        var end: Int
    }

    static func parseHeader(_ header: UnsafeRawBufferPointer) throws(SafeTensorsError) -> (tensors: [Entry], metadata: [String: String]) {
        let json: JSONValue
        do { json = try JSONValue.parse(header) } catch { throw .headerNotJSON(reason: error.reason) }
        guard case .object(let object) = json else { throw .headerNotObject }

        var metadata: [String: String] = [:]
        if let value = object["__metadata__"] {
            guard case .object(let map) = value else { throw .invalidMetadata(reason: "is \(value.typeName), not an object") }
            for (key, item) in map {
                guard case .string(let text) = item else {
                    throw .invalidMetadata(reason: "value of '\(key)' is \(item.typeName), not a string")
                }
                metadata[key] = text
            }
        }

        var entries: [Entry] = []
        // Names sorted so that errors are reported in a stable order.
        for name in object.keys.sorted() where name != "__metadata__" {
            guard case .object(let fields) = object[name]! else { throw .missingField(tensor: name, field: "description object") }
            guard let dtypeValue = fields["dtype"] else { throw .missingField(tensor: name, field: "dtype") }
            guard let shapeValue = fields["shape"] else { throw .missingField(tensor: name, field: "shape") }
            guard let offsetsValue = fields["data_offsets"] else { throw .missingField(tensor: name, field: "data_offsets") }
            guard case .string(let dtypeName) = dtypeValue else {
                throw .invalidField(tensor: name, field: "dtype", reason: "is \(dtypeValue.typeName), not a string")
            }
            let shape = try naturals(shapeValue, tensor: name, field: "shape")
            let offsets = try naturals(offsetsValue, tensor: name, field: "data_offsets")
            guard offsets.count == 2 else {
                throw .invalidField(tensor: name, field: "data_offsets", reason: "has \(offsets.count) numbers, not 2")
            }
            guard let dtype = DType(rawValue: dtypeName) else { throw .unknownDType(tensor: name, dtype: dtypeName) }
            guard offsets[0] <= offsets[1] else { throw .offsetsOutOfOrder(tensor: name, begin: offsets[0], end: offsets[1]) }
            var expected = dtype.byteSize
            for dimension in shape {
                let (product, overflow) = expected.multipliedReportingOverflow(by: dimension)
                guard !overflow else { throw .invalidField(tensor: name, field: "shape", reason: "\(shape) is too large") }
                expected = product
            }
            guard expected == offsets[1] - offsets[0] else {
                throw .sizeMismatch(tensor: name, expectedBytes: expected, actualBytes: offsets[1] - offsets[0])
            }
            entries.append(Entry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1]))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        return (entries, metadata)
    }

    /// The array of non-negative integers in `value`.
    private static func naturals(_ value: JSONValue, tensor: String, field: String) throws(SafeTensorsError) -> [Int] {
        guard case .array(let items) = value else {
            throw .invalidField(tensor: tensor, field: field, reason: "is \(value.typeName), not an array")
        }
        var numbers: [Int] = []
        for item in items {
            switch item {
            case .integer(let n) where n >= 0: numbers.append(n)
            case .integer(let n): throw .invalidField(tensor: tensor, field: field, reason: "\(n) is negative")
            case .number(let x): throw .invalidField(tensor: tensor, field: field, reason: "\(x) is not an integer")
            default: throw .invalidField(tensor: tensor, field: field, reason: "holds \(item.typeName), not a number")
            }
        }
        return numbers
    }

    /// Checks that the entries, sorted by offset, tile `0..<dataLength` exactly.
    static func validateLayout(_ entries: [Entry], dataLength: Int) throws(SafeTensorsError) {
        var position = 0
        var previous: String?
        for entry in entries {
            if entry.begin < position, let previous { throw .overlapping(tensor: entry.name, other: previous) }
            if entry.begin > position { throw .gap(from: position, to: entry.begin) }
            if entry.end > dataLength { throw .offsetPastEnd(tensor: entry.name, end: entry.end, dataLength: dataLength) }
            position = entry.end
            previous = entry.name
        }
        if position < dataLength { throw .trailingBytes(count: dataLength - position) }
    }

    /// The little-endian elements of `bytes` as Floats.
    static func convert(_ bytes: UnsafeRawBufferPointer, from dtype: DType) -> [Float] {
        let count = bytes.count / dtype.byteSize
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            switch dtype {
            case .f32:
                if count > 0 { UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
                #if _endian(big)
                for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: out[i].bitPattern)) }
                #endif
            case .f16:
                for i in 0..<count {
                    out[i] = HalfPrecision.float(fromF16: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            case .bf16:
                for i in 0..<count {
                    out[i] = HalfPrecision.float(fromBF16: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                }
            case .f64:
                for i in 0..<count {
                    out[i] = Float(Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
                }
            }
            initialized = count
        }
    }

    // ----------------------------------------------------------------------------
    // Writing

    /// The safetensors bytes of `tensors` stored as `dtype`, in the given order, with
    /// `metadata`. The header is padded with spaces to a multiple of 8 bytes, as the
    /// reference writer does, so that the data region stays aligned.
    public static func encode(
        _ tensors: [NamedTensor], metadata: [String: String] = [:], as dtype: DType = .f32
    ) throws(SafeTensorsError) -> [UInt8] {
        var seen = Set<String>()
        for tensor in tensors {
            if tensor.name == "__metadata__" { throw .reservedName }
            if !seen.insert(tensor.name).inserted { throw .duplicateName(tensor.name) }
        }
        var header = "{"
        var fields: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonStringLiteral($0)):\(jsonStringLiteral(metadata[$0]!))" }
            fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in tensors {
            let length = tensor.count * dtype.byteSize
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonStringLiteral(tensor.name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + length)]}")
            offset += length
        }
        header += fields.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }

        let dataStart = 8 + headerBytes.count
        return [UInt8](unsafeUninitializedCapacity: dataStart + offset) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            raw.storeBytes(of: UInt64(headerBytes.count).littleEndian, toByteOffset: 0, as: UInt64.self)
            headerBytes.withUnsafeBytes { raw.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            var position = dataStart
            for tensor in tensors {
                tensor.values.withUnsafeBufferPointer { values in
                    switch dtype {
                    case .f32:
                        #if _endian(little)
                        if !values.isEmpty {
                            (raw.baseAddress! + position).copyMemory(from: values.baseAddress!, byteCount: 4 * values.count)
                        }
                        #else
                        for (i, v) in values.enumerated() {
                            raw.storeBytes(of: v.bitPattern.littleEndian, toByteOffset: position + 4 * i, as: UInt32.self)
                        }
                        #endif
                    case .f16:
                        for (i, v) in values.enumerated() {
                            raw.storeBytes(of: HalfPrecision.f16Bits(from: v).littleEndian, toByteOffset: position + 2 * i, as: UInt16.self)
                        }
                    case .bf16:
                        for (i, v) in values.enumerated() {
                            raw.storeBytes(of: HalfPrecision.bf16Bits(from: v).littleEndian, toByteOffset: position + 2 * i, as: UInt16.self)
                        }
                    case .f64:
                        for (i, v) in values.enumerated() {
                            raw.storeBytes(of: Double(v).bitPattern.littleEndian, toByteOffset: position + 8 * i, as: UInt64.self)
                        }
                    }
                }
                position += tensor.count * dtype.byteSize
            }
            initialized = position
        }
    }

    /// Writes `tensors` as a safetensors file at `path`, atomically.
    public static func write(
        _ tensors: [NamedTensor], metadata: [String: String] = [:], as dtype: DType = .f32, to path: String
    ) throws(SafeTensorsError) {
        let bytes = try encode(tensors, metadata: metadata, as: dtype)
        do { try FileSystem.writeAtomically(bytes, to: path) } catch { throw .file(error) }
    }
}
