import CashierService
import Foundation
import TestSupport
import XCTest

/// `cashierd channel sign` and `cashierd channel check`, run as an operator runs them.
final class ChannelCommandTests: XCTestCase {
    /// The provider's own published example, through the real binary and standard input.
    func testChannelSignReproducesTheProvidersExample() throws {
        let lines = "appid=wxd930ea5d5a258f4f\nmch_id=10000100\ndevice_info=1000\nbody=test\nnonce_str=ibuaiVcKdpRxkhJA\n"
        let r = try runCommand(Cashierd.binary, ["channel", "sign", "--channel", "wechatpay", "--sign-type", "MD5",
                                                 "--key", "192006250b4c09247ec02edce69f6a2d"], stdin: lines)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("string signed: appid=wxd930ea5d5a258f4f&body=test&device_info=1000&mch_id=10000100&nonce_str=ibuaiVcKdpRxkhJA&key=***"),
                      r.stdout)
        XCTAssertTrue(r.stdout.contains("sign: 9A0A8659F005D6984697E2CA0A9CF3B7"), r.stdout)
        XCTAssertFalse(r.stdout.contains("192006250b4c09247ec02edce69f6a2d"), "the key is never printed")

        let dir = try TemporaryDirectory()
        try "192006250b4c09247ec02edce69f6a2d\n".write(toFile: dir.file("key"), atomically: true, encoding: .utf8)
        let fromFile = try runCommand(Cashierd.binary, ["channel", "sign", "--channel", "wechatpay", "--sign-type", "HMAC-SHA256",
                                                        "--key-file", dir.file("key")], stdin: lines)
        XCTAssertEqual(fromFile.status, 0, fromFile.stderr)
        XCTAssertTrue(fromFile.stdout.contains("sign: 6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"), fromFile.stdout)
        let bad = try runCommand(Cashierd.binary, ["channel", "sign", "--channel", "wechatpay", "--key", "k"], stdin: "not a pair\n")
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("line 1 is not k=v"), bad.stderr)
    }

    /// A store's channels are each asked about an order that cannot exist; one that cannot be reached is
    /// reported as such, and the exit code says whether all of them work.
    func testChannelCheckSaysWhetherEachOfAStoresChannelsAnswers() throws {
        let service = try Cashierd(groups: 1)
        defer { service.stop() }
        let ok = try service.admin(["channel", "check", "--store", service.storeID])
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        XCTAssertTrue(ok.stdout.hasPrefix("sandbox: ok:"), ok.stdout)

        // WeChat Pay settings that are valid but name endpoints where nothing listens.
        let dir = try TemporaryDirectory()
        let openssl = try runCommand("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=10000100",
                                                          "-days", "1", "-keyout", dir.file("client.key"), "-out", dir.file("client.pem")])
        XCTAssertEqual(openssl.status, 0, openssl.stderr)
        try "192006250b4c09247ec02edce69f6a2d".write(toFile: dir.file("api.key"), atomically: true, encoding: .utf8)
        for f in ["client.key", "api.key"] { XCTAssertEqual(chmod(dir.file(f), 0o600), 0) }
        let settings = """
            {"appid": "wxd930ea5d5a258f4f", "mch_id": "10000100", "api_key_file": "\(dir.file("api.key"))",
             "client_certificate_file": "\(dir.file("client.pem"))", "client_key_file": "\(dir.file("client.key"))",
             "ca_file": "\(service.caFile)", "primary_base_url": "https://127.0.0.1:9", "backup_base_url": "https://127.0.0.2:9",
             "connect_timeout_ms": 500, "read_timeout_ms": 500}
            """
        try settings.write(toFile: dir.file("wechat.json"), atomically: true, encoding: .utf8)
        let set = try service.admin(["store", "channel", "set", "--store", service.storeID, "--channel", "wechatpay",
                                     "--settings", dir.file("wechat.json")])
        XCTAssertEqual(set.status, 0, set.stderr)
        let check = try service.admin(["channel", "check", "--store", service.storeID])
        XCTAssertEqual(check.status, 1, check.stdout + check.stderr)
        XCTAssertTrue(check.stdout.contains("sandbox: ok:"), check.stdout)
        XCTAssertTrue(check.stdout.contains("wechatpay: FAILED: the provider could not be reached"), check.stdout)
        XCTAssertFalse(check.stdout.contains("192006250b4c09247ec02edce69f6a2d"), "no credential in the report")
        let one = try service.admin(["channel", "check", "--store", service.storeID, "--channel", "sandbox"])
        XCTAssertEqual(one.status, 0, one.stdout)
        XCTAssertFalse(one.stdout.contains("wechatpay"), one.stdout)
    }
}
