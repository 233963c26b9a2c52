/// A small command-line reader shared by `cashier` and `cashierd`: `--name value` and `--name=value`
/// options (repeatable), `--flag` switches, and positionals.
public struct CommandLineArguments: Sendable {
    public private(set) var positionals: [String] = []
    private var options: [String: [String]] = [:]
    private var flags: Set<String> = []

    /// - Parameter switches: option names that take no value.
    public init(_ arguments: [String], switches: Set<String>) throws(UsageError) {
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a.hasPrefix("--") {
                let name = String(a.dropFirst(2))
                if let eq = name.firstIndex(of: "=") {
                    options[String(name[..<eq]), default: []].append(String(name[name.index(after: eq)...]))
                } else if switches.contains(name) {
                    flags.insert(name)
                } else {
                    guard i + 1 < arguments.count else { throw UsageError("--\(name) needs a value") }
                    options[name, default: []].append(arguments[i + 1])
                    i += 1
                }
            } else {
                positionals.append(a)
            }
            i += 1
        }
    }

    /// The last value given for `--name`.
    public func value(_ name: String) -> String? { options[name]?.last }
    /// Every value given for a repeatable `--name`.
    public func values(_ name: String) -> [String] { options[name] ?? [] }
    public func flag(_ name: String) -> Bool { flags.contains(name) }

    public func required(_ name: String) throws(UsageError) -> String {
        guard let v = value(name), !v.isEmpty else { throw UsageError("--\(name) is required") }
        return v
    }

    public func int(_ name: String, default d: Int) throws(UsageError) -> Int {
        guard let v = value(name) else { return d }
        guard let n = Int(v) else { throw UsageError("--\(name) takes a whole number, not \(v)") }
        return n
    }

    /// Every option given that is not in `known`.
    public func unknownOptions(known: Set<String>) -> [String] {
        (Array(options.keys) + Array(flags)).filter { !known.contains($0) }
    }
}

/// A command line that does not say what the program needs; the message says what is wrong.
public struct UsageError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public var message: String { description }
    public init(_ d: String) { description = d }
}
