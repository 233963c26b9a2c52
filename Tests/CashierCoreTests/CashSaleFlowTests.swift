import CashierCore
import XCTest

/// The cash sale's rules: recorded once by its number whatever is lost, kept to forward when nothing
/// answers, moved to its next number only when the service proves nothing was placed.
final class CashSaleFlowTests: XCTestCase {
    private let numbers = (1...3).map { OrderNumber(epochSeconds: 1_796_000_000, instance: 1, sequence: $0, group: GroupTag($0)!) }

    private func machine(_ count: Int = 2) -> CashSaleStateMachine {
        CashSaleStateMachine(request: SaleRequest(orderNo: numbers[0], amount: 800, paymentCode: "991234", cashGiven: 1_000, shiftId: "SH1"),
                             orderNumbers: Array(numbers.prefix(count)), takenAtMs: 5)!
    }

    private func sent(_ actions: [CashSaleAction]) -> [OrderNumber] {
        actions.compactMap { if case .send(let r) = $0 { return r.orderNo } else { return nil } }
    }

    private func view(_ n: OrderNumber) -> OrderView {
        OrderView(orderNo: n, storeId: "S1", deviceId: "D1", amount: 800, currency: "CNY", status: .paid, createdAt: 1, updatedAt: 1, tender: .cash)
    }

    func testTheSaleIsJournalledBeforeItIsSentAndEndsRecorded() {
        var m = machine()
        let first = m.start()
        guard case .persist = first.first else { return XCTFail("persist first: \(first)") }
        XCTAssertEqual(sent(first), [numbers[0]])
        if case .send(let r) = first.last {
            XCTAssertEqual(r.tender, .cash)
            XCTAssertNil(r.paymentCode, "a cash sale never carries a code")
            XCTAssertEqual(r.shiftId, "SH1")
        }
        _ = m.handle(.answered(view(numbers[0])), nowMs: 10)
        XCTAssertEqual(m.phase, .finished(.recorded(view(numbers[0]))))
        XCTAssertEqual(m.handle(.failed(.transport(.uncertain("late"))), nowMs: 11), [], "a final sale ignores late news")
    }

    func testNoAnswerKeepsTheSaleOnItsNumberToForwardAndNeverGivesItUp() {
        var m = machine()
        _ = m.start()
        let retry = m.handle(.failed(.transport(.uncertain("timed out"))), nowMs: 100)
        XCTAssertEqual(retry, [.wait(untilMs: 1_100)], "one more try while the cashier waits")
        XCTAssertEqual(sent(m.handle(.timerFired, nowMs: 1_100)), [numbers[0]], "the same number again")
        let stored = m.handle(.failed(.transport(.uncertain("timed out"))), nowMs: 2_000)
        XCTAssertEqual(stored.last, .stored)
        XCTAssertEqual(m.phase, .waitingToForward(numbers[0]))
        XCTAssertTrue(m.mayHaveArrived)
        XCTAssertNil(m.giveUp(APIError(.serviceUnreachable)), "it may be placed: it can only be forwarded")
        // Read back from the journal, it is sent again as it was.
        var again = try! API.decode(CashSaleStateMachine.self, from: API.encode(m))
        XCTAssertEqual(sent(again.resume()), [numbers[0]])
        _ = again.handle(.answered(view(numbers[0])), nowMs: 9_000)
        XCTAssertEqual(again.phase, .finished(.recorded(view(numbers[0]))))
    }

    func testASaleSurelyNeverSentMayBeGivenUp() {
        var m = machine()
        _ = m.start()
        _ = m.handle(.failed(.transport(.notSent("connection refused"))), nowMs: 1)
        _ = m.handle(.timerFired, nowMs: 2)
        XCTAssertEqual(m.handle(.failed(.transport(.notSent("connection refused"))), nowMs: 3).last, .stored)
        XCTAssertFalse(m.mayHaveArrived)
        XCTAssertNotNil(m.giveUp(APIError(.serviceUnreachable, detail: "over the offline limits")))
        if case .finished(.refused(let e)) = m.phase { XCTAssertEqual(e.code, .serviceUnreachable) } else { XCTFail("\(m.phase)") }
    }

    func testAGroupThatPlacedNothingMovesTheSaleToItsNextNumber() {
        var m = machine(2)
        _ = m.start()
        XCTAssertEqual(sent(m.handle(.failed(.service(APIError(.groupUnavailable))), nowMs: 1)), [numbers[1]])
        XCTAssertEqual(m.orderNo, numbers[1])
        // No number left: the same one is forwarded later, when its group is back.
        XCTAssertEqual(m.handle(.failed(.service(APIError(.groupUnavailable))), nowMs: 2).last, .stored)
        XCTAssertEqual(m.phase, .waitingToForward(numbers[1]))
    }

    func testARefusalOfTheSaleItselfEndsIt() {
        var m = machine()
        _ = m.start()
        _ = m.handle(.failed(.service(APIError(.amountInvalid, detail: "cash_given"))), nowMs: 1)
        if case .finished(.refused(let e)) = m.phase { XCTAssertEqual(e.code, .amountInvalid) } else { XCTFail("\(m.phase)") }
        var busy = machine()
        _ = busy.start()
        XCTAssertEqual(busy.handle(.failed(.service(APIError(.overloaded))), nowMs: 1), [.wait(untilMs: 1_001)], "busy is not a refusal")
    }
}
