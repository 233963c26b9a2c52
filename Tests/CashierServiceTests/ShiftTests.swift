import CashierChannels
import CashierClient
import CashierCore
import CashierService
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// Shifts on a real cashierd: opened with a float, sales of every tender and refunds counted into the X
/// report, closed once with a numbered Z report that survives everything, a cash difference over the
/// limit refused without a supervisor.
final class ShiftTests: XCTestCase {
    var service: Cashierd!
    var terminal: TestTerminal!
    var cashier: StaffView!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
        terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        cashier = try signIn(Cashierd.cashierPIN)
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private func signIn(_ pin: String, via t: TestTerminal? = nil) throws -> StaffView {
        try (t ?? terminal).transport.call("POST", API.Path.staffSignIn, body: API.encode(StaffSignInRequest(pin: pin)),
                                           credentials: (t ?? terminal).credentials).decoded(StaffSignInResponse.self).unwrap().staff
    }

    private func open(float: Int64, staff: String? = nil, via t: TestTerminal? = nil) -> Result<ShiftResponse, CallFailure> {
        let t = t ?? terminal!
        return t.transport.call("POST", API.Path.shifts, body: API.encode(OpenShiftRequest(staffId: staff ?? cashier.staffId, openingFloat: float)),
                                credentials: t.credentials).decoded(ShiftResponse.self)
    }

    private func close(_ id: String, counted: Int64, supervisorPIN: String? = nil) -> Result<ShiftResponse, CallFailure> {
        terminal.transport.call("POST", API.Path.closeShift(id),
                                body: API.encode(CloseShiftRequest(staffId: cashier.staffId, countedCash: counted, supervisorPin: supervisorPIN)),
                                credentials: terminal.credentials).decoded(ShiftResponse.self)
    }

    private func get(_ path: String) -> Result<ShiftResponse, CallFailure> {
        terminal.transport.call("GET", path, credentials: terminal.credentials).decoded(ShiftResponse.self)
    }

    private func number() throws -> OrderNumber {
        try terminal.transport.call("POST", API.Path.orderNumbers, body: API.encode(OrderNumbersRequest(count: 1)),
                                    credentials: terminal.credentials).decoded(OrderNumbersResponse.self).unwrap().orderNumbers[0]
    }

    private func sell(_ request: SaleRequest) -> Result<SaleResponse, CallFailure> {
        terminal.transport.call("POST", API.Path.sales, body: API.encode(request), credentials: terminal.credentials).decoded(SaleResponse.self)
    }

    private func cashSale(_ amount: Int64, given: Int64?, shift: String, number: OrderNumber? = nil) throws -> SaleResponse {
        try sell(SaleRequest(orderNo: try number ?? self.number(), amount: amount, paymentCode: nil, tender: .cash, cashGiven: given,
                             staffId: cashier.staffId, shiftId: shift)).unwrap()
    }

    private func codeSale(_ amount: Int64, _ scenario: SandboxScenario, shift: String) throws -> OrderView {
        try sell(SaleRequest(orderNo: try number(), amount: amount, paymentCode: paymentCode(scenario), staffId: cashier.staffId,
                             shiftId: shift)).unwrap().order
    }

    private func refund(_ order: OrderNumber, _ amount: Int64, shift: String) throws -> RefundResponse {
        try terminal.transport.call("POST", API.Path.refunds(order),
                                    body: API.encode(RefundRequest(amount: amount, refundRef: "r\(amount)", pin: Cashierd.supervisorPIN,
                                                                   staffId: cashier.staffId, shiftId: shift)),
                                    credentials: terminal.credentials).decoded(RefundResponse.self).unwrap()
    }

    func testAShiftCountsEveryTenderAndClosesWithOneNumberedZReport() throws {
        let opened = try open(float: 10_000).unwrap()
        XCTAssertEqual(opened.shift.status, .open)
        XCTAssertEqual(opened.shift.openedBy, cashier)
        XCTAssertEqual(opened.report.kind, "X")
        XCTAssertEqual(opened.report.cashExpected, 10_000, "the float alone")
        let shift = opened.shift.shiftId

        let cash = try cashSale(2_500, given: 5_000, shift: shift)
        XCTAssertEqual(cash.order.status, .paid, "cash is paid when placed")
        XCTAssertEqual(cash.order.tender, .cash)
        XCTAssertEqual(cash.order.change, 2_500)
        XCTAssertEqual(cash.order.staffId, cashier.staffId)
        XCTAssertEqual(cash.order.shiftId, shift)
        XCTAssertEqual(try codeSale(1_250, .paid, shift: shift).status, .paid)
        XCTAssertEqual(try codeSale(700, .insufficientFunds, shift: shift).status, .declined)
        let cashRefund = try refund(cash.order.orderNo, 500, shift: shift)
        XCTAssertEqual(cashRefund.refund.status, .succeeded, "cash goes back from the drawer, with no channel to ask")

        let x = try get(API.Path.currentShift).unwrap().report
        XCTAssertEqual(x.kind, "X")
        XCTAssertEqual(x.sales, [TenderTotal(tender: "cash", count: 1, amount: 2_500), TenderTotal(tender: "sandbox", count: 1, amount: 1_250)])
        XCTAssertEqual(x.refunds, [TenderTotal(tender: "cash", count: 1, amount: 500)])
        XCTAssertEqual(x.declined, 1)
        XCTAssertEqual(x.cashExpected, 10_000 + 2_500 - 500)
        XCTAssertNil(x.cashCounted)

        let z = try close(shift, counted: 12_000).unwrap()
        XCTAssertEqual(z.shift.status, .closed)
        XCTAssertEqual(z.shift.zNumber, 1)
        XCTAssertEqual(z.report.kind, "Z")
        XCTAssertEqual(z.report.cashCounted, 12_000)
        XCTAssertEqual(z.report.cashDifference, 0)
        XCTAssertEqual(z.report.sales, x.sales)

        // Sent again, read again, after a restart: the same Z, never a second number.
        let again = try close(shift, counted: 99_999).unwrap()
        XCTAssertEqual(again.report, z.report, "a close sent again is answered with the Z that was made")
        service.stop()
        try service.start()
        terminal = TestTerminal(transport: try service.transport(), credentials: terminal.credentials)
        XCTAssertEqual(try get(API.Path.shift(shift)).unwrap().report, z.report)
        XCTAssertEqual(refusal(get(API.Path.currentShift)), .shiftNotFound, "no shift is open any more")

        let next = try open(float: 0).unwrap().shift
        XCTAssertNotEqual(next.shiftId, shift)
        XCTAssertEqual(try close(next.shiftId, counted: 0).unwrap().shift.zNumber, 2, "the store's next Z number")
        let listed = try service.admin(["reconcile"])
        XCTAssertTrue(listed.stdout.contains("reconciliation: EXACT"), "cash sales are not the channel's: \(listed.stdout)")
    }

    func testACashDifferenceOverTheLimitNeedsASupervisor() throws {
        let shift = try open(float: 5_000).unwrap().shift.shiftId
        _ = try cashSale(1_000, given: nil, shift: shift)
        XCTAssertEqual(refusal(close(shift, counted: 5_000)), .supervisorRequired, "10.00 short, over the 5.00 limit")
        XCTAssertEqual(refusal(close(shift, counted: 5_000, supervisorPIN: Cashierd.cashierPIN)), .pinNotSupervisor)
        XCTAssertEqual(try get(API.Path.currentShift).unwrap().shift.status, .open, "nothing was closed")
        let z = try close(shift, counted: 5_000, supervisorPIN: Cashierd.supervisorPIN).unwrap()
        XCTAssertEqual(z.report.cashExpected, 6_000)
        XCTAssertEqual(z.report.cashDifference, -1_000)
        // Within the limit no one else is asked.
        let small = try open(float: 0).unwrap().shift.shiftId
        XCTAssertEqual(try close(small, counted: 300).unwrap().report.cashDifference, 300)
    }

    func testOneShiftAtATimePerTerminalAndAnOpenSentAgainMeetsIt() throws {
        XCTAssertEqual(refusal(get(API.Path.currentShift)), .shiftNotFound)
        XCTAssertEqual(refusal(open(float: 100, staff: "nobody")), .staffUnknown)
        XCTAssertEqual(refusal(open(float: -1)), .amountInvalid)
        let first = try open(float: 2_000).unwrap().shift
        XCTAssertEqual(try open(float: 2_000).unwrap().shift, first, "the same open again: the same shift")
        XCTAssertEqual(refusal(open(float: 3_000)), .shiftAlreadyOpen)
        // Another terminal of the store has its own shift; it cannot see this one as its current.
        let other = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal(code: try service.newActivationCode()))
        let theirs = try open(float: 0, via: other).unwrap().shift
        XCTAssertNotEqual(theirs.shiftId, first.shiftId)
        XCTAssertEqual(try get(API.Path.currentShift).unwrap().shift.shiftId, first.shiftId)
        XCTAssertEqual(refusal(get(API.Path.shift("SH-NOT-THERE"))), .shiftNotFound)
    }

    func testAPaymentStillUnderWayHoldsTheCloseUntilItsChannelDecides() throws {
        let shift = try open(float: 0).unwrap().shift.shiftId
        let confirming = try codeSale(990, .userConfirms, shift: shift)
        XCTAssertEqual(confirming.status, .paying)
        let refused = close(shift, counted: 0)
        XCTAssertEqual(refusal(refused), .shiftUnsettled)
        if case .failure(.service(let e)) = refused { XCTAssertTrue(e.retryable) ; XCTAssertTrue(e.detail?.contains(confirming.orderNo.digits) == true) }
        var z: ShiftResponse?
        let deadline = Date().addingTimeInterval(15)
        while z == nil, Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            if case .success(let closed) = close(shift, counted: 0) { z = closed }
        }
        let report = try XCTUnwrap(z, "the close goes through once the customer has confirmed").report
        XCTAssertEqual(report.sales, [TenderTotal(tender: "sandbox", count: 1, amount: 990)], "the close asked the channel itself")
        XCTAssertEqual(report.unsettled, [])
    }

    func testCashSalesAreIdempotentAndCheckedLikeAnyOther() throws {
        let shift = try open(float: 0).unwrap().shift.shiftId
        let n = try number()
        let first = try cashSale(800, given: 1_000, shift: shift, number: n)
        let again = try cashSale(800, given: 1_000, shift: shift, number: n)
        XCTAssertEqual(again.order.orderNo, first.order.orderNo)
        XCTAssertEqual(again.order.createdAt, first.order.createdAt, "the same order, not a second")
        XCTAssertEqual(refusal(sell(SaleRequest(orderNo: n, amount: 800, paymentCode: paymentCode(.paid)))), .idempotencyConflict,
                       "a number used for a cash sale cannot be charged by code")
        XCTAssertEqual(refusal(sell(SaleRequest(orderNo: try number(), amount: 800, paymentCode: paymentCode(.paid), tender: .cash))), .invalidField)
        XCTAssertEqual(refusal(sell(SaleRequest(orderNo: try number(), amount: 800, paymentCode: nil, tender: .cash, cashGiven: 799))), .amountInvalid)
        XCTAssertEqual(refusal(sell(SaleRequest(orderNo: try number(), amount: 800, paymentCode: nil))), .malformedRequest, "a code sale needs its code")
        XCTAssertEqual(refusal(sell(SaleRequest(orderNo: try number(), amount: 800, paymentCode: nil, tender: .cash, shiftId: "no spaces"))), .invalidField)
        XCTAssertEqual(try get(API.Path.currentShift).unwrap().report.sales, [TenderTotal(tender: "cash", count: 1, amount: 800)])
    }

    /// A line's discount is part of the order: the lines less their discounts must make the amount, and a
    /// discount is never more than its line.
    func testLineDiscountsAreCheckedAndKept() throws {
        let shift = try open(float: 0).unwrap().shift.shiftId
        let lines = [OrderItem(sku: "111", name: "Bread", quantity: 2, unitPrice: 1_000, discount: 300), OrderItem(name: "Tea", quantity: 1, unitPrice: 500)]
        let sale = try sell(SaleRequest(orderNo: try number(), amount: 2_200, items: lines, paymentCode: nil, tender: .cash, shiftId: shift)).unwrap()
        XCTAssertEqual(sale.order.items, lines, "kept as sent")
        XCTAssertEqual(refusal(sell(SaleRequest(orderNo: try number(), amount: 2_500, items: lines, paymentCode: nil, tender: .cash))), .amountInvalid,
                       "the gross is not the amount")
        let tooMuch = [OrderItem(name: "Tea", quantity: 1, unitPrice: 500, discount: 600)]
        XCTAssertEqual(refusal(sell(SaleRequest(orderNo: try number(), amount: 1, items: tooMuch, paymentCode: nil, tender: .cash))), .invalidField)
    }
}
