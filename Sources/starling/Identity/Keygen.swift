import ArgumentParser
import Foundation
import Gossip
import Logging

/// `starling keygen`: makes a node identity.
///
/// ```
/// $ starling keygen --out state/alice
/// 3f1c...e09a
/// ```
struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a node's Ed25519 identity key.",
        discussion: """
            Writes DIR/node.key (the secret seed, mode 0600) and DIR/node.pub, then prints
            the public key as 64 hexadecimal digits: the text a topology file lists for
            this node. An existing key is never replaced unless --force is given.

            Example:
              $ starling keygen --out state/alice
              5b0c7d2e...
            """
    )

    @Option(name: .long, help: "Folder for node.key and node.pub (created if missing).")
    var out: String

    @Flag(name: .long, help: "Replace an existing key in DIR.")
    var force = false

    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.bootstrapLogging()
        let log = Logger(label: "starling.keygen")
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            throw UserError("cannot create \(out): \(error.localizedDescription)")
        }
        let secretPath = (out as NSString).appendingPathComponent(SigningKeyPair.secretKeyFileName)
        let publicPath = (out as NSString).appendingPathComponent(SigningKeyPair.publicKeyFileName)
        if !force && FileManager.default.fileExists(atPath: secretPath) {
            throw UserError("\(secretPath) already exists; refusing to replace a node's identity (use --force)")
        }
        do {
            let keys = try SigningKeyPair()
            try keys.save(to: secretPath, overwrite: force)
            try keys.savePublicKey(to: publicPath, overwrite: true)
            log.info("wrote key pair", metadata: ["secret": "\(secretPath)", "public": "\(publicPath)"])
            print(keys.publicKey.description)
        } catch {
            throw UserError("\(error)")
        }
    }
}
