import CashierChannels
import Foundation
import HTTPClient
import XCTest

/// The WeChat Pay simulator (`Tests/Simulators/wechatpay_sim.py`) as a child process of the test: started
/// with Foundation's `Process`, its ready line read with a time bound, stopped by signal and reaped by
/// polling (never `waitUntilExit`, which can hang while a descendant holds an inherited descriptor).
final class WeChatPaySimulatorProcess {
    /// The simulator's ready line.
    struct Ready: Decodable {
        var primary_port: Int
        var backup_port: Int
        var control_port: Int
        var appid: String
        var mch_id: String
        var api_key_file: String
        var ca_file: String
        var client_cert_file: String
        var client_key_file: String
        var stranger_cert_file: String
        var stranger_key_file: String
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let directory: String
    let ready: Ready
    private let process = Process()

    static var scriptPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Simulators/wechatpay_sim.py").path
    }

    /// Starts a simulator with these extra command-line flags and waits (at most 30 s) for it to be ready.
    init(arguments: [String] = []) throws {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("wechatpay-sim-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.scriptPath, "--dir", directory + "/pki", "--max-lifetime-seconds", "600"] + arguments
        let out = Pipe()
        process.standardOutput = out
        FileManager.default.createFile(atPath: directory + "/stderr.log", contents: nil)
        process.standardError = FileHandle(forWritingAtPath: directory + "/stderr.log")
        process.standardInput = FileHandle.nullDevice
        try process.run()

        let box = LineBox()
        let handle = out.fileHandleForReading
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var text = Data()
            while !text.contains(0x0A) {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                text.append(chunk)
            }
            box.set(text)
            done.signal()
        }
        if done.wait(timeout: .now() + 30) == .timedOut {
            Self.stop(process)
            _ = done.wait(timeout: .now() + 5)
        }
        let line = box.get().split(separator: 0x0A).first.map { Data($0) } ?? Data()
        guard let ready = try? JSONDecoder().decode(Ready.self, from: line) else {
            Self.stop(process)
            let log = (try? String(contentsOfFile: directory + "/stderr.log", encoding: .utf8)) ?? ""
            throw Failure(description: "the WeChat Pay simulator did not start: \(String(decoding: line, as: UTF8.self)) \(log)")
        }
        self.ready = ready
    }

    deinit { stop() }

    var primaryBaseURL: String { "https://127.0.0.1:\(ready.primary_port)" }
    var backupBaseURL: String { "https://127.0.0.1:\(ready.backup_port)" }

    /// A configuration for this simulator's merchant, as a deployment's JSON would give it (the key in
    /// its own file), with short timings a test can wait for.
    /// - Parameter earliestReverseMs: nil keeps the library's default (the provider's 15 s).
    func configuration(signType: WeChatPaySignType = .md5, readTimeoutMs: Int = 4_000,
                       earliestReverseMs: Int64? = 100, reverseAttemptsMax: Int = 5,
                       reversePauseMs: Int = 100) -> WeChatPayConfiguration {
        var c = WeChatPayConfiguration(appID: ready.appid, merchantID: ready.mch_id, apiKeyFile: ready.api_key_file,
                                       signType: signType, clientCertificateFile: ready.client_cert_file,
                                       clientKeyFile: ready.client_key_file, caFile: ready.ca_file,
                                       primaryBaseURL: primaryBaseURL, backupBaseURL: backupBaseURL,
                                       connectTimeoutMs: 1_000, readTimeoutMs: readTimeoutMs,
                                       reverseAttemptsMax: reverseAttemptsMax, reversePauseMs: reversePauseMs)
        if let earliestReverseMs { c.earliestReverseMs = earliestReverseMs }
        return c
    }

    /// The API key, as the simulator wrote it.
    var apiKey: String {
        ((try? String(contentsOfFile: ready.api_key_file, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: - Control

    /// Tells the simulator how to misbehave (`POST /control`).
    func control(_ order: [String: Any]) throws {
        let body = try JSONSerialization.data(withJSONObject: order)
        let response = try controlRequest("POST", "/control", body: Array(body))
        guard response.status == 200 else { throw Failure(description: "control answered \(response.status)") }
    }

    /// The simulator's books and the calls it received (`GET /state`).
    func state() throws -> [String: Any] {
        let response = try controlRequest("GET", "/state", body: nil)
        guard response.status == 200, let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw Failure(description: "state answered \(response.status)")
        }
        return object
    }

    /// The calls received for `path`, oldest first.
    func calls(_ path: String) throws -> [[String: Any]] {
        ((try state()["calls"] as? [[String: Any]]) ?? []).filter { $0["path"] as? String == path }
    }

    func payment(_ outTradeNo: String) throws -> [String: Any]? {
        (try state()["payments"] as? [String: Any])?[outTradeNo] as? [String: Any]
    }

    private func controlRequest(_ method: String, _ path: String, body: [UInt8]?) throws -> HTTPClientResponse {
        let connection = try CurlConnection(configuration: HTTPClientConfiguration(caFile: ready.ca_file, connectTimeoutMs: 2_000, totalTimeoutMs: 10_000))
        switch connection.perform(method: method, url: "http://127.0.0.1:\(ready.control_port)\(path)",
                                  headers: ["Content-Type": "application/json"], body: body) {
        case .success(let response): return response
        case .failure(let error): throw Failure(description: "control: \(error)")
        }
    }

    // MARK: - Stopping

    func stop() {
        Self.stop(process)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// SIGTERM, then SIGKILL, each followed by a bounded wait for Foundation to see the exit.
    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        var deadline = Date().addingTimeInterval(3)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        deadline = Date().addingTimeInterval(3)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    }
}

/// The ready line, handed from the reading thread to the test thread.
private final class LineBox: @unchecked Sendable {
    // @unchecked: `data` is only touched under `lock`.
    private let lock = NSLock()
    private var data = Data()
    func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
    func get() -> Data { lock.lock(); defer { lock.unlock() }; return data }
}

/// A test case with a fresh simulator per test, stopped in tearDown.
class WeChatPaySimulatorTestCase: XCTestCase {
    var simulator: WeChatPaySimulatorProcess!

    /// Extra simulator flags for every test of the class.
    var simulatorArguments: [String] { [] }

    override func setUpWithError() throws {
        try super.setUpWithError()
        simulator = try WeChatPaySimulatorProcess(arguments: simulatorArguments)
    }

    override func tearDown() {
        simulator?.stop()
        simulator = nil
        super.tearDown()
    }

    /// Unix ms now.
    func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// A fresh 23-digit order number.
    func orderNumber() -> String {
        var digits = String(nowMs())
        while digits.count < 23 { digits.append(Character(String(Int.random(in: 0...9)))) }
        return String(digits.prefix(23))
    }

    /// A payment code (18 digits, 13…) that ends in `ending`, fresh per call.
    func paymentCode(ending: String) -> String {
        var code = "13"
        while code.count < 18 - ending.count { code.append(Character(String(Int.random(in: 0...9)))) }
        return code + ending
    }

    func payRequest(_ outTradeNo: String, code: String, amount: Int64 = 100, now: Int64? = nil) -> ChannelPayRequest {
        ChannelPayRequest(outTradeNo: outTradeNo, amount: amount, currency: "CNY", paymentCode: code,
                          description: "Test store - coffee", storeID: "store-1", deviceID: "till-7",
                          now: now ?? nowMs())
    }

    /// Asserts `body` throws a `ChannelError` of `kind`; returns it.
    @discardableResult
    func assertChannelError<T>(_ kind: ChannelError.Kind, _ body: @autoclosure () throws -> T,
                               file: StaticString = #filePath, line: UInt = #line) -> ChannelError? {
        do {
            let value = try body()
            XCTFail("expected ChannelError(.\(kind.rawValue)), got \(value)", file: file, line: line)
            return nil
        } catch let error as ChannelError {
            XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
            return error
        } catch {
            XCTFail("expected ChannelError(.\(kind.rawValue)), got \(error)", file: file, line: line)
            return nil
        }
    }
}
