// Where a node serves its Prometheus metrics: the `metrics = "127.0.0.1:9464"` setting.

/// An IPv4 address and TCP port to serve metrics on.
public struct MetricsAddress: Sendable, Equatable, CustomStringConvertible {
    /// Dotted-quad IPv4 address; `0.0.0.0` listens on every interface.
    public var host: String
    public var port: Int

    public var description: String { "\(host):\(port)" }

    /// Reads `HOST:PORT`; the error says what is wrong with it.
    public init(parsing text: String) throws(MetricsAddressError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw MetricsAddressError("expected HOST:PORT such as \"127.0.0.1:9464\", got \"\(text)\"") }
        let octets = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ o in o.count <= 3 && UInt8(o) != nil }) else {
            throw MetricsAddressError("\"\(parts[0])\" is not an IPv4 address such as 127.0.0.1")
        }
        guard let port = Int(parts[1]), (1...65535).contains(port) else {
            throw MetricsAddressError("port \"\(parts[1])\" must be a number from 1 to 65535")
        }
        host = String(parts[0])
        self.port = port
    }
}

/// Why a metrics address was refused.
public struct MetricsAddressError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension MetricsAddress: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try MetricsAddress(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
