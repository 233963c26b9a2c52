import Foundation
import Terminal

/// Runs a key script headless against a backend and returns the final screen as plain text.
///
/// After each key the runner polls the backend until it is no longer busy (at most `settleTimeout`
/// seconds of real time per step, enough for a whole sale with its deadline and reversal), so engines
/// answering on threads of their own work too. `<Wait:N>`
/// moves the app's clock N seconds forward (countdowns) and, when `realTime` is true, also sleeps N
/// seconds while polling. Used by `cashier --script KEYS --dump-screen` and by the tests.
public func runKeyScript(_ script: String, backend: any CashierBackend, language: Language = .english,
                         rows: Int = 24, columns: Int = 80, realTime: Bool = false,
                         settleTimeout: Double = 120) throws(KeyScriptError) -> String {
    let steps = try KeyScript.parse(script)
    var app = App(backend: backend, language: language)
    var clock = 0.0
    // When each key was typed: a person's pace, a key every quarter second, unless the script scans.
    var typing = 0.0
    func settle() {
        let start = Date()
        _ = app.pollBackend(now: clock)
        while app.backendBusy, Date().timeIntervalSince(start) < settleTimeout {
            Thread.sleep(forTimeInterval: 0.005)
            _ = app.pollBackend(now: clock)
        }
        _ = app.pollBackend(now: clock)
    }
    settle()
    for step in steps {
        if app.hasQuit { break }
        switch step {
        case .key(let key):
            typing = max(typing + 0.25, clock)
            _ = app.handle(key, now: clock, keyTime: typing)
        case .scan(let code):
            typing = max(typing + 0.25, clock)
            for c in code {
                _ = app.handle(.char(c), now: clock, keyTime: typing)
                typing += 0.005
            }
            _ = app.handle(.enter, now: clock, keyTime: typing)
        case .wait(let seconds):
            if realTime {
                let end = Date().addingTimeInterval(seconds)
                while Date() < end {
                    Thread.sleep(forTimeInterval: min(0.05, max(0, end.timeIntervalSinceNow)))
                    _ = app.pollBackend(now: clock + seconds - max(0, end.timeIntervalSinceNow))
                }
            }
            clock += seconds
        }
        settle()
    }
    return app.render(rows: rows, columns: columns, now: clock).text()
}

/// Errors starting the interactive front end.
public enum TerminalRunError: Error, CustomStringConvertible {
    case notATerminal
    public var description: String { "cashier: standard input and output must be a terminal" }
}

/// Runs the front end on the real terminal until the cashier quits; the terminal is restored on return.
///
/// Reads keys with a 100 ms timeout so the screen ticks (countdowns, status bar) without input, and
/// takes every key already typed at once so a scanner's burst is handled whole.
public func runOnTerminal(backend: any CashierBackend, language: Language = .fromEnvironment()) throws(TerminalRunError) {
    guard let terminal = Terminal() else { throw .notATerminal }
    defer { terminal.stop() }
    var app = App(backend: backend, language: language)
    var renderer = Renderer()
    let start = ProcessInfo.processInfo.systemUptime
    func now() -> Double { ProcessInfo.processInfo.systemUptime - start }
    var lastSecond = -1
    var dirty = true
    while !app.hasQuit {
        if dirty {
            let size = terminal.size
            renderer.draw(app.render(rows: size.rows, columns: size.columns, now: now()), on: terminal)
            dirty = false
        }
        for key in terminal.readKeys(timeoutMilliseconds: 100) {
            if key == .resize { renderer.invalidate() }
            if app.handle(key, now: now()).contains(.redraw) { dirty = true }
            if app.hasQuit { break }
        }
        if app.pollBackend(now: now()).contains(.redraw) { dirty = true }
        // Redraw each second for countdowns and the status bar.
        let second = Int(now())
        if second != lastSecond { lastSecond = second; dirty = true }
    }
}
