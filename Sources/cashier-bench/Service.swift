import CashierClient
import CashierCore
import CashierCrypto
import CashierService
import Foundation
import HTTPClient

/// Lines a child process writes, gathered on a background queue so its pipe never fills.
///
/// `@unchecked Sendable`: `lines` is only touched while `lock` is held.
final class OutputLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    private var partial = ""

    func append(_ data: Data) {
        lock.lock(); defer { lock.unlock() }
        partial += String(decoding: data, as: UTF8.self)
        while let nl = partial.firstIndex(of: "\n") {
            lines.append(String(partial[..<nl]))
            partial = String(partial[partial.index(after: nl)...])
        }
    }

    func first(containing text: String) -> String? {
        lock.lock(); defer { lock.unlock() }
        return lines.first { $0.contains(text) }
    }

    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}

/// Runs a program to completion and returns its exit status and standard output.
func runProgram(_ path: String, _ arguments: [String], stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let input = Pipe()
    p.standardInput = input
    try p.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try? input.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// Stops a child: SIGTERM, then SIGKILL if it is still running after `graceSeconds`.
func stopProcess(_ p: Process, graceSeconds: Double = 10) {
    guard p.isRunning else { return }
    kill(p.processIdentifier, SIGTERM)
    let deadline = monotonicSeconds() + graceSeconds
    while p.isRunning && monotonicSeconds() < deadline { usleep(20_000) }
    if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
}

/// A real `cashierd` with its own data directory, started with `init --demo` and `serve`.
final class ServiceProcess {
    let binary: String
    let data: String
    private(set) var urls: [String] = []
    private(set) var storeID = ""
    private(set) var firstActivationCode = ""
    private var process: Process?
    private var output = OutputLines()

    /// Creates the data directory with `groups` order groups on two loopback domains (ephemeral ports).
    init(binary: String, data: String, groups: Int, listen: [String] = ["127.0.0.1:0", "127.0.0.2:0"], plain: [String] = []) throws {
        self.binary = binary
        self.data = data
        try? FileManager.default.removeItem(atPath: data)
        var args = ["init", "--data", data, "--groups", String(groups), "--demo"]
        for l in listen { args += ["--listen", l] }
        for p in plain { args += ["--plain", p] }
        let r = try runProgram(binary, args)
        guard r.status == 0 else { throw BenchError("cashierd init failed: \(r.stderr)") }
        for line in r.stdout.split(separator: "\n") {
            if line.hasPrefix("activation code: ") { firstActivationCode = String(line.dropFirst("activation code: ".count)) }
            if line.hasPrefix("demo store ") { storeID = String(line.split(separator: " ")[2]) }
        }
        guard !storeID.isEmpty else { throw BenchError("cashierd init printed no demo store: \(r.stdout)") }
    }

    var configPath: String { data + "/" + ServiceRuntime.configurationFile }
    var caFile: String { data + "/ca.pem" }

    func configuration() throws -> ServiceConfiguration {
        try API.makeDecoder().decode(ServiceConfiguration.self, from: Data(contentsOf: URL(fileURLWithPath: configPath)))
    }

    func configure(_ tweak: (inout ServiceConfiguration) -> Void) throws {
        var c = try configuration()
        tweak(&c)
        try Administration.prettyEncoder().encode(c).write(to: URL(fileURLWithPath: configPath))
    }

    /// Absolute paths of the SQLite files of the order groups, by tag.
    func groupFiles() throws -> [(tag: Int, path: String)] {
        try configuration().groups.compactMap { g in
            guard case .sqlite(let path) = g.location else { return nil }
            return (g.tag, path.hasPrefix("/") ? path : data + "/" + path)
        }
    }

    /// Starts `cashierd serve` and waits (up to 30 s) for its "listening on" line.
    func start(extra: [String] = []) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["serve", "--data", data] + extra
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        let lines = OutputLines()
        pipe.fileHandleForReading.readabilityHandler = { h in lines.append(h.availableData) }
        try p.run()
        output = lines
        process = p
        let deadline = monotonicSeconds() + 30
        while monotonicSeconds() < deadline {
            if let line = lines.first(containing: "listening on") {
                urls = line.components(separatedBy: "listening on ").last!.components(separatedBy: ", ")
                return
            }
            if !p.isRunning { break }
            usleep(20_000)
        }
        stopProcess(p)
        throw BenchError("cashierd did not start: \(lines.all.joined(separator: "\n"))")
    }

    func stop() {
        if let p = process { stopProcess(p) }
        process = nil
    }

    var pid: Int32? { process?.processIdentifier }

    func newActivationCode() throws -> String {
        let r = try runProgram(binary, ["activation-code", "--data", data, "--store", storeID])
        guard r.status == 0 else { throw BenchError("activation-code failed: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func http(timeoutMs: Int = 10_000) -> HTTPClientConfiguration {
        HTTPClientConfiguration(caFile: caFile, connectTimeoutMs: 2_000, totalTimeoutMs: timeoutMs)
    }

    func transport(_ index: Int = 0) throws -> SignedTransport {
        try SignedTransport(baseURL: urls[index], http: http())
    }

    /// Activates a terminal as `cashier` does: an Ed25519 key pair made here, its public key sent with a
    /// fresh code; requests are then signed (and answers checked) with Ed25519, as the shipped client's are.
    func activateWithKey(name: String = "bench terminal") throws -> DeviceCredentials {
        let key = Ed25519.PrivateKey.generate()
        switch try transport().activate(code: try newActivationCode(), deviceName: name, publicKey: key.publicKey) {
        case .success(.publicKey(let r)):
            return DeviceCredentials(deviceId: r.deviceId, privateKey: key, servicePublicKey: r.servicePublicKey, store: r.store)
        case .success(.secret):
            throw BenchError("the service answered an Ed25519 activation with a shared secret")
        case .failure(let f):
            throw BenchError("activation failed: \(f)")
        }
    }

    /// Resident memory of the running service in KiB (VmRSS), 0 if it is not running.
    var residentKiB: Int {
        guard let pid, let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }

    /// Activates a terminal with a fresh code and a shared secret (HMAC), which wrk's Lua signing needs.
    func activate() throws -> DeviceCredentials {
        let code = try newActivationCode()
        switch try transport().activate(code: code, deviceName: "bench terminal") {
        case .success(let r): return DeviceCredentials(deviceId: r.deviceId, deviceSecret: r.deviceSecret, store: r.store)
        case .failure(let f): throw BenchError("activation failed: \(f)")
        }
    }

    deinit { stop() }
}

/// The entries of cashierd's request log (one JSON object a line) whose line contains `marker`, with when
/// each request arrived (`ts`, Unix ms) and how long it took (`ms`).
func requestLogEntries(_ log: String, containing marker: String = "") -> [(entry: [String: Any], arrivedMs: Double, ms: Double)] {
    guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
    let parser = ISO8601DateFormatter()
    parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return text.split(separator: "\n").compactMap { line in
        guard marker.isEmpty || line.contains(marker),
              let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let ts = obj["ts"] as? String, let date = parser.date(from: ts) else { return nil }
        return (obj, date.timeIntervalSince1970 * 1000, obj["ms"] as? Double ?? 0)
    }
}

/// Raises this process's soft open-file limit to its hard limit; returns (soft, hard) afterwards.
@discardableResult
func raiseOpenFileLimit() -> (soft: UInt64, hard: UInt64) {
    var limit = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (0, 0) }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        _ = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
    return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
}
