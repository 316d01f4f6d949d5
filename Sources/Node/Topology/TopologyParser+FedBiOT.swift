// The topology keys of the fedbiot scheme: a node's `role` ("aligner" or "client"),
// the aligner's `public_data`, and the scheme's table
//
//   fedbiot = { adapter_blocks = 2, drop_ratio = 0.2, layout = "fedbiot", lambda = 1,
//               align_steps = 10, align_lr = 1e-4, emulator_every = 1,
//               emulator_dtype = "f16", proximal = 0.01, chunk_interval_ms = 0 }

import Learning
import Schemes
import TOMLKit

extension Reader {
    static let fedbiotKeys: Set<String> = [
        "adapter_blocks", "drop_ratio", "layout", "lambda", "align_steps", "align_lr", "emulator_every", "emulator_dtype", "proximal",
        "chunk_interval_ms",
    ]

    /// Applies `role`, `public_data` and the `fedbiot` table of `t` to `s`.
    mutating func fedbiotSettings(_ t: TOMLTable, _ path: String, into s: inout NodeSettings) {
        func p(_ k: String) -> String { "\(path).\(k)" }
        if let v = string(t, "role", p("role")) {
            if let role = FedBiOTRole(rawValue: v) {
                s.role = role
            } else {
                problem(p("role"), "\(p("role")): unknown role \"\(v)\" (known: \(FedBiOTRole.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        if let v = string(t, "public_data", p("public_data")) { s.publicData = v }
        guard let value = t["fedbiot"] else { return }
        guard let f = value.table else {
            problem(p("fedbiot"), "\(p("fedbiot")) must be a table such as { adapter_blocks = 2, drop_ratio = 0.2 }")
            return
        }
        let q = p("fedbiot")
        unknownKeys(f, q, allowed: Self.fedbiotKeys)
        if let v = int(f, "adapter_blocks", "\(q).adapter_blocks", min: 1) { s.fedbiot.adapterBlocks = v }
        if let v = double(f, "drop_ratio", "\(q).drop_ratio", { $0 >= 0 && $0 < 1 }, "in [0, 1)") { s.fedbiot.dropRatio = v }
        if let v = string(f, "layout", "\(q).layout") {
            if let layout = EmulatorLayout(rawValue: v) {
                s.fedbiot.layout = layout
            } else {
                problem("\(q).layout", "\(q).layout: unknown layout \"\(v)\" (known: \(EmulatorLayout.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }
        if let v = double(f, "lambda", "\(q).lambda", { $0 >= 0 }, "at least 0") { s.fedbiot.lambda = v }
        if let v = int(f, "align_steps", "\(q).align_steps", min: 0) { s.fedbiot.alignSteps = v }
        if let v = double(f, "align_lr", "\(q).align_lr", { $0 > 0 && $0 < 1 }, "in (0, 1)") { s.fedbiot.alignLearningRate = v }
        if let v = int(f, "emulator_every", "\(q).emulator_every", min: 0) { s.fedbiot.emulatorEvery = v }
        if let v = string(f, "emulator_dtype", "\(q).emulator_dtype") {
            if v == "f16" || v == "f32" {
                s.fedbiot.emulatorHalf = v == "f16"
            } else {
                problem("\(q).emulator_dtype", "\(q).emulator_dtype must be \"f32\" or \"f16\", got \"\(v)\"")
            }
        }
        if let v = double(f, "proximal", "\(q).proximal", { $0 >= 0 }, "at least 0") { s.fedbiot.proximal = v }
        if let v = int(f, "chunk_interval_ms", "\(q).chunk_interval_ms", min: 0) { s.fedbiot.chunkIntervalMilliseconds = v }
    }

    /// A fedbiot network has exactly one aligner, and the aligner has public text.
    mutating func checkAligner(_ nodes: [TopologyNode]) {
        let fedbiot = nodes.indices.filter { nodes[$0].settings.scheme == FedBiOT.schemeName }
        guard !fedbiot.isEmpty else { return }
        let aligners = fedbiot.filter { nodes[$0].settings.role == .aligner }
        if aligners.count != 1 {
            let names = aligners.map { nodes[$0].name }.joined(separator: ", ")
            problem("nodes", "a fedbiot network needs exactly one node with role = \"aligner\" (found \(aligners.count)\(names.isEmpty ? "" : ": \(names)"))")
        }
        for i in aligners where nodes[i].settings.publicData == nil {
            problem("nodes[\(i)]", "node \(nodes[i].name): the aligner needs public_data, the public text it aligns the emulator on")
        }
    }
}
