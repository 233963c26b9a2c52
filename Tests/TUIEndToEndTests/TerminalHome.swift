import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// A terminal's home for one test (config, keystore, journal in a temporary directory) and ways to run
/// the real `cashier` binary with it: one-shot from the shell, or the front end inside a tmux pane.
final class TerminalHome: @unchecked Sendable {
    // @unchecked: immutable after init.
    let home: TemporaryDirectory
    let configPath: String
    let configuration: ClientConfiguration

    /// Short timeouts and probe intervals, so failover and the payment deadline happen within a test.
    init(domains: [String], caFile: String) throws {
        home = try TemporaryDirectory(prefix: "cashier-tui-home")
        configPath = home.file("config/cashier/config.json")
        let c = ClientConfiguration(domains: domains, caFile: caFile, requestTimeoutMs: 3_000, connectTimeoutMs: 1_000,
                                    probe: ProbeConfiguration(minIntervalMs: 300, backoffBaseMs: 300, backoffCeilingMs: 1_200,
                                                              jitterFraction: 0.2, probeTimeoutMs: 1_500),
                                    sale: SaleConfiguration(payDeadlineMs: 8_000, unknownQueryDelayMs: 300, pollIntervalMs: 400,
                                                            reverseBackoffBaseMs: 300, reverseBackoffCeilingMs: 1_000, maxReverseAttempts: 5),
                                    refundAttempts: 2, refundRetryBaseMs: 200)
        configuration = c
        try c.write(to: configPath)
    }

    static var binary: String { productsDirectory() + "/cashier" }

    /// The locale variables the terminal runs with (an installed UTF-8 locale unless a test says otherwise).
    var localeEnvironment = ["LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"]

    var environment: [String: String] {
        ["HOME": home.path, "XDG_CONFIG_HOME": home.file("config"), "CASHIER_CONFIG": configPath,
         "TERM": "xterm-256color"].merging(localeEnvironment) { a, _ in a }
    }

    /// Runs `cashier ARGS` to its end from the shell.
    @discardableResult
    func run(_ arguments: [String], timeout: Double = 60) throws -> CommandResult {
        try runCommand(Self.binary, ["--config", configPath] + arguments, environment: environment, timeoutSeconds: timeout)
    }

    /// Activates through the command line (for tests that start at checkout).
    func activate(_ service: Cashierd) throws {
        let r = try run(["activate", "--code", try service.newActivationCode()])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
    }

    /// Pays from the command line and returns the order number.
    func pay(_ amount: String, code: String = paymentCode(.paid)) throws -> String {
        let r = try run(["pay", "--amount", amount, "--code", code, "--json"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? "{}"
        let json = (try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any] ?? [:]
        guard let number = json["order_no"] as? String else { throw RuntimeError("no order number in \(r.stdout)") }
        return number
    }

    /// Where the wrapper shell writes the front end's exit status and whether the tty modes came back.
    var exitFile: String { home.file("tui-exit") }

    /// Starts the front end (`cashier tui EXTRA`) in a fresh tmux pane. The wrapper shell saves the tty
    /// modes first, and after the program ends prints whether they were restored and its exit status, then
    /// keeps the pane alive (a dead pane's text is replaced by tmux's own notice) until the server is killed.
    /// - Parameter clockShift: runs it under libfaketime with its clock shifted this much (e.g. `+2h`).
    func startUI(_ extra: [String] = [], columns: Int = 80, rows: Int = 24, clockShift: String? = nil) throws -> TmuxPane {
        let env = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\(quoted($0.value))" }.joined(separator: " ")
        let args = (["--config", configPath, "tui"] + extra).map(quoted).joined(separator: " ")
        let program = (clockShift.map { "/usr/bin/faketime -f \(quoted($0)) " } ?? "") + quoted(Self.binary)
        let script = """
            saved=$(stty -g); env \(env) \(program) \(args); status=$?; \
            if [ "$(stty -g)" = "$saved" ]; then tty=restored; else tty=changed; fi; \
            echo "$status $tty" > \(quoted(exitFile)); echo "cashier ended: status $status, tty $tty"; exec sleep 600
            """
        return try TmuxPane(shellCommand: script, columns: columns, rows: rows)
    }

    /// The pids of `cashier` processes using this home's config (there should be none after a test).
    func runningCashierPIDs() -> [Int32] {
        let r = try? runCommand("/usr/bin/pgrep", ["-f", "--", "--config \(configPath)"])
        return (r?.stdout ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    private func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}

/// The terminal's configured domain hosts, as the status bar names them.
func host(of url: String) -> String { URL(string: url)?.host ?? url }
