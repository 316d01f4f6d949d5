import Foundation

@testable import Learning

/// Committed test fixtures (Tests/LearningTests/Fixtures, made by tools/fixtures/*.py).
enum Fixture {
    /// The absolute path of `relative` inside the fixtures folder of the test bundle.
    static func path(_ relative: String) -> String {
        guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            fatalError("the Fixtures folder is missing from the test bundle")
        }
        return url.appendingPathComponent(relative).path
    }

    /// The fixture at `relative` parsed as JSON.
    static func json(_ relative: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path(relative))), options: [.fragmentsAllowed])
    }

    /// The fixtures folder in the source tree, for regenerating Swift-written fixtures.
    static func sourcePath(_ relative: String, file: String = #filePath) -> String {
        URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(relative).path
    }
}

/// A fresh empty folder under the system's temporary folder, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/starling-test-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw FileError(path: NSTemporaryDirectory(), operation: "mkdtemp", code: errno)
        }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { FileSystem.join(path, name) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// A JSON number or one of the strings "nan", "inf", "-inf" as a Double.
func decodeJSONFloat(_ value: Any) -> Double {
    if let text = value as? String {
        switch text {
        case "nan": return .nan
        case "inf": return .infinity
        case "-inf": return -.infinity
        default: fatalError("unexpected value \(text)")
        }
    }
    return (value as! NSNumber).doubleValue
}
