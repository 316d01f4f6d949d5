import ArgumentParser

/// `starling bench`: speed measurements of the node's parts, printed as JSON.
///
/// ```
/// $ starling bench trust --shape tiny --candidates 8
/// {"bench":"trust","candidates":8,...}
/// ```
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure how fast Starling's parts run; prints one JSON object per line.",
        discussion: """
            Each subcommand times one part on synthetic inputs and prints its figures as
            JSON lines on standard output, so runs can be compared and plotted.

            Example:
              $ starling bench trust --shape tiny --candidates 8
            """,
        subcommands: [BenchTrust.self]
    )
}
