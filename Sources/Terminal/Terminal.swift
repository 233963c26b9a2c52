import CNcursesw
import CShims
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The real terminal, driven through ncursesw. The only Swift code that calls curses.
///
/// Use from one thread only (the main thread). `start()` registers restoration of the terminal
/// at exit, on SIGINT/SIGTERM/SIGHUP/SIGQUIT and on crash signals; `stop()` restores it at once.
public final class Terminal {
    /// The window returned by initscr (the `stdscr` global is not usable under strict concurrency).
    private let window: UnsafeMutablePointer<WINDOW>

    /// Starts curses on the process's terminal; nil when stdin/stdout is not a usable terminal.
    public init?() {
        guard isatty(0) == 1, isatty(1) == 1 else { return nil }
        cashier_curses_install_restore_handlers()
        guard let w = cashier_curses_start() else { return nil }
        window = w
    }

    deinit { cashier_curses_restore() }

    /// Restores the terminal to its normal state; safe to call more than once.
    public func stop() { cashier_curses_restore() }

    /// The current size in character cells.
    public var size: (rows: Int, columns: Int) {
        var r: Int32 = 0, c: Int32 = 0
        cashier_curses_size(window, &r, &c)
        return (Int(r), Int(c))
    }

    /// Waits up to `timeoutMilliseconds` for a key, then takes every key already typed without waiting.
    ///
    /// A barcode scanner types a burst of digits and Enter within a few milliseconds; returning the
    /// whole burst in order (up to `limit`) means none is dropped or delayed by a frame.
    public func readKeys(timeoutMilliseconds: Int, limit: Int = 4096) -> [Key] {
        var keys: [Key] = []
        var wait = Int32(timeoutMilliseconds)
        while keys.count < limit {
            var value: UInt32 = 0
            let kind = cashier_curses_read(window, wait, &value)
            wait = 0
            guard kind != CASHIER_INPUT_NONE else { break }
            if let key = Terminal.key(kind: kind, value: value) { keys.append(key) }
        }
        return keys
    }

    /// Draws one cell: a character (with any combining marks) at a row and column.
    public func put(row: Int, column: Int, _ character: Character, attributes: TextAttributes, color: TextColor) {
        var chars = character.unicodeScalars.map { wchar_t(bitPattern: $0.value) }
        var bits: UInt32 = 0
        if attributes.contains(.bold) { bits |= cashier_curses_attr_bold() }
        if attributes.contains(.reverse) { bits |= cashier_curses_attr_reverse() }
        if attributes.contains(.underline) { bits |= cashier_curses_attr_underline() }
        if attributes.contains(.dim) { bits |= cashier_curses_attr_dim() }
        let pair: Int16 = cashier_curses_color_count() > 0 ? color.rawValue : 0
        _ = cashier_curses_put(window, Int32(row), Int32(column), &chars, Int32(chars.count), bits, pair)
    }

    /// Forgets what is on screen so the next refresh repaints everything (after a resize).
    public func clear() { cashier_curses_clear(window) }

    /// Shows the cursor at a cell, or hides it.
    public func cursor(row: Int, column: Int, visible: Bool) {
        cashier_curses_cursor(window, Int32(row), Int32(column), visible ? 1 : 0)
    }

    /// Sends the changes drawn since the last refresh.
    public func refresh() { cashier_curses_refresh(window) }

    static func key(kind: CashierInputKind, value: UInt32) -> Key? {
        if kind == CASHIER_INPUT_SPECIAL {
            switch CashierSpecialKey(rawValue: value) {
            case CASHIER_KEY_UP: return .up
            case CASHIER_KEY_DOWN: return .down
            case CASHIER_KEY_LEFT: return .left
            case CASHIER_KEY_RIGHT: return .right
            case CASHIER_KEY_HOME: return .home
            case CASHIER_KEY_END: return .end
            case CASHIER_KEY_PAGE_UP: return .pageUp
            case CASHIER_KEY_PAGE_DOWN: return .pageDown
            case CASHIER_KEY_BACKSPACE: return .backspace
            case CASHIER_KEY_DELETE: return .delete
            case CASHIER_KEY_ENTER: return .enter
            case CASHIER_KEY_RESIZE: return .resize
            default:
                let f = Int(value) - Int(CASHIER_KEY_F1.rawValue) + 1
                return (1...12).contains(f) ? .function(f) : nil
            }
        }
        switch value {
        case 10, 13: return .enter
        case 27: return .escape
        case 9: return .tab
        case 8, 127: return .backspace
        case 1...26: return .ctrl(Character(Unicode.Scalar(UInt8(value) + 96)))
        case 0..<32: return nil
        default:
            guard let scalar = Unicode.Scalar(value) else { return nil }
            return .char(Character(scalar))
        }
    }
}
