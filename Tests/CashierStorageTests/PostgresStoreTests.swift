import CashierCore
import CashierStorage
import Foundation
import Postgres
import XCTest

/// The PostgreSQL stores against the shared conformance checks, then outage and recovery on a real cluster.
final class PostgresStoreTests: XCTestCase {
    static let postgres = ClassCluster()

    override class func setUp() {
        super.setUp()
        postgres.start()
    }

    override class func tearDown() {
        postgres.destroy()
        super.tearDown()
    }

    private func liveCluster() throws -> PostgresTestCluster { try Self.postgres.live() }

    func testBaseStoreConformance() throws {
        let cluster = try liveCluster()
        try checkBaseStoreConformance { try PostgresBaseStore.open(try cluster.freshDatabase()) }
    }

    func testOrderGroupConformance() throws {
        let cluster = try liveCluster()
        try checkOrderGroupConformance { try PostgresOrderGroupStore.open(try cluster.freshDatabase()) }
    }

    /// A database from before the partial paying index loses its whole-table status index when a store
    /// opens it, and the stale-paying query can be answered from the new index.
    func testStatusIndexIsReplacedByThePartialPayingIndex() throws {
        let cluster = try liveCluster()
        let options = try cluster.freshDatabase()
        let first = try PostgresOrderGroupStore.open(options)
        let numbers = (1...3).map { OrderNumber(epochSeconds: 1_700_000_000, instance: 1, sequence: $0, group: GroupTag(0)!) }
        for (no, status) in zip(numbers, [OrderStatus.paying, .paid, .paying]) {
            try first.insertOrder(OrderRecord(orderNo: no, merchantID: "m", storeID: "s", deviceID: "d", amount: 100,
                                              currency: "CNY", status: status, createdAt: 1, updatedAt: no == numbers[2] ? 9 : 1))
        }
        try first.pool.execute("DROP INDEX orders_paying")
        try first.pool.execute("CREATE INDEX orders_status ON orders(status, updated_at)")

        let reopened = try PostgresOrderGroupStore.open(options)
        XCTAssertEqual(try reopened.stalePayingOrders(updatedBefore: 5, limit: 10).map(\.orderNo), [numbers[0]])
        let indexes = try reopened.pool.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'orders' ORDER BY indexname")
        XCTAssertEqual(indexes.rows.map { $0[0] }, ["orders_list", "orders_merchant", "orders_paying", "orders_pkey", "orders_shift"])
        let plan = try reopened.pool.withConnection { c in
            try c.execute("SET enable_seqscan = off")
            defer { _ = try? c.execute("RESET enable_seqscan") }
            return try c.execute("EXPLAIN SELECT order_no FROM orders WHERE status = 'paying' AND updated_at < 5 ORDER BY updated_at, order_no")
        }
        XCTAssertTrue(plan.rows.contains { ($0[0] ?? "").contains("orders_paying") }, "plan: \(plan.rows)")
    }

    /// An immediate stop (a crash) makes calls fail as `.unavailable` within the connect timeout; after a
    /// restart the same store works again on its first call and committed data is still there.
    func testImmediateStopIsUnavailableAndRestartRecovers() throws {
        let cluster = try liveCluster()
        let store = try PostgresOrderGroupStore.open(try cluster.freshDatabase())
        let no = OrderNumber(epochSeconds: 1_700_000_000, instance: 1, sequence: 1, group: GroupTag(3)!)
        try store.insertOrder(OrderRecord(orderNo: no, merchantID: "m", storeID: "s", deviceID: "d", amount: 100,
                                          currency: "CNY", createdAt: 1, updatedAt: 1))
        try store.probeWrite(now: 2)

        try cluster.stop(mode: "immediate")
        for _ in 0..<3 {
            let started = Date()
            XCTAssertThrowsError(try store.probeWrite(now: 3)) { error in
                guard case .unavailable = error as? StorageError else { return XCTFail("expected unavailable, got \(error)") }
            }
            XCTAssertLessThan(Date().timeIntervalSince(started), 4, "bounded by connect_timeout")
        }

        try cluster.start()
        try store.probeWrite(now: 4)
        XCTAssertEqual(try store.order(no)?.amount, 100)
    }

    /// A store made while its server is down fails as `.unavailable`, then creates its schema once the server is back.
    func testStoreMadeWhileServerIsDownRecovers() throws {
        let cluster = try liveCluster()
        let options = try cluster.freshDatabase()
        try cluster.stop(mode: "immediate")
        let store = PostgresOrderGroupStore(pool: ConnectionPool(options: options))
        XCTAssertThrowsError(try store.probeWrite(now: 1)) { error in
            guard case .unavailable = error as? StorageError else { return XCTFail("expected unavailable, got \(error)") }
        }
        try cluster.start()
        try store.probeWrite(now: 2)
        XCTAssertEqual(try store.allOrders(after: nil, limit: 10), [])
    }
}
