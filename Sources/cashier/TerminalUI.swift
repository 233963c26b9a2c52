import CashierClient
import Foundation

/// The ncurses front end (`cashier`, `cashier tui`, `cashier --script KEYS --dump-screen`).
/// Placeholder until the terminal UI is wired in; the TUI engineer replaces this file.
func runTerminalUI(engine: CashierEngine, arguments: [String]) -> Int32 {
    FileHandle.standardError.write(Data("the terminal UI is not wired yet\n".utf8))
    return 1
}
