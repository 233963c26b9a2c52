import CashierChannels
import CashierCore
import CashierService
import CashierStorage
import XCTest

/// The pure comparison of a statement with the order data: every kind of line, the matched counts, and
/// the day boundary (a day in the channel's own time zone; the neighbouring day's statement for what
/// happened close to midnight).
final class ReconciliationComparisonTests: XCTestCase {
    /// 2026-11-25 in China time (UTC+8): from 2026-11-24 16:00 UTC to 2026-11-25 16:00 UTC.
    let day = "2026-11-25"
    let china: Int64 = 8 * 3_600
    var window: StatementWindow { StatementWindow(day: day, utcOffsetSeconds: china)! }
    /// Noon of the day, China time.
    var noon: Int64 { window.start + 12 * 3_600_000 }

    static let sandboxCode = "990000000000000010"
    static let alipayCode = "280012345678901234"

    func number(_ sequence: Int) -> OrderNumber {
        OrderNumber(epochSeconds: 1_795_000_000, instance: 1, sequence: sequence, group: GroupTag(0)!)
    }

    func order(_ sequence: Int, _ amount: Int64, _ status: OrderStatus = .paid, at: Int64? = nil, store: String = "S1",
               code: String = ReconciliationComparisonTests.alipayCode, refunds: [RefundRecord] = []) -> GroupOrder {
        let time = at ?? noon
        return GroupOrder(OrderRecord(orderNo: number(sequence), merchantID: "M1", storeID: store, deviceID: "D1", amount: amount,
                                      currency: "CNY", status: status, refundedAmount: refunds.map(\.amount).reduce(0, +),
                                      paymentCode: status == .created ? nil : code, createdAt: time - 5_000, updatedAt: time,
                                      paidAt: status == .paid ? time : nil), refunds: refunds)
    }

    func refund(_ sequence: Int, of orderSequence: Int, _ amount: Int64, _ status: RefundStatus = .succeeded, at: Int64? = nil) -> RefundRecord {
        let time = at ?? noon + 60_000
        return RefundRecord(refundNo: RefundNumber(epochSeconds: 1_795_000_100, instance: 1, sequence: sequence, group: GroupTag(0)!),
                            orderNo: number(orderSequence), amount: amount, currency: "CNY", refundRef: "ref-\(sequence)", status: status,
                            staffID: "SUP", createdAt: time, completedAt: status == .succeeded ? time : nil)
    }

    func paid(_ sequence: Int, _ amount: Int64, at: Int64? = nil) -> StatementLine {
        StatementLine(kind: .payment, outTradeNo: number(sequence).digits, amount: amount, providerID: "T\(sequence)", time: at ?? noon)
    }

    func refunded(_ refund: RefundRecord, _ amount: Int64? = nil, at: Int64? = nil) -> StatementLine {
        StatementLine(kind: .refund, outTradeNo: refund.orderNo.digits, refundNo: refund.refundNo.text, amount: amount ?? refund.amount,
                      providerID: "T-" + refund.refundNo.text, time: at ?? refund.completedAt ?? refund.createdAt)
    }

    func compare(_ statement: [StatementLine], _ orders: [GroupOrder], neighbours: [String: NeighbourStatement] = [:],
                 stores: Set<String>? = ["S1"]) -> ReconciliationReport {
        ReconciliationComparison(channel: .alipay, statement: statement, window: window, neighbours: neighbours, orders: orders,
                                 stores: stores).compare()
    }

    func kinds(_ report: ReconciliationReport) -> [ReconciliationReport.Kind] { report.lines.map(\.kind) }

    // MARK: - Matched

    func testEverythingOnBothSidesIsMatchedAndCounted() {
        let r1 = refund(1, of: 2, 500)
        let report = compare([paid(1, 1_000), paid(2, 2_000), refunded(r1)], [order(1, 1_000), order(2, 2_000, refunds: [r1])])
        XCTAssertEqual(report.lines, [])
        XCTAssertTrue(report.isExact)
        XCTAssertEqual(report.counts.paidInGroups, 2)
        XCTAssertEqual(report.counts.paymentsOnStatement, 2)
        XCTAssertEqual(report.counts.refundsInGroups, 1)
        XCTAssertEqual(report.counts.refundsOnStatement, 1)
        XCTAssertEqual([report.counts.matchedPayments, report.counts.matchedRefunds, report.counts.matchedReversals], [2, 1, 0])
        XCTAssertEqual(report.neighbourDaysWanted, [])
    }

    // MARK: - Each kind of line

    func testChargedNotRecorded() {
        let report = compare([
            paid(1, 1_000),                       // no group has the order
            paid(2, 2_000),                       // declined in its group
            paid(3, 3_000), paid(3, 3_000),       // charged twice
            paid(4, 4_000),                       // the group says it was paid with a sandbox code
            paid(5, 5_000),                       // created, no payment started in its group
        ], [order(2, 2_000, .declined), order(3, 3_000), order(4, 4_000, code: Self.sandboxCode), order(5, 5_000, .created)])
        XCTAssertEqual(kinds(report), Array(repeating: .chargedNotRecorded, count: 5))
        XCTAssertFalse(report.isExact)
        let details = Dictionary(grouping: report.lines, by: \.orderNo).mapValues { $0.map(\.detail) }
        XCTAssertEqual(details[number(1).digits], ["the channel charged 10.00 (T1) for an order no group has"])
        XCTAssertEqual(details[number(2).digits], ["the channel charged 20.00 (T2), but the group records the order declined"])
        XCTAssertEqual(details[number(3).digits], ["the channel charged 30.00 (T3) a second time on this statement"])
        XCTAssertEqual(details[number(4).digits], ["the channel charged 40.00 (T4), but the group records the order paid with a Sandbox code"])
        XCTAssertEqual(details[number(5).digits], ["the channel charged 50.00 (T5), but the group records the order created"])
        XCTAssertEqual(report.counts.matchedPayments, 1, "the first line of order 3 matches")
        XCTAssertEqual(report.lines.first?.channelAmount, 1_000)
        XCTAssertNil(report.lines.first?.groupAmount)
        XCTAssertEqual(report.lines.first?.providerID, "T1")
    }

    func testRecordedNotCharged() {
        let yesterday = window.start - 6 * 3_600_000
        let report = compare([paid(1, 1_000)], [order(1, 1_000), order(2, 2_000), order(3, 3_000, at: yesterday)])
        XCTAssertEqual(report.lines.map(\.kind), [.recordedNotCharged])
        let line = report.lines[0]
        XCTAssertEqual(line.orderNo, number(2).digits)
        XCTAssertEqual(line.groupAmount, 2_000)
        XCTAssertNil(line.channelAmount)
        XCTAssertEqual(line.storeID, "S1")
        XCTAssertEqual(line.detail, "the group records 20.00 paid at 2026-11-25 12:00:00 UTC+08:00, and this statement has no payment for it")
        XCTAssertEqual(report.counts.paidInGroups, 2, "order 3 was paid on another day: it is that day's business")
    }

    func testAmountDiffersForPaymentsAndRefunds() {
        let r1 = refund(1, of: 1, 300)
        let report = compare([paid(1, 1_001), refunded(r1, 350)], [order(1, 1_000, refunds: [r1])])
        XCTAssertEqual(kinds(report), [.amountDiffers, .amountDiffers])
        XCTAssertEqual(report.lines.map(\.detail).sorted(), [
            "the channel charged 10.01, the group records 10.00 paid",
            "the channel refunded 3.50 under \(r1.refundNo.text), the group records 3.00",
        ])
        XCTAssertEqual(report.lines.first { $0.refundNo == nil }.map { [$0.channelAmount, $0.groupAmount] }, [1_001, 1_000])
        XCTAssertEqual(report.counts.matchedPayments + report.counts.matchedRefunds, 0)
    }

    func testRefundOnlyAtChannel() {
        let stranger = refund(9, of: 1, 200)  // a refund number no group has
        let unnumbered = StatementLine(kind: .refund, outTradeNo: number(2).digits, amount: 500, providerID: "T2", time: noon)
        let report = compare([paid(1, 1_000), paid(2, 2_000), refunded(stranger), unnumbered], [order(1, 1_000), order(2, 2_000)])
        XCTAssertEqual(kinds(report), [.refundOnlyAtChannel, .refundOnlyAtChannel])
        XCTAssertEqual(report.lines.map(\.detail), [
            "the channel refunded 2.00 under \(stranger.refundNo.text); the group records the order paid and no such refund",
            "the channel refunded 5.00 without a refund number; the group records the order paid and no such refund",
        ])
        XCTAssertEqual(report.lines[0].refundNo, stranger.refundNo.text)
    }

    func testRefundOnlyInGroups() {
        let r1 = refund(1, of: 1, 400)
        let lastWeek = refund(2, of: 1, 100, at: window.start - 7 * 86_400_000)
        let report = compare([paid(1, 1_000)], [order(1, 1_000, refunds: [r1, lastWeek])])
        XCTAssertEqual(kinds(report), [.refundOnlyInGroups])
        XCTAssertEqual(report.lines[0].refundNo, r1.refundNo.text)
        XCTAssertEqual(report.lines[0].detail, "the group records refund \(r1.refundNo.text) of 4.00 (reference ref-1) made at "
                       + "2026-11-25 12:01:00 UTC+08:00, and this statement has no such refund")
        XCTAssertEqual(report.counts.refundsInGroups, 1, "last week's refund is on last week's statement")
    }

    func testPaymentsAndRefundsUnderWayAreReportedButAreNoMismatch() {
        let pendingAtChannel = refund(1, of: 3, 100, .pending)
        let pendingNowhere = refund(2, of: 3, 200, .pending)
        let report = compare([paid(1, 1_000), paid(3, 3_000), refunded(pendingAtChannel)], [
            order(1, 1_000, .paying),             // charged; the group has not recorded it
            order(2, 2_000, .paying),             // not charged (yet)
            order(3, 3_000, refunds: [pendingAtChannel, pendingNowhere]),
            order(4, 4_000, .paying, at: window.start - 2 * 86_400_000),  // under way since two days: that day's line
        ])
        XCTAssertEqual(kinds(report), Array(repeating: .underWay, count: 4))
        XCTAssertTrue(report.isExact, "under way is not a mismatch")
        XCTAssertEqual(report.mismatches, [])
        let details = report.lines.map(\.detail)
        XCTAssertTrue(details.contains("the channel charged 10.00 (T1); the group still records the payment under way (paying)"), "\(details)")
        XCTAssertTrue(details.contains("the payment of 20.00 started at 2026-11-25 12:00:00 UTC+08:00 is still under way (paying) and is not on the statement"), "\(details)")
        XCTAssertTrue(details.contains("the channel refunded 1.00 under \(pendingAtChannel.refundNo.text); the group still records the refund pending"), "\(details)")
        XCTAssertTrue(details.contains("refund \(pendingNowhere.refundNo.text) of 2.00 reserved at 2026-11-25 12:01:00 UTC+08:00 is still pending (the channel has not confirmed it)"), "\(details)")
        XCTAssertEqual(report.counts.matchedPayments, 1)
    }

    func testAReversedPaymentIsMatchedByItsReturnAndOtherwiseWasCharged() {
        let back = StatementLine(kind: .refund, outTradeNo: number(1).digits, amount: 1_000, providerID: "T1", time: noon + 30_000)
        let returned = compare([paid(1, 1_000), back], [order(1, 1_000, .reversed)])
        XCTAssertEqual(returned.lines, [])
        XCTAssertEqual(returned.counts.matchedReversals, 1)

        let kept = compare([paid(1, 1_000)], [order(1, 1_000, .reversed)])
        XCTAssertEqual(kinds(kept), [.chargedNotRecorded])
        XCTAssertEqual(kept.lines[0].detail, "the channel charged 10.00 (T1) and shows no return of it, but the group records the order reversed")

        // The sandbox drops a reversed payment from its statement: nothing on either side.
        XCTAssertEqual(compare([], [order(1, 1_000, .reversed)]).lines, [])
        // A return alone (its payment on an earlier statement) of an order the group reversed is no mismatch.
        XCTAssertEqual(compare([back], [order(1, 1_000, .reversed)]).counts.matchedReversals, 1)
    }

    func testOnlyTheStoresComparedMustBeOnTheStatementButEveryOrderOfOursIsRecognised() {
        // Store S2 shares the merchant account: its order on the statement is ours and matches; its order
        // missing from the statement is S2's business when S2 is reconciled.
        let report = compare([paid(1, 1_000), paid(2, 2_000)], [order(1, 1_000), order(2, 2_000, store: "S2"), order(3, 3_000, store: "S2")])
        XCTAssertEqual(report.lines, [])
        XCTAssertEqual(report.counts.paidInGroups, 1)
        XCTAssertEqual(report.counts.matchedPayments, 2)
        XCTAssertEqual(kinds(compare([paid(1, 1_000), paid(2, 2_000)], [order(1, 1_000), order(3, 3_000, store: "S2")], stores: nil)),
                       [.chargedNotRecorded, .recordedNotCharged])
    }

    func testEveryKindSaysWhatToDo() {
        for kind in ReconciliationReport.Kind.allCases {
            XCTAssertGreaterThan(kind.advice.count, 60, "\(kind)")
        }
        XCTAssertTrue(ReconciliationReport.Kind.chargedNotRecorded.advice.contains("`cashier order N`"))
        XCTAssertTrue(ReconciliationReport.Kind.chargedNotRecorded.advice.contains("refund it at the channel"))
        XCTAssertTrue(ReconciliationReport.Kind.recordedNotCharged.advice.contains("Never refund it"))
        XCTAssertTrue(ReconciliationReport.Kind.underWay.advice.hasPrefix("not a mismatch"))
        XCTAssertEqual(ReconciliationReport.Kind.allCases.filter { !$0.isMismatch }, [.underWay])
        XCTAssertEqual(ReconciliationReport.Kind.allCases.map(\.rawValue), ["charged-not-recorded", "recorded-not-charged", "amount-differs",
                                                                        "refund-only-at-channel", "refund-only-in-groups", "under-way"])
    }

    // MARK: - The day boundary

    func testTheDayIsTheChannelsOwnDay() throws {
        XCTAssertEqual(window.start, 1_795_536_000_000, "2026-11-24 16:00:00 UTC")
        XCTAssertEqual(StatementDay.day(ofMs: window.start, utcOffsetSeconds: 0), "2026-11-24")
        XCTAssertEqual(window.end - window.start, 86_400_000)
        XCTAssertEqual([window.previousDay, window.nextDay], ["2026-11-24", "2026-11-26"])
        // 23:59:59 UTC on the 25th is the sandbox's 25th but Alipay's 26th.
        let lateUTC = try XCTUnwrap(StatementDay.startMs("2026-11-26", utcOffsetSeconds: 0)) - 1_000
        XCTAssertTrue(StatementWindow(day: day, utcOffsetSeconds: 0)!.contains(lateUTC))
        XCTAssertFalse(window.contains(lateUTC))
        XCTAssertTrue(StatementWindow(day: "2026-11-26", utcOffsetSeconds: china)!.contains(lateUTC))
        XCTAssertNil(StatementWindow(day: "2026-11-31", utcOffsetSeconds: china))
        XCTAssertNil(StatementWindow(day: "25.11.2026", utcOffsetSeconds: china))
    }

    func testAnOrderRecordedJustAfterMidnightIsLookedForOnThePreviousDaysStatement() {
        // The channel took the money at 23:59:58 on the 24th (China time); the group learnt of it at 00:00:40.
        let recorded = window.start + 40_000
        let orders = [order(1, 1_000, at: recorded)]
        let unasked = compare([], orders)
        XCTAssertEqual(kinds(unasked), [.recordedNotCharged])
        XCTAssertEqual(unasked.neighbourDaysWanted, ["2026-11-24"])
        XCTAssertTrue(unasked.lines[0].detail.hasSuffix("; it may be on the statement of 2026-11-24, which was not read"), unasked.lines[0].detail)

        let yesterday = [paid(1, 1_000, at: window.start - 2_000)]
        let found = compare([], orders, neighbours: ["2026-11-24": .lines(yesterday)])
        XCTAssertEqual(found.lines, [])
        XCTAssertTrue(found.isExact)
        XCTAssertEqual([found.counts.matchedPayments, found.counts.matchedOnNeighbouringDay], [1, 1])
        XCTAssertEqual(found.neighbourDaysWanted, [])

        let differs = compare([], orders, neighbours: ["2026-11-24": .lines([paid(1, 1_100, at: window.start - 2_000)])])
        XCTAssertEqual(kinds(differs), [.amountDiffers])
        XCTAssertEqual(differs.lines[0].detail, "the statement of 2026-11-24 has the channel charging 11.00, the group records 10.00 paid")

        let absent = compare([], orders, neighbours: ["2026-11-24": .lines([])])
        XCTAssertEqual(absent.lines.map(\.detail), ["the group records 10.00 paid at 2026-11-25 00:00:40 UTC+08:00, and this statement "
                                                    + "has no payment for it nor the statement of 2026-11-24"])
        let unreadable = compare([], orders, neighbours: ["2026-11-24": .unavailable("no answer")])
        XCTAssertTrue(unreadable.lines[0].detail.hasSuffix("it may be on the statement of 2026-11-24, which could not be read (no answer)"))
        XCTAssertEqual(unreadable.neighbourDaysWanted, [])

        // Seen from the 24th, the same payment is on its own statement and its order, recorded on the 25th,
        // is matched from the statement's side.
        let previous = ReconciliationComparison(channel: .alipay, statement: yesterday, window: StatementWindow(day: "2026-11-24", utcOffsetSeconds: china),
                                                orders: orders, stores: ["S1"]).compare()
        XCTAssertEqual(previous.lines, [])
        XCTAssertEqual(previous.counts.matchedPayments, 1)
        XCTAssertEqual(previous.counts.paidInGroups, 0)
    }

    func testAnOrderRecordedJustBeforeMidnightIsLookedForOnTheNextDaysStatement() {
        let r1 = refund(1, of: 1, 300, at: window.end - 2_000)
        let orders = [order(1, 1_000, at: window.end - 5_000, refunds: [r1])]
        let unasked = compare([], orders)
        XCTAssertEqual(kinds(unasked), [.recordedNotCharged, .refundOnlyInGroups])
        XCTAssertEqual(unasked.neighbourDaysWanted, ["2026-11-26"])
        let found = compare([], orders, neighbours: ["2026-11-26": .lines([paid(1, 1_000, at: window.end + 1_000), refunded(r1, at: window.end + 2_000)])])
        XCTAssertEqual(found.lines, [])
        XCTAssertEqual([found.counts.matchedPayments, found.counts.matchedRefunds, found.counts.matchedOnNeighbouringDay], [1, 1, 2])
    }

    func testAnOrderFarFromMidnightIsNotLookedForOnAnotherDay() {
        let report = compare([], [order(1, 1_000)], neighbours: ["2026-11-26": .lines([paid(1, 1_000)])])
        XCTAssertEqual(kinds(report), [.recordedNotCharged])
        XCTAssertEqual(report.neighbourDaysWanted, [])
        XCTAssertEqual(report.counts.matchedOnNeighbouringDay, 0)
    }

    func testTheWholeBooksHaveNoDayBoundary() {
        let old = order(1, 1_000, at: 1_000_000)
        let report = ReconciliationComparison(channel: .alipay, statement: [paid(2, 2_000)], window: nil, orders: [old, order(2, 2_000)]).compare()
        XCTAssertEqual(kinds(report), [.recordedNotCharged])
        XCTAssertEqual(report.lines[0].orderNo, number(1).digits)
        XCTAssertEqual(report.counts.paidInGroups, 2)
        XCTAssertEqual(report.neighbourDaysWanted, [])
    }
}
