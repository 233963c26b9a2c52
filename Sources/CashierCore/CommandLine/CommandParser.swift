/// What a command line asks for, once `CommandTable.parse` has checked it against the table.
public enum CommandLineRequest: Sendable {
    /// Run `invocation.command.run` with these values.
    case run(Invocation)
    /// Print this on standard output and exit 0, doing nothing else (`--help`, `help`, `completion bash`,
    /// or no command at all for a program that needs one).
    case print(String)
}

/// A command line the table does not allow: an unknown command or option, a missing or repeated option,
/// a value missing or of the wrong type. The program prints `message` and `usage` on standard error and
/// exits 2.
public struct CommandLineError: Error, Sendable, CustomStringConvertible {
    /// One line naming the problem: `unknown option --lisen for cashierd serve (did you mean --listen?)`.
    public let message: String
    /// The usage of the command concerned (its synopsis and where to find more).
    public let usage: String
    /// The command concerned (names below the program).
    public let path: [String]

    public init(_ message: String, usage: String, path: [String]) {
        self.message = message
        self.usage = usage
        self.path = path
    }

    public var description: String { message }
}

/// A command to run and the typed values of its command line (given, or the table's defaults).
public struct Invocation: Sendable {
    /// The command's names below the program: `["groups", "add"]`.
    public let path: [String]
    public let command: Command
    /// The program's global options.
    public let globalOptions: [Option]
    /// Values given, per option name (several for a repeatable option).
    public let given: [String: [Value]]
    /// Flags given.
    public let flags: Set<String>
    /// Positional values, per argument name (several for a variadic one).
    public let positional: [String: [String]]
    /// The command's usage, for errors the implementation finds in its values.
    public let usage: String
    let program: String

    private func option(_ name: String) -> Option? {
        command.option(named: name) ?? globalOptions.first { $0.name == name }
    }

    /// The value given for `--name`, else its default.
    public func value(_ name: String) -> Value? {
        assert(option(name) != nil, "\(name) is not an option of \(path)")
        return given[name]?.last ?? option(name)?.defaultValue
    }

    public func flag(_ name: String) -> Bool {
        assert(option(name)?.kind == .flag, "\(name) is not a flag of \(path)")
        return flags.contains(name)
    }

    public func isGiven(_ name: String) -> Bool { given[name] != nil || flags.contains(name) }

    /// A text, path or choice value (given or default).
    public func string(_ name: String) -> String? { value(name)?.text }

    /// Every value of a repeatable option, in the order given.
    public func strings(_ name: String) -> [String] {
        assert(option(name) != nil, "\(name) is not an option of \(path)")
        return (given[name] ?? []).map(\.text)
    }

    public func integer(_ name: String) -> Int? {
        if case .integer(let n)? = value(name) { return n }
        return nil
    }

    /// An amount in minor units.
    public func amount(_ name: String) -> Int64? {
        if case .amount(let m)? = value(name) { return m }
        return nil
    }

    /// The first value of positional argument `name`.
    public func argument(_ name: String) -> String? { positional[name]?.first }
    /// Every value of a variadic positional argument.
    public func arguments(_ name: String) -> [String] { positional[name] ?? [] }

    /// The value of an option the table says is required (or has a default); throws a usage error if the
    /// table and the implementation ever disagree.
    public func requiredString(_ name: String) throws(CommandLineError) -> String {
        guard let v = string(name) else { throw missing(name) }
        return v
    }

    public func requiredInteger(_ name: String) throws(CommandLineError) -> Int {
        guard let v = integer(name) else { throw missing(name) }
        return v
    }

    public func requiredAmount(_ name: String) throws(CommandLineError) -> Int64 {
        guard let v = amount(name) else { throw missing(name) }
        return v
    }

    /// A positional argument the table says is required.
    public func requiredArgument(_ name: String) throws(CommandLineError) -> String {
        guard let v = argument(name) else { throw usageError("\(([program] + path).joined(separator: " ")) needs \(name)") }
        return v
    }

    /// A usage error the implementation found (`a listen address is HOST:PORT`): exit 2 with the usage.
    public func usageError(_ message: String) -> CommandLineError {
        CommandLineError(message, usage: usage, path: path)
    }

    private func missing(_ name: String) -> CommandLineError {
        usageError("\(option(name)?.usageText ?? "--" + name) is required for \(([program] + path).joined(separator: " "))")
    }
}

extension CommandTable {
    /// Checks `arguments` (without the program's name) against the table.
    ///
    /// Options may be written `--name value` or `--name=value`, before or after positional arguments;
    /// global options may come anywhere, also before the command; `--` ends the options. `--help` or
    /// `-h` anywhere asks for the help of the command named so far, whatever else is on the line.
    public func parse(_ arguments: [String]) throws(CommandLineError) -> CommandLineRequest {
        var node = root
        var path: [String] = []
        var given: [String: [Value]] = [:]
        var flags: Set<String> = []
        var words: [String] = []
        var helpRequested = false
        var optionsEnded = false
        // Once a command's own option is given, the next word is an argument, not a subcommand.
        var settled = false
        var firstError: CommandLineError?

        func fail(_ message: String) -> CommandLineError {
            CommandLineError(message, usage: usage(at: path), path: path)
        }
        func note(_ error: CommandLineError) { if firstError == nil { firstError = error } }

        var i = 0
        while i < arguments.count {
            let word = arguments[i]
            i += 1
            if !optionsEnded && word == "--" { optionsEnded = true; continue }
            if !optionsEnded && (word == "--help" || word == "-h") { helpRequested = true; continue }
            if !optionsEnded && word.hasPrefix("-") && word.count > 1 && Int(word) == nil {
                guard word.hasPrefix("--") else { note(fail("unknown option \(word) for \(title(path))")); continue }
                var name = String(word.dropFirst(2))
                var inline: String?
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                let local = node.option(named: name)
                guard let option = local ?? globalOptions.first(where: { $0.name == name }) else {
                    let known = node.options.map(\.name) + globalOptions.map(\.name) + ["help"]
                    let hint = Self.closest(to: name, among: known).map { " (did you mean --\($0)?)" } ?? ""
                    note(fail("unknown option --\(name) for \(title(path))\(hint)"))
                    continue
                }
                if local != nil { settled = true }
                if option.kind == .flag {
                    if inline != nil { note(fail("--\(name) takes no value")) }
                    flags.insert(name)
                    continue
                }
                let text: String
                if let inline {
                    text = inline
                } else if i < arguments.count && !arguments[i].hasPrefix("--") {
                    text = arguments[i]
                    i += 1
                } else {
                    note(fail("--\(name) needs a value (\(option.usageText))"))
                    continue
                }
                do {
                    let value = option.allowsEmpty && text.isEmpty ? Value.text("") : try Self.convert(text, option.kind, what: "--\(name)")
                    if given[name] != nil && !option.isRepeatable {
                        note(fail("--\(name) is given twice; it takes one value"))
                    }
                    given[name, default: []].append(value)
                } catch let message {
                    note(fail(message.text))
                }
                continue
            }
            if words.isEmpty && !settled, let sub = node.subcommand(named: word) {
                node = sub
                path.append(word)
                continue
            }
            if !node.subcommands.isEmpty {
                // A command with subcommands takes no arguments of its own.
                if settled { note(fail("unexpected argument \(word) for \(title(path))")); continue }
                let hint = Self.closest(to: word, among: node.subcommands.map(\.name)).map { " (did you mean \($0)?)" } ?? ""
                let message = path.isEmpty ? "unknown command \(word)\(hint)" : "unknown command \(word) for \(title(path))\(hint)"
                // An error even with --help: there is no help to show for a command that does not exist.
                throw fail(message)
            }
            words.append(word)
        }

        if helpRequested { return .print(help(at: path)) }
        if let firstError { throw firstError }

        if node.subcommands.isEmpty == false && node.run == nil {
            if let d = node.defaultSubcommand, let sub = node.subcommand(named: d) {
                node = sub
                path.append(d)
            } else if path.isEmpty {
                return .print(help(at: path))
            } else {
                throw fail("\(title(path)) needs a command: \(node.subcommands.map(\.name).joined(separator: ", "))")
            }
        }

        // Positional arguments, in order.
        var positional: [String: [String]] = [:]
        var rest = words[...]
        for argument in node.arguments {
            if argument.isVariadic {
                for w in rest { positional[argument.name, default: []].append(try checked(w, argument, path)) }
                rest = []
            } else if let w = rest.first {
                positional[argument.name] = [try checked(w, argument, path)]
                rest = rest.dropFirst()
            } else if argument.isRequired && argument.option == nil {
                throw fail("\(title(path)) needs \(argument.name)")
            }
        }
        if let extra = rest.first { throw fail("unexpected argument \(extra) for \(title(path))") }
        // An argument that may be given as an option instead: one of the two, once.
        for argument in node.arguments {
            guard let name = argument.option, let option = node.option(named: name) else { continue }
            let instead = given[name]?.last?.text
            switch (positional[argument.name]?.first, instead) {
            case let (a?, o?) where a != o:
                throw fail("give \(argument.name) or \(option.usageText) to \(title(path)), not both")
            case (nil, let o?):
                positional[argument.name] = [try checked(o, argument, path)]
            case (nil, nil) where argument.isRequired:
                throw fail("\(title(path)) needs \(argument.name) (or \(option.usageText))")
            default:
                break
            }
        }

        let missing = node.options.filter { $0.isRequired && given[$0.name] == nil } + globalOptions.filter { $0.isRequired && given[$0.name] == nil }
        if !missing.isEmpty {
            let list = missing.map(\.usageText).joined(separator: ", ")
            throw fail("\(title(path)) needs \(list)")
        }

        switch node.builtin {
        case .help?:
            let target = positional["COMMAND"] ?? []
            guard command(at: target) != nil else {
                throw CommandLineError("no command \(target.joined(separator: " ")) in \(program)", usage: usage(at: []), path: [])
            }
            return .print(help(at: target))
        case .completion?:
            return .print(bashCompletionScript())
        case nil:
            return .run(Invocation(path: path, command: node, globalOptions: globalOptions, given: given, flags: flags,
                                   positional: positional, usage: usage(at: path), program: program))
        }
    }

    private func checked(_ word: String, _ argument: Argument, _ path: [String]) throws(CommandLineError) -> String {
        do { return try Self.convert(word, argument.kind, what: argument.name).text } catch let message {
            throw CommandLineError(message.text, usage: usage(at: path), path: path)
        }
    }

    /// `cashierd serve`.
    func title(_ path: [String]) -> String { ([program] + path).joined(separator: " ") }

    struct Refusal: Error { let text: String }

    /// Text to a typed value, or the reason it is not one.
    static func convert(_ text: String, _ kind: ValueKind, what: String) throws(Refusal) -> Value {
        guard !text.isEmpty else { throw Refusal(text: "\(what) needs a value that is not empty") }
        switch kind {
        case .flag, .string:
            return .text(text)
        case .path:
            return .path(text)
        case .integer(let range):
            guard let n = Int(text) else { throw Refusal(text: "\(what) takes a whole number, not \(text)") }
            if let range, !range.contains(n) {
                throw Refusal(text: "\(what) takes \(range.lowerBound) to \(range.upperBound), not \(text)")
            }
            return .integer(n)
        case .amount(let zeroAllowed):
            guard let money = try? Money.parse(text) else {
                throw Refusal(text: "\(what) takes an amount like 12.34, not \(text)")
            }
            guard money.minorUnits > 0 || zeroAllowed && money.minorUnits == 0 else { throw Refusal(text: "\(what) takes an amount above zero, not \(text)") }
            return .amount(money.minorUnits)
        case .choice(let values):
            guard values.contains(text) else {
                let list = values.count == 1 ? values[0] : values.dropLast().joined(separator: ", ") + " or " + values.last!
                throw Refusal(text: "\(what) takes \(list), not \(text)")
            }
            return .choice(text)
        }
    }

    /// The one name among `names` within two edits of `word` (the closest), for "did you mean".
    static func closest(to word: String, among names: [String]) -> String? {
        let scored = names.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= 2 && $0.1 < max(word.count, 2) }
        return scored.min { $0.1 < $1.1 }?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var row = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = row
        }
        return previous[b.count]
    }
}
