import CashierClient
import CashierCore
import Foundation
import TestSupport
import XCTest

/// Refund amounts and references an attacker (or a confused terminal) might send, and refunds of
/// orders that never took money.
final class RefundAbuseTests: XCTestCase {
    var service: Cashierd!
    var terminal: TestTerminal!
    var attacker: Attacker { Attacker(service: service) }

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
        terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    func testNegativeZeroAndHugeAmountsAreRefused() throws {
        let order = try paidOrder(terminal, 1000)
        for amount in [Int64.min, -1_000, -1, 0, Money.maximumMinorUnits + 1, Int64.max] {
            XCTAssertEqual(refusalCode(terminal.refund(order.orderNo, amount: amount, ref: "amt\(amount.magnitude)", pin: Cashierd.supervisorPIN)),
                           .amountInvalid, "amount \(amount)")
        }
        // In range but more than was paid.
        XCTAssertEqual(refusalCode(terminal.refund(order.orderNo, amount: Money.maximumMinorUnits, ref: "max", pin: Cashierd.supervisorPIN)),
                       .refundExceedsPaid)
        XCTAssertEqual(refusalCode(terminal.refund(order.orderNo, amount: 1001, ref: "one-more", pin: Cashierd.supervisorPIN)),
                       .refundExceedsPaid)
        // Amounts that are not JSON integers never become a refund. ("1e3" is left out: Foundation's
        // decoder reads it as exactly 1000, a legitimate integer.)
        for amount in ["10.5", "\"100\"", "-0", "99999999999999999999999", "null", "true"] {
            let body = Array(#"{"amount": \#(amount), "refund_ref": "raw", "pin": "\#(Cashierd.supervisorPIN)"}"#.utf8)
            let r = try attacker.signed(terminal.credentials, "POST", API.Path.refunds(order.orderNo), body: body)
            XCTAssertTrue([.malformedRequest, .amountInvalid].contains(r.code), "amount \(amount) → \(String(describing: r.code)) \(r.status)")
        }
        let after = try terminal.query(order.orderNo).unwrap()
        XCTAssertEqual(after.refundedAmount, 0)
        XCTAssertEqual(after.refunds.count, 0)
        XCTAssertEqual(after.status, .paid)
        assertServiceIntact(service, terminal.credentials)
    }

    func testOrdersThatTookNoMoneyCannotBeRefunded() throws {
        // Reversed while the customer never confirmed.
        let reversed = try terminal.createOrder(amount: 800).unwrap()
        XCTAssertEqual(try terminal.pay(reversed.orderNo, code: paymentCode(.userNeverConfirms)).unwrap().status, .paying)
        XCTAssertEqual(try terminal.reverse(reversed.orderNo).unwrap().status, .reversed)
        // Declined by the channel.
        let declined = try terminal.createOrder(amount: 800).unwrap()
        XCTAssertEqual(try terminal.pay(declined.orderNo, code: paymentCode(.insufficientFunds)).unwrap().status, .declined)
        // Closed before any payment.
        let closed = try terminal.createOrder(amount: 800).unwrap()
        XCTAssertEqual(try terminal.reverse(closed.orderNo).unwrap().status, .closed)

        for (order, status) in [(reversed, OrderStatus.reversed), (declined, .declined), (closed, .closed)] {
            XCTAssertEqual(refusalCode(terminal.refund(order.orderNo, amount: 100, ref: "nm-\(status)", pin: Cashierd.supervisorPIN)),
                           .orderNotPaid, "\(status)")
            let after = try terminal.query(order.orderNo).unwrap()
            XCTAssertEqual(after.status, status)
            XCTAssertEqual(after.refundedAmount, 0)
            XCTAssertTrue(after.refunds.isEmpty)
        }
        let r = try service.admin(["reconcile"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("refunds in groups: 0; refunds at channel: 0"), r.stdout)
    }

    func testInjectionInRefundReferenceIsRefusedNotInterpreted() throws {
        let order = try paidOrder(terminal, 1000)
        let refs = ["r1'; DROP TABLE refunds; --", "r1\" OR \"1\"=\"1", "r1%00", "r1\u{0}x", "../../etc/passwd", "r1 OR 1=1",
                    "", String(repeating: "r", count: 65), "ｒ１", "r1\nX-Injected: 1", "{\"$gt\": \"\"}"]
        for ref in refs {
            XCTAssertEqual(refusalCode(terminal.refund(order.orderNo, amount: 100, ref: ref, pin: Cashierd.supervisorPIN)),
                           .invalidField, "refund_ref \(ref.debugDescription)")
        }
        // A PIN field full of SQL is just a wrong PIN (and counts toward the lockout like any other).
        XCTAssertEqual(refusalCode(terminal.refund(order.orderNo, amount: 100, ref: "pin-sql", pin: "' OR '1'='1")), .pinInvalid)
        // The reason is free text: stored or ignored, never run.
        let ok = try terminal.transport.call("POST", API.Path.refunds(order.orderNo),
                                             body: API.encode(RefundRequest(amount: 100, refundRef: "legit-1", pin: Cashierd.supervisorPIN,
                                                                            reason: "'); DELETE FROM orders; --")),
                                             credentials: terminal.credentials).decoded(RefundResponse.self).get()
        XCTAssertEqual(ok.order.refundedAmount, 100)
        let after = try terminal.query(order.orderNo).unwrap()
        XCTAssertEqual(after.refunds.map(\.refundRef), ["legit-1"])
        XCTAssertEqual(after.refundedAmount, 100)
        XCTAssertEqual(try terminal.list().unwrap().orders.count, 1, "the orders table is intact")
        assertServiceIntact(service, terminal.credentials)
    }
}
