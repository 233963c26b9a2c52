/// The bash completion script, made from the table: commands and subcommands, each command's options
/// (global ones included), the words a choice takes, file names for paths, and choice arguments.
extension CommandTable {
    /// A script for `source <(program completion bash)`; it defines `_program` and registers it with `complete`.
    public func bashCompletionScript() -> String {
        let fn = "_" + String(program.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        var paths: [[String]] = []
        func walk(_ c: Command, _ path: [String]) {
            paths.append(path)
            for s in c.subcommands { walk(s, path + [s.name]) }
        }
        walk(root, [])

        func quoted(_ s: String) -> String { "\"" + s + "\"" }
        var lines = [
            "# bash completion for \(program), made from its command table by `\(program) completion bash`.",
            "# Load it with: source <(\(program) completion bash)",
            "",
            "# The subcommands of a command (its path: words separated by one space).",
            "\(fn)_commands() {",
            "    case \"$1\" in",
        ]
        for path in paths {
            guard let c = command(at: path), !c.subcommands.isEmpty else { continue }
            lines.append("        \(quoted(path.joined(separator: " ")))) echo \(quoted(c.subcommands.map(\.name).joined(separator: " "))) ;;")
        }
        lines += ["    esac", "}", "", "# The options of a command, global ones included.", "\(fn)_options() {", "    case \"$1\" in"]
        let globals = globalOptions.map { "--" + $0.name }
        for path in paths {
            guard let c = command(at: path) else { continue }
            let names = c.options.map { "--" + $0.name } + globals + ["--help"]
            lines.append("        \(quoted(path.joined(separator: " ")))) echo \(quoted(names.joined(separator: " "))) ;;")
        }
        lines += [
            "    esac", "}", "",
            "# What follows an option: flag (nothing), file, text, or words W...",
            "\(fn)_value() {",
            "    case \"$1|$2\" in",
        ]
        func kindWord(_ o: Option) -> String {
            switch o.kind {
            case .flag: return "flag"
            case .path: return "file"
            case .choice(let values): return "words " + values.joined(separator: " ")
            case .string, .integer, .amount: return "text"
            }
        }
        for path in paths {
            guard let c = command(at: path) else { continue }
            for o in c.options {
                lines.append("        \(quoted(path.joined(separator: " ") + "|--" + o.name))) echo \(quoted(kindWord(o))) ;;")
            }
        }
        for o in globalOptions {
            lines.append("        *\(quoted("|--" + o.name))) echo \(quoted(kindWord(o))) ;;")
        }
        lines += ["        *) echo flag ;;", "    esac", "}", "", "# Words a command's arguments take.", "\(fn)_arguments() {", "    case \"$1\" in"]
        for path in paths {
            guard let c = command(at: path), let first = c.arguments.first else { continue }
            var words: [String] = []
            if c.builtin == .help { words = root.subcommands.map(\.name) }
            if case .choice(let values) = first.kind { words = values }
            if !words.isEmpty { lines.append("        \(quoted(path.joined(separator: " ")))) echo \(quoted(words.joined(separator: " "))) ;;") }
        }
        lines += [
            "    esac", "}", "",
            "\(fn)() {",
            "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" path=\"\" expect=\"\" word i",
            "    for ((i = 1; i < COMP_CWORD; i++)); do",
            "        word=\"${COMP_WORDS[i]}\"",
            "        if [[ -n \"$expect\" ]]; then expect=\"\"; continue; fi",
            "        case \"$word\" in",
            "            --*=*) ;;",
            "            --*) expect=\"$(\(fn)_value \"$path\" \"$word\")\"; [[ \"$expect\" == flag ]] && expect=\"\" ;;",
            "            -*) ;;",
            "            *) if [[ \" $(\(fn)_commands \"$path\") \" == *\" $word \"* ]]; then path=\"${path:+$path }$word\"; fi ;;",
            "        esac",
            "    done",
            "    COMPREPLY=()",
            "    case \"$expect\" in",
            "        file) mapfile -t COMPREPLY < <(compgen -f -- \"$cur\"); return 0 ;;",
            "        words\\ *) mapfile -t COMPREPLY < <(compgen -W \"${expect#words }\" -- \"$cur\"); return 0 ;;",
            "        text) return 0 ;;",
            "    esac",
            "    local words",
            "    words=\"$(\(fn)_commands \"$path\") $(\(fn)_arguments \"$path\")\"",
            "    if [[ \"$cur\" == -* || -z \"${words// /}\" ]]; then words=\"$(\(fn)_options \"$path\")\"; fi",
            "    mapfile -t COMPREPLY < <(compgen -W \"$words\" -- \"$cur\")",
            "    return 0",
            "}",
            "complete -F \(fn) \(program)",
        ]
        return lines.joined(separator: "\n")
    }
}
