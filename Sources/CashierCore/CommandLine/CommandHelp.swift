/// The help of every command, the usage shown with errors and the top-level usage, all from the table.
extension CommandTable {
    /// A command's synopsis after the program's name: `serve [--listen HOST:PORT]... [--quiet]`.
    public func synopsis(at path: [String]) -> String {
        guard let c = command(at: path) else { return path.joined(separator: " ") }
        var parts = path
        // A group's default subcommand may be left out: `groups [list]`.
        if let last = path.last, let parent = command(at: Array(path.dropLast())), parent.defaultSubcommand == last {
            parts[parts.count - 1] = "[\(last)]"
        }
        if !c.subcommands.isEmpty && c.run == nil {
            parts.append(c.defaultSubcommand == nil ? "<command>" : "[<command>]")
            return parts.joined(separator: " ")
        }
        var alternatives: Set<String> = []
        for a in c.arguments {
            if let name = a.option, let o = c.option(named: name) {
                alternatives.insert(name)
                parts.append(a.isRequired ? "(\(a.name) | \(o.usageText))" : "[\(a.name) | \(o.usageText)]")
            } else {
                parts.append(a.usageText)
            }
        }
        for o in c.options where !alternatives.contains(o.name) {
            let text = o.usageText
            parts.append(o.isRequired ? text : "[\(text)]" + (o.isRepeatable ? "..." : ""))
        }
        return parts.joined(separator: " ")
    }

    /// What errors show: the command's synopsis (for a group, its commands'), and where to read more.
    public func usage(at path: [String]) -> String {
        guard !path.isEmpty, let c = command(at: path) else {
            var lines = ["usage: \(program) <command> [options]"]
            if root.run != nil { lines.append("       \(program) \(synopsis(at: []))") }
            lines.append("commands: " + root.subcommands.map(\.name).joined(separator: ", "))
            lines.append("(`\(program) --help` says more)")
            return lines.joined(separator: "\n")
        }
        var lines: [String] = []
        if !c.subcommands.isEmpty && c.run == nil {
            let leaves = runnableCommands().filter { $0.path.starts(with: path) && $0.path.count > path.count }
            lines.append("usage: \(program) \(synopsis(at: path))")
            lines += leaves.map { "       \(program) \(synopsis(at: $0.path))" }
        } else {
            lines.append("usage: \(program) \(synopsis(at: path))")
        }
        lines.append("(`\(title(path)) --help` says more)")
        return lines.joined(separator: "\n")
    }

    /// The help `--help` prints: for the program, the top-level usage; for a command, its synopsis,
    /// summary, description, arguments and options with their types and defaults.
    public func help(at path: [String]) -> String {
        guard let c = command(at: path) else { return help(at: []) }
        if path.isEmpty { return topLevelUsage() }
        var out = ["usage: \(program) \(synopsis(at: path))", "", c.summary]
        if let d = c.description { out += ["", d] }
        if !c.subcommands.isEmpty {
            let leaves = runnableCommands().filter { $0.path.starts(with: path) && $0.path.count > path.count }
            out += ["", "commands:"] + Self.columns(leaves.map { (synopsis(at: $0.path), $0.command.summary) })
            if let d = c.defaultSubcommand { out += ["", "With no command, `\(title(path + [d]))`."] }
        }
        if !c.arguments.isEmpty {
            out += ["", "arguments:"] + Self.columns(c.arguments.map { ($0.usageText, Self.describe($0)) })
        }
        if !c.options.isEmpty {
            out += ["", "options:"] + Self.columns(c.options.map { ($0.usageText, Self.describe($0)) })
        }
        out += ["", "global options:"] + globalOptionLines()
        return out.joined(separator: "\n")
    }

    /// `program --help`: every command with its synopsis and summary, the global options and the footer.
    public func topLevelUsage() -> String {
        var out = ["usage: \(program) <command> [options]"]
        if root.run != nil { out.append("       \(program) \(synopsis(at: []))") }
        out += ["", root.summary]
        if let d = root.description { out += ["", d] }
        out += ["", "commands:"]
        out += Self.columns(runnableCommands().map { (synopsis(at: $0.path), $0.command.summary) })
        if !root.options.isEmpty {
            out += ["", "options with no command:"] + Self.columns(root.options.map { ($0.usageText, Self.describe($0)) })
        }
        out += ["", "global options (before or after the command):"] + globalOptionLines()
        if let footer { out += ["", footer] }
        return out.joined(separator: "\n")
    }

    private func globalOptionLines() -> [String] {
        Self.columns(globalOptions.map { ($0.usageText, Self.describe($0)) } + [("-h, --help", "show this help and do nothing else")])
    }

    /// An option's help with what the table knows about it: required, repeatable, range, default.
    static func describe(_ o: Option) -> String {
        var notes: [String] = []
        if o.isRequired { notes.append("required") }
        if case .integer(let range?) = o.kind { notes.append("\(range.lowerBound) to \(range.upperBound)") }
        if o.isRepeatable { notes.append("repeatable") }
        if let d = o.defaultText { notes.append("default \(d)") }
        return notes.isEmpty ? o.help : "\(o.help) (\(notes.joined(separator: "; ")))"
    }

    static func describe(_ a: Argument) -> String {
        var notes: [String] = []
        if !a.isRequired { notes.append("optional") }
        if let o = a.option { notes.append("or --\(o)") }
        if case .choice(let values) = a.kind { notes.append(values.joined(separator: " or ")) }
        return notes.isEmpty ? a.help : "\(a.help) (\(notes.joined(separator: "; ")))"
    }

    /// Two columns: the left padded to a fixed width, or, when it is too long, the right on the next line.
    static func columns(_ rows: [(String, String)], width: Int = 34) -> [String] {
        var lines: [String] = []
        for (left, right) in rows {
            if left.count <= width - 2 {
                lines.append("  " + left + String(repeating: " ", count: width - left.count) + right)
            } else {
                lines.append("  " + left)
                lines.append(String(repeating: " ", count: width + 2) + right)
            }
        }
        return lines
    }
}
