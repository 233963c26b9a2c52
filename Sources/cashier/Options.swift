/// The command line split into a subcommand, `--name value` options and `--flag`s.
struct Options {
    var command: String?
    var values: [String: String] = [:]
    var flags: Set<String> = []
    var rest: [String] = []

    /// Options that take no value.
    static let flagNames: Set<String> = ["json", "headless", "dump-screen", "help"]

    init(_ arguments: [String]) throws(UsageError) {
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a.hasPrefix("--") {
                let name = String(a.dropFirst(2))
                if let eq = name.firstIndex(of: "=") {
                    values[String(name[..<eq])] = String(name[name.index(after: eq)...])
                } else if Self.flagNames.contains(name) {
                    flags.insert(name)
                } else {
                    guard i + 1 < arguments.count else { throw UsageError("--\(name) needs a value") }
                    values[name] = arguments[i + 1]
                    i += 1
                }
            } else if command == nil {
                command = a
            } else {
                rest.append(a)
            }
            i += 1
        }
    }

    var json: Bool { flags.contains("json") }
}

struct UsageError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}
