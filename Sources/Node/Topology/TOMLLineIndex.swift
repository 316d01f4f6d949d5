// Where each key of a TOML file is written, so that problems found after parsing can
// name their line. TOMLKit reports lines for syntax errors only.

/// Maps key paths such as `nodes[2].endpoint` or `edges.pairs[1]` to 1-based lines.
struct TOMLLineIndex {
    private(set) var lines: [String: Int] = [:]

    init(text: String) {
        var table = ""
        var arrayCounts: [String: Int] = [:]
        // State of a multi-line array value being scanned: its key path, the bracket
        // depth, and how many elements at depth 2 have started.
        var openArray: (path: String, depth: Int, elements: Int)? = nil

        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = offset + 1
            let line = Self.stripComment(String(rawLine))
            let trimmed = line.trimmingCharacters(in: .whitespaces)

            if var array = openArray {
                Self.scanBrackets(trimmed, into: &array, line: lineNumber, lines: &lines)
                openArray = array.depth > 0 ? array : nil
                continue
            }
            if trimmed.hasPrefix("[[") && trimmed.hasSuffix("]]") {
                let name = String(trimmed.dropFirst(2).dropLast(2)).trimmingCharacters(in: .whitespaces)
                let i = arrayCounts[name, default: 0]
                arrayCounts[name] = i + 1
                table = "\(name)[\(i)]"
                lines[table] = lineNumber
                continue
            }
            if trimmed.hasPrefix("[") && trimmed.hasSuffix("]") {
                table = String(trimmed.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                lines[table] = lineNumber
                continue
            }
            guard let eq = trimmed.firstIndex(of: "=") else { continue }
            var key = trimmed[..<eq].trimmingCharacters(in: .whitespaces)
            if key.count >= 2 && key.first == "\"" && key.last == "\"" { key = String(key.dropFirst().dropLast()) }
            let path = table.isEmpty ? key : "\(table).\(key)"
            lines[path] = lineNumber
            let value = trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("{") {
                // Inline table: its keys share the line.
                for part in value.dropFirst().split(separator: ",") {
                    if let e = part.firstIndex(of: "=") {
                        lines["\(path).\(part[..<e].trimmingCharacters(in: .whitespaces))"] = lineNumber
                    }
                }
            }
            if value.hasPrefix("[") {
                var array = (path: path, depth: 0, elements: 0)
                Self.scanBrackets(value, into: &array, line: lineNumber, lines: &lines)
                if array.depth > 0 { openArray = array }
            }
        }
    }

    /// The line of `path`, or of its nearest recorded parent.
    func line(of path: String) -> Int? {
        var p = path
        while true {
            if let l = lines[p] { return l }
            if let dot = p.lastIndex(where: { $0 == "." || $0 == "[" }) {
                p = String(p[..<dot])
            } else {
                return nil
            }
        }
    }

    /// Tracks bracket depth in `text` (outside strings), recording where each element
    /// of a nested array (`pairs = [["a", "b"], ...]`) starts.
    private static func scanBrackets(
        _ text: String, into array: inout (path: String, depth: Int, elements: Int), line: Int, lines: inout [String: Int]
    ) {
        var inString = false
        for c in text {
            if c == "\"" { inString.toggle() }
            if inString { continue }
            if c == "[" {
                array.depth += 1
                if array.depth == 2 {
                    lines["\(array.path)[\(array.elements)]"] = line
                    array.elements += 1
                }
            } else if c == "]" {
                array.depth -= 1
            }
        }
    }

    /// The line without a trailing `# comment` (a `#` inside a string is kept).
    static func stripComment(_ line: String) -> String {
        var inString = false
        var out = ""
        for c in line {
            if c == "\"" { inString.toggle() }
            if c == "#" && !inString { break }
            out.append(c)
        }
        return out
    }
}
