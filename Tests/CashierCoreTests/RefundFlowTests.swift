import XCTest
@testable import CashierCore

final class RefundFlowTests: XCTestCase {
    let order = OrderNumber(epochSeconds: 1_750_000_000, instance: 1, sequence: 9, group: GroupTag(4)!)

    func refund(_ status: RefundStatus) -> RefundView {
        RefundView(refundNo: RefundNumber(epochSeconds: 1_750_000_100, instance: 1, sequence: 1, group: GroupTag(4)!), orderNo: order, amount: 500, currency: "CNY",
                   refundRef: "R-1", status: status, createdAt: 0)
    }

    func sends(_ a: [RefundAction]) -> [String] {
        a.compactMap { if case let .sendRefund(_, _, ref) = $0 { return ref } else { return nil } }
    }

    func testSucceedsAtOnce() {
        var m = RefundStateMachine(order: order, amount: 500, refundRef: "R-1")
        XCTAssertEqual(sends(m.start(nowMs: 0)), ["R-1"])
        _ = m.handle(.answered(refund(.succeeded)), nowMs: 10)
        XCTAssertEqual(m.phase, .finished(.refunded(refund(.succeeded))))
    }

    func testPendingAndFailuresRetryWithTheSameReference() throws {
        var m = RefundStateMachine(order: order, amount: 500, refundRef: "R-1")
        var refs = sends(m.start(nowMs: 0))
        let a = m.handle(.answered(refund(.pending)), nowMs: 100)
        XCTAssertEqual(m.wakeAtMs, 1_100)
        XCTAssertTrue(a.contains(.scheduleTimer(atMs: 1_100)))
        refs += sends(m.handle(.timerFired, nowMs: 1_100))
        _ = m.handle(.failed(.transport(.uncertain("timed out"))), nowMs: 2_000)
        XCTAssertEqual(m.wakeAtMs, 4_000, "backoff doubles")
        // Resume from the journal in the middle: the same reference goes out again.
        var r = try API.decode(RefundStateMachine.self, from: API.encode(m))
        refs += sends(r.start(nowMs: 5_000))
        _ = r.handle(.answered(refund(.succeeded)), nowMs: 5_100)
        XCTAssertEqual(refs, ["R-1", "R-1", "R-1"])
        XCTAssertEqual(r.phase, .finished(.refunded(refund(.succeeded))))
    }

    func testFinalRefusalStops() {
        var m = RefundStateMachine(order: order, amount: 500, refundRef: "R-1")
        _ = m.start(nowMs: 0)
        let a = m.handle(.failed(.service(APIError(.pinInvalid))), nowMs: 10)
        XCTAssertEqual(m.phase, .finished(.refused(APIError(.pinInvalid))))
        XCTAssertTrue(sends(a).isEmpty)
    }

    func testGivesUpAfterMaxAttempts() {
        var m = RefundStateMachine(order: order, amount: 500, refundRef: "R-1", maxAttempts: 3)
        var now: Int64 = 0
        var total = sends(m.start(nowMs: now)).count
        for _ in 0..<10 where !(m.phase == .finished(.needsAttention("refund R-1 not confirmed after 3 tries"))) {
            _ = m.handle(.failed(.service(APIError(.overloaded))), nowMs: now)
            guard let wake = m.wakeAtMs else { break }
            now = wake
            total += sends(m.handle(.timerFired, nowMs: now)).count
        }
        XCTAssertEqual(total, 3)
        XCTAssertEqual(m.phase, .finished(.needsAttention("refund R-1 not confirmed after 3 tries")))
    }
}
