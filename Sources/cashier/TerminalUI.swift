import CashierClient
import CashierCore
import CashierTUI
import Foundation

/// What `cashier` does with no command, and `cashier tui`: the ncurses front end; with `--script KEYS
/// [--dump-screen]` the same screens driven from a key script on an 80×24 text buffer, printing the final
/// screen (for testers; no terminal needed); with `--headless` (no command only) JSON lines in and out.
@Sendable func frontEnd(_ invocation: Invocation) throws -> Int32 {
    let headless = invocation.isGiven("headless")
    let engine: CashierEngine
    do { engine = try CashierEngine.open(configPath: invocation.string("config")) } catch {
        return Commands.report(error, json: headless)
    }
    defer { engine.stop() }
    if headless { return Commands.headless(engine) }
    let language = invocation.string("lang").flatMap(Language.init(rawValue:)) ?? Language.fromEnvironment()
    return runTerminalUI(engine: engine, script: invocation.string("script"), dumpScreen: invocation.flag("dump-screen"),
                         language: language)
}

func runTerminalUI(engine: CashierEngine, script: String?, dumpScreen: Bool, language: Language) -> Int32 {
    // Probe both domains at once from the first moment; the status bar shows the race.
    engine.start()
    // A sale left open by a crash is driven to its final state (query, never pay again) in the background.
    Thread.detachNewThread { _ = engine.resumeUnfinishedSales() }
    let backend = EngineBackend(engine: engine)
    if let script {
        do {
            let screen = try runKeyScript(script, backend: backend, language: language, realTime: true)
            if dumpScreen { print(screen) }
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
