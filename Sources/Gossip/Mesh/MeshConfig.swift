// What a gossip node needs to know: who it is, who the members are, whom it talks to,
// and the timings and limits of the mesh.

import Foundation

/// A member of the topology: a name for logs, its identity, and where it listens.
public struct Member: Sendable, Equatable, Codable {
    public var name: String
    public var publicKey: PublicKey
    /// Where its ROUTER listens; nil when it is learned from the member's HELLO.
    public var endpoint: String?

    public init(name: String, publicKey: PublicKey, endpoint: String? = nil) {
        self.name = name
        self.publicKey = publicKey
        self.endpoint = endpoint
    }

    enum CodingKeys: String, CodingKey { case name, publicKey, endpoint }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        let text = try c.decode(String.self, forKey: .publicKey)
        guard let key = PublicKey(text: text) else {
            throw DecodingError.dataCorruptedError(forKey: .publicKey, in: c, debugDescription: "expected 64 hex digits")
        }
        publicKey = key
        endpoint = try c.decodeIfPresent(String.self, forKey: .endpoint)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(publicKey.description, forKey: .publicKey)
        try c.encodeIfPresent(endpoint, forKey: .endpoint)
    }
}

/// The configuration of one gossip node.
public struct MeshConfig: Sendable {
    /// This node's identity; it signs everything the node originates.
    public var keys: SigningKeyPair
    /// Where this node's ROUTER binds: tcp://host:port (port `*` picks a free one),
    /// ipc://path or inproc://name.
    public var endpoint: String
    /// Everyone whose messages are accepted (this node may be listed too).
    public var members: [Member]
    /// Names of the members this node holds a DEALER to. A member that sends a HELLO
    /// becomes a neighbour too, so links are used both ways.
    public var neighbours: [String]
    /// A peer not heard from for this long gets a PING.
    public var heartbeatMilliseconds: Int = 1000
    /// A peer silent for this many heartbeat intervals is gone; after two it is suspect.
    /// A neighbour never heard from counts its silence from the node's start. The
    /// liveness window (`livenessIntervals` × `heartbeatMilliseconds`) also spaces
    /// SYNCs: one answered per peer per window.
    public var livenessIntervals: Int = 3
    /// Largest accepted payload in bytes; also ZMQ_MAXMSGSIZE of the ROUTER.
    public var maxPayloadBytes: Int = 64 << 20
    /// Checks an UPDATE's payload once its signature and digest have verified, before it
    /// is stored or relayed: nil accepts it, a text refuses it (`unreadablePayload`) and
    /// is kept as the origin's latest refusal. The mesh itself never reads payloads; the
    /// application says what a readable one is. Runs on the mesh thread.
    public var payloadValidator: (@Sendable (_ payload: UnsafeRawBufferPointer) -> String?)? = nil
    /// The most payload bytes one SYNC answer sends; the newest rounds go first and what
    /// does not fit waits for the asker's next SYNC.
    public var syncAnswerBudgetBytes: Int = 64 << 20
    /// Hops an UPDATE this node originates may be relayed.
    public var ttl: UInt8 = 3
    /// CURVE encryption and ZAP admission on every link.
    public var curve: Bool = true
    /// First and largest delay between reconnection attempts and re-HELLOs.
    public var reconnectMilliseconds: Int = 100
    public var reconnectMaxMilliseconds: Int = 5000
    /// Outgoing messages a slow link may queue before the oldest is dropped.
    public var maxQueuedPerPeer: Int = 64
    /// Updates `publish` may hand to the mesh thread before it waits.
    public var maxPendingPublishes: Int = 4
    /// The longest `publish` waits for room before queueing anyway.
    public var publishTimeoutSeconds: Double = 30
    /// The one member whose CHUNKs are taken (nil: none is); a CHUNK of any other
    /// origin is refused as `notPublisher`.
    public var chunkPublisher: PublicKey? = nil
    /// Kernel socket buffers in bytes (0 keeps the system's default).
    public var socketBufferBytes: Int32 = 4 << 20

    public init(keys: SigningKeyPair, endpoint: String, members: [Member], neighbours: [String]) {
        self.keys = keys
        self.endpoint = endpoint
        self.members = members
        self.neighbours = neighbours
    }
}
