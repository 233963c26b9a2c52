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
    static let basePort: Int = {
        let listening = (try? runCommand("/bin/ss", ["-Htln"], timeoutSeconds: 10))?.stdout ?? ""
        let taken = Set(listening.split(separator: "\n").compactMap { line -> Int? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 4, let colon = fields[3].lastIndex(of: ":") else { return nil }
            return Int(fields[3][fields[3].index(after: colon)...])
        })
        return stride(from: 55400, to: 55500, by: 10).first { base in (base..<(base + 6)).allSatisfy { !taken.contains($0) } } ?? 55400
    }()
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
        let conninfo = try Self.cluster.live()
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
        let conninfo = try Self.cluster.live()
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
        let conninfo = try Self.cluster.live()
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

/// One test class's replicated cluster, run through scripts/ha-cluster.sh in a fresh directory under /tmp.
final class HACluster: @unchecked Sendable {
    // @unchecked: XCTest calls the class setUp, the tests and the class tearDown one after another.
    struct ScriptError: Error, CustomStringConvertible {
        let description: String
    }

    static let script: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("scripts/ha-cluster.sh").path
    }()

    private(set) var dir = ""
    private var conninfo: String?
    private var startError: String?
    private var missing: String?

    /// Why Patroni clusters cannot run here (the packages are not installed), or nil.
    static var missingPackages: String? {
        system("command -v patroni >/dev/null 2>&1 && command -v etcd >/dev/null 2>&1") == 0
            ? nil : "patroni or etcd not installed (scripts/install-deps.sh installs the patroni and etcd-server packages)"
    }

    func start(name: String, basePort: Int) {
        if let m = Self.missingPackages { missing = m; return }
        dir = "/tmp/cashier-ha-\(UUID().uuidString.prefix(8))"
        do {
            conninfo = try run(["start", dir, "--name", name, "--base-port", String(basePort), "--members", "2"])
                .trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            startError = "could not start the Patroni cluster: \(error)"
            destroy()
        }
    }

    func destroy() {
        if !dir.isEmpty { _ = try? run(["destroy", dir], inDir: false) }
    }

    /// The multi-host conninfo of the running cluster; skips where the packages are missing, fails where it did not start.
    func live() throws -> String {
        if let conninfo { return conninfo }
        if let missing { throw XCTSkip(missing) }
        let reason = startError ?? "no cluster"
        XCTFail(reason)
        throw ScriptError(description: reason)
    }

    /// The PostgreSQL port of member `name` (from `ha-cluster.sh members`).
    func port(of name: String) throws -> Int {
        for line in try run(["members"]).split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, fields[0] == Substring(name), let port = Int(fields[1]) { return port }
        }
        throw ScriptError(description: "no member \(name)")
    }

    /// Runs `ha-cluster.sh COMMAND DIR ARGS…` and returns its standard output; throws with its standard error.
    ///
    /// system(3) with output in files, not Foundation's Process: the daemons the script starts outlive it.
    @discardableResult
    func run(_ arguments: [String], inDir: Bool = true) throws -> String {
        var args = arguments
        if inDir, arguments.first != "start" { args.insert(dir, at: 1) }
        let capture = "/tmp/ha-cluster-\(UUID().uuidString)"
        defer {
            try? FileManager.default.removeItem(atPath: capture + ".out")
            try? FileManager.default.removeItem(atPath: capture + ".err")
        }
        let quoted = ([Self.script] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let status = system("timeout 180 " + quoted.joined(separator: " ") + " </dev/null >\(capture).out 2>\(capture).err")
        let output = (try? String(contentsOfFile: capture + ".out", encoding: .utf8)) ?? ""
        guard status == 0 else {
            let errors = (try? String(contentsOfFile: capture + ".err", encoding: .utf8)) ?? ""
            throw ScriptError(description: "ha-cluster.sh \(args.joined(separator: " ")) failed (\(status)): \(errors)")
        }
        return output
    }
}
