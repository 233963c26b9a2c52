import CashierChannels
import CashierCore
import Foundation
import XCTest

/// The two statement additions to `PaymentChannel`: the statement's time zone and reading a statement
/// from a file, with their defaults for adapters that say neither.
final class StatementFileTests: XCTestCase {
    /// An adapter written against the interface before the additions: it still compiles, and gets the defaults.
    final class OlderAdapter: PaymentChannel {
        let name = "older"
        let timing = ChannelTiming(pollIntervalMs: 3_000, payDeadlineMs: 45_000, earliestReverseMs: 0)
        func pay(_ request: ChannelPayRequest) throws -> ChannelPaymentState { .unknown }
        func query(outTradeNo: String, now: Int64) throws -> ChannelPaymentState { .notFound }
        func reverse(outTradeNo: String, payStartedAt: Int64, now: Int64) throws {}
        func refund(_ request: ChannelRefundRequest) throws -> ChannelRefundState { .notFound }
        func queryRefund(refundNo: String, outTradeNo: String, now: Int64) throws -> ChannelRefundState { .notFound }
        func statement(day: String) throws -> ChannelStatement { ChannelStatement(day: day, lines: []) }
    }

    func testAnAdapterThatSaysNeitherGetsChinaTimeAndNoFileStatements() {
        let channel: PaymentChannel = OlderAdapter()
        XCTAssertEqual(channel.statementUTCOffsetSeconds, 8 * 3_600)
        XCTAssertThrowsError(try channel.statement(day: "2026-01-05", fromFile: [1, 2, 3])) { error in
            XCTAssertEqual(error as? ChannelError, ChannelError(.refused, "this channel's statements cannot be read from a file"))
        }
    }

    func testTheSandboxReadsTheStatementFileItWritesAndNothingElse() throws {
        let dir = try temporaryDirectory()
        let sandbox = try SandboxChannel(path: dir + "/ledger.sqlite")
        XCTAssertEqual(sandbox.statementUTCOffsetSeconds, 0)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for (n, amount) in [(1, Int64(1_234)), (2, 500)] {
            let code = "99" + (0..<15).map { _ in String(Int.random(in: 0...9)) }.joined() + "0"
            _ = try sandbox.pay(ChannelPayRequest(outTradeNo: "order-\(n)", amount: amount, currency: "CNY", paymentCode: code,
                                                  description: "tea", storeID: "S1", deviceID: "D1", now: now))
        }
        XCTAssertEqual(try sandbox.refund(ChannelRefundRequest(refundNo: "R-1", outTradeNo: "order-1", orderAmount: 1_234, amount: 200,
                                                               currency: "CNY", now: now)), .succeeded)
        let day = StatementDay.day(ofMs: now, utcOffsetSeconds: 0)
        let statement = try sandbox.statement(day: day)
        XCTAssertEqual(statement.lines.count, 3)
        XCTAssertEqual(try sandbox.statement(day: day, fromFile: SandboxChannel.statementFile(statement)), statement)
        XCTAssertEqual(try sandbox.books(now: now).lines.sorted { "\($0)" < "\($1)" }, statement.lines.sorted { "\($0)" < "\($1)" })

        let written = """
            {"channel": "sandbox", "day": "2026-01-05", "lines": [
              {"kind": "payment", "out_trade_no": "A", "amount": 100, "provider_id": "SBXA", "time": 1767571200000},
              {"kind": "refund", "out_trade_no": "A", "refund_no": "R1", "amount": 50, "provider_id": "SBXRR1"}]}
            """
        XCTAssertEqual(try sandbox.statement(day: "2026-01-05", fromFile: Array(written.utf8)).lines, [
            StatementLine(kind: .payment, outTradeNo: "A", amount: 100, providerID: "SBXA", time: 1_767_571_200_000),
            StatementLine(kind: .refund, outTradeNo: "A", refundNo: "R1", amount: 50, providerID: "SBXRR1"),
        ])
        func refusal(_ text: String, day: String = "2026-01-05") -> ChannelError? {
            do { _ = try sandbox.statement(day: day, fromFile: Array(text.utf8)); return nil } catch { return error as? ChannelError }
        }
        XCTAssertEqual(refusal(written, day: "2026-01-06")?.detail, "the statement file is the statement of 2026-01-05, not of 2026-01-06")
        XCTAssertEqual(refusal(written.replacingOccurrences(of: "\"sandbox\"", with: "\"alipay\""))?.kind, .refused)
        XCTAssertEqual(refusal(written.replacingOccurrences(of: "\"refund\"", with: "\"chargeback\""))?.detail,
                       "statement file line 2: kind is payment or refund, not chargeback")
        XCTAssertEqual(refusal(written.replacingOccurrences(of: "\"amount\": 100", with: "\"amount\": 0"))?.detail,
                       "statement file line 1: amount must be above 0 (minor units)")
        XCTAssertEqual(refusal(written.replacingOccurrences(of: "\"refund_no\": \"R1\", ", with: ""))?.detail,
                       "statement file line 2: a refund needs its refund_no")
        XCTAssertEqual(refusal("day,amount\n2026-01-05,100")?.kind, .unverifiedAnswer)
        XCTAssertEqual(refusal(written, day: "2026-1-5")?.kind, .refused)
    }

    func testAlipayReadsItsBillFromTheZipOrTheDetailCSVOfItsDayOnly() throws {
        let dir = try temporaryDirectory()
        let keyFile = dir + "/app_private.pem", pubFile = dir + "/alipay_public.pem"
        try AlipaySigningTests.testKeyPKCS1.write(toFile: keyFile, atomically: true, encoding: .utf8)
        try AlipaySigningTests.testPublicKey.write(toFile: pubFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile)
        let alipay = try AlipayChannel(configuration: AlipayConfiguration(appID: "2021000000000001", appPrivateKeyFile: keyFile,
                                                                          alipayPublicKeyFile: pubFile, storeID: "S1"))
        XCTAssertEqual(alipay.statementUTCOffsetSeconds, 8 * 3_600)

        let csv = AlipayFormatTests.detailCSV(rows: [
            "2026010522001404330500000009\t,20260105000000000000009\t,交易,简体中文商品,2026-01-05 10:00:00,2026-01-05 10:00:03,S1,,,T1,159****5620,88.88,88.88,,",
            "2026010522001404330500000009\t,20260105000000000000009\t,退款,简体中文商品,2026-01-05 10:00:00,2026-01-05 11:00:00,S1,,,T1,159****5620,-8.88,-8.88,R0000000000000000001\t,",
        ])
        let expected = [
            StatementLine(kind: .payment, outTradeNo: "20260105000000000000009", amount: 8_888, providerID: "2026010522001404330500000009",
                          time: AlipayTime.unixMs(timestamp: "2026-01-05 10:00:03")),
            StatementLine(kind: .refund, outTradeNo: "20260105000000000000009", refundNo: "R0000000000000000001", amount: 888,
                          providerID: "2026010522001404330500000009", time: AlipayTime.unixMs(timestamp: "2026-01-05 11:00:00")),
        ]
        try csv.write(toFile: dir + "/detail.txt", atomically: true, encoding: .utf8)
        let script = """
        import sys, zipfile
        d = sys.argv[1]
        text = open(d + "/detail.txt", encoding="utf-8").read()
        open(d + "/detail-gbk.csv", "wb").write(text.encode("gbk"))
        with zipfile.ZipFile(d + "/bill.zip", "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("20880000000000000156_20260105_业务明细.csv", text.encode("gbk"))
            z.writestr("20880000000000000156_20260105_业务明细(汇总).csv", "#汇总\\r\\n".encode("gbk"))
        """
        try script.write(toFile: dir + "/make.py", atomically: true, encoding: .utf8)
        _ = try run(AlipaySimulator.python, (AlipaySimulator.python == "/usr/bin/env" ? ["python3"] : []) + [dir + "/make.py", dir])
        func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))) }

        for file in ["bill.zip", "detail-gbk.csv", "detail.txt"] {
            let statement = try alipay.statement(day: "2026-01-05", fromFile: try bytes(file))
            XCTAssertEqual(statement, ChannelStatement(day: "2026-01-05", lines: expected), file)
            XCTAssertThrowsError(try alipay.statement(day: "2026-01-06", fromFile: try bytes(file)), file) { error in
                XCTAssertEqual((error as? ChannelError)?.kind, .unverifiedAnswer)
                XCTAssertTrue("\(error)".contains("the file is the statement of 2026-01-05, not of 2026-01-06"), "\(error)")
            }
        }
        XCTAssertEqual(try alipay.statement(day: "2026-01-05", fromFile: Array(("\u{FEFF}" + csv).utf8)).lines, expected, "a byte order mark is no cell")
        XCTAssertThrowsError(try alipay.statement(day: "2026-01-05", fromFile: [0xFF, 0xFE, 0x00, 0x81])) {
            XCTAssertEqual(($0 as? ChannelError)?.kind, .unverifiedAnswer)
        }
        XCTAssertThrowsError(try alipay.statement(day: "2026/01/05", fromFile: try bytes("bill.zip"))) {
            XCTAssertEqual(($0 as? ChannelError)?.kind, .refused)
        }
    }
}
