import CashierService
import Foundation
import TestSupport
import XCTest

/// One real terminal for one test: a private tmux server (its own socket) running one command in one pane.
///
/// Keys go in with `send-keys`, the screen comes out with `capture-pane -p`. `close()` kills the server
/// (and with it the pane's processes); it runs again on deinit so a failing test leaves nothing behind.
final class TmuxPane: @unchecked Sendable {
    // @unchecked: immutable after init except `closed`, which only the test thread touches.
    static let tmux = "/usr/bin/tmux"
    let socket: String
    let session = "pos"
    private var closed = false
    /// Every screen read so far, in order (for assertions over the whole run, e.g. a PIN never shown).
    private(set) var history: [String] = []

    /// Starts `shellCommand` (run by /bin/sh) in a detached `columns`×`rows` session.
    init(shellCommand: String, columns: Int = 80, rows: Int = 24) throws {
        socket = "tuitest-\(getpid())-\(UUID().uuidString.prefix(8))"
        let r = try Self.startServer(["-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", session,
                                      "-x", String(columns), "-y", String(rows), shellCommand])
        guard r.status == 0 else { throw RuntimeError("tmux new-session failed: \(r.stderr)") }
    }

    /// Runs tmux with a UTF-8 locale (so wide characters survive capture-pane).
    @discardableResult
    static func run(_ arguments: [String]) throws -> CommandResult {
        try runCommand(tmux, ["-u"] + arguments, environment: ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"], timeoutSeconds: 10)
    }

    /// Runs the tmux command that forks the server, with every descriptor above stderr closed first.
    ///
    /// The server outlives the command; had it inherited this process's descriptors (Foundation's
    /// child-exit socket among them), waiting for the command, or for any other child, would never end.
    static func startServer(_ arguments: [String]) throws -> CommandResult {
        let closeAndExec = #"for p in /proc/$$/fd/*; do n=${p##*/}; if (( n > 2 )); then exec {n}>&-; fi; done 2>/dev/null; exec "$0" "$@""#
        return try runCommand("/bin/bash", ["-c", closeAndExec, tmux, "-u"] + arguments,
                              environment: ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"], timeoutSeconds: 10)
    }

    /// Sends keys: literal text (`-l`) or tmux key names such as `Enter`, `Escape`, `F10`, `C-u`.
    func type(_ text: String) {
        _ = try? Self.run(["-L", socket, "send-keys", "-t", session, "-l", text])
    }

    func press(_ keys: String...) {
        _ = try? Self.run(["-L", socket, "send-keys", "-t", session] + keys)
    }

    /// Types at a person's pace, a key every 150 ms (a burst is taken for a barcode scanner).
    func typeByHand(_ text: String) {
        for c in text {
            type(String(c))
            Thread.sleep(forTimeInterval: 0.15)
        }
    }

    /// Types a scanner's burst: the digits and Enter in one send.
    func scan(_ code: String) {
        type(code)
        press("Enter")
    }

    /// The pane's text now.
    func screen() -> String {
        let text = (try? Self.run(["-L", socket, "capture-pane", "-p", "-t", session]))?.stdout ?? ""
        history.append(text)
        return text
    }

    /// A tmux format value of the pane, e.g. `#{alternate_on}` or `#{pane_dead_status}`.
    func format(_ f: String) -> String {
        ((try? Self.run(["-L", socket, "display-message", "-p", "-t", session, f]))?.stdout ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func resize(columns: Int, rows: Int) throws {
        let r = try Self.run(["-L", socket, "resize-window", "-t", session, "-x", String(columns), "-y", String(rows)])
        guard r.status == 0 else { throw RuntimeError("tmux resize-window failed: \(r.stderr)") }
    }

    /// Polls the pane (bounded) until `predicate` holds; returns that screen, or fails the test with the last one.
    @discardableResult
    func waitFor(_ what: String, timeout: Double = 15, file: StaticString = #filePath, line: UInt = #line,
                 _ predicate: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        repeat {
            last = screen()
            if predicate(last) { return last }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        XCTFail("waited \(timeout) s for \(what); the pane shows:\n\(last)", file: file, line: line)
        return nil
    }

    /// Polls until the pane contains every one of `texts`.
    @discardableResult
    func waitFor(_ texts: String..., timeout: Double = 15, file: StaticString = #filePath, line: UInt = #line) -> String? {
        waitFor(texts.joined(separator: " + "), timeout: timeout, file: file, line: line) { screen in
            texts.allSatisfy { screen.contains($0) }
        }
    }

    /// Whether the tmux server of this pane is still running.
    var serverIsRunning: Bool {
        ((try? Self.run(["-L", socket, "has-session", "-t", session]))?.status ?? 1) == 0
    }

    /// Kills the tmux server; its pane gets SIGHUP.
    func close() {
        guard !closed else { return }
        closed = true
        _ = try? Self.run(["-L", socket, "kill-server"])
    }

    deinit { close() }
}
