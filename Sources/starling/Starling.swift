// The `starling` command line: thin commands over the library modules.

import ArgumentParser
import Foundation
import Learning
import Node

@main
struct Starling: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "starling",
        abstract: "A peer-to-peer node that fine-tunes a language model with trusted neighbours.",
        discussion: """
            Each device runs one node. A node fine-tunes a small transformer with LoRA on
            its own text, signs and gossips its adapter, weighs its neighbours by trust and
            averages what it receives into its personalized model.

            Example:
              $ starling keygen --out state/alice
            """,
        version: "\(version)\n\(BLASKernel.summary(environment: ProcessInfo.processInfo.environment))",
        subcommands: [Keygen.self, TopologyCommand.self, DataCommand.self, Pretrain.self, Finetune.self, Eval.self, Generate.self, EmulatorCommand.self, NodeCommand.self, UpCommand.self, StatusCommand.self, TrustCommand.self, ExperimentCommand.self, Bench.self, BLASKernelCommand.self, GossipPeer.self, BenchSink.self]
    )

    /// Runs again under the right OpenBLAS kernel if need be, fixes the allocator's mmap
    /// threshold, then parses and runs the command.
    static func main() {
        BLASKernelStartup.runUnderTheBestKernel()
        HeapReturn.returnLargeBuffersWhenFreed()
        main(nil)
    }
}
