import CashierCore
@testable import CashierStorage
import SQLite
import XCTest

final class SQLiteStoreTests: XCTestCase {
    private var dir: TempDirectory!

    override func setUpWithError() throws { dir = try TempDirectory() }
    override func tearDown() { dir.remove() }

    func testBaseStoreConformance() throws {
        var n = 0
        try checkBaseStoreConformance {
            n += 1
            return try SQLiteBaseStore(.path(dir.file("base-\(n).sqlite")))
        }
    }

    func testOrderGroupConformance() throws {
        var n = 0
        try checkOrderGroupConformance {
            n += 1
            return try SQLiteOrderGroupStore(path: dir.file("group-\(n).sqlite"))
        }
    }

    /// Each store object is its own connection, so this is the multi-instance case: two connections
    /// racing on one file must still redeem once and never over-refund.
    func testTwoConnectionsOnOneFileStayAtomic() throws {
        let basePath = dir.file("shared-base.sqlite")
        let bases = [try SQLiteBaseStore(.path(basePath)), try SQLiteBaseStore(.path(basePath))]
        try bases[0].insertMerchant(MerchantRecord(id: "M1", name: "m", createdAt: 1))
        try bases[0].insertStore(StoreRecord(id: "S1", merchantID: "M1", name: "s", currency: "CNY", createdAt: 1))
        try bases[0].insertActivationCode(ActivationCodeRecord(code: "TWOCONN1", storeID: "S1", createdAt: 1, expiresAt: 10_000))
        let redeemed = Collector<RedeemOutcome>()
        runConcurrently(8) { i in
            let out = try? bases[i % 2].redeemActivationCode("TWOCONN1", now: 5) { store in
                DeviceRecord(id: "D\(i)", storeID: store, name: "t", secret: [1], activatedAt: 5)
            }
            if let out { redeemed.append(out) }
        }
        XCTAssertEqual(redeemed.values.count, 8)
        XCTAssertEqual(redeemed.values.filter { if case .activated = $0 { return true } else { return false } }.count, 1)
        XCTAssertEqual(try bases[1].devices().count, 1)

        let groupPath = dir.file("shared-group.sqlite")
        let groups = [try SQLiteOrderGroupStore(path: groupPath, busyTimeoutMilliseconds: 10_000),
                      try SQLiteOrderGroupStore(path: groupPath, busyTimeoutMilliseconds: 10_000)]
        let no = testOrderNumber(1)
        try groups[0].insertOrder(testOrder(no, amount: 1_000, status: .paid))
        let results = Collector<RefundReservation>()
        runConcurrently(8) { i in
            let r = RefundRecord(refundNo: testRefundNumber(i), orderNo: no, amount: 400, currency: "CNY",
                                 refundRef: "r\(i)", status: .pending, staffID: "P", createdAt: 1)
            if let out = try? groups[i % 2].reserveRefund(r, maxRefunds: 10, now: 2) { results.append(out) }
        }
        XCTAssertEqual(results.values.count, 8)
        XCTAssertEqual(try groups[1].order(no)?.refundedAmount, 800)
        XCTAssertEqual(try groups[0].refunds(of: no).count, 2)
    }

    func testSchemaSurvivesReopenAndDataIsDurable() throws {
        let path = dir.file("reopen.sqlite")
        do {
            let g = try SQLiteOrderGroupStore(path: path)
            try g.insertOrder(testOrder(testOrderNumber(3)))
        }
        let again = try SQLiteOrderGroupStore(path: path)
        XCTAssertEqual(try again.order(testOrderNumber(3))?.amount, 1_000)
        let db = try Database(.path(path))
        XCTAssertEqual(try db.query("PRAGMA journal_mode") { $0.string(0) }, ["wal"])
        XCTAssertEqual(try db.query("SELECT version FROM schema_version") { $0.int64(0) }, [SQLiteOrderGroupStore.schemaVersion])
    }

    /// A group file of schema 1 (before staff, shifts and cash) opens with its orders and refunds kept, as
    /// code sales of no shift, and takes cash sales of shifts from then on.
    func testGroupFromBeforeShiftsIsMigrated() throws {
        let path = dir.file("v1.sqlite")
        do {
            let old = try Database(.path(path))
            try old.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)")
            try old.exec("INSERT INTO schema_version (version) VALUES (1)")
            try old.exec("""
                CREATE TABLE orders (
                    order_no TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, store_id TEXT NOT NULL, device_id TEXT NOT NULL,
                    amount INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL, refunded_amount INTEGER NOT NULL,
                    items TEXT NOT NULL, client_ref TEXT, payment_code TEXT, channel_txn TEXT, failure_reason TEXT,
                    failure_message TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, paid_at INTEGER)
                """)
            try old.exec("""
                CREATE TABLE refunds (
                    refund_no TEXT PRIMARY KEY, order_no TEXT NOT NULL REFERENCES orders(order_no), amount INTEGER NOT NULL,
                    currency TEXT NOT NULL, refund_ref TEXT NOT NULL, status TEXT NOT NULL, staff_id TEXT NOT NULL,
                    reason TEXT, created_at INTEGER NOT NULL, completed_at INTEGER)
                """)
            _ = try old.run("INSERT INTO orders VALUES (?, 'M1', 'S1', 'D1', 900, 'CNY', 'paid', 100, '[]', NULL, '991234', 'T1', NULL, NULL, 5, 6, 6)",
                            [.text(testOrderNumber(1).digits)])
            _ = try old.run("INSERT INTO refunds VALUES (?, ?, 100, 'CNY', 'r1', 'succeeded', 'P2', NULL, 7, 8)",
                            [.text(testRefundNumber(1).text), .text(testOrderNumber(1).digits)])
            old.close()
        }
        let g = try SQLiteOrderGroupStore(path: path)
        let kept = try XCTUnwrap(try g.order(testOrderNumber(1)))
        XCTAssertEqual(kept.amount, 900)
        XCTAssertEqual(kept.tender, .code)
        XCTAssertNil(kept.shiftID)
        XCTAssertEqual(try g.refunds(of: kept.orderNo).map(\.staffID), ["P2"])
        var cash = testOrder(testOrderNumber(2), amount: 300)
        cash.tender = .cash
        cash.shiftID = "SH1"
        try g.insertOrder(cash)
        XCTAssertEqual(try g.orders(ofShift: "SH1"), [cash])
        let db = try Database(.path(path))
        XCTAssertEqual(try db.query("SELECT max(version) FROM schema_version") { $0.int64(0) }, [SQLiteOrderGroupStore.schemaVersion])
    }

    /// Only paying orders are indexed by status: a file from before that change loses its whole-table
    /// status index on open, and the stale-paying query is answered from the partial index.
    func testStatusIndexIsReplacedByThePartialPayingIndex() throws {
        let path = dir.file("old-index.sqlite")
        do {
            let g = try SQLiteOrderGroupStore(path: path)
            try g.insertOrder(testOrder(testOrderNumber(1), createdAt: 1_000, status: .paying))
            try g.insertOrder(testOrder(testOrderNumber(2), createdAt: 1_000, status: .paid))
            try g.insertOrder(testOrder(testOrderNumber(3), createdAt: 5_000, status: .paying))
            let raw = try Database(.path(path))
            try raw.exec("DROP INDEX orders_paying")
            try raw.exec("CREATE INDEX orders_status ON orders(status, updated_at)")
        }
        let reopened = try SQLiteOrderGroupStore(path: path)
        XCTAssertEqual(try reopened.stalePayingOrders(updatedBefore: 2_000, limit: 10).map(\.orderNo), [testOrderNumber(1)])
        let db = try Database(.path(path))
        XCTAssertEqual(try db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'orders' ORDER BY name") { $0.string(0) },
                       ["orders_list", "orders_merchant", "orders_paying", "orders_shift", "sqlite_autoindex_orders_1"])
        let plan = try db.query("""
            EXPLAIN QUERY PLAN SELECT order_no FROM orders WHERE \(OrderGroupSQL.payingPredicate) AND updated_at < 2000
            ORDER BY updated_at, order_no LIMIT 10
            """) { $0.string(3) }
        XCTAssertTrue(plan.contains { $0.contains("orders_paying") }, "plan: \(plan)")
        XCTAssertEqual(try db.query("SELECT version FROM schema_version") { $0.int64(0) }, [SQLiteOrderGroupStore.schemaVersion])
    }

    /// A merchant's page is read from its own index in order, never by sorting the merchant's orders, so it
    /// costs the same with a thousand orders stored or a million.
    func testMerchantListIsReadFromItsIndexInOrder() throws {
        let path = dir.file("merchant-plan.sqlite")
        let g = try SQLiteOrderGroupStore(path: path)
        try g.insertOrder(testOrder(testOrderNumber(1)))
        let db = try Database(.path(path))
        for sql in ["SELECT * FROM orders WHERE merchant_id = 'M1' ORDER BY created_at DESC, order_no DESC LIMIT 20",
                    "SELECT * FROM orders WHERE merchant_id = 'M1' AND (created_at, order_no) < (5, 'x') ORDER BY created_at DESC, order_no DESC LIMIT 20"] {
            let plan = try db.query("EXPLAIN QUERY PLAN " + sql) { $0.string(3) }
            XCTAssertTrue(plan.contains { $0.contains("USING INDEX orders_merchant") }, "plan: \(plan)")
            XCTAssertFalse(plan.contains { $0.contains("TEMP B-TREE") }, "plan sorts: \(plan)")
        }
    }

    func testGroupThatCannotOpenIsUnavailableAndRecovers() throws {
        let missingDir = dir.file("not-yet")
        let store = try SQLiteOrderGroupStore(path: missingDir + "/g.sqlite", openNow: false)
        XCTAssertThrowsError(try store.probeWrite(now: 1)) {
            guard case StorageError.unavailable = $0 else { return XCTFail("want unavailable, got \($0)") }
        }
        try FileManager.default.createDirectory(atPath: missingDir, withIntermediateDirectories: true)
        XCTAssertNoThrow(try store.probeWrite(now: 2))
    }

    func testGroupConfigurationNamesFiles() throws {
        let stores = try GroupConfiguration.openSQLiteGroups(directory: dir.file("groups"), tags: GroupConfiguration.tags(count: 3))
        XCTAssertEqual(stores.keys.sorted().map(\.value), [0, 1, 2])
        for (_, s) in stores { try s.probeWrite(now: 1) }
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir.file("groups/group-02.sqlite")))
    }
}

final class SQLiteWrapperTests: XCTestCase {
    func testValuesRoundTripAndErrorsAreClassified() throws {
        let db = try Database(.memory)
        try db.exec("CREATE TABLE t (k TEXT PRIMARY KEY, i INTEGER, r REAL, b BLOB)")
        try db.run("INSERT INTO t VALUES (?, ?, ?, ?)", ["a", .integer(Int64.max), .real(1.5), .blob([0, 255, 7])])
        try db.run("INSERT INTO t VALUES (?, ?, ?, ?)", ["b", nil, nil, .blob([])])
        let rows = try db.query("SELECT k, i, r, b FROM t ORDER BY k") { s in
            (s.string(0), s.optionalInt64(1), s.double(2), s.blob(3), s.isNull(3))
        }
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual(rows[0].1, Int64.max)
        XCTAssertEqual(rows[0].2, 1.5)
        XCTAssertEqual(rows[0].3, [0, 255, 7])
        XCTAssertNil(rows[1].1)
        XCTAssertEqual(rows[1].3, [])
        XCTAssertFalse(rows[1].4, "an empty blob stays a blob, not NULL")

        XCTAssertThrowsError(try db.run("INSERT INTO t (k) VALUES ('a')")) {
            let e = $0 as? SQLiteError
            XCTAssertEqual(e?.isDuplicateKey, true)
            XCTAssertEqual(e?.isUnavailable, false)
        }
        XCTAssertThrowsError(try db.exec("SELEC nonsense")) {
            XCTAssertEqual(($0 as? SQLiteError)?.isUnavailable, false)
        }
        // A throwing body rolls the transaction back.
        XCTAssertThrowsError(try db.transaction(.immediate) {
            try db.run("INSERT INTO t (k) VALUES ('c')")
            throw StorageError.failed("stop")
        })
        XCTAssertEqual(try db.query("SELECT count(*) FROM t") { $0.int64(0) }, [2])
    }

    func testLockedDatabaseIsUnavailableAfterBusyTimeout() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("busy.sqlite")
        let holder = try Database(.path(path))
        try holder.exec("CREATE TABLE t (x INTEGER)")
        let other = try Database(.path(path), options: .init(busyTimeoutMilliseconds: 50))
        try holder.exec("BEGIN EXCLUSIVE; INSERT INTO t VALUES (1);")
        let started = Date()
        XCTAssertThrowsError(try other.run("INSERT INTO t VALUES (2)")) {
            let e = $0 as? SQLiteError
            XCTAssertEqual(e?.isUnavailable, true, "\($0)")
            XCTAssertEqual(StorageError.from($0), .unavailable(e?.description ?? ""))
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        try holder.exec("COMMIT")
        XCTAssertNoThrow(try other.run("INSERT INTO t VALUES (2)"))
    }
}

/// The statement cache of `Database.run`/`query`.
final class StatementCacheTests: XCTestCase {
    func testCachedStatementsAreResetAndNestedUseGetsItsOwn() throws {
        let db = try Database(.memory)
        try db.exec("CREATE TABLE t (a INTEGER, b TEXT)")
        for i in 0..<5 { try db.run("INSERT INTO t VALUES (?, ?)", [.integer(Int64(i)), .text("v\(i)")]) }
        // The same SQL again and again sees fresh bindings each time.
        for i in 0..<5 {
            XCTAssertEqual(try db.query("SELECT b FROM t WHERE a = ?", [.integer(Int64(i))]) { $0.string(0) }, ["v\(i)"])
        }
        // A nested call with the same SQL inside a row callback does not disturb the outer one.
        let pairs = try db.query("SELECT a FROM t WHERE a >= ? ORDER BY a", [.integer(3)]) { row -> [Int64] in
            let a = row.int64(0)
            return try db.query("SELECT a FROM t WHERE a >= ? ORDER BY a", [.integer(a)]) { $0.int64(0) }
        }
        XCTAssertEqual(pairs, [[3, 4], [4]])
        // An error leaves the cached statement usable.
        XCTAssertThrowsError(try db.run("INSERT INTO t VALUES (?, ?)", [.integer(1), .text("x"), .integer(3)]))
        XCTAssertEqual(try db.query("SELECT COUNT(*) FROM t", row: { $0.int64(0) }), [5])
    }
}
