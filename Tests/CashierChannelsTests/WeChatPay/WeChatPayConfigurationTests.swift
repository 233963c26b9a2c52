import CashierChannels
import Foundation
import XCTest

/// The configuration as a deployment writes it, its checks, and that no credential ever shows.
final class WeChatPayConfigurationTests: XCTestCase {
    let key = "192006250b4c09247ec02edce69f6a2d"
    var directory: String!

    override func setUpWithError() throws {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("wechatpay-config-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in ["apiclient_cert.pem", "apiclient_key.pem", "api_key"] {
            let path = file(name)
            FileManager.default.createFile(atPath: path, contents: Data(name == "api_key" ? (key + "\n").utf8 : "pem".utf8))
            try FileManager.default.setAttributes([.posixPermissions: name == "apiclient_cert.pem" ? 0o644 : 0o600], ofItemAtPath: path)
        }
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func file(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    func write(_ json: String, mode: Int = 0o600) throws -> String {
        let path = file("wechatpay.json")
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    func testTheDeploymentJSONWithDefaults() throws {
        let path = try write("""
            {"appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "api_key_file": "\(file("api_key"))",
             "client_certificate_file": "\(file("apiclient_cert.pem"))", "client_key_file": "\(file("apiclient_key.pem"))"}
            """)
        let configuration = try WeChatPayConfiguration.load(path: path)
        XCTAssertNoThrow(try configuration.validate())
        XCTAssertEqual(configuration.signType, .md5)
        XCTAssertEqual(configuration.primaryBaseURL, "https://api.mch.weixin.qq.com")
        XCTAssertEqual(configuration.backupBaseURL, "https://api2.mch.weixin.qq.com")
        XCTAssertNil(configuration.caFile, "the system store")
        XCTAssertEqual(configuration.connectTimeoutMs, 6_000)
        XCTAssertEqual(configuration.readTimeoutMs, 8_000)
        XCTAssertEqual(configuration.timing, ChannelTiming(pollIntervalMs: 5_000, payDeadlineMs: 30_000, earliestReverseMs: 15_000))
        XCTAssertEqual(try configuration.resolvedAPIKey(), key)
    }

    func testEveryFieldReadsFromSnakeCase() throws {
        let path = try write("""
            {"appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "sub_mch_id": "1900000109", "sub_appid": "wx8888888888888888",
             "api_key": "\(key)", "sign_type": "HMAC-SHA256",
             "client_certificate_file": "\(file("apiclient_cert.pem"))", "client_key_file": "\(file("apiclient_key.pem"))",
             "ca_file": "\(file("apiclient_cert.pem"))", "primary_base_url": "https://a.example", "backup_base_url": "https://b.example",
             "connect_timeout_ms": 1000, "read_timeout_ms": 2000, "poll_interval_ms": 3000, "pay_deadline_ms": 40000,
             "earliest_reverse_ms": 16000, "reverse_attempts_max": 3, "reverse_pause_ms": 500,
             "domain_failures_tolerated": 1, "primary_retry_after_ms": 60000}
            """)
        let c = try WeChatPayConfiguration.load(path: path)
        XCTAssertNoThrow(try c.validate())
        XCTAssertEqual(c.subMerchantID, "1900000109")
        XCTAssertEqual(c.subAppID, "wx8888888888888888")
        XCTAssertEqual(c.signType, .hmacSHA256)
        XCTAssertEqual(c.apiKey?.revealed, key)
        XCTAssertEqual(c.timing, ChannelTiming(pollIntervalMs: 3_000, payDeadlineMs: 40_000, earliestReverseMs: 16_000))
        XCTAssertEqual(c.reverseAttemptsMax, 3)
        XCTAssertEqual(c.domainFailuresTolerated, 1)
        XCTAssertEqual(c.primaryRetryAfterMs, 60_000)
        // Round trip: what is written reads back the same, from a file or from settings text.
        XCTAssertEqual(try JSONDecoder().decode(WeChatPayConfiguration.self, from: JSONEncoder().encode(c)), c)
        XCTAssertEqual(try WeChatPayConfiguration.parse(json: String(contentsOfFile: path, encoding: .utf8)), c)
        XCTAssertThrowsError(try WeChatPayConfiguration.parse(json: "{\"appid\": 1}")) {
            XCTAssertTrue("\($0)".contains("appid"), "\($0)")
        }
    }

    func testTheChecks() throws {
        var c = WeChatPayConfiguration(appID: "wx2421b1c4370ec43b", merchantID: "10000100", apiKeyFile: file("api_key"),
                                       clientCertificateFile: file("apiclient_cert.pem"), clientKeyFile: file("apiclient_key.pem"))
        XCTAssertNoThrow(try c.validate())
        func refused(_ change: (inout WeChatPayConfiguration) -> Void, _ text: String, file: StaticString = #filePath, line: UInt = #line) {
            var changed = c
            change(&changed)
            XCTAssertThrowsError(try changed.validate(), file: file, line: line) { error in
                XCTAssertTrue("\(error)".contains(text), "\(error)", file: file, line: line)
            }
        }
        refused({ $0.payDeadlineMs = 45_001 }, "45 s")
        refused({ $0.primaryBaseURL = "http://api.mch.weixin.qq.com" }, "https://")
        refused({ $0.backupBaseURL = $0.primaryBaseURL }, "must differ")
        refused({ $0.merchantID = "1000x" }, "mch_id")
        refused({ $0.apiKey = WeChatPaySecret(self.key) }, "not both")
        refused({ $0.apiKeyFile = nil }, "neither")
        refused({ $0.apiKeyFile = nil; $0.apiKey = WeChatPaySecret("short") }, "32")
        refused({ $0.clientCertificateFile = "/nonexistent/cert.pem" }, "client certificate")
        c.payDeadlineMs = 45_000
        XCTAssertNoThrow(try c.validate())
    }

    func testSecretsOpenToOthersAreRefused() throws {
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file("api_key"))
        let c = WeChatPayConfiguration(appID: "wx2421b1c4370ec43b", merchantID: "10000100", apiKeyFile: file("api_key"),
                                       clientCertificateFile: file("apiclient_cert.pem"), clientKeyFile: file("apiclient_key.pem"))
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("chmod 600"), "\($0)") }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file("api_key"))
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: file("apiclient_key.pem"))
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("client key"), "\($0)") }
        // A configuration file that holds the key itself must be the owner's alone.
        let path = try write("""
            {"appid": "wx2421b1c4370ec43b", "mch_id": "10000100", "api_key": "\(key)",
             "client_certificate_file": "a", "client_key_file": "b"}
            """, mode: 0o644)
        XCTAssertThrowsError(try WeChatPayConfiguration.load(path: path)) { XCTAssertFalse("\($0)".contains(self.key)) }
    }

    func testNoCredentialInAnyDescription() throws {
        let c = WeChatPayConfiguration(appID: "wx2421b1c4370ec43b", merchantID: "10000100", apiKey: WeChatPaySecret(key),
                                       clientCertificateFile: file("apiclient_cert.pem"), clientKeyFile: file("apiclient_key.pem"))
        var dumped = ""
        dump(c, to: &dumped)
        for text in [String(describing: c), String(reflecting: c), "\(c)", dumped, String(describing: c.apiKey!),
                     String(reflecting: c.apiKey!)] {
            XCTAssertFalse(text.contains(key), text)
            XCTAssertFalse(text.contains("192006250b"), text)
        }
        XCTAssertTrue(String(describing: c).contains("api_key: ***"))
        // Every configuration error, too.
        var broken = c
        broken.apiKey = WeChatPaySecret(String(key.dropLast()))
        XCTAssertThrowsError(try broken.validate()) { XCTAssertFalse(String(describing: $0).contains(String(self.key.dropLast()))) }
    }
}
