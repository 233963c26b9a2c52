/// One key press, as the terminal or a key script delivers it.
public enum Key: Hashable, Sendable, CustomStringConvertible {
    /// A printable character (letters, digits, CJK, punctuation, space).
    case char(Character)
    /// Control plus a letter, e.g. `.ctrl("u")`.
    case ctrl(Character)
    case enter, escape, tab, backspace, delete
    case up, down, left, right, home, end, pageUp, pageDown
    /// F1...F12.
    case function(Int)
    /// The terminal changed size.
    case resize

    /// The name used in key scripts and on the help screen, e.g. `<Enter>`, `<F1>`, `q`.
    public var description: String {
        switch self {
        case .char(" "): return "<Space>"
        case .char("<"): return "<lt>"
        case .char(let c): return String(c)
        case .ctrl(let c): return "<C-\(c)>"
        case .enter: return "<Enter>"
        case .escape: return "<Esc>"
        case .tab: return "<Tab>"
        case .backspace: return "<BS>"
        case .delete: return "<Del>"
        case .up: return "<Up>"
        case .down: return "<Down>"
        case .left: return "<Left>"
        case .right: return "<Right>"
        case .home: return "<Home>"
        case .end: return "<End>"
        case .pageUp: return "<PgUp>"
        case .pageDown: return "<PgDn>"
        case .function(let n): return "<F\(n)>"
        case .resize: return "<Resize>"
        }
    }
}

/// Text attributes of a screen cell.
public struct TextAttributes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let bold = TextAttributes(rawValue: 1)
    public static let reverse = TextAttributes(rawValue: 2)
    public static let underline = TextAttributes(rawValue: 4)
    public static let dim = TextAttributes(rawValue: 8)
}

/// Foreground colors; `.normal` is the terminal's default. Raw values are curses color numbers.
public enum TextColor: Int16, Hashable, Sendable {
    case normal = 0, red = 1, green = 2, yellow = 3, blue = 4, magenta = 5, cyan = 6, white = 7
}
