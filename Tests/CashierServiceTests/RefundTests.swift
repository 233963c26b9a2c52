import CashierClient
import CashierCore
import Foundation
import TestSupport
import XCTest

/// Refunds: partial and several, idempotent by reference, never above what was paid, supervisor only,
/// own store only.
final class RefundTests: XCTestCase {
    var service: Cashierd!
    var terminal: TestTerminal!

    override func setUpWithError() throws {
        service = try Cashierd()
        terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private func paidOrder(_ amount: Int64) throws -> OrderView {
        let order = try terminal.createOrder(amount: amount).unwrap()
        let paid = try terminal.pay(order.orderNo, code: paymentCode(.paid)).unwrap()
        XCTAssertEqual(paid.status, .paid)
        return paid
    }

    private func refusal(_ r: Result<RefundResponse, CallFailure>) -> ErrorCode? {
        if case .failure(.service(let e)) = r { return e.code }
        return nil
    }

    func testPartialRefundsUpToThePaidAmount() throws {
        let order = try paidOrder(1000)
        let first = try terminal.refund(order.orderNo, amount: 300, ref: "r1", pin: Cashierd.supervisorPIN).unwrap()
        XCTAssertEqual(first.refund.status, .succeeded)
        XCTAssertEqual(first.refund.refundNo.group, order.orderNo.group, "a refund number carries its order's group")
        XCTAssertEqual(first.order.refundedAmount, 300)
        XCTAssertEqual(try terminal.refund(order.orderNo, amount: 700, ref: "r2", pin: Cashierd.supervisorPIN).unwrap().order.refundedAmount, 1000)
        XCTAssertEqual(refusal(terminal.refund(order.orderNo, amount: 1, ref: "r3", pin: Cashierd.supervisorPIN)), .refundExceedsPaid)
        let after = try terminal.query(order.orderNo).unwrap()
        XCTAssertEqual(after.refunds.count, 2)
        XCTAssertEqual(after.refundable, 0)
    }

    func testRetriedRefundWithSameReferenceRefundsOnce() throws {
        let order = try paidOrder(1000)
        let a = try terminal.refund(order.orderNo, amount: 400, ref: "same-ref", pin: Cashierd.supervisorPIN).unwrap()
        let b = try terminal.refund(order.orderNo, amount: 400, ref: "same-ref", pin: Cashierd.supervisorPIN).unwrap()
        XCTAssertEqual(a.refund.refundNo, b.refund.refundNo)
        XCTAssertEqual(b.order.refundedAmount, 400)
        XCTAssertEqual(refusal(terminal.refund(order.orderNo, amount: 500, ref: "same-ref", pin: Cashierd.supervisorPIN)), .idempotencyConflict)
        let r = try service.admin(["reconcile"])
        XCTAssertTrue(r.stdout.contains("refunds in groups: 1; refunds at channel: 1"), r.stdout)
    }

    func testConcurrentRefundsNeverExceedThePaidAmount() throws {
        let order = try paidOrder(1000)
        let terminals = try (0..<8).map { _ in TestTerminal(transport: try service.transport(), credentials: terminal.credentials) }
        let box = RefundBox()
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            box.append(terminals[i].refund(order.orderNo, amount: 300, ref: "race-\(i)", pin: Cashierd.supervisorPIN))
        }
        let succeeded = box.all.filter { (try? $0.get()) != nil }.count
        XCTAssertEqual(succeeded, 3, "three refunds of 3.00 fit in 10.00, a fourth does not")
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().refundedAmount, 900)
        XCTAssertEqual(try service.admin(["reconcile"]).status, 0)
    }

    func testRefundNeedsASupervisorPIN() throws {
        let order = try paidOrder(1000)
        XCTAssertEqual(refusal(terminal.refund(order.orderNo, amount: 100, ref: "c1", pin: Cashierd.cashierPIN)), .pinNotSupervisor)
        XCTAssertEqual(refusal(terminal.refund(order.orderNo, amount: 100, ref: "c2", pin: "0000")), .pinInvalid)
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().refundedAmount, 0)
    }

    func testWrongPINsLockRefundsOnThatTerminal() throws {
        let order = try paidOrder(1000)
        for i in 0..<5 {
            XCTAssertEqual(refusal(terminal.refund(order.orderNo, amount: 100, ref: "g\(i)", pin: "99\(i)9")), .pinInvalid)
        }
        XCTAssertEqual(refusal(terminal.refund(order.orderNo, amount: 100, ref: "g9", pin: Cashierd.supervisorPIN)), .pinLocked)
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().refundedAmount, 0)
    }

    func testUnpaidOrderCannotBeRefunded() throws {
        let order = try terminal.createOrder(amount: 500).unwrap()
        XCTAssertEqual(refusal(terminal.refund(order.orderNo, amount: 100, ref: "u1", pin: Cashierd.supervisorPIN)), .orderNotPaid)
    }

    func testAnotherStoresTerminalCannotSeeOrRefundTheOrder() throws {
        let order = try paidOrder(1000)
        let merchant = try service.admin(["merchant", "add", "Other Merchant"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let store = try service.addSandboxStore(merchant: merchant, name: "Other Store")
        XCTAssertEqual(try service.admin(["staff", "add", "--store", store, "--name", "Olga", "--role", "supervisor", "--pin", Cashierd.supervisorPIN]).status, 0)
        let code = try service.admin(["activation-code", "--store", store]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let other = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal(code: code))
        XCTAssertEqual(other.credentials.store.storeId, store)
        guard case .failure(.service(let e)) = other.query(order.orderNo) else { return XCTFail("another store read the order") }
        XCTAssertEqual(e.code, .orderOtherStore)
        XCTAssertEqual(refusal(other.refund(order.orderNo, amount: 100, ref: "x", pin: Cashierd.supervisorPIN)), .orderOtherStore)
        XCTAssertEqual(try other.list().unwrap().orders.count, 0)
    }
}

final class RefundBox: @unchecked Sendable {
    // @unchecked: guarded by lock.
    private let lock = NSLock()
    private var items: [Result<RefundResponse, CallFailure>] = []
    func append(_ r: Result<RefundResponse, CallFailure>) { lock.lock(); items.append(r); lock.unlock() }
    var all: [Result<RefundResponse, CallFailure>] { lock.lock(); defer { lock.unlock() }; return items }
}
