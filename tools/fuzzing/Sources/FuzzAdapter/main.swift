// Feeds arbitrary bytes to the safetensors decoder and the PEFT adapter assembly: the
// path every received UPDATE takes in a Starling node.

import CLibFuzzer
import Foundation
import Learning

func fuzzAdapter(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    _ = try? SafeTensors.decode(bytes)
    _ = try? PEFTAdapter.decodeWeights(Array(bytes), config: LoRAConfig(rank: 4, alpha: 32, dropout: 0))
    return 0
}

// SwiftPM gives an executable its own main, so libFuzzer's driver is called from here.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzAdapter(data, size) })
