import Foundation
import Postgres
import XCTest

/// The libpq wrapper against a real cluster: results, error classification, transactions, pool limits.
final class PostgresConnectionTests: XCTestCase {
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

    func testExecuteReturnsRowsNullsAndAffectedCount() throws {
        let c = try Connection(options: try liveCluster().options())
        try c.execute("CREATE TEMP TABLE t (k text PRIMARY KEY, v bigint)")
        let insert = try c.execute("INSERT INTO t VALUES ($1, $2), ($3, $4)", ["a", "1", "b", nil])
        XCTAssertEqual(insert.affectedRows, 2)
        let rows = try c.execute("SELECT k, v FROM t ORDER BY k")
        XCTAssertEqual(rows.columns, ["k", "v"])
        XCTAssertEqual(rows.rows, [["a", "1"], ["b", nil]])
        // Parameters are never spliced into the SQL text.
        let odd = try c.execute("SELECT $1::text", ["it's; DROP TABLE t; --"])
        XCTAssertEqual(odd.rows, [["it's; DROP TABLE t; --"]])
        XCTAssertEqual(try c.execute("DELETE FROM t WHERE k = $1", ["zzz"]).affectedRows, 0)
    }

    func testErrorsCarrySQLStateAndAreClassified() throws {
        let c = try Connection(options: try liveCluster().options())
        try c.execute("CREATE TEMP TABLE u (k text PRIMARY KEY)")
        try c.execute("INSERT INTO u VALUES ('x')")
        XCTAssertThrowsError(try c.execute("INSERT INTO u VALUES ('x')")) { error in
            let e = error as? PostgresError
            XCTAssertEqual(e?.sqlState, "23505")
            XCTAssertEqual(e?.kind, .uniqueViolation)
        }
        XCTAssertThrowsError(try c.execute("SELEC 1")) { error in
            let e = error as? PostgresError
            XCTAssertEqual(e?.sqlState, "42601")
            XCTAssertEqual(e?.kind, .other)
        }
        // The connection is still good after statement errors.
        XCTAssertEqual(try c.execute("SELECT 1").rows, [["1"]])
        XCTAssertTrue(c.isUsable)
    }

    func testClassificationTable() {
        XCTAssertEqual(PostgresError.classify(sqlState: "08006", connectionBad: false), .unavailable)
        XCTAssertEqual(PostgresError.classify(sqlState: "57P01", connectionBad: false), .unavailable)
        XCTAssertEqual(PostgresError.classify(sqlState: "57P03", connectionBad: false), .unavailable)
        XCTAssertEqual(PostgresError.classify(sqlState: "57014", connectionBad: false), .unavailable)
        XCTAssertEqual(PostgresError.classify(sqlState: "53300", connectionBad: false), .unavailable)
        XCTAssertEqual(PostgresError.classify(sqlState: "23505", connectionBad: false), .uniqueViolation)
        XCTAssertEqual(PostgresError.classify(sqlState: "23503", connectionBad: false), .other)
        XCTAssertEqual(PostgresError.classify(sqlState: "23505", connectionBad: true), .unavailable)
    }

    func testTransactionCommitsOrRollsBack() throws {
        let c = try Connection(options: try liveCluster().options())
        try c.execute("CREATE TEMP TABLE tx (k int)")
        _ = try c.transaction { try $0.execute("INSERT INTO tx VALUES (1)") }
        struct Abort: Error {}
        XCTAssertThrowsError(try c.transaction { c in
            try c.execute("INSERT INTO tx VALUES (2)")
            throw Abort()
        })
        XCTAssertFalse(c.inTransaction)
        XCTAssertEqual(try c.execute("SELECT k FROM tx ORDER BY k").rows, [["1"]])
    }

    func testStatementTimeoutIsUnavailable() throws {
        let c = try Connection(options: try liveCluster().options(statementTimeoutMilliseconds: 300))
        let started = Date()
        XCTAssertThrowsError(try c.execute("SELECT pg_sleep(5)")) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "57014")
            XCTAssertEqual((error as? PostgresError)?.kind, .unavailable)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
    }

    func testNoServerIsUnavailableQuickly() throws {
        _ = try liveCluster()
        let started = Date()
        let options = ConnectionOptions(conninfo: "host=127.0.0.1 port=1 user=postgres dbname=postgres", connectTimeoutSeconds: 2)
        XCTAssertThrowsError(try Connection(options: options)) { error in
            XCTAssertEqual((error as? PostgresError)?.kind, .unavailable)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
    }

    func testPoolIsBoundedAndGivesUpWhenExhausted() throws {
        let pool = ConnectionPool(options: try liveCluster().options(), maxConnections: 1, checkoutTimeoutSeconds: 0.3)
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = try? pool.withConnection { _ in
                holding.signal()
                _ = release.wait(timeout: .now() + 10)
            }
            done.signal()
        }
        XCTAssertEqual(holding.wait(timeout: .now() + 10), .success)
        let started = Date()
        XCTAssertThrowsError(try pool.execute("SELECT 1")) { error in
            XCTAssertEqual((error as? PostgresError)?.kind, .unavailable)
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 2)
        XCTAssertEqual(pool.openConnections, 1)
        release.signal()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success)
        XCTAssertEqual(try pool.execute("SELECT 2").rows, [["2"]])
        XCTAssertEqual(pool.openConnections, 1)
    }
}
