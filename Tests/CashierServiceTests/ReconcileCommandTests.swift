import CashierChannels
import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// `cashierd reconcile --channel sandbox --date DAY` against a real service: sales, a refund and a payment
/// left under way reconcile exactly; a hand-written statement file and order data edited with the sqlite3
/// CLI make every kind of mismatch, each printed with what to do, and exit 1.
final class ReconcileCommandTests: XCTestCase {
    var service: Cashierd!
    var terminal: TestTerminal!
    /// Paid 10.00; paid 20.00 and refunded 5.00; still paying 3.00; paid 30.00.
    var a, b, c, d: OrderView!
    var refund: RefundView!
    /// The sandbox's statement day (UTC) of the sales.
    var day = ""

    override func setUpWithError() throws {
        // No sweep: the payment left under way stays so while the test looks at it.
        service = try Cashierd(groups: 1) { $0.sweep.afterSeconds = 0 }
        terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())
        let started = CashierService.systemClock()
        a = try sale(1_000, .paid)
        b = try sale(2_000, .paid)
        refund = try terminal.refund(b.orderNo, amount: 500, ref: "r1", pin: Cashierd.supervisorPIN).unwrap().refund
        XCTAssertEqual(refund.status, .succeeded)
        c = try sale(300, .userNeverConfirms)
        XCTAssertEqual(c.status, .paying)
        d = try sale(3_000, .paid)
        day = StatementDay.day(ofMs: started, utcOffsetSeconds: 0)
        guard StatementDay.day(ofMs: CashierService.systemClock(), utcOffsetSeconds: 0) == day else {
            throw XCTSkip("the sales straddled midnight UTC; the counts below are for one day")
        }
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private func sale(_ amount: Int64, _ scenario: SandboxScenario) throws -> OrderView {
        let order = try terminal.createOrder(amount: amount).unwrap()
        return try terminal.pay(order.orderNo, code: paymentCode(scenario)).unwrap()
    }

    private func reconcile(_ arguments: [String]) throws -> CommandResult {
        try service.admin(["reconcile"] + arguments)
    }

    /// The lines of the report after the heading of `kind` (its count and what to do), up to the next heading.
    private func section(_ kind: String, in text: String) -> [String] {
        let lines = text.components(separatedBy: "\n")
        guard let at = lines.firstIndex(where: { $0.hasPrefix("\(kind): ") }) else { return [] }
        return Array(lines[(at + 1)...].prefix { $0.hasPrefix("  ") })
    }

    private func json(_ r: CommandResult) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
    }

    func testADayReconcilesExactlyWithThePaymentUnderWayPrinted() throws {
        let r = try reconcile(["--channel", "sandbox", "--date", day])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        for expected in ["sandbox statement of \(day) (its days run midnight to midnight UTC), from the channel",
                         "stores: \(service.storeID)",
                         "paid orders in groups: 3; paid at channel: 3",
                         "refunds in groups: 1; refunds at channel: 1",
                         "matched: 3 payments, 1 refund, 0 reversals (0 of them on a neighbouring day's statement)",
                         "payments under way: 1",
                         "under-way: 1 (not a mismatch)",
                         "reconciliation: EXACT (1 under way: reconcile again once settled)"] {
            XCTAssertTrue(r.stdout.contains(expected), "missing \(expected):\n\(r.stdout)")
        }
        let underWay = section("under-way", in: r.stdout)
        XCTAssertTrue(underWay.first?.hasPrefix("  what to do: not a mismatch") ?? false, "\(underWay)")
        XCTAssertTrue(underWay.contains { $0.contains("order \(c.orderNo.digits) (store \(service.storeID)): the payment of 3.00") }, "\(underWay)")
        XCTAssertFalse(r.stdout.contains("MISMATCH"), r.stdout)

        let document = try json(try reconcile(["--channel", "sandbox", "--date", day, "--json"]))
        XCTAssertEqual(document["exact"] as? Bool, true)
        let statement = try XCTUnwrap((document["statements"] as? [[String: Any]])?.first)
        XCTAssertEqual(statement["utc_offset_seconds"] as? Int, 0)
        XCTAssertEqual(statement["stores"] as? [String], [service.storeID])
        let counts = try XCTUnwrap(statement["counts"] as? [String: Int])
        XCTAssertEqual(counts["matched_payments"], 3)
        XCTAssertEqual(counts["matched_refunds"], 1)
        XCTAssertEqual(counts["payments_under_way"], 1)
        let lines = try XCTUnwrap(statement["lines"] as? [[String: Any]])
        XCTAssertEqual(lines.map { $0["kind"] as? String }, ["under-way"])
        XCTAssertEqual(lines.first?["order_no"] as? String, c.orderNo.digits)
        XCTAssertEqual(lines.first?["mismatch"] as? Bool, false)
        XCTAssertNotNil(lines.first?["what_to_do"] as? String)

        // The store named, the whole books, another day: all exact.
        XCTAssertEqual(try reconcile(["--channel", "sandbox", "--date", day, "--store", service.storeID]).status, 0)
        let whole = try reconcile([])
        XCTAssertEqual(whole.status, 0, whole.stdout)
        XCTAssertTrue(whole.stdout.contains("paid orders in groups: 3; paid at channel: 3"), whole.stdout)
        XCTAssertTrue(whole.stdout.contains("payments under way: 1"), whole.stdout)
        let before = StatementDay.day(ofMs: StatementDay.startMs(day, utcOffsetSeconds: 0)! - 1, utcOffsetSeconds: 0)
        let earlier = try reconcile(["--channel", "sandbox", "--date", before])
        XCTAssertEqual(earlier.status, 0, earlier.stdout)
        XCTAssertTrue(earlier.stdout.contains("paid orders in groups: 0; paid at channel: 0"), earlier.stdout)

        // What cannot be reconciled is a failure (1); a mistake on the command line is bad usage (2).
        let unknown = try reconcile(["--channel", "sandbox", "--date", day, "--store", "SNOSUCHSTORE"])
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("no store SNOSUCHSTORE"), unknown.stderr)
        let alipay = try reconcile(["--channel", "alipay", "--date", day])
        XCTAssertEqual(alipay.status, 1)
        XCTAssertTrue(alipay.stderr.contains("no store takes Alipay codes"), alipay.stderr)
        for bad in [["--channel", "sandbox", "--date", "2026-02-30"], ["--channel", "sandbox"], ["--date", day],
                    ["--statement", "/dev/null"], ["--channel", "paypal", "--date", day]] {
            let r = try reconcile(bad)
            XCTAssertEqual(r.status, 2, "\(bad): \(r.stdout) \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("usage: cashierd reconcile"), r.stderr)
        }
    }

    func testAHandWrittenStatementFileShowsEveryKindOfMismatch() throws {
        let stranger = OrderNumber(epochSeconds: CashierService.systemClock() / 1_000, instance: 7, sequence: 4_244, group: GroupTag(0)!).digits
        let strangeRefund = RefundNumber(epochSeconds: CashierService.systemClock() / 1_000, instance: 7, sequence: 4_245, group: GroupTag(0)!).text
        // A charges 10.01 for 10.00; B is as it should be but its refund is missing; C (paying) is charged;
        // D is missing; a stranger's order is charged; D has a refund no group made.
        let file = service.directory.file("statement.json")
        try """
        {
          "channel": "sandbox",
          "day": "\(day)",
          "lines": [
            {"kind": "payment", "out_trade_no": "\(a.orderNo.digits)", "amount": 1001, "provider_id": "SBX-A"},
            {"kind": "payment", "out_trade_no": "\(b.orderNo.digits)", "amount": 2000, "provider_id": "SBX-B"},
            {"kind": "payment", "out_trade_no": "\(c.orderNo.digits)", "amount": 300, "provider_id": "SBX-C"},
            {"kind": "payment", "out_trade_no": "\(stranger)", "amount": 999, "provider_id": "SBX-X", "time": \(CashierService.systemClock())},
            {"kind": "refund", "out_trade_no": "\(d.orderNo.digits)", "refund_no": "\(strangeRefund)", "amount": 100, "provider_id": "SBXR-X"}
          ]
        }
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try reconcile(["--channel", "sandbox", "--date", day, "--statement", file])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("sandbox statement of \(day) (its days run midnight to midnight UTC), from the file \(file)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("paid orders in groups: 3; paid at channel: 4"), r.stdout)
        XCTAssertTrue(r.stdout.contains("refunds in groups: 1; refunds at channel: 1"), r.stdout)
        XCTAssertTrue(r.stdout.contains("reconciliation: MISMATCH (5 lines to act on)"), r.stdout)
        let expected: [(kind: String, order: String, says: String, advice: String)] = [
            ("charged-not-recorded", stranger, "the channel charged 9.99 (SBX-X) for an order no group has", "query the order with `cashier order N`"),
            ("recorded-not-charged", d.orderNo.digits, "the group records 30.00 paid at \(day) ", "Never refund it"),
            ("amount-differs", a.orderNo.digits, "the channel charged 10.01, the group records 10.00 paid", "refund the difference at the channel"),
            ("refund-only-at-channel", d.orderNo.digits, "the channel refunded 1.00 under \(strangeRefund); the group records the order paid", "someone refunded in the channel's console"),
            ("refund-only-in-groups", b.orderNo.digits, "the group records refund \(refund.refundNo.text) of 5.00 (reference r1)", "make the refund there under that number"),
            ("under-way", c.orderNo.digits, "the channel charged 3.00 (SBX-C); the group still records the payment under way (paying)", "not a mismatch"),
        ]
        for e in expected {
            let lines = section(e.kind, in: r.stdout)
            XCTAssertEqual(lines.count, 2, "\(e.kind): one line and what to do:\n\(r.stdout)")
            XCTAssertTrue(lines.first?.hasPrefix("  what to do: ") ?? false, "\(e.kind): \(lines)")
            XCTAssertTrue(lines.first?.contains(e.advice) ?? false, "\(e.kind): \(lines)")
            XCTAssertTrue(lines.last?.contains("order \(e.order)") ?? false, "\(e.kind): \(lines)")
            XCTAssertTrue(lines.last?.contains(e.says) ?? false, "\(e.kind): \(lines)")
        }
        let statement = try XCTUnwrap((try json(try reconcile(["--channel", "sandbox", "--date", day, "--statement", file, "--json"]))["statements"]
            as? [[String: Any]])?.first)
        XCTAssertEqual(statement["statement_file"] as? String, file)
        XCTAssertEqual(statement["exact"] as? Bool, false)
        let lines = try XCTUnwrap(statement["lines"] as? [[String: Any]])
        XCTAssertEqual(lines.compactMap { $0["kind"] as? String }, expected.map(\.kind))
        let differs = try XCTUnwrap(lines.first { $0["kind"] as? String == "amount-differs" })
        XCTAssertEqual([differs["channel_amount"] as? Int, differs["group_amount"] as? Int], [1001, 1000])

        // Another day's file, a file that is no statement, a file that is not there: nothing reconciled (1).
        try String(decoding: SandboxChannel.statementFile(ChannelStatement(day: "2020-01-01", lines: [])), as: UTF8.self)
            .write(toFile: file, atomically: true, encoding: .utf8)
        let otherDay = try reconcile(["--channel", "sandbox", "--date", day, "--statement", file])
        XCTAssertEqual(otherDay.status, 1)
        XCTAssertTrue(otherDay.stdout.contains("not reconciled: the statement of \(day) could not be read: refused: the statement file is the statement of 2020-01-01, not of \(day)"), otherDay.stdout)
        XCTAssertTrue(otherDay.stdout.contains("reconciliation: NOT DONE"), otherDay.stdout)
        try "paid: everything".write(toFile: file, atomically: true, encoding: .utf8)
        let garbage = try reconcile(["--channel", "sandbox", "--date", day, "--statement", file])
        XCTAssertEqual(garbage.status, 1)
        XCTAssertTrue(garbage.stdout.contains("is not its JSON document"), garbage.stdout)
        let missing = try reconcile(["--channel", "sandbox", "--date", day, "--statement", file + ".absent"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("cannot read"), missing.stderr)

        // The statement the sandbox gives, written to a file, reconciles as the download does.
        let exported = try XCTUnwrap(try? SandboxChannel(path: service.directory.file("data/channel.sqlite")).statement(day: day))
        try Data(SandboxChannel.statementFile(exported)).write(to: URL(fileURLWithPath: file))
        let roundTrip = try reconcile(["--channel", "sandbox", "--date", day, "--statement", file])
        XCTAssertEqual(roundTrip.status, 0, roundTrip.stdout)
        XCTAssertTrue(roundTrip.stdout.contains("matched: 3 payments, 1 refund"), roundTrip.stdout)
    }

    /// The channel took A's money on `day`; its group records it paid seconds after the channel's midnight
    /// (it learnt late), and D paid two hours into the next day. Reconciling the next day, A is looked
    /// for on `day`'s statement, fetched from the channel, and found; D, far from midnight, is missing.
    func testAnOrderRecordedJustAfterMidnightIsFoundOnTheStatementOfTheDayBefore() throws {
        service.stop()
        let next = try XCTUnwrap(StatementDay.startMs(day, utcOffsetSeconds: 0)) + 86_400_000
        let nextDay = StatementDay.day(ofMs: next, utcOffsetSeconds: 0)
        let edits = """
            UPDATE orders SET paid_at = \(next + 30_000) WHERE order_no = '\(a.orderNo.digits)';
            UPDATE orders SET paid_at = \(next + 7_200_000) WHERE order_no = '\(d.orderNo.digits)';
            """
        let sqlite = try runCommand("/usr/bin/sqlite3", [service.directory.file("data/group-00.sqlite"), edits])
        XCTAssertEqual(sqlite.status, 0, sqlite.stderr)

        let r = try reconcile(["--channel", "sandbox", "--date", nextDay])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("paid orders in groups: 2; paid at channel: 0"), r.stdout)
        XCTAssertTrue(r.stdout.contains("matched: 1 payment, 0 refunds, 0 reversals (1 of them on a neighbouring day's statement)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("neighbouring statement of \(day): read (4 lines)"), r.stdout)
        let missing = section("recorded-not-charged", in: r.stdout)
        XCTAssertEqual(missing.count, 2, r.stdout)
        XCTAssertTrue(missing.last?.contains("order \(d.orderNo.digits)") ?? false, "\(missing)")
        XCTAssertTrue(missing.last?.hasSuffix("and this statement has no payment for it") ?? false, "far from midnight: no other day is looked at: \(missing)")

        // The day itself is still exact: A and D are on its statement, matched from the statement's side.
        let same = try reconcile(["--channel", "sandbox", "--date", day])
        XCTAssertEqual(same.status, 0, same.stdout)
        XCTAssertTrue(same.stdout.contains("paid orders in groups: 1; paid at channel: 3"), same.stdout)
        XCTAssertTrue(same.stdout.contains("matched: 3 payments"), same.stdout)
    }

    func testOrderDataEditedInItsGroupFileIsFoundByTheDayAndTheWholeBooks() throws {
        service.stop()
        let now = CashierService.systemClock()
        let ghostRefund = RefundNumber(epochSeconds: now / 1_000, instance: 7, sequence: 4_242, group: GroupTag(0)!).text
        let ghostOrder = OrderNumber(epochSeconds: now / 1_000, instance: 7, sequence: 4_243, group: GroupTag(0)!).digits
        let (a, b, d) = (a.orderNo.digits, b.orderNo.digits, d.orderNo.digits)
        let edits = """
            UPDATE orders SET amount = 1050 WHERE order_no = '\(a)';
            UPDATE orders SET status = 'declined', paid_at = NULL WHERE order_no = '\(d)';
            DELETE FROM refunds WHERE refund_no = '\(refund.refundNo.text)';
            UPDATE orders SET refunded_amount = 0 WHERE order_no = '\(b)';
            INSERT INTO refunds (refund_no, order_no, amount, currency, refund_ref, status, staff_id, reason, created_at, completed_at)
                VALUES ('\(ghostRefund)', '\(a)', 200, 'CNY', 'ghost', 'succeeded', 'SUP', NULL, \(now), \(now));
            UPDATE orders SET refunded_amount = 200 WHERE order_no = '\(a)';
            INSERT INTO orders (order_no, merchant_id, store_id, device_id, amount, currency, status, refunded_amount, items, client_ref,
                                payment_code, channel_txn, failure_reason, failure_message, created_at, updated_at, paid_at)
                SELECT '\(ghostOrder)', merchant_id, store_id, device_id, 700, currency, 'paid', 0, items, NULL,
                       '990000000000000010', NULL, NULL, NULL, created_at, updated_at, paid_at FROM orders WHERE order_no = '\(b)';
            """
        let sqlite = try runCommand("/usr/bin/sqlite3", [service.directory.file("data/group-00.sqlite"), edits])
        XCTAssertEqual(sqlite.status, 0, sqlite.stderr)

        let r = try reconcile(["--channel", "sandbox", "--date", day])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        let found: [(kind: String, says: String)] = [
            ("charged-not-recorded", "order \(d) (store \(service.storeID)): the channel charged 30.00 (SBX\(d)), but the group records the order declined"),
            ("recorded-not-charged", "order \(ghostOrder) (store \(service.storeID)): the group records 7.00 paid at "),
            ("amount-differs", "order \(a) (store \(service.storeID)): the channel charged 10.00, the group records 10.50 paid"),
            ("refund-only-at-channel", "order \(b), refund \(refund.refundNo.text) (store \(service.storeID)): the channel refunded 5.00 under \(refund.refundNo.text); the group records the order paid and no such refund"),
            ("refund-only-in-groups", "order \(a), refund \(ghostRefund) (store \(service.storeID)): the group records refund \(ghostRefund) of 2.00 (reference ghost)"),
        ]
        for f in found {
            let lines = section(f.kind, in: r.stdout)
            XCTAssertEqual(lines.count, 2, "\(f.kind):\n\(r.stdout)")
            XCTAssertTrue(lines.last?.hasPrefix("  " + f.says) ?? false, "\(f.kind): \(lines)")
        }
        XCTAssertEqual(section("under-way", in: r.stdout).count, 2, "the paying order is still under way:\n\(r.stdout)")
        XCTAssertTrue(r.stdout.contains("reconciliation: MISMATCH (5 lines to act on)"), r.stdout)

        // Plain `cashierd reconcile` runs the same comparison over the sandbox's whole books.
        let whole = try reconcile([])
        XCTAssertEqual(whole.status, 1, whole.stdout)
        XCTAssertTrue(whole.stdout.contains("paid orders in groups: 3; paid at channel: 3"), whole.stdout)
        XCTAssertTrue(whole.stdout.contains("double charges: 0"), whole.stdout)
        XCTAssertTrue(whole.stdout.contains("payments under way: 1"), whole.stdout)
        for f in found {
            XCTAssertEqual(section(f.kind, in: whole.stdout).last.map { $0.hasPrefix("  " + f.says) }, true, "\(f.kind):\n\(whole.stdout)")
        }
        XCTAssertTrue(whole.stdout.hasSuffix("reconciliation: MISMATCH\n"), whole.stdout)
    }
}
