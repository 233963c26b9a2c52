import CashierClient
import CashierCore
import Foundation
import TestSupport
import XCTest

/// A terminal of store A that learns store B's order numbers (from a receipt, say) can do nothing with them.
final class CrossStoreTests: XCTestCase {
    var service: Cashierd!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    /// A second merchant and store with its own supervisor and terminal.
    private func otherStoreTerminal() throws -> TestTerminal {
        func out(_ r: CommandResult) -> String { r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
        let merchant = out(try service.admin(["merchant", "add", "Merchant B"]))
        let store = try service.addSandboxStore(merchant: merchant, name: "Store B")
        XCTAssertEqual(try service.admin(["staff", "add", "--store", store, "--name", "Bo", "--role", "supervisor",
                                          "--pin", Cashierd.supervisorPIN]).status, 0)
        let code = out(try service.admin(["activation-code", "--store", store]))
        return TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal(code: code))
    }

    func testStoreATerminalCannotPayReverseRefundOrQueryStoreBOrders() throws {
        let a = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        let b = try otherStoreTerminal()
        XCTAssertNotEqual(a.credentials.store.storeId, b.credentials.store.storeId)
        let bPaid = try paidOrder(b, 2000)
        let bOpen = try b.createOrder(amount: 900).unwrap()
        let bPaying = try b.createOrder(amount: 600).unwrap()
        XCTAssertEqual(try b.pay(bPaying.orderNo, code: paymentCode(.userNeverConfirms)).unwrap().status, .paying)

        let code = paymentCode(.paid)
        for order in [bPaid, bOpen, bPaying] {
            XCTAssertEqual(refusalCode(a.query(order.orderNo)), .orderOtherStore)
            XCTAssertEqual(refusalCode(a.pay(order.orderNo, code: code)), .orderOtherStore)
            XCTAssertEqual(refusalCode(a.reverse(order.orderNo)), .orderOtherStore)
            XCTAssertEqual(refusalCode(a.refund(order.orderNo, amount: 100, ref: "cross-\(order.orderNo.digits.suffix(6))",
                                                pin: Cashierd.supervisorPIN)), .orderOtherStore)
        }
        XCTAssertTrue(try a.list(limit: 100).unwrap().orders.isEmpty)

        // Store B's orders are exactly as B left them, and the payment code A tried was not consumed.
        let paidAfter = try b.query(bPaid.orderNo).unwrap()
        XCTAssertEqual(paidAfter.status, .paid)
        XCTAssertEqual(paidAfter.refundedAmount, 0)
        XCTAssertEqual(try b.query(bPaying.orderNo).unwrap().status, .paying)
        XCTAssertEqual(try b.query(bOpen.orderNo).unwrap().status, .created)
        XCTAssertEqual(try b.pay(bOpen.orderNo, code: code).unwrap().status, .paid, "A's attempt burned the customer's code")
        assertServiceIntact(service, b.credentials)
    }
}
