import CashierChannels
import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// A cashier's day with the `cashier` binary against a real `cashierd`: sign in, open a shift with a
/// float, sell for cash (drawer opened, change given) and by code, refund, X report, close with the
/// counted cash and a numbered Z report, and a cash sale taken while the service is down, forwarded once.
final class WorkingDayTests: XCTestCase {
    var service: Cashierd!
    var harness: ClientHarness!
    var printer: String!
    var printerDirectory: TemporaryDirectory!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
        printerDirectory = try TemporaryDirectory(prefix: "printer")
        printer = printerDirectory.file("receipts.bin")
        harness = try ClientHarness(domains: service.urls, caFile: service.caFile) { [printer] in
            $0.receiptSink = printer
            $0.receiptFormat = .escpos
        }
        try harness.activate(service)
        XCTAssertEqual(try harness.run(["sign-in", "--pin", Cashierd.cashierPIN]).status, 0)
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private var printed: [UInt8] { (try? Array(Data(contentsOf: URL(fileURLWithPath: printer)))) ?? [] }

    private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }

    private var journalPath: String {
        ((harness.configPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(harness.configuration.journalPath)
    }

    /// The totals of `orders` as the service has them now, by tender name, for comparing with a report.
    private func serviceTotals(_ orders: [String]) throws -> [String: Int64] {
        var totals: [String: Int64] = [:]
        for number in orders {
            let order = try XCTUnwrap(try harness.runJSON(["order", number]).json["order"] as? [String: Any])
            guard order["status"] as? String == "paid" else { continue }
            let tender = order["tender"] as? String == "cash" ? "cash" : "sandbox"
            totals[tender, default: 0] += (order["amount"] as? NSNumber)?.int64Value ?? 0
        }
        return totals
    }

    private func totals(_ report: [String: Any], _ key: String) -> [String: Int64] {
        var out: [String: Int64] = [:]
        for t in report[key] as? [[String: Any]] ?? [] { out[t["tender"] as? String ?? "?"] = (t["amount"] as? NSNumber)?.int64Value }
        return out
    }

    func testAWholeShiftAtTheCommandLine() throws {
        XCTAssertEqual(try harness.run(["shift-close", "--counted", "0"]).status, 6, "no shift open yet")
        let opened = try harness.runJSON(["shift-open", "--float", "100.00"])
        XCTAssertEqual(opened.status, 0, opened.raw.stderr)
        let shift = try XCTUnwrap((opened.json["shift"] as? [String: Any])?["shift_id"] as? String)
        XCTAssertTrue(try harness.run(["status"]).stdout.contains("shift \(shift) open"))

        let cash = try harness.runJSON(["cash", "--amount", "25.00", "--given", "50.00"])
        XCTAssertEqual(cash.status, 0, cash.raw.stdout + cash.raw.stderr)
        XCTAssertEqual(cash.json["outcome"] as? String, "paid")
        XCTAssertEqual(cash.json["receipt"] as? String, "printed")
        let cashOrder = try XCTUnwrap(cash.json["order"] as? [String: Any])
        XCTAssertEqual(cashOrder["tender"] as? String, "cash")
        XCTAssertEqual(cashOrder["cash_given"] as? Int, 5_000)
        XCTAssertEqual(cashOrder["shift_id"] as? String, shift)
        XCTAssertTrue(contains(printed, Receipt.drawerKick), "a cash sale opens the drawer")
        XCTAssertTrue(contains(printed, Array("Change".utf8)))
        let human = try harness.run(["cash", "--amount", "3.50", "--given", "5.00"])
        XCTAssertTrue(human.stdout.contains("PAID IN CASH") && human.stdout.contains("change 1.50"), human.stdout)
        XCTAssertEqual(try harness.run(["cash", "--amount", "3.50", "--given", "2.00"]).status, 4, "less cash than the total is not a sale")

        let code = try harness.runJSON(["pay", "--amount", "12.50", "--code", paymentCode(.paid)])
        XCTAssertEqual(code.json["outcome"] as? String, "paid")
        let cashNo = try XCTUnwrap(cashOrder["order_no"] as? String)
        let refund = try harness.runJSON(["refund", "--order", cashNo, "--amount", "5.00", "--pin", Cashierd.supervisorPIN])
        XCTAssertEqual(refund.status, 0, refund.raw.stderr)

        let x = try harness.runJSON(["shift-report", "--print"])
        let xReport = try XCTUnwrap(x.json["report"] as? [String: Any])
        XCTAssertEqual(xReport["kind"] as? String, "X")
        XCTAssertEqual(totals(xReport, "sales"), ["cash": 2_850, "sandbox": 1_250])
        XCTAssertEqual(totals(xReport, "refunds"), ["cash": 500])
        XCTAssertEqual(xReport["cash_expected"] as? Int, 10_000 + 2_850 - 500)
        XCTAssertTrue(contains(printed, Array("X REPORT".utf8)))
        let xText = try harness.run(["shift-report"]).stdout
        XCTAssertTrue(xText.contains("Cash x2") && xText.contains("Sandbox x1"), xText)

        let short = try harness.runJSON(["shift-close", "--counted", "100.00"])
        XCTAssertEqual(short.json["code"] as? String, "SUPERVISOR_REQUIRED", "23.50 short")
        let closed = try harness.runJSON(["shift-close", "--counted", "123.00"])
        XCTAssertEqual(closed.status, 0, closed.raw.stdout + closed.raw.stderr)
        let z = try XCTUnwrap(closed.json["report"] as? [String: Any])
        XCTAssertEqual(z["kind"] as? String, "Z")
        XCTAssertEqual((closed.json["shift"] as? [String: Any])?["z_number"] as? Int, 1)
        XCTAssertEqual(z["cash_difference"] as? Int, -50)
        XCTAssertTrue(contains(printed, Array("Z REPORT No. 1".utf8)), "the Z report is printed at close")
        let sold = [cashNo, code.json["order_no"] as? String ?? "", human.stdout.components(separatedBy: "order ").last?.prefix(OrderNumber.length).description ?? ""]
        XCTAssertEqual(totals(z, "sales"), try serviceTotals(sold), "the Z report adds up what the service has")
        XCTAssertNil(try harness.runJSON(["status"]).json["shift"], "no shift is open after the close")
        let again = try harness.runJSON(["shift-report", "--shift", shift])
        XCTAssertEqual((again.json["report"] as? [String: Any])?["generated_at"] as? Int, z["generated_at"] as? Int, "the Z report as it was made")
    }

    func testACashSaleTakenOfflineIsForwardedExactlyOnce() throws {
        XCTAssertEqual(try harness.run(["shift-open", "--float", "0"]).status, 0)
        service.stop()
        let offline = try harness.runJSON(["cash", "--amount", "8.00"])
        XCTAssertEqual(offline.status, 0, offline.raw.stdout + offline.raw.stderr)
        XCTAssertEqual(offline.json["outcome"] as? String, "stored_offline")
        let number = try XCTUnwrap((offline.json["order"] as? [String: Any])?["order_no"] as? String)
        XCTAssertTrue(contains(printed, Array("OFFLINE - NOT YET SENT".utf8)), "the receipt says the sale is not sent yet")
        XCTAssertEqual(try harness.runJSON(["status"]).json["cash_sales_to_forward"] as? Int, 1)
        XCTAssertEqual(try harness.run(["cash", "--amount", "600.00"]).status, 4, "over the offline limit for one sale")
        let code = try harness.runJSON(["pay", "--amount", "1.00", "--code", paymentCode(.paid)])
        XCTAssertNotEqual(code.status, 0, "codes are never taken offline")
        XCTAssertNotEqual(code.json["outcome"] as? String, "stored_offline")
        XCTAssertEqual(try harness.runJSON(["status"]).json["cash_sales_to_forward"] as? Int, 1, "only the cash sale waits")

        try service.start(onTheSameAddresses: true)
        let journalCopy = journalPath + ".before-forward"
        try FileManager.default.copyItem(atPath: journalPath, toPath: journalCopy)
        let forwarded = try harness.runJSON(["resume"])
        XCTAssertEqual((forwarded.json["forwarded"] as? [[String: Any]])?.first?["outcome"] as? String, "paid", forwarded.raw.stdout)
        XCTAssertEqual(forwarded.json["waiting"] as? Int, 0)
        // The terminal "crashed" before it noted the answer: its journal still says the sale waits. Sent
        // again, the sale meets the order it placed.
        try FileManager.default.removeItem(atPath: journalPath)
        try FileManager.default.moveItem(atPath: journalCopy, toPath: journalPath)
        XCTAssertEqual(try harness.runJSON(["status"]).json["cash_sales_to_forward"] as? Int, 1)
        let twice = try harness.runJSON(["resume"])
        XCTAssertEqual((twice.json["forwarded"] as? [[String: Any]])?.first?["outcome"] as? String, "paid")
        let order = try XCTUnwrap(try harness.runJSON(["order", number]).json["order"] as? [String: Any])
        XCTAssertEqual(order["tender"] as? String, "cash")
        let list = try harness.runJSON(["orders", "--limit", "50"])
        let listed = (list.json["orders"] as? [[String: Any]] ?? []).filter { ($0["amount"] as? Int) == 800 }
        XCTAssertEqual(listed.count, 1, "one order, however often it was forwarded")

        let closed = try harness.runJSON(["shift-close", "--counted", "8.00"])
        XCTAssertEqual(closed.status, 0, closed.raw.stdout + closed.raw.stderr)
        XCTAssertEqual(totals(try XCTUnwrap(closed.json["report"] as? [String: Any]), "sales"), ["cash": 800])
    }

    /// The forward itself cut off: the terminal killed while its forward waits at a stalled service (which
    /// then places it), and the service killed while a forward waits on it. Each sale is one order.
    func testAForwardCutOffByAKilledTerminalOrServiceMakesOneOrder() throws {
        XCTAssertEqual(try harness.run(["shift-open", "--float", "0"]).status, 0)
        func takeOffline(_ amount: String) throws {
            service.stop()
            XCTAssertEqual(try harness.runJSON(["cash", "--amount", amount]).json["outcome"] as? String, "stored_offline")
            try service.start(onTheSameAddresses: true)
        }
        func orders(of minor: Int) throws -> Int {
            let list = try harness.runJSON(["orders", "--limit", "50"]).json["orders"] as? [[String: Any]] ?? []
            return list.filter { ($0["amount"] as? Int) == minor }.count
        }

        // The terminal dies mid-forward; the stalled service then takes the request and places the sale.
        try takeOffline("7.10")
        XCTAssertTrue(stopAndWait(service.child!.process.processIdentifier))
        let forwarding = try ChildProcess(ClientHarness.binary, ["resume", "--json"], environment: harness.environment)
        Thread.sleep(forTimeInterval: 1.5)
        forwarding.stop(signal: SIGKILL)
        kill(service.child!.process.processIdentifier, SIGCONT)
        let again = try harness.runJSON(["resume"])
        XCTAssertEqual((again.json["forwarded"] as? [[String: Any]])?.first?["outcome"] as? String, "paid", again.raw.stdout)
        XCTAssertEqual(try orders(of: 710), 1, "sent twice, placed once")

        // The service dies mid-forward.
        try takeOffline("7.20")
        XCTAssertTrue(stopAndWait(service.child!.process.processIdentifier))
        let second = try ChildProcess(ClientHarness.binary, ["resume", "--json"], environment: harness.environment)
        Thread.sleep(forTimeInterval: 1.5)
        service.stop(signal: SIGKILL)
        try service.start(onTheSameAddresses: true)
        second.stop(signal: SIGKILL)
        let after = try harness.runJSON(["resume"])
        XCTAssertEqual(after.json["waiting"] as? Int, 0, after.raw.stdout)
        XCTAssertEqual(try orders(of: 720), 1)
        XCTAssertEqual(try orders(of: 710), 1)
        let z = try harness.runJSON(["shift-close", "--counted", "14.30"])
        XCTAssertEqual(totals(try XCTUnwrap(z.json["report"] as? [String: Any]), "sales"), ["cash": 1_430], z.raw.stdout + z.raw.stderr)
    }

    func testTheSameShiftScriptedHeadless() throws {
        let lines = [
            #"{"cmd":"shift_open","id":"open","float":"50.00"}"#,
            #"{"cmd":"cash","id":"c1","amount":"10.00","given":"20.00"}"#,
            #"{"cmd":"pay","id":"p1","amount":"7.00","code":"\#(paymentCode(.paid))"}"#,
            #"{"cmd":"pay","id":"p2","amount":"3.00","code":"\#(paymentCode(.insufficientFunds))"}"#,
            #"{"cmd":"pay","id":"s1","amount":"4.00","code":"\#(paymentCode(.paid))","sale_ref":"SPLIT-7"}"#,
            #"{"cmd":"cash","id":"s2","amount":"6.00","sale_ref":"SPLIT-7"}"#,
            #"{"cmd":"shift_report","id":"x"}"#,
            #"{"cmd":"shift_close","id":"z","counted":"66.00"}"#,
            #"{"cmd":"shift_close","id":"z2","counted":"66.00"}"#,
        ]
        let r = try harness.run(["--headless"], stdin: lines.joined(separator: "\n") + "\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        let events = r.stdout.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        func answer(_ id: String) -> [String: Any] { events.first { $0["id"] as? String == id && ["result", "error"].contains($0["event"] as? String) } ?? [:] }
        XCTAssertEqual((answer("open")["shift"] as? [String: Any])?["status"] as? String, "open")
        XCTAssertEqual(answer("c1")["outcome"] as? String, "paid")
        XCTAssertEqual(((answer("c1")["order"] as? [String: Any])?["cash_given"] as? Int), 2_000)
        XCTAssertTrue(events.contains { $0["event"] as? String == "cash_sale" && $0["phase"] as? String == "placing" })
        let x = try XCTUnwrap(answer("x")["report"] as? [String: Any])
        XCTAssertEqual(totals(x, "sales"), ["cash": 1_600, "sandbox": 1_100])
        XCTAssertEqual((answer("s1")["order"] as? [String: Any])?["client_ref"] as? String, "SPLIT-7", "a split sale's parts share its reference")
        XCTAssertEqual((answer("s2")["order"] as? [String: Any])?["client_ref"] as? String, "SPLIT-7")
        XCTAssertEqual(x["declined"] as? Int, 1)
        let z = try XCTUnwrap(answer("z")["report"] as? [String: Any])
        XCTAssertEqual(z["kind"] as? String, "Z")
        XCTAssertEqual(z["cash_difference"] as? Int, 0)
        let sold = ["c1", "p1", "p2", "s1", "s2"].map { answer($0)["order_no"] as? String ?? "" }
        XCTAssertEqual(totals(z, "sales"), try serviceTotals(sold), "the Z report's totals are the service's order data")
        XCTAssertEqual(answer("z2")["code"] as? String, "SHIFT_NOT_FOUND", "the shift is closed; nothing to close twice")
    }
}
