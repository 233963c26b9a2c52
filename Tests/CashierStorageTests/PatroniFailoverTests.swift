import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Postgres
import TestSupport
import XCTest

/// A replicated cluster (scripts/ha-cluster.sh: Patroni + etcd, a primary and a synchronous standby) and the
/// connection pool following its primary through a failover: real processes, a real SIGKILL.
final class PatroniFailoverTests: XCTestCase {
    /// Six ports from the first block of ten in 55400-55499 that nothing listens on (another cluster on this
    /// machine may hold 55400): etcd base/base+1, members' PostgreSQL base+2/base+4, their REST APIs base+3/base+5.
    static let basePort = HACluster.freeBasePort(in: 55400..<55500)
    static let cluster = HACluster()

    override class func setUp() {
        super.setUp()
        cluster.start(name: "failover", basePort: basePort)
    }

    override class func tearDown() {
        cluster.destroy()
        super.tearDown()
    }

    func testClassificationOfConnectionFailures() {
        XCTAssertEqual(PostgresError.classify(sqlState: "25006", connectionBad: false), .unavailable)
        for state in ["08006", "08001", "57P01", "57P02", "57P03", "25006"] {
            let e = PostgresError(sqlState: state, message: "x", connectionBad: false)
            XCTAssertTrue(e.isConnectionFailure, state)
        }
        XCTAssertTrue(PostgresError(kind: .unavailable, sqlState: nil, message: "server closed the connection").isConnectionFailure)
        for state in ["57014", "55P03", "53300", "23505", "42601"] {
            let e = PostgresError(sqlState: state, message: "x", connectionBad: false)
            XCTAssertFalse(e.isConnectionFailure, state)
        }
    }

    /// A pooled connection on a server that turned read-only (as an old primary does when it comes back as a
    /// standby) is dropped at its first refused write and the next call connects afresh; a statement timeout is
    /// the statement's failure and keeps the connection.
    func testReadOnlyConnectionIsDroppedAndTimeoutIsNot() throws {
        let conninfo = try Self.cluster.liveConninfo()
        let pool = ConnectionPool(options: ConnectionOptions(conninfo: conninfo, connectTimeoutSeconds: 2,
                                                             statementTimeoutMilliseconds: 500, lockTimeoutMilliseconds: 500),
                                  maxConnections: 1, checkoutTimeoutSeconds: 5)
        defer { pool.close() }
        try pool.execute("CREATE TABLE IF NOT EXISTS readonly_writes (n int)")
        try pool.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        XCTAssertEqual(pool.openConnections, 1)
        XCTAssertThrowsError(try pool.execute("INSERT INTO readonly_writes VALUES (1)")) { error in
            let e = error as? PostgresError
            XCTAssertEqual(e?.sqlState, "25006")
            XCTAssertEqual(e?.kind, .unavailable)
            XCTAssertEqual(e?.isConnectionFailure, true)
        }
        XCTAssertEqual(pool.openConnections, 0, "the read-only connection was dropped")
        try pool.execute("INSERT INTO readonly_writes VALUES (2)")
        XCTAssertEqual(pool.reconnects, 1)
        XCTAssertThrowsError(try pool.execute("SELECT pg_sleep(3)")) { error in
            XCTAssertEqual((error as? PostgresError)?.sqlState, "57014")
            XCTAssertEqual((error as? PostgresError)?.isConnectionFailure, false)
        }
        XCTAssertEqual(pool.openConnections, 1, "a statement timeout keeps the connection")
        try pool.execute("INSERT INTO readonly_writes VALUES (3)")
        XCTAssertEqual(pool.reconnects, 1)
    }

    /// With etcd frozen (SIGSTOP: it holds its sockets but answers nothing) the primary keeps taking writes:
    /// Patroni's failsafe_mode keeps it primary while it reaches its standby. Without it, it would demote itself
    /// to read-only once retry_timeout passed.
    func testPrimaryStaysWritableWhileEtcdIsFrozen() throws {
        let conninfo = try Self.cluster.liveConninfo()
        let pool = ConnectionPool(options: ConnectionOptions(conninfo: conninfo, connectTimeoutSeconds: 2, statementTimeoutMilliseconds: 3_000),
                                  maxConnections: 1, checkoutTimeoutSeconds: 5)
        defer { pool.close() }
        _ = try Self.cluster.run(["wait-primary", "30"])
        try pool.execute("CREATE TABLE IF NOT EXISTS etcd_outage_writes (n int)")
        let pidText = try String(contentsOfFile: Self.cluster.dir + "/etcd.pid", encoding: .utf8)
        guard let etcd = pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)) else { return XCTFail("no etcd pid") }
        XCTAssertEqual(kill(etcd, SIGSTOP), 0)
        defer { kill(etcd, SIGCONT) }
        // ttl + retry_timeout and then some: long past the point where a primary without failsafe is read-only.
        let until = Date().addingTimeInterval(16)
        var n = 0
        while Date() < until {
            n += 1
            XCTAssertNoThrow(try pool.execute("INSERT INTO etcd_outage_writes VALUES ($1)", [String(n)]), "write \(n) with etcd frozen")
            Thread.sleep(forTimeInterval: 0.5)
        }
        XCTAssertGreaterThanOrEqual(n, 20)
        XCTAssertEqual(pool.reconnects, 0, "the primary never went away")
        kill(etcd, SIGCONT)
        _ = try Self.cluster.run(["wait-primary", "30"])
        try Self.cluster.run(["wait-sync", "60"])
    }

    /// Writes run through one pool while the primary is SIGKILLed: they fail, only with connection-level errors,
    /// for at most the failover time; then succeed on the new primary through the same pool; and every write
    /// acknowledged before or during the kill is on the new primary. The old primary then rejoins as a standby.
    func testWritesFollowThePrimaryThroughAFailover() throws {
        let conninfo = try Self.cluster.liveConninfo()
        let options = ConnectionOptions(conninfo: conninfo, connectTimeoutSeconds: 2, statementTimeoutMilliseconds: 3_000,
                                        lockTimeoutMilliseconds: 1_000, tcpUserTimeoutMilliseconds: 3_000)
        let pool = ConnectionPool(options: options, maxConnections: 2, checkoutTimeoutSeconds: 5)
        defer { pool.close() }
        try pool.execute("DROP TABLE IF EXISTS failover_writes")
        try pool.execute("CREATE TABLE failover_writes (n bigint PRIMARY KEY)")
        let oldPrimary = try Self.cluster.run(["primary"]).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(try pool.withConnection { $0.server }, "127.0.0.1:\(try Self.cluster.port(of: oldPrimary))")

        let log = WriteLog()
        let writerDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            log.run(pool: pool, deadline: Date().addingTimeInterval(90))
            writerDone.signal()
        }
        // Let writes be acknowledged (synchronously replicated) before the crash.
        let warmUp = Date().addingTimeInterval(20)
        while log.snapshot().acknowledged.count < 100, Date() < warmUp { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertGreaterThanOrEqual(log.snapshot().acknowledged.count, 100, "writes before the kill")

        let killedAt = Date()
        let killed = try Self.cluster.run(["kill-primary"]).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(killed, oldPrimary)
        log.markKill(at: killedAt)
        XCTAssertEqual(writerDone.wait(timeout: .now() + 100), .success, "the writer stops by its deadline")

        let result = log.snapshot()
        guard let recoveredAt = result.firstSuccessAfterKill else {
            return XCTFail("no write succeeded within 90 s of the kill; failures: \(result.failures.suffix(3))")
        }
        let outage = recoveredAt.timeIntervalSince(killedAt)
        print("failover: writes failed for \(String(format: "%.1f", outage)) s (\(result.failures.count) failed calls), pool reconnects \(pool.reconnects)")
        // ttl 10 s + loop_wait 2 s + promotion: measured about 10 s; the bound leaves room for a loaded machine.
        XCTAssertLessThan(outage, 30, "writes came back within the failover time")
        XCTAssertFalse(result.failures.isEmpty, "the kill was noticed")
        for failure in result.failures {
            guard let e = failure.error as? PostgresError else { XCTFail("not a PostgresError: \(failure.error)"); continue }
            XCTAssertTrue(e.isConnectionFailure, "a connection-level failure: \(e)")
            XCTAssertGreaterThanOrEqual(failure.at.timeIntervalSince(killedAt), -1, "failed only around the kill: \(e)")
            XCTAssertLessThanOrEqual(failure.at, recoveredAt, "no failure after writes came back: \(e)")
        }
        XCTAssertGreaterThanOrEqual(result.acknowledgedAfterKill, 20, "writes go on on the new primary")
        XCTAssertGreaterThanOrEqual(pool.reconnects, 1)

        // The same pool now reaches the new primary, and it holds every acknowledged write.
        let newPrimary = try Self.cluster.run(["wait-primary", "30"]).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotEqual(newPrimary, oldPrimary)
        XCTAssertEqual(try pool.withConnection { $0.server }, "127.0.0.1:\(try Self.cluster.port(of: newPrimary))")
        let stored = Set(try pool.execute("SELECT n FROM failover_writes").rows.compactMap { $0[0].flatMap { Int($0) } })
        let lost = result.acknowledged.subtracting(stored)
        XCTAssertTrue(lost.isEmpty, "acknowledged writes missing on the new primary: \(lost.sorted().prefix(10))")
        XCTAssertFalse(try pool.execute("SELECT pg_is_in_recovery()").rows == [["t"]])

        // The old primary comes back as a standby of the new one and becomes its synchronous standby again.
        try Self.cluster.run(["restart-member", oldPrimary])
        try Self.cluster.run(["wait-sync", "60"])
        XCTAssertEqual(try Self.cluster.run(["primary"]).trimmingCharacters(in: .whitespacesAndNewlines), newPrimary)
        try pool.execute("INSERT INTO failover_writes VALUES (-1)")
    }
}

/// The writer's record: acknowledged keys, failed calls with their time, and when writes came back after the kill.
final class WriteLog: @unchecked Sendable {
    // @unchecked: every field is guarded by `lock`.
    struct Failure {
        let at: Date
        let error: Error
    }

    struct Snapshot {
        var acknowledged: Set<Int> = []
        var failures: [Failure] = []
        var firstSuccessAfterKill: Date?
        var acknowledgedAfterKill = 0
    }

    private let lock = NSLock()
    private var state = Snapshot()
    private var killedAt: Date?

    func markKill(at date: Date) {
        lock.lock()
        killedAt = date
        lock.unlock()
    }

    func snapshot() -> Snapshot {
        lock.lock()
        defer { lock.unlock() }
        return state
    }

    /// Inserts 1, 2, 3, … one at a time until 20 writes succeeded after the kill, or the deadline.
    func run(pool: ConnectionPool, deadline: Date) {
        var n = 0
        while Date() < deadline {
            n += 1
            do {
                try pool.execute("INSERT INTO failover_writes VALUES ($1)", [String(n)])
                let now = Date()
                lock.lock()
                state.acknowledged.insert(n)
                if let killedAt, now > killedAt {
                    if state.firstSuccessAfterKill == nil, !state.failures.isEmpty { state.firstSuccessAfterKill = now }
                    if state.firstSuccessAfterKill != nil { state.acknowledgedAfterKill += 1 }
                }
                let enough = state.acknowledgedAfterKill >= 20
                lock.unlock()
                if enough { return }
                Thread.sleep(forTimeInterval: 0.005)
            } catch {
                lock.lock()
                state.failures.append(Failure(at: Date(), error: error))
                lock.unlock()
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }
}
