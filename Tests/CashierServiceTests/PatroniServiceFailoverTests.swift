import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// A real cashierd whose order group 0 is a replicated cluster (scripts/ha-cluster.sh: Patroni + etcd, a primary and
/// a synchronous standby, the multi-host conninfo in cashierd.json) and group 1 a SQLite file; the cluster's primary
/// is SIGKILLed while a terminal sells, and the same cashierd process follows the promoted standby.
final class PatroniServiceFailoverTests: XCTestCase {
    /// Six ports from the first free block of ten in 55500-55599 (55400-55499 are the storage tests' and CI's):
    /// etcd base/base+1, members' PostgreSQL base+2/base+4, their REST APIs base+3/base+5.
    static let basePort = HACluster.freeBasePort(in: 55500..<55600)
    static let cluster = HACluster()

    override class func setUp() {
        super.setUp()
        cluster.start(name: "svc", basePort: basePort)
    }

    override class func tearDown() {
        cluster.destroy()
        super.tearDown()
    }

    func testSalesGoOnAndTheGroupsOrdersComeBackAfterItsPrimaryIsKilled() throws {
        let conninfo = try Self.cluster.liveConninfo()
        // A short half-life, so group 0's failures during the switch are forgotten within seconds and it takes
        // new orders again inside the test's time.
        let service = try Cashierd(groups: 2, tweak: {
            $0.groups[0].location = .postgres(url: conninfo)
            $0.hopping.halfLifeSeconds = 2
        })
        defer { service.stop() }
        let pid = try XCTUnwrap(service.child).process.processIdentifier
        let terminal = TestTerminal(transport: try service.transport(), credentials: try service.activateTerminal())

        // Orders that live in group 0, on the cluster's primary (and, synchronously, its standby).
        var inGroup0: [OrderView] = []
        let enough = Date().addingTimeInterval(60)
        while inGroup0.count < 5, Date() < enough {
            let order = try terminal.createOrder(amount: Int64(100 + inGroup0.count)).unwrap()
            if order.orderNo.group.value == 0 { inGroup0.append(order) }
        }
        XCTAssertEqual(inGroup0.count, 5, "orders created in group 0")
        guard let probe = inGroup0.first else { return }

        let killedAt = Date()
        let oldPrimary = try Self.cluster.run(["kill-primary"]).trimmingCharacters(in: .whitespacesAndNewlines)
        // Until the standby takes over: new orders hop to group 1 and succeed; a group-0 order answers
        // GROUP_UNAVAILABLE (retry), never anything a terminal would act on.
        var createFailures: [CallFailure] = [], queryFailures: [CallFailure] = []
        var backAt: Date?
        while backAt == nil, Date() < killedAt.addingTimeInterval(60) {
            if case .failure(let e) = terminal.createOrder(amount: 1) { createFailures.append(e) }
            switch terminal.query(probe.orderNo) {
            case .success: backAt = Date()
            case .failure(let e): queryFailures.append(e); Thread.sleep(forTimeInterval: 0.2)
            }
        }
        let recovered = try XCTUnwrap(backAt, "group 0's orders readable again within 60 s; last: \(queryFailures.suffix(2))")
        let outage = recovered.timeIntervalSince(killedAt)
        print("group 0 failover seen by cashierd: orders unreadable for \(String(format: "%.1f", outage)) s (\(queryFailures.count) GROUP_UNAVAILABLE answers)")
        XCTAssertLessThan(outage, 30)
        XCTAssertEqual(createFailures, [], "new orders hop to group 1 during the switch")
        XCTAssertFalse(queryFailures.isEmpty, "the kill was noticed")
        for failure in queryFailures {
            guard case .service(let e) = failure else { XCTFail("not a service answer: \(failure)"); continue }
            XCTAssertEqual(e.code, .groupUnavailable, "\(e)")
        }

        // The same process, not restarted, reads every order from the promoted standby.
        XCTAssertNotEqual(try Self.cluster.primary(), oldPrimary)
        XCTAssertEqual(service.child?.process.processIdentifier, pid)
        XCTAssertTrue(service.child?.process.isRunning ?? false)
        for order in inGroup0 {
            let read = try terminal.query(order.orderNo).unwrap()
            XCTAssertEqual(read.amount, order.amount)
            XCTAssertEqual(read.orderNo, order.orderNo)
        }

        // And group 0 takes new orders again, on the new primary.
        var landed = false
        let again = Date().addingTimeInterval(60)
        while !landed, Date() < again {
            if case .success(let o) = terminal.createOrder(amount: 2), o.orderNo.group.value == 0 { landed = true }
            else { Thread.sleep(forTimeInterval: 0.1) }
        }
        XCTAssertTrue(landed, "group 0 took a new order within 60 s of its failover")
        try Self.cluster.run(["restart-member", oldPrimary])
    }
}
