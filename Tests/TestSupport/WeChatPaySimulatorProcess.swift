import CashierChannels
import CashierService
import Foundation
import HTTPClient

/// What a payment code makes the WeChat Pay simulator's customer do: the code's last digit (and, for the
/// refusals ending in 3, the digit before it), as the scheme at the top of `Tests/Simulators/wechatpay_sim.py`
/// says.
public enum WeChatPayCustomer: String, CaseIterable, Sendable {
    /// Paid at once.
    case pays = "0"
    /// USERPAYING; the customer confirms after the simulator's `confirm_seconds`.
    case confirmsLater = "4"
    /// USERPAYING; the customer never confirms.
    case neverConfirms = "5"
    /// NOTENOUGH.
    case insufficientFunds = "6"
    /// SYSTEMERROR answered, but charged: a query says SUCCESS.
    case systemErrorButCharged = "7"
    /// Charged at once, answered after the simulator's `slow_seconds`.
    case slow = "8"
    /// SYSTEMERROR answered, nothing charged: a query says PAYERROR.
    case systemErrorNothingCharged = "9"
    /// AUTHCODEEXPIRE.
    case codeExpired = "03"
    /// AUTH_CODE_INVALID.
    case codeInvalid = "13"
    /// NOTSUPORTCARD.
    case cardNotSupported = "23"
    /// BUYER_MISMATCH.
    case buyerMismatch = "33"
    /// BANKERROR answered, but charged.
    case bankErrorButCharged = "53"
}

/// A fresh WeChat payment code (18 digits starting 10 to 15, random in between) for `customer`.
public func wechatPaymentCode(_ customer: WeChatPayCustomer) -> String {
    var code = "1" + String(Int.random(in: 0...5))
    while code.count < 18 - customer.rawValue.count { code += String(Int.random(in: 0...9)) }
    return code + customer.rawValue
}

/// The simulator's books (`GET /books`), settled by its clock when asked.
public struct WeChatPayBooks: Decodable, Sendable {
    public struct Payment: Decodable, Sendable {
        /// SUCCESS, USERPAYING, PAYERROR, REVOKED, NOTPAY …
        public var state: String
        public var amount: Int64
        public var code: String?
        public var transactionID: String?
        /// Fen taken from the customer (the whole amount once paid, whatever happened after).
        public var charged: Int64
        /// Fen given back by a reverse of the paid payment.
        public var returned: Int64
        /// Fen refunded under refund numbers.
        public var refunded: Int64
        /// Pay calls that reached the books for this order number.
        public var payCalls: Int
        /// Beijing days (`yyyy-MM-dd`) of the payment and of its reverse.
        public var paidDay: String?
        public var reversedDay: String?

        /// What the customer is out of pocket now.
        public var kept: Int64 { charged - returned - refunded }

        enum CodingKeys: String, CodingKey {
            case state, amount, code, charged, returned, refunded
            case transactionID = "transaction_id", payCalls = "pay_calls", paidDay = "paid_day", reversedDay = "reversed_day"
        }
    }

    public struct Refund: Decodable, Sendable {
        public var outTradeNo: String
        public var amount: Int64
        /// PROCESSING or SUCCESS.
        public var status: String
        public var day: String

        enum CodingKeys: String, CodingKey {
            case amount, status, day
            case outTradeNo = "out_trade_no"
        }
    }

    public struct Totals: Decodable, Sendable {
        public var charged: Int64
        public var returned: Int64
        public var refunded: Int64
    }

    /// By `out_trade_no` (our order number's digits).
    public var payments: [String: Payment]
    /// By `out_refund_no` (our refund number).
    public var refunds: [String: Refund]
    public var totals: Totals

    public func refunds(of outTradeNo: String) -> [Refund] { refunds.values.filter { $0.outTradeNo == outTradeNo } }
}

/// `Tests/Simulators/wechatpay_sim.py` as a child of the test process, on loopback ports: two HTTPS
/// listeners (the primary and backup domains) and a plain-HTTP control port.
///
/// It is started with Foundation's `Process` (which puts it in a process group of its own) with its output
/// in files, so no pipe of ours is held by it or by the `openssl` it runs; its ready line is read from that
/// file with a time bound. It is stopped by signalling its process group and reaped by polling, never by
/// `waitUntilExit`. It also exits by itself when the test process goes away.
public final class WeChatPaySimulatorProcess: @unchecked Sendable {
    // @unchecked: everything is set in init and immutable after, but `process`, which is only signalled.

    /// The simulator's ready line.
    public struct Ready: Decodable, Sendable {
        public var primaryPort: Int
        public var backupPort: Int
        public var controlPort: Int
        public var appID: String
        public var merchantID: String
        /// The merchant's API v2 key, in a file of mode 0600.
        public var apiKeyFile: String
        /// The CA that issued the simulator's server certificate and the merchant's client certificate.
        public var caFile: String
        public var clientCertificateFile: String
        public var clientKeyFile: String

        enum CodingKeys: String, CodingKey {
            case primaryPort = "primary_port", backupPort = "backup_port", controlPort = "control_port"
            case appID = "appid", merchantID = "mch_id", apiKeyFile = "api_key_file", caFile = "ca_file"
            case clientCertificateFile = "client_cert_file", clientKeyFile = "client_key_file"
        }
    }

    public let directory: TemporaryDirectory
    public let ready: Ready
    private let process = Process()

    public static var scriptPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Simulators/wechatpay_sim.py").path
    }

    /// Starts the simulator with these extra flags (e.g. `["--confirm-seconds", "1"]`) and waits, at most
    /// `timeoutSeconds`, for its ready line.
    public init(arguments: [String] = [], timeoutSeconds: Double = 30) throws {
        directory = try TemporaryDirectory(prefix: "wechatpay-sim")
        let out = directory.file("stdout.txt"), err = directory.file("stderr.txt")
        guard FileManager.default.createFile(atPath: out, contents: nil), FileManager.default.createFile(atPath: err, contents: nil) else {
            throw RuntimeError("cannot create the simulator's output files in \(directory.path)")
        }
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "/usr/bin/env"
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = (python == "/usr/bin/env" ? ["python3"] : [])
            + [Self.scriptPath, "--dir", directory.file("pki"), "--max-lifetime-seconds", "900"] + arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        try process.run()

        let deadline = Date().addingTimeInterval(timeoutSeconds)
        var found: Ready?
        while found == nil && Date() < deadline && process.isRunning {
            if let text = try? String(contentsOfFile: out, encoding: .utf8), let newline = text.firstIndex(of: "\n") {
                found = try? JSONDecoder().decode(Ready.self, from: Data(text[..<newline].utf8))
                if found == nil { break }
            }
            if found == nil { Thread.sleep(forTimeInterval: 0.02) }
        }
        guard let found else {
            let said = ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "") + ((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
            Self.stop(process)
            throw RuntimeError("the WeChat Pay simulator did not start: \(said.suffix(2_000))")
        }
        ready = found
    }

    deinit { stop() }

    public var primaryBaseURL: String { "https://127.0.0.1:\(ready.primaryPort)" }
    public var backupBaseURL: String { "https://127.0.0.1:\(ready.backupPort)" }

    // MARK: - A store's settings

    /// The merchant's settings for this simulator (`WeChatPayConfiguration`), as a store would be given
    /// them: the key in its owner-only file, the simulator's CA and two listeners, the merchant's client
    /// certificate, and timings short enough for tests (WeChat's 15-s earliest reverse and 8-s read
    /// timeout are the defaults a deployment keeps).
    public func configuration(signType: WeChatPaySignType = .hmacSHA256, connectTimeoutMs: Int = 1_000,
                              readTimeoutMs: Int = 2_000, earliestReverseMs: Int64 = 500,
                              reversePauseMs: Int = 100) -> WeChatPayConfiguration {
        WeChatPayConfiguration(appID: ready.appID, merchantID: ready.merchantID, apiKeyFile: ready.apiKeyFile,
                               signType: signType, clientCertificateFile: ready.clientCertificateFile,
                               clientKeyFile: ready.clientKeyFile, caFile: ready.caFile,
                               primaryBaseURL: primaryBaseURL, backupBaseURL: backupBaseURL,
                               connectTimeoutMs: connectTimeoutMs, readTimeoutMs: readTimeoutMs,
                               pollIntervalMs: 1_000, payDeadlineMs: 30_000, earliestReverseMs: earliestReverseMs,
                               reversePauseMs: reversePauseMs)
    }

    /// Writes `configuration` as the store settings' JSON file (owner-only) at `path`.
    public func writeSettings(_ configuration: WeChatPayConfiguration, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(configuration)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw RuntimeError("cannot write \(path)")
        }
    }

    /// Gives `store` (the demo store when nil) of `service` the `wechatpay` channel with these settings
    /// (`cashierd store channel set --store S --channel wechatpay --settings FILE`); returns the file's path.
    @discardableResult
    public func giveChannel(to service: Cashierd, store: String? = nil,
                            configuration: WeChatPayConfiguration? = nil) throws -> String {
        let store = store ?? service.storeID
        let path = service.directory.file("wechatpay-\(store).json")
        try writeSettings(configuration ?? self.configuration(), to: path)
        let r = try service.admin(["store", "channel", "set", "--store", store, "--channel", "wechatpay", "--settings", path])
        guard r.status == 0 else { throw RuntimeError("store channel set --channel wechatpay failed: \(r.stderr)") }
        return path
    }

    // MARK: - Control and books

    /// Tells the simulator how to behave from now on (`POST /control`), e.g. `["confirm_seconds": 1]`,
    /// `["system_error_pays": 1]`, `["delays": ["/pay/micropay": 3]]`, `["drops": ["/secapi/pay/refund": 1]]`.
    public func control(_ order: [String: Any]) throws {
        let response = try controlRequest("POST", "/control", body: Array(try JSONSerialization.data(withJSONObject: order)))
        guard response.status == 200 else { throw RuntimeError("the simulator's control answered \(response.status)") }
    }

    /// What the simulator charged, returned and refunded (`GET /books`).
    public func books() throws -> WeChatPayBooks {
        let response = try controlRequest("GET", "/books", body: nil)
        guard response.status == 200 else { throw RuntimeError("the simulator's books answered \(response.status)") }
        return try JSONDecoder().decode(WeChatPayBooks.self, from: Data(response.body))
    }

    /// The books, every call received and the TLS refusals, as the simulator shows them (`GET /state`).
    public func state() throws -> [String: Any] {
        let response = try controlRequest("GET", "/state", body: nil)
        guard response.status == 200, let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw RuntimeError("the simulator's state answered \(response.status)")
        }
        return object
    }

    /// The calls received on `path` (e.g. `/pay/micropay`), oldest first, for one order number if given.
    public func calls(_ path: String, outTradeNo: String? = nil) throws -> [[String: Any]] {
        ((try state()["calls"] as? [[String: Any]]) ?? []).filter {
            $0["path"] as? String == path && (outTradeNo == nil || $0["out_trade_no"] as? String == outTradeNo)
        }
    }

    /// Waits (bounded) until the simulator has received a call on `path` for `outTradeNo`.
    public func waitForCall(_ path: String, outTradeNo: String, timeoutSeconds: Double = 10) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if try !calls(path, outTradeNo: outTradeNo).isEmpty { return true }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return false
    }

    private func controlRequest(_ method: String, _ path: String, body: [UInt8]?) throws -> HTTPClientResponse {
        let connection = try CurlConnection(configuration: HTTPClientConfiguration(caFile: ready.caFile, connectTimeoutMs: 2_000,
                                                                                   totalTimeoutMs: 10_000))
        switch connection.perform(method: method, url: "http://127.0.0.1:\(ready.controlPort)\(path)",
                                  headers: ["Content-Type": "application/json"], body: body) {
        case .success(let response): return response
        case .failure(let error): throw RuntimeError("the simulator's control port: \(error)")
        }
    }

    // MARK: - Stopping

    /// Stops the simulator (its whole process group) and reaps it. Safe to call more than once.
    public func stop() { Self.stop(process) }

    /// SIGTERM to the process group, then SIGKILL, each followed by a bounded wait while Foundation reaps
    /// the child (its exit is noticed without `waitUntilExit`).
    private static func stop(_ process: Process) {
        let pid = process.processIdentifier
        guard pid > 0, process.isRunning else { return }
        for signal in [SIGTERM, SIGKILL] {
            _ = kill(-pid, signal)
            _ = kill(pid, signal)
            let deadline = Date().addingTimeInterval(3)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            if !process.isRunning { return }
        }
    }
}
