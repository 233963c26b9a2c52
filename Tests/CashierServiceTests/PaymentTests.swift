import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// The sandbox channel's whole payment matrix, double-pay attempts and reversal, over real HTTPS.
final class PaymentTests: XCTestCase {
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

    private func newOrder(_ amount: Int64 = 1234) throws -> OrderView {
        try terminal.createOrder(amount: amount).unwrap()
    }

    /// Polls until the order leaves `paying` or the bound passes.
    private func pollUntilFinal(_ no: OrderNumber, seconds: Double = 10) throws -> OrderView {
        let deadline = Date().addingTimeInterval(seconds)
        var last = try terminal.query(no).unwrap()
        while last.status == .paying && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.25)
            last = try terminal.query(no).unwrap()
        }
        return last
    }

    func testPaidAtOnce() throws {
        let order = try newOrder()
        XCTAssertEqual(order.status, .created)
        XCTAssertEqual(order.amount, 1234)
        let paid = try terminal.pay(order.orderNo, code: paymentCode(.paid)).unwrap()
        XCTAssertEqual(paid.status, .paid)
        XCTAssertNotNil(paid.channelTxn)
        XCTAssertNotNil(paid.paidAt)
        XCTAssertNil(paid.pending)
    }

    func testCustomerConfirmsAfterUserPaying() throws {
        let order = try newOrder()
        let first = try terminal.pay(order.orderNo, code: paymentCode(.userConfirms)).unwrap()
        XCTAssertEqual(first.status, .paying)
        XCTAssertEqual(first.pending, .userConfirming)
        XCTAssertEqual(try pollUntilFinal(order.orderNo).status, .paid)
    }

    func testCustomerNeverConfirmsThenReversed() throws {
        let order = try newOrder()
        let first = try terminal.pay(order.orderNo, code: paymentCode(.userNeverConfirms)).unwrap()
        XCTAssertEqual(first.pending, .userConfirming)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().status, .paying)
        let reversed = try terminal.reverse(order.orderNo).unwrap()
        XCTAssertEqual(reversed.status, .reversed)
        // Reversal is idempotent and final.
        XCTAssertEqual(try terminal.reverse(order.orderNo).unwrap().status, .reversed)
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().status, .reversed)
    }

    func testDeclinedForInsufficientFunds() throws {
        let order = try newOrder()
        let result = try terminal.pay(order.orderNo, code: paymentCode(.insufficientFunds)).unwrap()
        XCTAssertEqual(result.status, .declined)
        XCTAssertEqual(result.failure?.reason, "INSUFFICIENT_FUNDS")
        // A declined order cannot be paid again with another code.
        guard case .failure(.service(let e)) = terminal.pay(order.orderNo, code: paymentCode(.paid)) else { return XCTFail("expected refusal") }
        XCTAssertEqual(e.code, .orderNotPayable)
    }

    func testUnknownResultThatWasPaid() throws {
        let order = try newOrder()
        let first = try terminal.pay(order.orderNo, code: paymentCode(.unknownButPaid)).unwrap()
        XCTAssertEqual(first.status, .paying)
        XCTAssertEqual(first.pending, .unknown)
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().status, .paid)
    }

    func testUnknownResultThatWasNotPaid() throws {
        let order = try newOrder()
        XCTAssertEqual(try terminal.pay(order.orderNo, code: paymentCode(.unknownNotPaid)).unwrap().pending, .unknown)
        let after = try terminal.query(order.orderNo).unwrap()
        XCTAssertEqual(after.status, .declined)
        XCTAssertEqual(after.failure?.reason, "SYSTEM_ERROR")
    }

    func testSlowChannelStillPays() throws {
        let order = try newOrder()
        let started = Date()
        XCTAssertEqual(try terminal.pay(order.orderNo, code: paymentCode(.slow)).unwrap().status, .paid)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.9)
    }

    func testPaymentCodeIsSingleUse() throws {
        let code = paymentCode(.paid)
        let a = try newOrder(), b = try newOrder()
        XCTAssertEqual(try terminal.pay(a.orderNo, code: code).unwrap().status, .paid)
        let second = try terminal.pay(b.orderNo, code: code).unwrap()
        XCTAssertEqual(second.status, .declined)
        XCTAssertEqual(second.failure?.reason, "CODE_USED")
    }

    func testMalformedPaymentCodeIsRefusedBeforeTheChannel() throws {
        let order = try newOrder()
        for bad in ["", "12345", "98" + String(repeating: "1", count: 16), "13abc", String(repeating: "1", count: 40)] {
            guard case .failure(.service(let e)) = terminal.pay(order.orderNo, code: bad) else { return XCTFail("accepted \(bad)") }
            XCTAssertEqual(e.code, .paymentCodeInvalid)
        }
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().status, .created)
    }

    func testSequentialDoublePayChargesOnce() throws {
        let order = try newOrder(500)
        let code = paymentCode(.paid)
        XCTAssertEqual(try terminal.pay(order.orderNo, code: code).unwrap().status, .paid)
        XCTAssertEqual(try terminal.pay(order.orderNo, code: code).unwrap().status, .paid)
        // A second code on a paid order is answered with the paid order; nothing is charged.
        XCTAssertEqual(try terminal.pay(order.orderNo, code: paymentCode(.paid)).unwrap().status, .paid)
        try assertBooksExact(paidOrders: 1)
    }

    func testConcurrentDoublePayChargesOnce() throws {
        let order = try newOrder(777)
        let codes = (0..<8).map { $0 % 2 == 0 ? paymentCode(.paid) : paymentCode(.slow) }
        let results = ResultsBox()
        // One connection per thread, as separate terminals retrying would have.
        let terminals = try codes.map { _ in TestTerminal(transport: try service.transport(), credentials: terminal.credentials) }
        DispatchQueue.concurrentPerform(iterations: codes.count) { i in
            results.append(terminals[i].pay(order.orderNo, code: codes[i]))
        }
        let statuses = results.all.compactMap { try? $0.get().status }
        // Exactly one pay reached the channel; every other answer was the order's state or a refusal.
        XCTAssertTrue(statuses.contains(.paid) || statuses.contains(.paying), "\(results.all)")
        XCTAssertEqual(try pollUntilFinal(order.orderNo).status, .paid)
        try assertBooksExact(paidOrders: 1)
    }

    func testReverseOfUnpaidOrderClosesIt() throws {
        let order = try newOrder()
        XCTAssertEqual(try terminal.reverse(order.orderNo).unwrap().status, .closed)
        guard case .failure(.service(let e)) = terminal.pay(order.orderNo, code: paymentCode(.paid)) else { return XCTFail() }
        XCTAssertEqual(e.code, .orderNotPayable)
    }

    func testItemsMustAddUpAndAmountsAreChecked() throws {
        let items = [OrderItem(sku: "A1", name: "乌龙茶 Oolong", quantity: 2, unitPrice: 350), OrderItem(name: "Bun", quantity: 1, unitPrice: 300)]
        let order = try terminal.createOrder(amount: 1000, items: items).unwrap()
        XCTAssertEqual(try terminal.query(order.orderNo).unwrap().items, items)
        for (amount, its) in [(Int64(999), items), (0, nil), (-5, nil), (Money.maximumMinorUnits + 1, nil)] as [(Int64, [OrderItem]?)] {
            guard case .failure(.service(let e)) = terminal.createOrder(amount: amount, items: its) else { return XCTFail("accepted \(amount)") }
            XCTAssertEqual(e.code, .amountInvalid)
        }
    }

    private func assertBooksExact(paidOrders: Int, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try service.admin(["reconcile"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr, file: file, line: line)
        XCTAssertTrue(r.stdout.contains("paid orders in groups: \(paidOrders); paid at channel: \(paidOrders)"), r.stdout, file: file, line: line)
        XCTAssertTrue(r.stdout.contains("double charges: 0"), r.stdout, file: file, line: line)
    }
}

/// Collects results from concurrent threads.
final class ResultsBox: @unchecked Sendable {
    // @unchecked: guarded by lock.
    private let lock = NSLock()
    private var items: [Result<OrderView, CallFailure>] = []
    func append(_ r: Result<OrderView, CallFailure>) { lock.lock(); items.append(r); lock.unlock() }
    var all: [Result<OrderView, CallFailure>] { lock.lock(); defer { lock.unlock() }; return items }
}
