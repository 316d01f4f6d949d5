// UpdatePayload: the bytes of an UPDATE — a safetensors file of the published slot's
// tensors under their PEFT names, whose metadata says what it is:
//
//   starling.scheme   the scheme that published it        (collaborative)
//   starling.slot     the slot it holds                   (default)
//   starling.base     the base model's digest             (16 hex digits)
//   starling.kind     the adapter kind                    (lora, bottleneck)
//   lora:        starling.rank, starling.alpha, starling.targets (comma-separated), starling.blocks
//   bottleneck:  starling.width, starling.blocks; tensors h.<block>.adapter.{down,up}.weight
//
// A receiver decodes it against what its own published slot looks like and refuses,
// with a reason, anything that does not parse, names another scheme, slot or base, or
// whose shapes or values do not fit.

import Learning
import Trust

/// What kind of adapter an update carries.
public enum AdapterKind: String, Sendable, Equatable, CaseIterable {
    /// LoRA A and B under their PEFT names.
    case lora
    /// A bottleneck adapter per block (D [m, C], U [C, m]) under the model's own names.
    case bottleneck
}

/// What a node expects of every update it takes in: its own published slot's identity.
public struct PayloadExpectation: Sendable, Equatable {
    public var scheme: String
    public var slot: String
    public var baseDigest: String
    /// The node's own published adapter: names, shapes, rank, alpha and targets to match.
    public var layout: LoRAAdapter
    public var kind: AdapterKind

    public init(scheme: String, slot: String, baseDigest: String, layout: LoRAAdapter, kind: AdapterKind = .lora) {
        self.kind = kind
        self.scheme = scheme
        self.slot = slot
        self.baseDigest = baseDigest
        self.layout = layout
    }
}

/// Why a payload was refused.
public struct UpdateRefusal: Error, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable, Codable, CaseIterable {
        /// Not a safetensors file, or not one of LoRA tensors.
        case unreadable
        /// Metadata missing or naming another scheme, slot, adapter kind, rank, alpha or targets.
        case otherAdapter
        /// Trained on another base model.
        case otherBase
        /// Tensor names or shapes do not fit the node's own slot.
        case layoutMismatch
        /// A NaN or an infinity.
        case nonFiniteValues
    }

    public var reason: Reason
    public var detail: String
    public var description: String { "\(reason.rawValue): \(detail)" }

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }
}

public enum UpdatePayload {
    /// The metadata an update of `adapter` in `slot` carries.
    public static func metadata(scheme: String, slot: String, baseDigest: String, adapter: LoRAAdapter, kind: AdapterKind = .lora) -> [String: String] {
        if kind == .bottleneck {
            return [
                "format": "pt", "starling.scheme": scheme, "starling.slot": slot, "starling.base": baseDigest, "starling.kind": kind.rawValue,
                "starling.width": String(adapter.tensors.first?.shape.first ?? 0),
                "starling.blocks": bottleneckBlocks(adapter).map(String.init).joined(separator: ","),
            ]
        }
        let lora = adapter.config
        var metadata = [
            "format": "pt", "starling.scheme": scheme, "starling.slot": slot, "starling.base": baseDigest, "starling.kind": "lora",
            "starling.rank": String(lora.rank), "starling.alpha": "\(lora.alpha)",
            "starling.targets": lora.targets.map(\.rawValue).joined(separator: ","),
        ]
        metadata["starling.blocks"] = blockIndices(adapter).map(String.init).joined(separator: ",")
        return metadata
    }

    /// The block indices of a bottleneck adapter's tensors (`h.<block>.adapter.…`), in order.
    static func bottleneckBlocks(_ adapter: LoRAAdapter) -> [Int] {
        var seen: [Int] = []
        for tensor in adapter.tensors {
            let parts = tensor.name.split(separator: ".")
            if parts.count > 1, let b = Int(parts[1]), seen.last != b { seen.append(b) }
        }
        return seen
    }

    /// The block indices an adapter's tensors name, in order.
    static func blockIndices(_ adapter: LoRAAdapter) -> [Int] {
        var seen: [Int] = []
        for tensor in adapter.tensors {
            if let parsed = PEFTAdapter.canonicalName(tensor.name), seen.last != parsed.layer { seen.append(parsed.layer) }
        }
        return seen
    }

    /// The payload bytes of `adapter`, published as `slot` of `scheme` on the base with `baseDigest`.
    public static func encode(_ adapter: LoRAAdapter, scheme: String, slot: String, baseDigest: String, kind: AdapterKind = .lora) throws -> [UInt8] {
        if kind == .bottleneck {
            return try SafeTensors.encode(adapter.tensors, metadata: metadata(scheme: scheme, slot: slot, baseDigest: baseDigest, adapter: adapter, kind: kind), as: .f32)
        }
        return try SafeTensors.encode(
            adapter.tensors.map { NamedTensor(name: PEFTAdapter.peftName($0.name), shape: $0.shape, values: $0.values) },
            metadata: metadata(scheme: scheme, slot: slot, baseDigest: baseDigest, adapter: adapter), as: .f32)
    }

    /// The adapter in `bytes`, checked against `expected`.
    /// - Throws: `UpdateRefusal` with the first thing that does not fit.
    public static func decode(_ bytes: [UInt8], expecting expected: PayloadExpectation) throws(UpdateRefusal) -> LoRAAdapter {
        do {
            return try bytes.withUnsafeBytes { buffer throws(UpdateRefusal) in try decode(buffer, expecting: expected) }
        } catch let refusal as UpdateRefusal { throw refusal } catch { throw UpdateRefusal(.unreadable, "\(error)") }
    }

    /// The adapter in the bytes of `buffer` (a received frame, read in place), checked against `expected`.
    public static func decode(_ buffer: UnsafeRawBufferPointer, expecting expected: PayloadExpectation) throws(UpdateRefusal) -> LoRAAdapter {
        let file: SafeTensors
        do { file = try SafeTensors.decode(buffer) } catch { throw UpdateRefusal(.unreadable, "\(error)") }
        let own = expected.layout.config
        let wanted = metadata(scheme: expected.scheme, slot: expected.slot, baseDigest: expected.baseDigest, adapter: expected.layout, kind: expected.kind)
        let keys = expected.kind == .bottleneck
            ? ["starling.scheme", "starling.slot", "starling.kind", "starling.width", "starling.blocks"]
            : ["starling.scheme", "starling.slot", "starling.kind", "starling.rank", "starling.alpha", "starling.targets", "starling.blocks"]
        for key in keys {
            guard let value = file.metadata[key] else { throw UpdateRefusal(.otherAdapter, "no \(key) in the metadata") }
            guard value == wanted[key] else { throw UpdateRefusal(.otherAdapter, "\(key) is \(value), expected \(wanted[key]!)") }
        }
        guard let base = file.metadata["starling.base"] else { throw UpdateRefusal(.otherAdapter, "no starling.base in the metadata") }
        guard base == expected.baseDigest else { throw UpdateRefusal(.otherBase, "base \(base), expected \(expected.baseDigest)") }
        if expected.kind == .bottleneck {
            guard file.tensors.count == expected.layout.tensors.count else {
                throw UpdateRefusal(.layoutMismatch, "\(file.tensors.count) tensors, expected \(expected.layout.tensors.count)")
            }
            var tensors: [NamedTensor] = []
            for t in expected.layout.tensors {
                guard let found = file[t.name] else { throw UpdateRefusal(.layoutMismatch, "no tensor \(t.name)") }
                tensors.append(found)
            }
            let adapter = LoRAAdapter(config: own, tensors: tensors)
            if let problem = CandidateScreening.exclusion(of: adapter, against: expected.layout) {
                throw UpdateRefusal(problem.reason == .nonFiniteValues ? .nonFiniteValues : .layoutMismatch, problem.detail)
            }
            return adapter
        }
        let adapter: LoRAAdapter
        do {
            adapter = try PEFTAdapter.assemble(
                file.tensors, alpha: own.alpha, dropout: own.dropout, rank: own.rank, blocks: blockIndices(expected.layout))
        } catch {
            throw UpdateRefusal(.unreadable, "\(error)")
        }
        if let problem = CandidateScreening.exclusion(of: adapter, against: expected.layout) {
            throw UpdateRefusal(problem.reason == .nonFiniteValues ? .nonFiniteValues : .layoutMismatch, problem.detail)
        }
        return LoRAAdapter(config: own, tensors: adapter.tensors)
    }
}
