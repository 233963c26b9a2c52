import CashierChannels
import Foundation
import HTTPClient
#if canImport(Glibc)
import Glibc
#endif

/// The Alipay simulator (`Tests/Simulators/alipay_sim.py`) as a child process of a test.
///
/// Its output goes to files, not pipes, so no descriptor of ours is held by it or by the openssl
/// children it runs; it makes itself a process group, and `stop` kills the group and reaps the
/// process with a bounded wait (`Process.waitUntilExit` can hang while a child holds inherited
/// descriptors).
final class AlipaySimulator {
    let process = Process()
    let directory: String
    let keys: String
    let primaryPort: Int
    let backupPort: Int
    let controlPort: Int
    private let control: CurlConnection

    /// The keys and certificates every simulator of this test run shares (made once: RSA takes a while).
    static let sharedKeys: String = {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("alipay-sim-keys-\(getpid())")
        atexit { try? FileManager.default.removeItem(atPath: AlipaySimulator.sharedKeysPath) }
        return path
    }()
    static var sharedKeysPath: String { (NSTemporaryDirectory() as NSString).appendingPathComponent("alipay-sim-keys-\(getpid())") }

    static var script: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Simulators/alipay_sim.py").path
    }

    static var python: String {
        for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "/usr/bin/env"
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    init(arguments: [String] = []) throws {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("alipay-sim-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        keys = Self.sharedKeys
        let out = (directory as NSString).appendingPathComponent("out.txt")
        let err = (directory as NSString).appendingPathComponent("err.txt")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let python = Self.python
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = (python == "/usr/bin/env" ? ["python3"] : []) + [Self.script, "--dir", keys] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        try process.run()
        // Ready when the one JSON line is complete (key generation on first start takes a few seconds).
        var ready: [String: Any]?
        let deadline = Date().addingTimeInterval(60)
        while ready == nil && Date() < deadline && process.isRunning {
            if let text = try? String(contentsOfFile: out, encoding: .utf8), let line = text.split(separator: "\n").first, text.contains("\n") {
                ready = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            } else {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        guard let ready, let p = ready["primary_port"] as? Int, let b = ready["backup_port"] as? Int, let c = ready["control_port"] as? Int else {
            let log = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
            Self.kill(process)
            throw Failure(description: "the Alipay simulator did not start: \(log.suffix(2000))")
        }
        primaryPort = p; backupPort = b; controlPort = c
        control = try CurlConnection(configuration: HTTPClientConfiguration(caFile: (keys as NSString).appendingPathComponent("ca.pem"),
                                                                            connectTimeoutMs: 2_000, totalTimeoutMs: 10_000))
    }

    deinit { stop() }

    func stop() {
        Self.kill(process)
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func kill(_ process: Process) {
        guard process.processIdentifier > 0 else { return }
        let pid = process.processIdentifier
        _ = Glibc.kill(-pid, SIGKILL)  // the group: the simulator and any openssl it runs
        _ = Glibc.kill(pid, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    }

    var caFile: String { (keys as NSString).appendingPathComponent("ca.pem") }
    var appPrivateKeyFile: String { (keys as NSString).appendingPathComponent("app_private.pem") }
    var appPublicKeyFile: String { (keys as NSString).appendingPathComponent("app_public.pem") }
    var alipayPublicKeyFile: String { (keys as NSString).appendingPathComponent("alipay_public.pem") }
    var alipayPrivateKeyFile: String { (keys as NSString).appendingPathComponent("alipay_private.pem") }
    var primaryURL: String { "https://127.0.0.1:\(primaryPort)/gateway.do" }
    var backupURL: String { "https://127.0.0.1:\(backupPort)/gateway.do" }
    static let appID = "2021000000000001"

    /// A configuration for this simulator: short timeouts, quick cancel retries.
    func configuration(backup: Bool = false, timeoutMs: Int = 4_000) -> AlipayConfiguration {
        AlipayConfiguration(appID: Self.appID, appPrivateKeyFile: appPrivateKeyFile, alipayPublicKeyFile: alipayPublicKeyFile,
                            storeID: "STORE-1", primaryGatewayURL: primaryURL, backupGatewayURL: backup ? backupURL : nil,
                            caFile: caFile, connectTimeoutMs: 1_000, timeoutMs: timeoutMs, statementTimeoutMs: 10_000,
                            cancelAttemptsMax: 5, cancelRetryIntervalMs: 50)
    }

    /// Tells the simulator to misbehave (see the top of alipay_sim.py).
    func command(_ order: [String: Any]) throws {
        let body = try JSONSerialization.data(withJSONObject: order)
        let response = try control.perform(method: "POST", url: "http://127.0.0.1:\(controlPort)/control",
                                           headers: ["Content-Type": "application/json"], body: Array(body)).get()
        guard response.status == 200 else { throw Failure(description: "control answered \(response.status)") }
    }

    /// One fault for the next call of `method`.
    func fault(_ kind: String, method: String, count: Int = 1, delayMs: Int? = nil) throws {
        var fault: [String: Any] = ["kind": kind, "method": method, "count": count]
        if let delayMs { fault["delay_ms"] = delayMs }
        try command(["faults": [fault]])
    }

    /// The simulator's books.
    func books() throws -> Books {
        let response = try control.perform(method: "GET", url: "http://127.0.0.1:\(controlPort)/books").get()
        guard let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw Failure(description: "books are not JSON")
        }
        return Books(raw: object)
    }

    struct Books {
        var raw: [String: Any]
        var payments: [String: [String: Any]] { raw["payments"] as? [String: [String: Any]] ?? [:] }
        var refunds: [[String: Any]] { raw["refunds"] as? [[String: Any]] ?? [] }
        var requests: [[String: Any]] { raw["requests"] as? [[String: Any]] ?? [] }

        func payment(_ outTradeNo: String) -> [String: Any]? { payments[outTradeNo] }
        func status(_ outTradeNo: String) -> String? { payment(outTradeNo)?["status"] as? String }
        func tradeNo(_ outTradeNo: String) -> String? { payment(outTradeNo)?["trade_no"] as? String }
        func requests(_ method: String, outTradeNo: String? = nil) -> [[String: Any]] {
            requests.filter { ($0["method"] as? String) == method && (outTradeNo == nil || ($0["out_trade_no"] as? String) == outTradeNo) }
        }
        func refunded(_ outTradeNo: String) -> Int {
            refunds.filter { ($0["out_trade_no"] as? String) == outTradeNo }.compactMap { $0["amount_fen"] as? Int }.reduce(0, +)
        }
    }
}

/// Payment codes by the simulator's scheme: "28", two digits of behaviour, 14 digits that make the code unique.
enum SimCode {
    private static let counter = Counter()

    static func make(_ behaviour: String) -> String {
        "28" + behaviour + String(format: "%014llu", counter.next())
    }
    static var paysAtOnce: String { make("00") }
    static var confirmsLater: String { make("01") }
    static var neverConfirms: String { make("02") }
    static var balanceNotEnough: String { make("03") }
    static var codeInvalid: String { make("04") }
    static var dayLimit: String { make("05") }
    static var tradeClosed: String { make("06") }
    static var unmappedDecline: String { make("07") }

    final class Counter: @unchecked Sendable {
        // @unchecked: `value` is guarded by `lock`.
        private let lock = NSLock()
        private var value = UInt64(Date().timeIntervalSince1970 * 1000) % 10_000_000_000 * 1000
        func next() -> UInt64 { lock.withLock { value += 1; return value } }
    }
}

/// Order numbers unique across the test run (23 digits, like ours).
enum SimOrder {
    private static let counter = SimCode.Counter()
    static func next() -> String { "2026" + String(format: "%019llu", counter.next()) }
    static func refund() -> String { "R" + String(format: "%019llu", counter.next()) }
}

func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
