// SafeTensorsError: every way a safetensors file can be malformed, each its own case,
// so that a bad file from a peer or a disk is a clear error and never a crash.

/// A safetensors file or buffer could not be read or written.
public enum SafeTensorsError: Error, Equatable, CustomStringConvertible {
    /// Fewer than the 8 bytes of the header length.
    case fileTooShort(byteCount: Int)
    /// The header length exceeds `SafeTensors.maximumHeaderLength`.
    case headerTooLarge(length: UInt64, limit: Int)
    /// The header length runs past the end of the file.
    case headerPastEnd(length: UInt64, available: Int)
    /// The header is not valid UTF-8 JSON.
    case headerNotJSON(reason: String)
    /// The header is JSON but not an object.
    case headerNotObject
    /// `__metadata__` is not an object of strings.
    case invalidMetadata(reason: String)
    /// A tensor entry is not an object, or lacks `dtype`, `shape` or `data_offsets`.
    case missingField(tensor: String, field: String)
    /// A field has the wrong JSON type, a negative or non-integer number, or the wrong
    /// number of elements.
    case invalidField(tensor: String, field: String, reason: String)
    /// A dtype this reader does not convert (it reads F32, F16, BF16 and F64).
    case unknownDType(tensor: String, dtype: String)
    /// The byte range does not hold shape × dtype size bytes.
    case sizeMismatch(tensor: String, expectedBytes: Int, actualBytes: Int)
    /// `data_offsets` has its end before its begin.
    case offsetsOutOfOrder(tensor: String, begin: Int, end: Int)
    /// Two tensors share bytes.
    case overlapping(tensor: String, other: String)
    /// Bytes of the data region between `from` and `to` belong to no tensor.
    case gap(from: Int, to: Int)
    /// A tensor's byte range ends past the end of the data region.
    case offsetPastEnd(tensor: String, end: Int, dataLength: Int)
    /// The data region has `count` bytes after the last tensor.
    case trailingBytes(count: Int)
    /// Two tensors to write have the same name.
    case duplicateName(String)
    /// A tensor to write is called `__metadata__`.
    case reservedName
    /// The file could not be read or written.
    case file(FileError)

    public var description: String {
        switch self {
        case .fileTooShort(let count):
            return "safetensors: file has \(count) bytes, fewer than the 8-byte header length"
        case .headerTooLarge(let length, let limit):
            return "safetensors: header length \(length) exceeds the limit of \(limit) bytes"
        case .headerPastEnd(let length, let available):
            return "safetensors: header length \(length) runs past the end of the file (\(available) bytes after the length)"
        case .headerNotJSON(let reason):
            return "safetensors: header is not valid JSON: \(reason)"
        case .headerNotObject:
            return "safetensors: header is not a JSON object"
        case .invalidMetadata(let reason):
            return "safetensors: __metadata__ \(reason)"
        case .missingField(let tensor, let field):
            return "safetensors: tensor '\(tensor)' has no \(field)"
        case .invalidField(let tensor, let field, let reason):
            return "safetensors: tensor '\(tensor)' has an invalid \(field): \(reason)"
        case .unknownDType(let tensor, let dtype):
            return "safetensors: tensor '\(tensor)' has dtype \(dtype); only F32, F16, BF16 and F64 are read"
        case .sizeMismatch(let tensor, let expected, let actual):
            return "safetensors: tensor '\(tensor)' needs \(expected) bytes for its shape and dtype but its offsets span \(actual)"
        case .offsetsOutOfOrder(let tensor, let begin, let end):
            return "safetensors: tensor '\(tensor)' has data_offsets [\(begin), \(end)] with end before begin"
        case .overlapping(let tensor, let other):
            return "safetensors: tensors '\(other)' and '\(tensor)' overlap"
        case .gap(let from, let to):
            return "safetensors: data bytes \(from)..<\(to) belong to no tensor"
        case .offsetPastEnd(let tensor, let end, let length):
            return "safetensors: tensor '\(tensor)' ends at byte \(end), past the \(length)-byte data region"
        case .trailingBytes(let count):
            return "safetensors: \(count) bytes after the last tensor"
        case .duplicateName(let name):
            return "safetensors: two tensors are called '\(name)'"
        case .reservedName:
            return "safetensors: a tensor cannot be called __metadata__"
        case .file(let error):
            return error.description
        }
    }
}
