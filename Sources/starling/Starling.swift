// The `starling` command line: thin commands over the library modules.

import ArgumentParser
import Foundation
import Learning
import Logging

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
        subcommands: [Keygen.self, TopologyCommand.self, DataCommand.self, Pretrain.self, Finetune.self, Eval.self, Generate.self, NodeCommand.self, UpCommand.self, StatusCommand.self, TrustCommand.self, ExperimentCommand.self, Bench.self, BLASKernelCommand.self, GossipPeer.self, BenchSink.self]
    )

    /// Runs again under the right OpenBLAS kernel if need be, then parses and runs the command.
    static func main() {
        BLASKernelStartup.runUnderTheBestKernel()
        main(nil)
    }
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    /// Sends swift-log output to standard error at the chosen level. Call once per process.
    func bootstrapLogging() {
        let level = logLevel
        LoggingBootstrap.once(level: level)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum LoggingBootstrap {
    nonisolated(unsafe) private static var done = false
    private static let lock = NSLock()

    static func once(level: Logger.Level) {
        lock.lock()
        defer { lock.unlock() }
        guard !done else { return }
        done = true
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// An error a command reports to the user as one line, exiting with status 1.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
