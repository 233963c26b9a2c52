import CashierChannels
import XCTest

/// The day's bill: backtick-prefixed CSV read by column name, and refused whole when it does not add up.
final class WeChatPayBillTests: XCTestCase {
    let merchant = WeChatPayAnswers.Merchant(appID: "wx2421b1c4370ec43b", merchantID: "10000100")
    let header = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"

    func line(_ time: String, txn: String, order: String, state: String, settled: String, refundID: String = "0",
              refundNo: String = "0", refund: String = "0.00", refundState: String = "", body: String = "咖啡, 大杯",
              orderAmount: String, asked: String = "0.00", mch: String = "10000100") -> String {
        [time, "wx2421b1c4370ec43b", mch, "0", "till-7", txn, order, "oBuyer", "MICROPAY", state, "OTHERS", "CNY",
         settled, "0.00", refundID, refundNo, refund, "0.00", refundState.isEmpty ? "" : "ORIGINAL", refundState, body, "",
         "0.00600", "0.60%", orderAmount, asked, ""].map { "`" + $0 }.joined(separator: ",")
    }

    func bill(_ lines: [String], count: Int? = nil) -> String {
        ([header] + lines + ["总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额",
                             "`\(count ?? lines.count),`1.00,`0.30,`0.00,`0.01,`1.00,`0.30"]).joined(separator: "\r\n") + "\r\n"
    }

    func testPaymentsRefundsAndReversalsBecomeLines() throws {
        let text = "\u{FEFF}" + bill([
            line("2026-03-01 09:15:02", txn: "4200000001", order: "10000000000000000000001", state: "SUCCESS",
                 settled: "1.00", orderAmount: "1.00"),
            line("2026-03-01 10:00:00", txn: "4200000001", order: "10000000000000000000001", state: "REFUND", settled: "0.00",
                 refundID: "5030000001", refundNo: "R1", refund: "0.30", refundState: "SUCCESS", orderAmount: "0.00", asked: "0.30"),
            line("2026-03-01 10:05:00", txn: "4200000002", order: "10000000000000000000002", state: "REFUND", settled: "0.00",
                 refundID: "5030000002", refundNo: "R2", refund: "0.10", refundState: "FAIL", orderAmount: "0.00", asked: "0.10"),
            line("2026-03-01 11:00:00", txn: "4200000003", order: "10000000000000000000003", state: "REVOKED", settled: "0.00",
                 refundID: "5000000003", refund: "12.34", refundState: "SUCCESS", orderAmount: "0.00", asked: "12.34"),
        ])
        let lines = try WeChatPayBill.parse(text, merchant: merchant)
        XCTAssertEqual(lines, [
            StatementLine(kind: .payment, outTradeNo: "10000000000000000000001", amount: 100, providerID: "4200000001",
                          time: 1_772_327_702_000),
            StatementLine(kind: .refund, outTradeNo: "10000000000000000000001", refundNo: "R1", amount: 30,
                          providerID: "5030000001", time: 1_772_330_400_000),
            StatementLine(kind: .refund, outTradeNo: "10000000000000000000003", refundNo: nil, amount: 1234,
                          providerID: "5000000003", time: 1_772_334_000_000),
        ])
    }

    func testABillThatDoesNotAddUpIsRefusedWhole() {
        let paid = line("2026-03-01 09:15:02", txn: "4200000001", order: "1", state: "SUCCESS", settled: "1.00", orderAmount: "1.00")
        func refused(_ text: String, _ why: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try WeChatPayBill.parse(text, merchant: merchant), why, file: file, line: line) { error in
                XCTAssertEqual((error as? ChannelError)?.kind, .unverifiedAnswer, file: file, line: line)
            }
        }
        refused(header + "\r\n" + paid + "\r\n", "cut short: no totals")
        refused(bill([paid, paid], count: 3), "the totals count another number of lines")
        refused(bill([String(paid.dropLast(5))]), "a short line")
        refused(bill([line("2026-03-01 09:15:02", txn: "1", order: "1", state: "SUCCESS", settled: "1.00", orderAmount: "1.00", mch: "19")]),
                "another merchant's line")
        refused(bill([line("2026-03-01 09:15:02", txn: "1", order: "1", state: "SUCCESS", settled: "1.00", orderAmount: "1,00")]),
                "an unreadable amount")
        refused(bill([paid]).replacingOccurrences(of: "商户订单号", with: "订单"), "a missing column")
        refused("", "empty")
    }

    func testDaysAndAmounts() {
        XCTAssertEqual(WeChatPayBill.billDate(day: "2026-03-01"), "20260301")
        XCTAssertNil(WeChatPayBill.billDate(day: "2026-3-1"))
        XCTAssertNil(WeChatPayBill.billDate(day: "20260301"))
    }
}
