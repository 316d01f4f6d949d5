// What `starling up` makes before starting nodes: keys for nodes the topology lists
// without one, generated text for nodes whose text is missing, and (on request) a
// clean slate.

import Foundation
import Gossip
import Learning

public enum ClusterPreparation {
    /// Makes missing keys (only for nodes without a public_key in the topology), writes
    /// missing generated text, and with `fresh` forgets every node's progress.
    public static func prepare(_ t: Topology, bytesPerNode: Int, fresh: Bool) throws {
        for (i, node) in t.nodes.enumerated() {
            let state = StateDirectory(path: t.stateDirectory(of: i))
            try FileSystem.createDirectory(state.path)
            if !FileSystem.exists(state.keyPath) {
                guard node.publicKey == nil else {
                    throw NodeError(
                        "node \(node.name): the topology lists its public key but \(state.keyPath) is missing; "
                            + "copy the node's key there, or remove public_key to make a new one")
                }
                let keys = try SigningKeyPair()
                try keys.save(to: state.keyPath)
                try keys.savePublicKey(to: state.publicKeyPath, overwrite: true)
            }
            if fresh {
                for file in [state.progressPath, state.trustHistoryPath, state.metricsPath] { try FileSystem.removeFile(file) }
                state.removeCheckpoints(except: nil)
            }
        }
        let missing = t.nodes.contains { !FileSystem.exists(t.resolve($0.data)) }
        if missing {
            guard !t.sources.isEmpty else {
                let names = t.nodes.filter { !FileSystem.exists(t.resolve($0.data)) }.map(\.name)
                throw NodeError("no text for \(names.joined(separator: ", ")) and no sources to generate it from")
            }
            try SyntheticText.write(topology: t, bytesPerNode: bytesPerNode)
        }
    }
}
