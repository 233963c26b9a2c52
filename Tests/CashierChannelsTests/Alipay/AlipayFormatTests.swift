@testable import CashierChannels
import CashierCore
import Foundation
import XCTest

/// Timestamps, amounts, the configuration, the code tables and the statement file, without a network.
final class AlipayFormatTests: XCTestCase {
    func testTimestampsAreShanghaiTime() {
        // 2014-07-23 19:07:50 UTC is 2014-07-24 03:07:50 in Beijing.
        let ms: Int64 = 1_406_142_470_000
        XCTAssertEqual(AlipayTime.timestamp(unixMs: ms), "2014-07-24 03:07:50")
        XCTAssertEqual(AlipayTime.unixMs(timestamp: "2014-07-24 03:07:50"), ms)
        XCTAssertEqual(AlipayTime.day(unixMs: ms), "2014-07-24")
        // Just before and at midnight in Beijing (16:00 UTC).
        XCTAssertEqual(AlipayTime.timestamp(unixMs: 1_767_628_799_999), "2026-01-05 23:59:59")
        XCTAssertEqual(AlipayTime.timestamp(unixMs: 1_767_628_800_000), "2026-01-06 00:00:00")
        XCTAssertEqual(AlipayTime.timestamp(unixMs: 951_782_400_000), "2000-02-29 08:00:00")
        for bad in ["2014-07-24 03:07", "2014-13-01 00:00:00", "2014-07-24T03:07:50", "2014-07-24 24:00:00"] {
            XCTAssertNil(AlipayTime.unixMs(timestamp: bad), bad)
        }
        XCTAssertTrue(AlipayTime.isDay("2026-01-05"))
        XCTAssertFalse(AlipayTime.isDay("2026-1-5"))
        var t: Int64 = 0
        for _ in 0..<500 {
            t += 86_399_123
            XCTAssertEqual(AlipayTime.unixMs(timestamp: AlipayTime.timestamp(unixMs: t)), t / 1000 * 1000)
        }
    }

    func testAmountsAreYuanWithTwoDecimalsBothWays() {
        XCTAssertEqual(AlipayAmount.yuan(fen: 1), "0.01")
        XCTAssertEqual(AlipayAmount.yuan(fen: 1234), "12.34")
        XCTAssertEqual(AlipayAmount.yuan(fen: 100), "1.00")
        XCTAssertEqual(AlipayAmount.yuan(fen: 10_000_000_000), "100000000.00")
        XCTAssertEqual(AlipayAmount.fen(yuan: "12.34"), 1234)
        XCTAssertEqual(AlipayAmount.fen(yuan: "12.3"), 1230)
        XCTAssertEqual(AlipayAmount.fen(yuan: "12"), 1200)
        XCTAssertEqual(AlipayAmount.fen(yuan: "-0.50"), -50)
        for bad in ["", "1.234", "1.", ".5", "1,00", "abc", "1e3", "--1"] { XCTAssertNil(AlipayAmount.fen(yuan: bad), bad) }
    }

    func testBizContentIsJSONInAFixedOrder() throws {
        let text = AlipayJSON.object([("out_trade_no", .string("1")), ("absent", nil), ("subject", .string("咖啡\n\"x\"\\\u{1}")),
                                      ("query_options", .strings(["a", "b"]))])
        XCTAssertEqual(text, #"{"out_trade_no":"1","subject":"咖啡\n\"x\"\\\u0001","query_options":["a","b"]}"#)
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        XCTAssertEqual(parsed?["subject"] as? String, "咖啡\n\"x\"\\\u{1}")
        XCTAssertEqual(AlipayForm.escape("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~")
    }

    func testPaymentCodesAreAlipaysShape() {
        for good in ["2876344382566439", "28763443825664394", "251234567890123456789012", "301234567890123456"] {
            XCTAssertTrue(AlipayMapping.isPaymentCode(good), good)
        }
        for bad in ["134567890123456789", "3112345678901234", "287634438256643", "2512345678901234567890123", "28763443825664a94", ""] {
            XCTAssertFalse(AlipayMapping.isPaymentCode(bad), bad)
        }
    }

    func testSubCodesMapToOurDeclineReasons() {
        let table: [(String, AlipayMapping.PayFailure)] = [
            ("ACQ.PAYMENT_AUTH_CODE_INVALID", .declined(.codeInvalid)),
            ("ACQ.BUYER_BALANCE_NOT_ENOUGH", .declined(.insufficientFunds)),
            ("ACQ.BUYER_BANKCARD_BALANCE_NOT_ENOUGH", .declined(.insufficientFunds)),
            ("ACQ.TRADE_HAS_CLOSE", .declined(.orderClosed)),
            ("ACQ.BUYER_PAYMENT_AMOUNT_DAY_LIMIT_ERROR", .declined(.limitExceeded)),
            ("ACQ.BUYER_PAYMENT_AMOUNT_MONTH_LIMIT_ERROR", .declined(.limitExceeded)),
            ("ACQ.BUYER_ENABLE_STATUS_FORBID", .declined(.buyerRestricted)),
            ("ACQ.SYSTEM_ERROR", .unknown),
            ("ACQ.TRADE_HAS_SUCCESS", .alreadyPaid),
            ("ACQ.PAYMENT_FAIL", .declined(.channelDeclined)),
            ("ACQ.SOMETHING_NEW", .declined(.channelDeclined)),
        ]
        for (subCode, expected) in table { XCTAssertEqual(AlipayMapping.payFailure(subCode: subCode), expected, subCode) }
        XCTAssertEqual(AlipayMapping.declined(.channelDeclined, subCode: "ACQ.PAYMENT_FAIL"),
                       .declined(reason: "CHANNEL_DECLINED", message: "The payment channel declined the payment. (Alipay ACQ.PAYMENT_FAIL)"))
        XCTAssertEqual(AlipayMapping.tradeStatus("TRADE_SUCCESS", tradeNo: "T1"), .paid(txn: "T1"))
        XCTAssertEqual(AlipayMapping.tradeStatus("TRADE_FINISHED", tradeNo: "T1"), .paid(txn: "T1"))
        XCTAssertNil(AlipayMapping.tradeStatus("TRADE_SUCCESS", tradeNo: ""))
        XCTAssertEqual(AlipayMapping.tradeStatus("WAIT_BUYER_PAY", tradeNo: "T1"), .userConfirming)
        XCTAssertEqual(AlipayMapping.tradeStatus("TRADE_CLOSED", tradeNo: "T1"), .declined(reason: "CLOSED", message: DeclineReason.orderClosed.message))
        XCTAssertNil(AlipayMapping.tradeStatus("SOMETHING", tradeNo: "T1"))
        XCTAssertEqual(AlipayMapping.refundRefusal(subCode: "ACQ.REASON_TRADE_REFUND_FEE_ERR"),
                       .refused(reason: "REFUND_EXCEEDS_PAID", message: "REFUND_EXCEEDS_PAID (Alipay ACQ.REASON_TRADE_REFUND_FEE_ERR)"))
        XCTAssertEqual(AlipayMapping.refundRefusal(subCode: "ACQ.TRADE_STATUS_ERROR").map { if case let .refused(r, _) = $0 { return r }; return "" }, "ORDER_NOT_PAID")
        XCTAssertNil(AlipayMapping.refundRefusal(subCode: "ACQ.SYSTEM_ERROR"))
    }

    func testConfigurationIsSnakeCaseJSONWithDefaults() throws {
        let json = """
        {"app_id": "2021000000000001", "app_private_key_file": "/etc/cashier/alipay/app_private.pem",
         "alipay_public_key_file": "/etc/cashier/alipay/alipay_public.pem", "store_id": "SH-001",
         "app_auth_token": "201510BBaabdb44d8fd04607abf8d5931ec75D84", "poll_interval_ms": 4000}
        """
        let config = try JSONDecoder().decode(AlipayConfiguration.self, from: Data(json.utf8))
        XCTAssertEqual(config.primaryGatewayURL, "https://openapi.alipay.com/gateway.do")
        XCTAssertNil(config.backupGatewayURL)
        XCTAssertNil(config.caFile)
        XCTAssertEqual(config.pollIntervalMs, 4000)
        XCTAssertEqual(config.payDeadlineMs, 60_000)
        XCTAssertEqual(config.connectTimeoutMs, 3_000)
        XCTAssertNoThrow(try config.validate())
        let again = try JSONDecoder().decode(AlipayConfiguration.self, from: JSONEncoder().encode(config))
        XCTAssertEqual(again, config)
        XCTAssertTrue(String(decoding: try JSONEncoder().encode(config), as: UTF8.self).contains("\"alipay_public_key_file\""))
        // The token is a credential: never in the description.
        XCTAssertFalse(config.description.contains("201510BB"))
        XCTAssertTrue(config.description.contains("app_auth_token=(set)"))
    }

    func testInvalidConfigurationsSayEverythingWrongAtOnce() {
        var config = AlipayConfiguration(appID: "abc", appPrivateKeyFile: "", alipayPublicKeyFile: "/k", storeID: "",
                                         primaryGatewayURL: "http://openapi.alipay.com/gateway.do", pollIntervalMs: 1_000)
        XCTAssertThrowsError(try config.validate()) { error in
            let problems = (error as? AlipayConfiguration.Invalid)?.problems ?? []
            XCTAssertEqual(problems.count, 5, "\(problems)")
        }
        config = AlipayConfiguration(appID: "1", appPrivateKeyFile: "/a", alipayPublicKeyFile: "/b", storeID: "S", pollIntervalMs: 5_000)
        XCTAssertNoThrow(try config.validate())
        config.pollIntervalMs = 6_000
        XCTAssertThrowsError(try config.validate())
    }

    func testKeyFilesMustBePrivateAndTheirContentsNeverShow() throws {
        let dir = try temporaryDirectory()
        let keyFile = dir + "/app_private.pem", pubFile = dir + "/alipay_public.pem"
        try AlipaySigningTests.testKeyPKCS1.write(toFile: keyFile, atomically: true, encoding: .utf8)
        try AlipaySigningTests.testPublicKey.write(toFile: pubFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: keyFile)
        let config = AlipayConfiguration(appID: "2021000000000001", appPrivateKeyFile: keyFile, alipayPublicKeyFile: pubFile, storeID: "S1",
                                         appAuthToken: "201510BBaabdb44d8fd04607abf8d5931ec75D84")
        XCTAssertThrowsError(try AlipayChannel(configuration: config)) { XCTAssertTrue("\($0)".contains("chmod 600"), "\($0)") }
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile)
        let channel = try AlipayChannel(configuration: config)
        XCTAssertEqual(channel.name, "alipay")
        XCTAssertEqual(channel.timing, ChannelTiming(pollIntervalMs: 3_000, payDeadlineMs: 60_000, earliestReverseMs: 0))
        // A public key where the private one belongs, and garbage: refused, contents never echoed.
        try AlipaySigningTests.testPublicKey.write(toFile: keyFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile)
        XCTAssertThrowsError(try AlipayChannel(configuration: config)) { error in
            XCTAssertFalse("\(error)".contains("MIIB"), "\(error)")
            XCTAssertFalse("\(error)".contains("201510BB"), "\(error)")
        }
    }

    /// A detail CSV as Alipay writes it (GBK, tabs after numbers, comments around the table).
    static func detailCSV(rows: [String]) -> String {
        ([
            "#支付宝业务明细查询", "#账号：[20880000000000000156]", "#起始日期：[2026年01月05日 00:00:00]   终止日期：[2026年01月06日 00:00:00]",
            "#-----------------------------------------业务明细列表----------------------------------------",
            "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,退款批次号/请求号,备注",
        ] + rows + [
            "#-----------------------------------------业务明细列表结束------------------------------------",
            "#交易合计：2笔，商家实收共12.35元", "#导出时间：[2026年01月06日 10:14:47]",
        ]).joined(separator: "\r\n")
    }

    func testStatementCSVRowsBecomeLines() throws {
        let csv = Self.detailCSV(rows: [
            "2026010522001404330500000001\t,20260105000000000000001\t,交易,\"咖啡, 大杯\",2026-01-05 10:00:00,2026-01-05 10:00:03,S1,,,T1,159****5620,12.34,12.34,,",
            "2026010522001404330500000001\t,20260105000000000000001\t,退款,咖啡,2026-01-05 10:00:00,2026-01-05 11:00:00,S1,,,T1,159****5620,-2.00,-2.00,R0000000000000000001\t,",
            "2026010522001404330500000002\t,20260105000000000000002\t,交易,茶,2026-01-05 12:00:00,2026-01-05 12:00:01,S1,,,T1,159****5620,0.01,0.01,,",
        ])
        let lines = try AlipayStatement.lines(csv: csv)
        XCTAssertEqual(lines, [
            StatementLine(kind: .payment, outTradeNo: "20260105000000000000001", amount: 1234, providerID: "2026010522001404330500000001",
                          time: AlipayTime.unixMs(timestamp: "2026-01-05 10:00:03")),
            StatementLine(kind: .refund, outTradeNo: "20260105000000000000001", refundNo: "R0000000000000000001", amount: 200,
                          providerID: "2026010522001404330500000001", time: AlipayTime.unixMs(timestamp: "2026-01-05 11:00:00")),
            StatementLine(kind: .payment, outTradeNo: "20260105000000000000002", amount: 1, providerID: "2026010522001404330500000002",
                          time: AlipayTime.unixMs(timestamp: "2026-01-05 12:00:01")),
        ])
        XCTAssertEqual(try AlipayStatement.lines(csv: Self.detailCSV(rows: [])), [])
        XCTAssertThrowsError(try AlipayStatement.lines(csv: "#only comments"))
        XCTAssertThrowsError(try AlipayStatement.lines(csv: "a,b,c\r\n1,2,3"), "a table without Alipay's columns")
    }

    /// A real zip (deflated, GBK content, a GBK-named entry) made by Python's zipfile, read back.
    func testStatementZipIsInflatedAndDecodedFromGBK() throws {
        let dir = try temporaryDirectory()
        let csv = Self.detailCSV(rows: [
            "2026010522001404330500000009\t,20260105000000000000009\t,交易,简体中文商品,2026-01-05 10:00:00,2026-01-05 10:00:03,S1,,,T1,159****5620,88.88,88.88,,",
        ])
        try csv.write(toFile: dir + "/detail.txt", atomically: true, encoding: .utf8)
        let script = """
        import sys, zipfile
        d = sys.argv[1]
        text = open(d + "/detail.txt", encoding="utf-8").read()
        class GBKName(zipfile.ZipInfo):
            # The name as Alipay's files carry it: GBK bytes, no UTF-8 flag.
            def _encodeFilenameFlags(self):
                return self.filename.encode("gbk"), self.flag_bits
        with zipfile.ZipFile(d + "/bill.zip", "w", zipfile.ZIP_DEFLATED) as z:
            info = GBKName("20880000000000000156_20260105_业务明细.csv")
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text.encode("gbk"))
            z.writestr("20880000000000000156_20260105_业务明细(汇总).csv", "#汇总\\r\\n".encode("gbk"))
        """
        try script.write(toFile: dir + "/make.py", atomically: true, encoding: .utf8)
        _ = try run(AlipaySimulator.python, (AlipaySimulator.python == "/usr/bin/env" ? ["python3"] : []) + [dir + "/make.py", dir])
        let zip = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/bill.zip")))
        let lines = try AlipayStatement.lines(zip: zip)
        XCTAssertEqual(lines, [StatementLine(kind: .payment, outTradeNo: "20260105000000000000009", amount: 8888,
                                             providerID: "2026010522001404330500000009", time: AlipayTime.unixMs(timestamp: "2026-01-05 10:00:03"))])
        var corrupt = zip
        corrupt[100] ^= 0xFF  // inside the first entry's deflated data
        XCTAssertThrowsError(try AlipayStatement.lines(zip: corrupt))
        XCTAssertThrowsError(try AlipayStatement.lines(zip: Array("PK not really".utf8)))
        XCTAssertEqual(GBKText.decode([0xD6, 0xD0, 0xCE, 0xC4]), "中文")
        XCTAssertNil(GBKText.decode([0xD6]))
    }
}
