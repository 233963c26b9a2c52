import XCTest
@testable import CashierCore

final class SaleFlowTests: XCTestCase {
    let order = OrderNumber(epochSeconds: 1_750_000_000, instance: 1, sequence: 7, group: GroupTag(3)!)
    let request = CreateOrderRequest(amount: 1_250, currency: "CNY", clientRef: "T1-0001")

    func view(_ status: OrderStatus, failure: PaymentFailure? = nil) -> OrderView {
        OrderView(orderNo: order, storeId: "S1", deviceId: "D1", amount: 1_250, currency: "CNY", status: status,
                  createdAt: 0, updatedAt: 0, failure: failure)
    }

    /// A sale whose order was created at t=1000 and whose pay went out then.
    func paying() -> (SaleStateMachine, [SaleAction]) {
        var m = SaleStateMachine(request: request, paymentCode: "994567890123456789")
        let start = m.start(nowMs: 0)
        XCTAssertTrue(start.contains(.createOrder(request)))
        let a = m.handle(.orderCreated(view(.created)), nowMs: 1_000)
        return (m, a)
    }

    func count(_ actions: [SaleAction], _ match: (SaleAction) -> Bool) -> Int { actions.filter(match).count }
    func isPay(_ a: SaleAction) -> Bool { if case .sendPay = a { return true } else { return false } }
    func isQuery(_ a: SaleAction) -> Bool { if case .sendQuery = a { return true } else { return false } }
    func isReverse(_ a: SaleAction) -> Bool { if case .sendReverse = a { return true } else { return false } }
    func timer(_ actions: [SaleAction]) -> Int64? {
        actions.compactMap { if case let .scheduleTimer(at) = $0 { return at } else { return nil } }.last
    }
    func snapshot(_ actions: [SaleAction]) -> SaleStateMachine? {
        actions.compactMap { if case let .persist(s) = $0 { return s } else { return nil } }.last
    }

    func testPaidAtOnce() {
        var (m, a) = paying()
        XCTAssertEqual(a.last, .sendPay(order, PayRequest(paymentCode: "994567890123456789")))
        // The journal entry is written before the pay goes out, and it no longer holds the code.
        let persistIndex = a.firstIndex { if case .persist = $0 { return true } else { return false } }!
        XCTAssertLessThan(persistIndex, a.firstIndex(where: isPay)!)
        let journalled = String(decoding: API.encode(snapshot(a)!), as: UTF8.self)
        XCTAssertFalse(journalled.contains("994567890123456789"))
        let done = m.handle(.payAnswered(view(.paid)), nowMs: 1_300)
        XCTAssertEqual(m.phase, .finished(.paid(view(.paid))))
        XCTAssertTrue(done.contains(.report(m.phase)))
    }

    func testDeclined() {
        var (m, _) = paying()
        _ = m.handle(.payAnswered(view(.declined, failure: PaymentFailure(reason: "INSUFFICIENT_FUNDS", message: "no"))), nowMs: 1_200)
        XCTAssertEqual(m.phase, .finished(.declined(reason: "INSUFFICIENT_FUNDS")))
    }

    func testInvalidCodeRefusedByServiceIsDeclinedWithoutQuery() {
        var (m, _) = paying()
        let a = m.handle(.payFailed(.service(APIError(.paymentCodeInvalid))), nowMs: 1_100)
        XCTAssertEqual(m.phase, .finished(.declined(reason: "PAYMENT_CODE_INVALID")))
        XCTAssertEqual(count(a, isQuery), 0)
    }

    func testCreateFailureEndsNotPaid() {
        var m = SaleStateMachine(request: request, paymentCode: "1")
        _ = m.start(nowMs: 0)
        _ = m.handle(.createFailed(.transport(.notSent("refused"))), nowMs: 10)
        guard case .finished(.notPaid(reversed: false, _)) = m.phase else { return XCTFail("\(m.phase)") }
    }

    func testUserPayingThenPaid() {
        var (m, _) = paying()
        let a = m.handle(.payAnswered(view(.paying)), nowMs: 1_500)
        XCTAssertEqual(m.phase, .waitingForCustomer(order))
        XCTAssertEqual(timer(a), 4_500, "query every 3 s while the customer confirms")
        XCTAssertTrue(m.handle(.timerFired, nowMs: 4_000).isEmpty, "early wake-up does nothing")
        XCTAssertEqual(m.handle(.timerFired, nowMs: 4_500), [.sendQuery(order)])
        let again = m.handle(.queryAnswered(view(.paying)), nowMs: 4_600)
        XCTAssertEqual(timer(again), 7_600)
        XCTAssertEqual(m.handle(.timerFired, nowMs: 7_600), [.sendQuery(order)])
        _ = m.handle(.queryAnswered(view(.paid)), nowMs: 7_700)
        XCTAssertEqual(m.phase, .finished(.paid(view(.paid))))
    }

    func testUnknownThenQueryPaid() {
        var (m, _) = paying()
        let a = m.handle(.payFailed(.transport(.uncertain("timed out"))), nowMs: 11_000)
        XCTAssertEqual(m.phase, .querying(order))
        XCTAssertEqual(timer(a), 13_000, "after an unknown result wait ~2 s, then query")
        XCTAssertEqual(count(a, isPay), 0)
        XCTAssertEqual(m.handle(.timerFired, nowMs: 13_000), [.sendQuery(order)])
        _ = m.handle(.queryAnswered(view(.paid)), nowMs: 13_100)
        XCTAssertEqual(m.phase, .finished(.paid(view(.paid))))
    }

    func testServerErrorOnPayIsUnknownAndQueried() {
        var (m, _) = paying()
        _ = m.handle(.payFailed(.service(APIError(.channelUnavailable))), nowMs: 2_000)
        XCTAssertEqual(m.phase, .querying(order))
        XCTAssertEqual(m.handle(.timerFired, nowMs: 4_000), [.sendQuery(order)])
    }

    func testTimeoutPastDeadlineReverses() {
        var (m, _) = paying()
        _ = m.handle(.payAnswered(view(.paying)), nowMs: 1_500)
        var now: Int64 = 1_500
        var all: [SaleAction] = []
        // Poll until the deadline (pay at 1000 + 45 s); bounded loop.
        for _ in 0..<30 where !m.phase.isFinal {
            guard let wake = m.wakeAtMs else { break }
            now = wake
            let a = m.handle(.timerFired, nowMs: now)
            all += a
            if a.contains(.sendQuery(order)) { all += m.handle(.queryAnswered(view(.paying)), nowMs: now + 50) }
            if case .reversing = m.phase { break }
        }
        XCTAssertEqual(m.phase, .reversing(order, attempts: 1))
        XCTAssertGreaterThanOrEqual(now, 46_000)
        XCTAssertLessThanOrEqual(now, 46_000 + 100)
        XCTAssertEqual(count(all, isReverse), 1)
        XCTAssertEqual(count(all, isPay), 0)
        _ = m.handle(.reverseAnswered(view(.reversed)), nowMs: now + 200)
        XCTAssertEqual(m.phase, .finished(.notPaid(reversed: true, reason: "payment cancelled")))
    }

    func testReverseRetriesWithBackoffThenSucceeds() {
        var (m, _) = paying()
        _ = m.handle(.payFailed(.transport(.uncertain("timed out"))), nowMs: 46_500)  // already past deadline
        let rev = m.handle(.timerFired, nowMs: 48_500)  // past the deadline: reverse instead of querying
        XCTAssertEqual(count(rev, isReverse), 1)
        XCTAssertEqual(count(rev, isQuery), 0)
        var now: Int64 = 50_000
        var delays: [Int64] = []
        for attempt in 1...5 {
            XCTAssertEqual(m.phase, .reversing(order, attempts: attempt))
            let a = m.handle(.reverseFailed(.transport(.notSent("refused"))), nowMs: now)
            let at = timer(a)!
            delays.append(at - now)
            XCTAssertTrue(m.handle(.timerFired, nowMs: at - 1).isEmpty)
            now = at
            XCTAssertEqual(count(m.handle(.timerFired, nowMs: now), isReverse), 1)
        }
        XCTAssertEqual(delays, [1_000, 2_000, 4_000, 8_000, 16_000])
        _ = m.handle(.reverseAnswered(view(.reversed)), nowMs: now + 10)
        XCTAssertEqual(m.phase, .finished(.notPaid(reversed: true, reason: "payment cancelled")))
    }

    func testReverseGivesUpToNeedsAttention() {
        var (m, _) = paying()
        m = SaleStateMachine(request: request, paymentCode: "1",
                             configuration: SaleConfiguration(maxReverseAttempts: 3))
        _ = m.start(nowMs: 0)
        _ = m.handle(.orderCreated(view(.created)), nowMs: 0)
        _ = m.handle(.payAnswered(view(.created)), nowMs: 10)  // pay not landed: close the order
        var now: Int64 = 10
        for _ in 0..<10 where !m.phase.isFinal {
            let a = m.handle(.reverseFailed(.service(APIError(.internalError))), nowMs: now)
            if let at = timer(a) { now = at; _ = m.handle(.timerFired, nowMs: now) }
        }
        guard case .finished(.needsAttention(order, _)) = m.phase else { return XCTFail("\(m.phase)") }
    }

    func testReverseRefusedBecauseFinalAsksServerAndShowsPaid() {
        var (m, _) = paying()
        _ = m.handle(.payFailed(.transport(.uncertain("timed out"))), nowMs: 50_000)
        let due = m.handle(.timerFired, nowMs: 52_000)  // past the deadline: reverse, not query
        XCTAssertEqual(count(due, isReverse), 1)
        guard case .reversing = m.phase else { return XCTFail("\(m.phase)") }
        let a = m.handle(.reverseFailed(.service(APIError(.orderNotReversible))), nowMs: 52_200)
        XCTAssertEqual(a, [.sendQuery(order)])
        _ = m.handle(.queryAnswered(view(.paid)), nowMs: 52_300)
        XCTAssertEqual(m.phase, .finished(.paid(view(.paid))), "the server's word wins")
    }

    func testCreatedAfterUncertainPayIsClosedNotRepaid() {
        var (m, _) = paying()
        _ = m.handle(.payFailed(.transport(.uncertain("timed out"))), nowMs: 5_000)
        _ = m.handle(.timerFired, nowMs: 7_000)
        let a = m.handle(.queryAnswered(view(.created)), nowMs: 7_100)
        XCTAssertEqual(count(a, isPay), 0)
        XCTAssertEqual(count(a, isReverse), 1)
    }

    func testLateAnswersAfterFinishChangeNothing() {
        var (m, _) = paying()
        _ = m.handle(.payAnswered(view(.paid)), nowMs: 1_100)
        XCTAssertTrue(m.handle(.queryAnswered(view(.declined)), nowMs: 1_200).isEmpty)
        XCTAssertTrue(m.handle(.payFailed(.transport(.uncertain("x"))), nowMs: 1_200).isEmpty)
        XCTAssertEqual(m.phase, .finished(.paid(view(.paid))))
    }

    // MARK: - Resuming from the journal

    func roundTrip(_ m: SaleStateMachine) throws -> SaleStateMachine {
        try API.decode(SaleStateMachine.self, from: API.encode(m))
    }

    func testResumeWhileCreatingCreatesAgain() throws {
        var m = SaleStateMachine(request: request, paymentCode: "99")
        var r = try roundTrip(snapshot(m.start(nowMs: 0))!)
        let a = r.resume(nowMs: 100)
        XCTAssertTrue(a.contains(.createOrder(request)))
        let p = r.handle(.orderCreated(view(.created)), nowMs: 200)
        XCTAssertEqual(p.last, .sendPay(order, PayRequest(paymentCode: "99")))
    }

    func testResumeAfterPaySentQueriesAndNeverPays() throws {
        let (_, a) = paying()
        var r = try roundTrip(snapshot(a)!)
        XCTAssertEqual(r.phase, .paying(order))
        let resumed = r.resume(nowMs: 3_000)
        XCTAssertEqual(count(resumed, isPay), 0)
        XCTAssertEqual(count(resumed, isQuery), 1)
        XCTAssertEqual(r.phase, .querying(order))
        // Even when the server says the order is still "created", the pay is not sent again.
        let b = r.handle(.queryAnswered(view(.created)), nowMs: 3_100)
        XCTAssertEqual(count(b, isPay), 0)
        XCTAssertEqual(count(b, isReverse), 1)
        // The deadline still counts from the original pay.
        XCTAssertEqual(r.payStartedAtMs, 1_000)
    }

    func testResumeWhileWaitingForCustomerQueries() throws {
        var (m, _) = paying()
        let a = m.handle(.payAnswered(view(.paying)), nowMs: 1_500)
        var r = try roundTrip(snapshot(a)!)
        XCTAssertEqual(r.phase, .waitingForCustomer(order))
        let resumed = r.resume(nowMs: 2_000)
        XCTAssertEqual(count(resumed, isQuery), 1)
        XCTAssertEqual(count(resumed, isPay), 0)
        _ = r.handle(.queryAnswered(view(.paid)), nowMs: 2_100)
        XCTAssertEqual(r.phase, .finished(.paid(view(.paid))))
    }

    func testResumeWhileQueryingQueries() throws {
        var (m, _) = paying()
        let a = m.handle(.payFailed(.transport(.uncertain("timed out"))), nowMs: 5_000)
        var r = try roundTrip(snapshot(a)!)
        let resumed = r.resume(nowMs: 6_000)
        XCTAssertEqual(count(resumed, isQuery), 1)
        XCTAssertEqual(count(resumed, isPay), 0)
    }

    func testResumeWhileReversingReversesAgain() throws {
        var (m, _) = paying()
        _ = m.handle(.payFailed(.transport(.uncertain("timed out"))), nowMs: 50_000)
        let a = m.handle(.timerFired, nowMs: 52_000)
        var r = try roundTrip(snapshot(a)!)
        let resumed = r.resume(nowMs: 60_000)
        XCTAssertEqual(count(resumed, isReverse), 1)
        XCTAssertEqual(count(resumed, isPay), 0)
        _ = r.handle(.reverseAnswered(view(.reversed)), nowMs: 60_100)
        XCTAssertEqual(r.phase, .finished(.notPaid(reversed: true, reason: "payment cancelled")))
    }

    func testResumeFinishedOnlyReports() throws {
        var (m, _) = paying()
        let a = m.handle(.payAnswered(view(.paid)), nowMs: 1_100)
        var r = try roundTrip(snapshot(a)!)
        XCTAssertEqual(r.resume(nowMs: 2_000), [.report(.finished(.paid(view(.paid))))])
    }
}
