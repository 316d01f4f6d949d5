// Range checks of command-line values, run in `validate()` before any work starts, so a
// value a user can type ends in one line naming the option and what it allows (exit 64)
// instead of reaching a precondition deep inside the library.

import ArgumentParser
import Foundation

/// Refuses `value` of `option` below `minimum`: "--heads must be at least 1, got 0".
func requireAtLeast(_ minimum: Int, _ option: String, _ value: Int) throws {
    guard value >= minimum else { throw ValidationError("\(option) must be at least \(minimum), got \(value)") }
}

/// Refuses `value` of `option` unless `valid` holds, saying what `range` allows:
/// "--lr must be in (0, 1), got 2.0". Non-finite numbers are always refused.
func require(_ option: String, _ value: Double, in range: String, _ valid: (Double) -> Bool) throws {
    guard value.isFinite, valid(value) else { throw ValidationError("\(option) must be \(range), got \(value)") }
}

/// Refuses an output path `option` that cannot be written: its nearest existing ancestor
/// must be a folder this user may write in. Checked before training, not after it.
func requireWritableOutput(_ option: String, _ path: String) throws {
    guard !path.isEmpty else { throw ValidationError("\(option) must name a folder, got \"\"") }
    let files = FileManager.default
    var ancestor = (path as NSString).standardizingPath
    if !ancestor.hasPrefix("/") { ancestor = (files.currentDirectoryPath as NSString).appendingPathComponent(ancestor) }
    while !files.fileExists(atPath: ancestor) && ancestor != "/" { ancestor = (ancestor as NSString).deletingLastPathComponent }
    var isFolder: ObjCBool = false
    guard files.fileExists(atPath: ancestor, isDirectory: &isFolder), isFolder.boolValue, files.isWritableFile(atPath: ancestor) else {
        throw ValidationError("\(option) \(path): \(ancestor) is not a folder this user can write in")
    }
}

/// The largest model or batch dimension (width, context, sequence, batch, rank) a
/// command takes, and the most blocks or heads: far past what this CPU engine trains, and
/// small enough that no product of sizes the model computes (B·H·T·T, L·C·C, B·T·V)
/// overflows an Int.
let largestDimension = 65_536
let largestBlockCount = 1_024

/// Refuses `value` of `option` outside `lower...upper`: "--width must be between 1 and 65536, got 0".
func requireBetween(_ lower: Int, _ upper: Int, _ option: String, _ value: Int) throws {
    guard (lower...upper).contains(value) else {
        throw ValidationError("\(option) must be between \(lower) and \(upper), got \(value)")
    }
}
