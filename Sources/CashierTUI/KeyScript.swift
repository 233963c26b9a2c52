import Terminal

/// One step of a key script: a key, or a pause that lets time pass (countdowns, backend answers).
public enum ScriptStep: Equatable, Sendable {
    case key(Key)
    case wait(seconds: Double)
    /// A barcode scanner's burst: the characters and Enter, a few milliseconds apart.
    case scan(String)
}

/// Errors in a key script.
public struct KeyScriptError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// Parses key scripts: plain characters type themselves, `<Name>` names a special key.
///
/// Names (case-insensitive): Enter, Esc, Tab, BS (Backspace), Del, Up, Down, Left, Right, Home, End,
/// PgUp, PgDn, Space, lt (a literal `<`), F1…F12, C-x (Control+x), `Wait:N` (let N seconds pass), and
/// `Scan:CODE` (a barcode scanner types CODE and Enter in a burst; other keys are typed at a person's pace).
/// Example: `12.50<Enter><Enter><Scan:994567890123456789><Wait:5><F1><Esc>`.
public enum KeyScript {
    public static func parse(_ script: String) throws(KeyScriptError) -> [ScriptStep] {
        var steps: [ScriptStep] = []
        var rest = Substring(script)
        while let c = rest.first {
            rest = rest.dropFirst()
            guard c == "<" else {
                if c == "\n" { steps.append(.key(.enter)) } else { steps.append(.key(.char(c))) }
                continue
            }
            guard let close = rest.firstIndex(of: ">") else { throw KeyScriptError(message: "unclosed < in key script") }
            let name = String(rest[..<close])
            rest = rest[rest.index(after: close)...]
            steps.append(try step(named: name))
        }
        return steps
    }

    static func step(named name: String) throws(KeyScriptError) -> ScriptStep {
        let lower = name.lowercased()
        if lower.hasPrefix("wait:"), let s = Double(lower.dropFirst(5)), s >= 0, s <= 3600 {
            return .wait(seconds: s)
        }
        if lower.hasPrefix("scan:") {
            let code = String(name.dropFirst(5))
            guard !code.isEmpty, code.count <= 128, code.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != ">" }) else {
                throw KeyScriptError(message: "<Scan:CODE> needs a code of printable characters")
            }
            return .scan(code)
        }
        if lower.hasPrefix("c-"), lower.count == 3, let c = lower.last, c.isLetter { return .key(.ctrl(c)) }
        if lower.hasPrefix("f"), let n = Int(lower.dropFirst()), (1...12).contains(n) { return .key(.function(n)) }
        let named: [String: Key] = [
            "enter": .enter, "cr": .enter, "esc": .escape, "escape": .escape, "tab": .tab,
            "bs": .backspace, "backspace": .backspace, "del": .delete, "delete": .delete,
            "up": .up, "down": .down, "left": .left, "right": .right, "home": .home, "end": .end,
            "pgup": .pageUp, "pageup": .pageUp, "pgdn": .pageDown, "pagedown": .pageDown,
            "space": .char(" "), "lt": .char("<"), "resize": .resize,
        ]
        guard let key = named[lower] else { throw KeyScriptError(message: "unknown key <\(name)> in key script") }
        return .key(key)
    }
}
