// The error of a command that the user can act on: one line, no stack.

/// An error a command reports to the user as one line, exiting with status 1.
struct UserError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
