/// A small command-line reader: `--name value` options (repeatable), `--flag` switches, and positionals.
struct Arguments {
    private(set) var positionals: [String] = []
    private var options: [String: [String]] = [:]
    private var flags: Set<String> = []

    /// - Parameter switches: option names that take no value.
    init(_ arguments: [String], switches: Set<String>) throws {
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

    func value(_ name: String) -> String? { options[name]?.last }
    func values(_ name: String) -> [String] { options[name] ?? [] }
    func flag(_ name: String) -> Bool { flags.contains(name) }

    func required(_ name: String) throws -> String {
        guard let v = value(name), !v.isEmpty else { throw UsageError("--\(name) is required") }
        return v
    }

    func int(_ name: String, default d: Int) throws -> Int {
        guard let v = value(name) else { return d }
        guard let n = Int(v) else { throw UsageError("--\(name) takes a whole number, not \(v)") }
        return n
    }

    /// Every option given that is not in `known`.
    func unknownOptions(known: Set<String>) -> [String] {
        (Array(options.keys) + Array(flags)).filter { !known.contains($0) }
    }
}

struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
