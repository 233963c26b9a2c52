import XCTest
@testable import CashierCore

/// A pay refused with GROUP_UNAVAILABLE (the order's DB group is down, nothing charged) moves the sale
/// to a new order, which the service puts in a live group; so does a pay that never landed, once its
/// order has been closed.
final class SaleHopTests: XCTestCase {
    let code = "994567890123456780"
    let request = CreateOrderRequest(amount: 500, currency: "CNY", clientRef: "T1-0002")

    func view(_ n: OrderNumber, _ status: OrderStatus) -> OrderView {
        OrderView(orderNo: n, storeId: "S1", deviceId: "D1", amount: 500, currency: "CNY", status: status, createdAt: 0, updatedAt: 0)
    }

    func number(group: Int) -> OrderNumber {
        OrderNumber(epochSeconds: 1_795_600_000, instance: 1, sequence: group, group: GroupTag(group)!)
    }

    func testGroupDownAtPayMovesTheSaleToANewOrder() {
        var m = SaleStateMachine(request: request, paymentCode: code)
        _ = m.start(nowMs: 0)
        let first = number(group: 1)
        XCTAssertEqual(m.handle(.orderCreated(view(first, .created)), nowMs: 10).last, .sendPay(first, PayRequest(paymentCode: code)))
        let actions = m.handle(.payFailed(.service(APIError(.groupUnavailable))), nowMs: 20)
        XCTAssertEqual(actions.last, .createOrder(request))
        XCTAssertEqual(m.phase, .creating)
        XCTAssertEqual(m.ordersAbandoned, 1)
        // Journalled as a sale being created again (as at its start), so a restart also makes a new order.
        XCTAssertTrue(actions.contains { if case let .persist(s) = $0 { return s.phase == .creating } else { return false } })
        let second = number(group: 2)
        let payAgain = m.handle(.orderCreated(view(second, .created)), nowMs: 30)
        XCTAssertEqual(payAgain.last, .sendPay(second, PayRequest(paymentCode: code)))
        // Once the pay is out, the journal no longer holds the code.
        for case let .persist(s) in payAgain { XCTAssertFalse(String(decoding: API.encode(s), as: UTF8.self).contains(code)) }
        var paid = view(second, .paid)
        paid.paidAt = 40
        _ = m.handle(.payAnswered(paid), nowMs: 40)
        XCTAssertEqual(m.phase, .finished(.paid(paid)))
    }

    func testMovesAreBoundedThenTheSaleAsksTheServer() {
        var m = SaleStateMachine(request: request, paymentCode: code)
        _ = m.start(nowMs: 0)
        for i in 0..<SaleStateMachine.maxOrdersAbandoned {
            _ = m.handle(.orderCreated(view(number(group: i), .created)), nowMs: Int64(i * 10))
            _ = m.handle(.payFailed(.service(APIError(.groupUnavailable))), nowMs: Int64(i * 10 + 5))
        }
        let last = number(group: 9)
        _ = m.handle(.orderCreated(view(last, .created)), nowMs: 100)
        let actions = m.handle(.payFailed(.service(APIError(.groupUnavailable))), nowMs: 110)
        XCTAssertEqual(m.phase, .querying(last), "after the bound, doubt is settled by asking, as for any other failure")
        XCTAssertFalse(actions.contains(.createOrder(request)))
    }

    func testOtherPayFailuresNeverCreateAnotherOrder() {
        for failure in [SaleFailure.service(APIError(.internalError)), .service(APIError(.channelUnavailable)),
                        .transport(.uncertain("timed out")), .service(APIError(.overloaded))] {
            var m = SaleStateMachine(request: request, paymentCode: code)
            _ = m.start(nowMs: 0)
            _ = m.handle(.orderCreated(view(number(group: 1), .created)), nowMs: 10)
            let actions = m.handle(.payFailed(failure), nowMs: 20)
            XCTAssertFalse(actions.contains(.createOrder(request)), "\(failure)")
        }
    }

    /// The pay got no answer and never landed (its domain went silent): the order is closed, which proves
    /// the code unspent, so the sale takes the payment on a new order instead of ending unpaid.
    func testAPayThatNeverLandedIsFencedThenTheSaleMovesToANewOrder() {
        var m = SaleStateMachine(request: request, paymentCode: code)
        _ = m.start(nowMs: 0)
        let first = number(group: 1)
        _ = m.handle(.orderCreated(view(first, .created)), nowMs: 10)
        _ = m.handle(.payFailed(.transport(.uncertain("no answer; its domain went silent"))), nowMs: 700)
        XCTAssertEqual(m.phase, .querying(first))
        _ = m.handle(.timerFired, nowMs: 2_700)
        let fence = m.handle(.queryAnswered(view(first, .created)), nowMs: 2_710)
        XCTAssertEqual(fence.last, .sendReverse(first), "the pay may still be on its way: close the order first")
        XCTAssertFalse(fence.contains(.createOrder(request)))
        let moved = m.handle(.reverseAnswered(view(first, .closed)), nowMs: 2_720)
        XCTAssertEqual(moved.last, .createOrder(request))
        XCTAssertEqual(m.phase, .creating)
        XCTAssertEqual(m.ordersAbandoned, 1)
        XCTAssertNil(m.payStartedAtMs, "the new order's payment gets a deadline of its own")
        let second = number(group: 2)
        XCTAssertEqual(m.handle(.orderCreated(view(second, .created)), nowMs: 2_800).last, .sendPay(second, PayRequest(paymentCode: code)))
        _ = m.handle(.payAnswered(view(second, .paid)), nowMs: 2_900)
        XCTAssertEqual(m.phase, .finished(.paid(view(second, .paid))))
    }

    /// A reversed payment is not a fence: the code reached the channel (codes are single-use there), so
    /// the sale ends unpaid as before; and the moves stay bounded.
    func testOnlyAClosedOrderMovesTheSaleAndMovesStayBounded() {
        var m = SaleStateMachine(request: request, paymentCode: code)
        _ = m.start(nowMs: 0)
        let first = number(group: 1)
        _ = m.handle(.orderCreated(view(first, .created)), nowMs: 10)
        _ = m.handle(.payAnswered(view(first, .created)), nowMs: 20)
        let ended = m.handle(.reverseAnswered(view(first, .reversed)), nowMs: 30)
        XCTAssertFalse(ended.contains(.createOrder(request)))
        XCTAssertEqual(m.phase, .finished(.notPaid(reversed: true, reason: "payment cancelled")))

        var bounded = SaleStateMachine(request: request, paymentCode: code)
        _ = bounded.start(nowMs: 0)
        for i in 0...SaleStateMachine.maxOrdersAbandoned {
            let n = number(group: i)
            _ = bounded.handle(.orderCreated(view(n, .created)), nowMs: Int64(i * 100))
            _ = bounded.handle(.payAnswered(view(n, .created)), nowMs: Int64(i * 100 + 10))
            _ = bounded.handle(.reverseAnswered(view(n, .closed)), nowMs: Int64(i * 100 + 20))
        }
        XCTAssertEqual(bounded.ordersAbandoned, SaleStateMachine.maxOrdersAbandoned)
        XCTAssertEqual(bounded.phase, .finished(.notPaid(reversed: true, reason: "payment cancelled")))
    }

    func testAResumedSaleHasNoCodeToMoveWith() throws {
        var m = SaleStateMachine(request: request, paymentCode: code)
        _ = m.start(nowMs: 0)
        _ = m.handle(.orderCreated(view(number(group: 1), .created)), nowMs: 10)
        var restored = try API.decode(SaleStateMachine.self, from: API.encode(m))
        _ = restored.resume(nowMs: 20)
        let actions = restored.handle(.payFailed(.service(APIError(.groupUnavailable))), nowMs: 30)
        XCTAssertFalse(actions.contains(.createOrder(request)), "a restarted client never re-pays: it has no code")

        var fenced = try API.decode(SaleStateMachine.self, from: API.encode(m))
        _ = fenced.resume(nowMs: 40)
        _ = fenced.handle(.queryAnswered(view(number(group: 1), .created)), nowMs: 50)
        let closed = fenced.handle(.reverseAnswered(view(number(group: 1), .closed)), nowMs: 60)
        XCTAssertFalse(closed.contains(.createOrder(request)), "nor after a fence")
        XCTAssertEqual(fenced.phase, .finished(.notPaid(reversed: true, reason: "payment cancelled")))
    }
}
