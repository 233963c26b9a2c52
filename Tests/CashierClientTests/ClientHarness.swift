import CashierClient
import CashierCore
import Foundation
import TestSupport
import XCTest

/// A terminal's home for one test: a config file in a temporary XDG config directory, and ways to run
/// the real `cashier` binary against it (one-shot or as a headless session).
final class ClientHarness: @unchecked Sendable {
    // @unchecked: fields are set in init and read by the test thread.
    let home: TemporaryDirectory
    let configPath: String
    var configuration: ClientConfiguration

    init(domains: [String], caFile: String, tweak: (inout ClientConfiguration) -> Void = { _ in }) throws {
        home = try TemporaryDirectory(prefix: "cashier-home")
        configPath = home.file("config/cashier/config.json")
        var c = ClientConfiguration(domains: domains, caFile: caFile, requestTimeoutMs: 3_000, connectTimeoutMs: 1_000,
                                    probe: ProbeConfiguration(minIntervalMs: 300, backoffBaseMs: 300, backoffCeilingMs: 1_200,
                                                              jitterFraction: 0.2, probeTimeoutMs: 1_500),
                                    sale: SaleConfiguration(payDeadlineMs: 5_000, unknownQueryDelayMs: 300, pollIntervalMs: 400,
                                                            reverseBackoffBaseMs: 300, reverseBackoffCeilingMs: 1_000, maxReverseAttempts: 5),
                                    refundAttempts: 2, refundRetryBaseMs: 200)
        tweak(&c)
        configuration = c
        try c.write(to: configPath)
    }

    var environment: [String: String] {
        ["HOME": home.path, "XDG_CONFIG_HOME": home.file("config"), "CASHIER_CONFIG": configPath]
    }

    static var binary: String { productsDirectory() + "/cashier" }

    /// Runs the binary to its end.
    /// - Parameter clockShift: runs it under libfaketime with its clock shifted this much (e.g. `+2h`), as
    ///   on a terminal whose clock is set wrong; the service's clock is not touched.
    @discardableResult
    func run(_ arguments: [String], stdin: String? = nil, timeout: Double = 60, clockShift: String? = nil) throws -> CommandResult {
        if let clockShift {
            return try runCommand("/usr/bin/faketime", ["-f", clockShift, Self.binary] + arguments, environment: environment,
                                  stdin: stdin, timeoutSeconds: timeout)
        }
        return try runCommand(Self.binary, arguments, environment: environment, stdin: stdin, timeoutSeconds: timeout)
    }

    /// Runs with `--json` and decodes the last stdout line as a JSON object.
    func runJSON(_ arguments: [String], clockShift: String? = nil) throws -> (status: Int32, json: [String: Any], raw: CommandResult) {
        let r = try run(arguments + ["--json"], clockShift: clockShift)
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? "{}"
        let object = (try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any] ?? [:]
        return (r.status, object, r)
    }

    func activate(_ service: Cashierd) throws {
        let r = try run(["activate", "--code", try service.newActivationCode()])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
    }
}

/// `cashier --headless` with a live stdin, so a test can send a command, wait for its events and then act.
final class HeadlessProcess: @unchecked Sendable {
    // @unchecked: `lines` is guarded by `lock`; the process and pipe are set in init.
    private let process = Process()
    private let input = Pipe()
    private let lock = NSLock()
    private var lines: [[String: Any]] = []

    init(_ harness: ClientHarness) throws {
        process.executableURL = URL(fileURLWithPath: ClientHarness.binary)
        process.arguments = ["--headless"]
        process.environment = ProcessInfo.processInfo.environment.merging(harness.environment) { _, new in new }
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        readLinesInBackground(output.fileHandleForReading) { [weak self] line in
            guard let self else { return false }
            let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] ?? ["unparsed": String(decoding: line, as: UTF8.self)]
            self.lock.lock(); self.lines.append(object); self.lock.unlock()
            return true
        }
    }

    var events: [[String: Any]] { lock.lock(); defer { lock.unlock() }; return lines }

    func send(_ command: [String: Any]) {
        let data = try! JSONSerialization.data(withJSONObject: command)
        input.fileHandleForWriting.write(data + Data("\n".utf8))
    }

    /// Waits (bounded) for an event matching `predicate` among those after index `from`.
    func waitFor(from: Int = 0, timeout: Double = 30, _ predicate: ([String: Any]) -> Bool) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let all = events
            if all.count > from, let hit = all[from...].first(where: predicate) { return hit }
            if !process.isRunning { return events.dropFirst(from).first(where: predicate) }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return nil
    }

    /// The result or error event answering the command tagged `id`.
    func answer(id: String, timeout: Double = 30) -> [String: Any]? {
        waitFor(timeout: timeout) { ($0["event"] as? String == "result" || $0["event"] as? String == "error") && $0["id"] as? String == id }
    }

    func close() {
        try? input.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        if process.isRunning { process.terminate() }
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}
