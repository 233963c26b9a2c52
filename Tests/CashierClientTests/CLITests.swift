import CashierChannels
import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// The `cashier` binary against a real `cashierd` on two loopback HTTPS domains.
final class CLITests: XCTestCase {
    var service: Cashierd!
    var harness: ClientHarness!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
        harness = try ClientHarness(domains: service.urls, caFile: service.caFile)
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    func testActivationStoresAnOwnerOnlyKeystoreAndStatusShowsBothDomains() throws {
        let before = try harness.runJSON(["pay", "--amount", "1.00", "--code", paymentCode(.paid)])
        XCTAssertEqual(before.status, 8, "not activated yet")
        XCTAssertEqual(before.json["code"] as? String, "NOT_ACTIVATED")

        let code = try service.newActivationCode()
        let r = try harness.runJSON(["activate", "--code", code])
        XCTAssertEqual(r.status, 0, r.raw.stdout + r.raw.stderr)
        XCTAssertNotNil(r.json["device_id"] as? String)
        let keystore = harness.configuration.resolvingPaths(against: (harness.configPath as NSString).deletingLastPathComponent).keystorePath
        let mode = (try FileManager.default.attributesOfItem(atPath: keystore)[.posixPermissions] as? NSNumber)?.intValue
        XCTAssertEqual(mode, 0o600)

        let status = try harness.runJSON(["status"])
        XCTAssertEqual(status.status, 0, status.raw.stdout + status.raw.stderr)
        let domains = status.json["domains"] as? [[String: Any]] ?? []
        XCTAssertEqual(domains.count, 2)
        XCTAssertTrue(domains.contains { $0["state"] as? String == "active" }, "\(domains)")
        XCTAssertEqual(status.json["device_id"] as? String, r.json["device_id"] as? String)

        // A used code is refused by the service.
        XCTAssertEqual(try harness.run(["activate", "--code", code]).status, 6)

        // A keystore others can read stops the client, saying why.
        chmod(keystore, 0o644)
        let insecure = try harness.runJSON(["status"])
        XCTAssertEqual(insecure.status, 8)
        XCTAssertEqual(insecure.json["code"] as? String, "KEYSTORE_INSECURE")
        XCTAssertTrue((insecure.json["detail"] as? String ?? "").contains("chmod 600"))
    }

    func testBadConfigurationIsRefusedClearly() throws {
        try Data("{\"domains\": [\"https://only-one\"]}".utf8).write(to: URL(fileURLWithPath: harness.configPath))
        let r = try harness.runJSON(["status"])
        XCTAssertEqual(r.status, 8)
        XCTAssertEqual(r.json["code"] as? String, "CONFIG_INVALID")
        XCTAssertTrue((r.json["detail"] as? String ?? "").contains("at least two"))
    }

    func testPayWithEverySandboxOutcome() throws {
        try harness.activate(service)
        let cases: [(SandboxScenario, Int32, String)] = [
            (.paid, 0, "paid"), (.userConfirms, 0, "paid"), (.userNeverConfirms, 4, "not_paid"),
            (.insufficientFunds, 3, "declined"), (.unknownButPaid, 0, "paid"), (.slow, 0, "paid"),
            (.unknownNotPaid, 3, "declined"),
        ]
        var paid = 0
        for (scenario, exit, outcome) in cases {
            let r = try harness.runJSON(["pay", "--amount", "2.50", "--code", paymentCode(scenario)])
            XCTAssertEqual(r.status, exit, "\(scenario): \(r.raw.stdout) \(r.raw.stderr)")
            XCTAssertEqual(r.json["outcome"] as? String, outcome, "\(scenario)")
            if outcome == "paid" {
                paid += 1
                let order = r.json["order"] as? [String: Any]
                XCTAssertEqual(order?["status"] as? String, "paid")
                XCTAssertEqual(order?["amount"] as? Int, 250)
            }
            if scenario == .userNeverConfirms { XCTAssertEqual(r.json["reversed"] as? Bool, true) }
        }
        // Human output and bad input.
        let human = try harness.run(["pay", "--amount", "3.00", "--code", paymentCode(.paid)])
        XCTAssertEqual(human.status, 0)
        XCTAssertTrue(human.stdout.contains("PAID 3.00"), human.stdout)
        paid += 1
        XCTAssertEqual(try harness.run(["pay", "--amount", "abc", "--code", paymentCode(.paid)]).status, 2)
        XCTAssertEqual(try harness.run(["pay", "--amount", "1.00"]).status, 2)
        XCTAssertEqual(try harness.run(["pay", "--amount", "1.00", "--code", "12345"]).status, 3)

        let list = try harness.runJSON(["orders", "--limit", "3"])
        XCTAssertEqual(list.status, 0)
        XCTAssertEqual((list.json["orders"] as? [Any])?.count, 3)
        XCTAssertNotNil(list.json["next_cursor"] as? String)
        let reconcile = try service.admin(["reconcile"])
        XCTAssertTrue(reconcile.stdout.contains("paid orders in groups: \(paid); paid at channel: \(paid)"), reconcile.stdout)
    }

    func testRefundRetriedWithTheSameReferenceRefundsOnce() throws {
        try harness.activate(service)
        let sale = try harness.runJSON(["pay", "--amount", "10.00", "--code", paymentCode(.paid)])
        let order = try XCTUnwrap(sale.json["order_no"] as? String)

        let wrong = try harness.runJSON(["refund", "--order", order, "--amount", "1.00", "--pin", "0000"])
        XCTAssertEqual(wrong.status, 6)
        XCTAssertEqual(wrong.json["code"] as? String, "PIN_INVALID")

        let ref = "test-ref-\(UUID().uuidString.prefix(8))"
        for _ in 0..<2 {
            let r = try harness.runJSON(["refund", "--order", order, "--amount", "4.00", "--pin", Cashierd.supervisorPIN, "--ref", ref])
            XCTAssertEqual(r.status, 0, r.raw.stdout + r.raw.stderr)
            XCTAssertEqual((r.json["refund"] as? [String: Any])?["refund_ref"] as? String, ref)
        }
        let after = try harness.runJSON(["order", order])
        XCTAssertEqual((after.json["order"] as? [String: Any])?["refunded_amount"] as? Int, 400, "refunded once, not twice")
        let tooMuch = try harness.runJSON(["refund", "--order", order, "--amount", "7.00", "--pin", Cashierd.supervisorPIN])
        XCTAssertEqual(tooMuch.status, 6)
        XCTAssertEqual(tooMuch.json["code"] as? String, "REFUND_EXCEEDS_PAID")
        XCTAssertEqual(try harness.run(["refund", "--order", "123", "--amount", "1", "--pin", "1"]).status, 2)
    }

    func testHeadlessSessionReportsProbesSalePhasesAndResults() throws {
        try harness.activate(service)
        let lines = [
            #"{"cmd":"status","id":"s"}"#,
            #"{"cmd":"pay","id":"p1","amount":"1.23","code":"\#(paymentCode(.userConfirms))"}"#,
            #"{"cmd":"pay","id":"p2","amount_minor":99,"code":"\#(paymentCode(.insufficientFunds))"}"#,
            #"{"cmd":"orders","id":"o","limit":2}"#,
            #"{"cmd":"bogus","id":"b"}"#,
            "not json",
        ]
        let r = try harness.run(["--headless"], stdin: lines.joined(separator: "\n") + "\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        let events = r.stdout.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        func result(_ id: String) -> [String: Any]? { events.first { $0["id"] as? String == id && $0["event"] as? String != nil && ($0["event"] as? String == "result" || $0["event"] as? String == "error") } }
        XCTAssertEqual(events.first?["event"] as? String, "ready")
        XCTAssertEqual(events.last?["event"] as? String, "bye")
        XCTAssertTrue(events.contains { $0["event"] as? String == "probe" && $0["ok"] as? Bool == true })
        XCTAssertTrue(events.contains { $0["event"] as? String == "domain_switch" })
        XCTAssertEqual(result("p1")?["outcome"] as? String, "paid")
        XCTAssertEqual(result("p2")?["outcome"] as? String, "declined")
        XCTAssertEqual(result("p2")?["exit_code"] as? Int, 3)
        XCTAssertEqual((result("o")?["orders"] as? [Any])?.count, 2)
        XCTAssertEqual(result("b")?["code"] as? String, "BAD_INPUT")
        XCTAssertNotNil((result("s")?["status"] as? [String: Any])?["active_domain"] as? Int)
        let sale = result("p1")?["sale"] as? String
        let phases = events.filter { $0["event"] as? String == "sale" && $0["sale"] as? String == sale }.compactMap { $0["phase"] as? String }
        XCTAssertEqual(phases.first, "creating")
        XCTAssertTrue(phases.contains("paying") && phases.contains("waiting_for_customer"), "\(phases)")
        XCTAssertEqual(phases.last, "finished")
    }

    func testResumesASaleInterruptedWhileTheCustomerConfirms() throws {
        try harness.activate(service)
        let child = try ChildProcess(ClientHarness.binary, ["pay", "--amount", "5.00", "--code", paymentCode(.userNeverConfirms)],
                                     environment: harness.environment)
        let line = try XCTUnwrap(child.waitForLine(containing: "waiting for the customer", timeoutSeconds: 20), child.output.joined(separator: "\n"))
        child.stop(signal: SIGKILL)
        let order = try XCTUnwrap(line.split(separator: " ").dropFirst().first.map { String($0.dropLast()) })
        XCTAssertEqual((try harness.runJSON(["order", order]).json["order"] as? [String: Any])?["status"] as? String, "paying")

        let status = try harness.runJSON(["status"])
        XCTAssertEqual(status.json["unfinished_sales"] as? Int, 1)
        let resumed = try harness.runJSON(["resume"])
        XCTAssertEqual(resumed.status, 0, resumed.raw.stdout + resumed.raw.stderr)
        let outcomes = resumed.json["resumed"] as? [[String: Any]] ?? []
        XCTAssertEqual(outcomes.first?["outcome"] as? String, "not_paid")
        XCTAssertEqual((try harness.runJSON(["order", order]).json["order"] as? [String: Any])?["status"] as? String, "reversed")
        XCTAssertEqual(try harness.runJSON(["status"]).json["unfinished_sales"] as? Int, 0)
    }
}
