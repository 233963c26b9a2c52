import CashierClient
import CashierTUI
import Foundation

/// The ncurses front end: `cashier`, `cashier tui [--lang en|zh]`, and
/// `cashier --script KEYS [--dump-screen]`, which drives the same screens from a key script on an
/// 80×24 text buffer and prints the final screen (for testers; no terminal needed).
func runTerminalUI(engine: CashierEngine, arguments: [String]) -> Int32 {
    // Probe both domains at once from the first moment; the status bar shows the race.
    engine.start()
    // A sale left open by a crash is driven to its final state (query, never pay again) in the background.
    Thread.detachNewThread { _ = engine.resumeUnfinishedSales() }
    let backend = EngineBackend(engine: engine)
    var language = Language.fromEnvironment()
    if let i = arguments.firstIndex(of: "--lang"), i + 1 < arguments.count {
        guard let chosen = Language(rawValue: arguments[i + 1]) else {
            FileHandle.standardError.write(Data("cashier: --lang takes en or zh\n".utf8))
            return ExitCode.badInput.rawValue
        }
        language = chosen
    }
    if let i = arguments.firstIndex(of: "--script") {
        guard i + 1 < arguments.count else {
            FileHandle.standardError.write(Data("cashier: --script needs a key script, e.g. '12.34<Enter>'\n".utf8))
            return ExitCode.badInput.rawValue
        }
        do {
            let screen = try runKeyScript(arguments[i + 1], backend: backend, language: language, realTime: true)
            if arguments.contains("--dump-screen") { print(screen) }
            return 0
        } catch {
            FileHandle.standardError.write(Data("cashier: \(error)\n".utf8))
            return ExitCode.badInput.rawValue
        }
    }
    do {
        try runOnTerminal(backend: backend, language: language)
        return 0
    } catch {
        FileHandle.standardError.write(Data("cashier: \(error)\n".utf8))
        return 1
    }
}
