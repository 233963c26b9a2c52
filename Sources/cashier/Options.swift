import CashierCore

/// `cashier`'s command line: a subcommand, `--name value` options and `--flag`s.
struct Options {
    let arguments: CommandLineArguments

    /// Options that take no value.
    static let flagNames: Set<String> = ["json", "headless", "dump-screen", "help"]

    init(_ arguments: [String]) throws(UsageError) {
        self.arguments = try CommandLineArguments(arguments, switches: Self.flagNames)
    }

    var command: String? { arguments.positionals.first }
    var rest: [String] { Array(arguments.positionals.dropFirst()) }
    var json: Bool { arguments.flag("json") }
    func value(_ name: String) -> String? { arguments.value(name) }
    func flag(_ name: String) -> Bool { arguments.flag(name) }
}
