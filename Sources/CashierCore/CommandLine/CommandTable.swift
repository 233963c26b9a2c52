/// A program's command line as one value: every command and subcommand, each option with its name,
/// value type, default, whether it is required and a line of help. Parsing (`CommandTable.parse`), the
/// help of every command, the top-level usage and the bash completion script are all made from it, so
/// they cannot disagree (swift-argument-parser's and tig's approach, written small).
///
/// Adding a command is one `Command` in the program's table plus the function it runs.
public struct CommandTable: Sendable {
    /// The program's name as typed (`cashier`, `cashierd`).
    public let program: String
    /// Options every command takes, anywhere on the line (`--data`, `--config`).
    public let globalOptions: [Option]
    /// The program itself: its subcommands (the table's commands, then `help` and `completion`), and,
    /// when it does something with no command (`cashier`'s front end), its options and implementation.
    public let root: Command
    /// Printed after the top-level usage (exit codes and the like).
    public let footer: String?

    /// - Parameters:
    ///   - summary: one line on what the program is.
    ///   - options, run: what the program does when no command is given; without `run`, no command
    ///     prints the usage.
    public init(program: String, summary: String, description: String? = nil, globalOptions: [Option] = [],
                options: [Option] = [], run: (@Sendable (Invocation) throws -> Int32)? = nil,
                commands: [Command], footer: String? = nil) {
        self.program = program
        self.globalOptions = globalOptions
        self.footer = footer
        let builtins = [
            Command("help", summary: "show the help of the program or of a command, and do nothing else",
                    arguments: [.init("COMMAND", required: false, variadic: true, help: "the command, e.g. `\(commands.first?.name ?? "init")`")],
                    builtin: .help),
            Command("completion", summary: "print the bash completion script (source it from ~/.bashrc)",
                    description: "Prints a bash script that completes \(program)'s commands, options and option values. "
                        + "Load it with `source <(\(program) completion bash)`, or save it as "
                        + "/etc/bash_completion.d/\(program).",
                    arguments: [.init("SHELL", .choice(["bash"]), help: "the shell; only bash for now")],
                    builtin: .completion),
        ]
        root = Command(program, summary: summary, description: description, options: options,
                       subcommands: commands + builtins, run: run)
        let problems = Self.problems(root: root, globals: globalOptions)
        precondition(problems.isEmpty, "\(program)'s command table: " + problems.joined(separator: "; "))
    }

    /// The command at `path` (names below the root), if there is one.
    public func command(at path: [String]) -> Command? {
        var node = root
        for name in path {
            guard let next = node.subcommand(named: name) else { return nil }
            node = next
        }
        return node
    }

    /// Every command that can be run, with its path, depth first in table order (groups themselves
    /// only when they run something of their own).
    public func runnableCommands() -> [(path: [String], command: Command)] {
        var out: [(path: [String], command: Command)] = []
        func walk(_ c: Command, _ path: [String]) {
            if !path.isEmpty && (c.run != nil || c.builtin != nil) { out.append((path, c)) }
            for s in c.subcommands { walk(s, path + [s.name]) }
        }
        walk(root, [])
        return out
    }

    /// Letters, digits, `-`, `_` and `.` only: safe unquoted in the shell and in the completion script.
    static func isPlainWord(_ s: String) -> Bool {
        !s.isEmpty && s.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0) }
    }

    /// What is wrong with a table; checked when it is made, so a bad table stops every run at once.
    static func problems(root: Command, globals: [Option]) -> [String] {
        var problems: [String] = []
        func check(options: [Option], where place: String) {
            var seen: Set<String> = []
            for o in options {
                if !seen.insert(o.name).inserted { problems.append("\(place): --\(o.name) twice") }
                if o.name == "help" || o.name.hasPrefix("-") || !Self.isPlainWord(o.name) {
                    problems.append("\(place): bad option name \(o.name)")
                }
                if o.kind == .flag && (o.isRequired || o.isRepeatable) { problems.append("\(place): --\(o.name) is a flag") }
                if o.isRequired && o.defaultValue != nil { problems.append("\(place): --\(o.name) is required and has a default") }
                if case .choice(let values) = o.kind {
                    if values.isEmpty { problems.append("\(place): --\(o.name) has no choices") }
                    if values.contains(where: { !Self.isPlainWord($0) }) { problems.append("\(place): --\(o.name) has a choice that is not a plain word") }
                    if case .choice(let d)? = o.defaultValue, !values.contains(d) { problems.append("\(place): --\(o.name)'s default is no choice") }
                }
            }
        }
        check(options: globals, where: "global options")
        let globalNames = Set(globals.map(\.name))
        func walk(_ c: Command, _ place: String) {
            check(options: c.options, where: place)
            for o in c.options where globalNames.contains(o.name) { problems.append("\(place): --\(o.name) is a global option") }
            var names: Set<String> = []
            for s in c.subcommands where !names.insert(s.name).inserted { problems.append("\(place): command \(s.name) twice") }
            for s in c.subcommands where s.name.hasPrefix("-") || !Self.isPlainWord(s.name) {
                problems.append("\(place): bad command name \(s.name)")
            }
            if !c.subcommands.isEmpty && !c.arguments.isEmpty { problems.append("\(place): a command with subcommands takes no arguments") }
            if let d = c.defaultSubcommand, c.subcommand(named: d) == nil { problems.append("\(place): no default subcommand \(d)") }
            if c.subcommands.isEmpty && c.run == nil && c.builtin == nil { problems.append("\(place): runs nothing") }
            var optionalSeen = false
            for a in c.arguments {
                guard let name = a.option else { continue }
                guard let o = c.option(named: name), o.kind != .flag, !o.isRepeatable, !o.isRequired, o.defaultValue == nil, !a.isVariadic else {
                    problems.append("\(place): \(a.name)'s alternative --\(name) is no single optional value of the command")
                    continue
                }
            }
            for (i, a) in c.arguments.enumerated() {
                if a.isVariadic && i != c.arguments.count - 1 { problems.append("\(place): \(a.name) is variadic but not last") }
                if a.isRequired && optionalSeen { problems.append("\(place): required \(a.name) after an optional argument") }
                if !a.isRequired { optionalSeen = true }
            }
            for s in c.subcommands { walk(s, place + " " + s.name) }
        }
        walk(root, root.name)
        return problems
    }
}

/// One command or group of subcommands (`groups` with `add`, `retire`, `list`).
public struct Command: Sendable {
    /// What the machinery itself does for a command (`help`, `completion`), instead of a `run`.
    public enum Builtin: Sendable { case help, completion }

    public let name: String
    /// One line: what it does (in the usage and the completion's listing).
    public let summary: String
    /// More, for its `--help`.
    public let description: String?
    public let options: [Option]
    /// Positional arguments, in order.
    public let arguments: [Argument]
    public let subcommands: [Command]
    /// The subcommand run when none is named (`groups` is `groups list`).
    public let defaultSubcommand: String?
    /// The implementation, handed the typed values; returns the exit code. Nil for a group that only
    /// holds subcommands.
    public let run: (@Sendable (Invocation) throws -> Int32)?
    public let builtin: Builtin?

    /// A command that does something.
    public init(_ name: String, summary: String, description: String? = nil, options: [Option] = [],
                arguments: [Argument] = [], run: @escaping @Sendable (Invocation) throws -> Int32) {
        self.init(name, summary: summary, description: description, options: options, arguments: arguments,
                  subcommands: [], run: run)
    }

    /// A group of subcommands (`device list`, `device revoke`); with `default`, naming none runs that one.
    public static func group(_ name: String, summary: String, description: String? = nil, default defaultSubcommand: String? = nil,
                             _ subcommands: [Command]) -> Command {
        Command(name, summary: summary, description: description, subcommands: subcommands, defaultSubcommand: defaultSubcommand)
    }

    init(_ name: String, summary: String, description: String? = nil, options: [Option] = [], arguments: [Argument] = [],
         subcommands: [Command] = [], defaultSubcommand: String? = nil, run: (@Sendable (Invocation) throws -> Int32)? = nil,
         builtin: Builtin? = nil) {
        self.name = name
        self.summary = summary
        self.description = description
        self.options = options
        self.arguments = arguments
        self.subcommands = subcommands
        self.defaultSubcommand = defaultSubcommand
        self.run = run
        self.builtin = builtin
    }

    public func subcommand(named name: String) -> Command? { subcommands.first { $0.name == name } }
    public func option(named name: String) -> Option? { options.first { $0.name == name } }
}

/// What an option's value (or a positional argument) is; the parser refuses anything else.
public enum ValueKind: Sendable, Equatable {
    /// No value: present or not.
    case flag
    /// Any text that is not empty.
    case string
    /// A whole number, within `range` when one is given.
    case integer(ClosedRange<Int>?)
    /// A decimal amount above zero with at most two fraction digits (`12.34`), handed over in minor units.
    /// A sum of money; `zeroAllowed` for counts such as a float or counted cash, else above zero.
    case amount(zeroAllowed: Bool)
    /// A file or directory (completed as a file name).
    case path
    /// One of these words.
    case choice([String])
}

/// A value as the parser hands it to the implementation, typed.
public enum Value: Sendable, Equatable {
    case text(String)
    case integer(Int)
    /// Minor units (cents): `12.34` is 1234.
    case amount(Int64)
    case path(String)
    case choice(String)

    /// The value as text (a number in decimal).
    public var text: String {
        switch self {
        case .text(let s), .path(let s), .choice(let s): return s
        case .integer(let n): return String(n)
        case .amount(let m): return Money(minorUnits: m).decimalString
        }
    }
}

/// A `--name` option of a command.
public struct Option: Sendable {
    /// Without the dashes: `listen` for `--listen`.
    public let name: String
    public let kind: ValueKind
    /// The value's name in the usage: `--listen HOST:PORT`; empty for a flag.
    public let placeholder: String
    public let help: String
    public let isRequired: Bool
    /// May be given more than once; the implementation gets every value. Otherwise twice is an error.
    public let isRepeatable: Bool
    /// What the implementation gets when the option is not given.
    public let defaultValue: Value?
    /// The default as the help shows it (also for defaults the implementation works out, like `$CASHIERD_DATA`).
    public let defaultText: String?
    /// Takes an empty value (`--script ''`); every other option refuses one.
    public let allowsEmpty: Bool

    init(_ name: String, _ kind: ValueKind, placeholder: String, help: String, required: Bool = false, repeatable: Bool = false,
         default defaultValue: Value? = nil, defaultText: String? = nil, allowsEmpty: Bool = false) {
        self.allowsEmpty = allowsEmpty
        self.name = name
        self.kind = kind
        self.placeholder = placeholder
        self.help = help
        self.isRequired = required
        self.isRepeatable = repeatable
        self.defaultValue = defaultValue
        self.defaultText = defaultText ?? defaultValue?.text
    }

    /// `--name` alone: on or off.
    public static func flag(_ name: String, help: String) -> Option {
        Option(name, .flag, placeholder: "", help: help)
    }

    /// - Parameters:
    ///   - defaultText: how the help shows a default the implementation works out itself.
    ///   - allowsEmpty: an empty value is a value (otherwise `--name ''` is refused).
    public static func string(_ name: String, _ placeholder: String = "TEXT", required: Bool = false, repeatable: Bool = false,
                              default value: String? = nil, defaultText: String? = nil, allowsEmpty: Bool = false,
                              help: String) -> Option {
        Option(name, .string, placeholder: placeholder, help: help, required: required, repeatable: repeatable,
               default: value.map(Value.text), defaultText: defaultText, allowsEmpty: allowsEmpty)
    }

    public static func integer(_ name: String, _ placeholder: String = "N", in range: ClosedRange<Int>? = nil, required: Bool = false,
                               default value: Int? = nil, help: String) -> Option {
        Option(name, .integer(range), placeholder: placeholder, help: help, required: required, default: value.map(Value.integer))
    }

    /// - Parameter zeroAllowed: 0 is a value (a float, counted cash); otherwise the amount must be above zero.
    public static func amount(_ name: String, _ placeholder: String = "AMOUNT", required: Bool = false, zeroAllowed: Bool = false,
                              help: String) -> Option {
        Option(name, .amount(zeroAllowed: zeroAllowed), placeholder: placeholder, help: help, required: required)
    }

    /// - Parameter defaultText: how the help shows a default the implementation works out itself.
    public static func path(_ name: String, _ placeholder: String = "PATH", required: Bool = false, default value: String? = nil,
                            defaultText: String? = nil, help: String) -> Option {
        Option(name, .path, placeholder: placeholder, help: help, required: required, default: value.map(Value.path),
               defaultText: defaultText)
    }

    public static func choice(_ name: String, _ values: [String], required: Bool = false, default value: String? = nil,
                              help: String) -> Option {
        Option(name, .choice(values), placeholder: values.joined(separator: "|"), help: help, required: required,
               default: value.map(Value.choice))
    }

    /// `--name PLACEHOLDER`, or `--name` for a flag.
    public var usageText: String { placeholder.isEmpty ? "--\(name)" : "--\(name) \(placeholder)" }
}

/// A positional argument (`device revoke DEVICE_ID`).
public struct Argument: Sendable {
    /// As the usage shows it: `DEVICE_ID`.
    public let name: String
    public let kind: ValueKind
    public let isRequired: Bool
    /// Takes every remaining argument (last only).
    public let isVariadic: Bool
    public let help: String
    /// An option of the same command that may be given instead (`activate CODE` or `activate --code CODE`):
    /// the implementation gets either as this argument, and a required argument needs one of the two.
    public let option: String?

    public init(_ name: String, _ kind: ValueKind = .string, required: Bool = true, variadic: Bool = false, or option: String? = nil,
                help: String) {
        self.name = name
        self.kind = kind
        self.isRequired = required
        self.isVariadic = variadic
        self.option = option
        self.help = help
    }

    public var usageText: String {
        let base = isVariadic ? "\(name)..." : name
        return isRequired ? base : "[\(base)]"
    }
}
