import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// `/metrics` of a real cashierd, scraped over HTTPS, while one of its order groups is made unwritable by another
/// process: the per-group counters and gauges an operator's alerts read (deploy/prometheus/alerts.yml).
final class MetricsScrapeTests: XCTestCase {
    func testGroupFailuresAndHealthAreExportedAsTheyHappen() throws {
        guard DatabaseLock.isAvailable else {
            throw XCTSkip("the sqlite3 tool (Debian package sqlite3) is needed to lock a group from another process")
        }
        // Failures hardly decay during the test (an hour's half-life: three are still above 2.5 when counted) and
        // three make a group skipped.
        let service = try Cashierd(groups: 2, tweak: {
            $0.hopping.halfLifeSeconds = 3_600
            $0.hopping.failureThreshold = 2.5
        })
        defer { service.stop() }
        let terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())

        // From the start, before anything failed: every group's series at 0 (so increase() sees the first failure),
        // both groups up, the base data writable, and no reconnect series for SQLite databases.
        var m = try service.scrapeMetrics()
        for g in ["00", "01"] {
            XCTAssertEqual(m["cashierd_group_failures_total{group=\"\(g)\"}"], 0, g)
            XCTAssertEqual(m["cashierd_group_up{group=\"\(g)\"}"], 1, g)
            XCTAssertEqual(m["cashierd_group_accepting{group=\"\(g)\"}"], 1, g)
        }
        XCTAssertEqual(m["cashierd_base_up"], 1)
        XCTAssertFalse(m.keys.contains { $0.hasPrefix("cashierd_database_reconnects_total") }, "SQLite databases do not reconnect")

        var inGroup1: OrderView?
        for _ in 0..<100 where inGroup1 == nil {
            let order = try terminal.createOrder(amount: 100).unwrap()
            if order.orderNo.group.value == 1 { inGroup1 = order }
        }
        let order = try XCTUnwrap(inGroup1, "an order in group 1 within 100 creates")

        let lock = try DatabaseLock(databasePath: (service.dataPath as NSString).appendingPathComponent("group-01.sqlite"))
        defer { lock.release() }
        // Each failed call on the locked group counts once, on that group only.
        for expected in 1...3 {
            guard case .failure(.service(let e)) = terminal.pay(order.orderNo, code: paymentCode(.paid)) else {
                return XCTFail("a pay in a group that cannot be written must not succeed")
            }
            XCTAssertEqual(e.code, .groupUnavailable)
            m = try service.scrapeMetrics()
            XCTAssertEqual(m["cashierd_group_failures_total{group=\"01\"}"], Double(expected), "failure \(expected) counted")
            XCTAssertEqual(m["cashierd_group_failures_total{group=\"00\"}"], 0)
        }
        // Three failures pass the threshold: group 01 is down and takes no new orders; group 00 is untouched.
        XCTAssertEqual(m["cashierd_group_up{group=\"01\"}"], 0)
        XCTAssertEqual(m["cashierd_group_accepting{group=\"01\"}"], 0)
        XCTAssertEqual(m["cashierd_group_up{group=\"00\"}"], 1)
        XCTAssertEqual(try XCTUnwrap(m["cashierd_group_recent_failures{group=\"01\"}"]), 3, accuracy: 0.01)
        XCTAssertEqual(m["cashierd_errors_total{code=\"GROUP_UNAVAILABLE\"}"], 3)
        // New orders go to group 00 meanwhile, and none is counted as a failure of it.
        for _ in 0..<5 { XCTAssertEqual(try terminal.createOrder(amount: 100).unwrap().orderNo.group.value, 0) }
        m = try service.scrapeMetrics()
        XCTAssertEqual(m["cashierd_group_failures_total{group=\"00\"}"], 0)
        XCTAssertEqual(m["cashierd_group_failures_total{group=\"01\"}"], 3, "a skipped group is not called, so not failed again")
        XCTAssertEqual(m["cashierd_base_up"], 1)
    }
}
