// Feeds arbitrary bytes to everything a receiver runs on a message before trusting it.
// The first 176 bytes are taken as the header frame, the rest as the payload frame.

import CLibFuzzer
import Foundation
import Gossip

func fuzzEnvelope(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let split = min(size, SignedEnvelope.headerFrameByteCount)
    let header = UnsafeRawBufferPointer(rebasing: bytes[0..<split])
    let payload = UnsafeRawBufferPointer(rebasing: bytes[split..<size])
    if let envelope = try? SignedEnvelope.decode(headerFrame: header) {
        _ = envelope.hasValidSignature
        _ = envelope.matches(payload: payload)
        // What decoding accepted must encode back to the same frame.
        precondition(envelope.encodeHeaderFrame() == Array(header), "header frame does not round-trip")
    }
    // Every byte string is a candidate HELLO or SYNC payload too.
    _ = try? HelloPayload.decode(bytes)
    if let entries = try? SyncPayload.decode(bytes) {
        precondition(SyncPayload.encode(entries) == Array(bytes), "SYNC payload does not round-trip")
    }
    return 0
}

// SwiftPM gives an executable its own main, so libFuzzer's driver is called from here.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzEnvelope(data, size) })
