// Feeds arbitrary text to the topology parser: every problem must come back as a
// diagnostic, never as a crash.

import CLibFuzzer
import Foundation
import Foundation
import Node

func fuzzTopology(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    _ = TopologyParser.parse(text: text, path: "/nonexistent/fuzz/topology.toml")
    return 0
}

// SwiftPM gives an executable its own main, so libFuzzer's driver is called from here.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzTopology(data, size) })
