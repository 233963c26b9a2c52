import Foundation
import SQLite
import XCTest

/// `Database.write`: concurrent writes share commits, yet each stays atomic and keeps its own outcome.
final class GroupCommitTests: XCTestCase {
    private var dir: TempDirectory!
    private var path: String { dir.file("commit.sqlite") }

    override func setUpWithError() throws {
        dir = try TempDirectory()
        let db = try Database(.path(path))
        try db.exec("CREATE TABLE rows (id INTEGER PRIMARY KEY, writer INTEGER NOT NULL)")
    }
    override func tearDown() { dir.remove() }

    private func count(_ db: Database, _ sql: String = "SELECT count(*) FROM rows") throws -> Int {
        Int(try db.query(sql) { $0.int64(0) }.first ?? -1)
    }

    func testConcurrentWritesAreAllCommittedInFewerTransactions() throws {
        let db = try Database(.path(path))
        let threads = 8, perThread = 150
        let failures = Counter()
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            for i in 0..<perThread {
                do {
                    try db.write { _ = try db.run("INSERT INTO rows (id, writer) VALUES (?, ?)", [.integer(Int64(t * 10_000 + i)), .integer(Int64(t))]) }
                } catch { failures.add() }
            }
        }
        XCTAssertEqual(failures.value, 0)
        // Another connection sees every row: each write was committed before it returned.
        XCTAssertEqual(try count(try Database(.path(path))), threads * perThread)
        let stats = db.commitStatistics
        XCTAssertEqual(stats.writes, threads * perThread)
        XCTAssertLessThan(stats.transactions, stats.writes, "writers waiting on one fsync must share the next commit")
    }

    func testAFailingWriteIsRolledBackAloneAndGetsItsOwnError() throws {
        struct Refused: Error, Equatable { let id: Int64 }
        let db = try Database(.path(path))
        try db.write { _ = try db.run("INSERT INTO rows (id, writer) VALUES (0, 0)") }
        let outcomes = Outcomes()
        DispatchQueue.concurrentPerform(iterations: 6) { t in
            for i in 0..<100 {
                let id = Int64(1 + t * 1_000 + i)
                do {
                    try db.write {
                        _ = try db.run("INSERT INTO rows (id, writer) VALUES (?, ?)", [.integer(id), .integer(Int64(t))])
                        switch i % 3 {
                        case 1: throw Refused(id: id)  // its own insert must disappear
                        case 2: _ = try db.run("INSERT INTO rows (id, writer) VALUES (0, 0)")  // duplicate key
                        default: break
                        }
                    }
                    outcomes.record(id, "ok")
                } catch let r as Refused {
                    outcomes.record(id, r.id == id ? "refused" : "wrong error")
                } catch let e as SQLiteError where e.isDuplicateKey {
                    outcomes.record(id, "duplicate")
                } catch {
                    outcomes.record(id, "other: \(error)")
                }
            }
        }
        let check = try Database(.path(path))
        for (id, outcome) in outcomes.all {
            let present = try count(check, "SELECT count(*) FROM rows WHERE id = \(id)") == 1
            switch (id - 1) % 1_000 % 3 {
            case 0: XCTAssertEqual(outcome, "ok"); XCTAssertTrue(present, "row \(id) committed")
            case 1: XCTAssertEqual(outcome, "refused"); XCTAssertFalse(present, "row \(id) rolled back")
            default: XCTAssertEqual(outcome, "duplicate"); XCTAssertFalse(present, "row \(id) rolled back")
            }
        }
        XCTAssertEqual(outcomes.all.count, 600)
    }

    func testWritesNestInsideTransactionsAndWritesOnTheSameThread() throws {
        let db = try Database(.path(path))
        try db.write {
            _ = try db.run("INSERT INTO rows (id, writer) VALUES (1, 1)")
            try db.write { _ = try db.run("INSERT INTO rows (id, writer) VALUES (2, 1)") }
            XCTAssertThrowsError(try db.write {
                _ = try db.run("INSERT INTO rows (id, writer) VALUES (3, 1)")
                _ = try db.run("INSERT INTO rows (id, writer) VALUES (1, 1)")
            })
        }
        try db.transaction(.immediate) {
            try db.write { _ = try db.run("INSERT INTO rows (id, writer) VALUES (4, 1)") }
            try db.transaction { _ = try db.run("INSERT INTO rows (id, writer) VALUES (5, 1)") }
        }
        XCTAssertEqual(try db.query("SELECT id FROM rows ORDER BY id") { $0.int64(0) }, [1, 2, 4, 5])
    }

    func testALockedFileFailsTheWholeBatchWithBusyWithinItsTimeout() throws {
        let holder = try Database(.path(path))
        try holder.exec("BEGIN IMMEDIATE")
        defer { _ = try? holder.exec("ROLLBACK") }
        let db = try Database(.path(path), options: .init(busyTimeoutMilliseconds: 5_000))
        let started = Date()
        XCTAssertThrowsError(try db.write(busyTimeoutMilliseconds: 20) { _ = try db.run("INSERT INTO rows (id, writer) VALUES (9, 9)") }) {
            XCTAssertTrue(($0 as? SQLiteError)?.isUnavailable ?? false, "\($0)")
        }
        // The batch's timeout was used, not the connection's 5 s.
        XCTAssertLessThan(Date().timeIntervalSince(started), 2.5)
        try holder.exec("ROLLBACK")
        try db.write { _ = try db.run("INSERT INTO rows (id, writer) VALUES (9, 9)") }
        XCTAssertEqual(try count(db), 1)
    }

    /// The `synchronous` level a commit made now would use: 2 is FULL (flushed), 1 NORMAL.
    private static func synchronousLevel(_ db: Database) throws -> Int64 {
        try db.query("PRAGMA synchronous") { $0.int64(0) }.first ?? -1
    }

    func testAWriteThatNeedNotBeDurableSkipsTheFlushOnlyWhenNoDurableWriteSharesItsCommit() throws {
        let db = try Database(.path(path))
        XCTAssertEqual(try db.write(durable: false) { try Self.synchronousLevel(db) }, 1, "a lone deferred write commits without a flush")
        XCTAssertEqual(try Self.synchronousLevel(db), 2, "the connection flushes again after it")
        XCTAssertEqual(try db.write { try Self.synchronousLevel(db) }, 2)
        _ = try db.write(durable: false) { try db.run("INSERT INTO rows (id, writer) VALUES (1, 0)") }
        XCTAssertEqual(try db.transaction { try Self.synchronousLevel(db) }, 2, "a plain transaction after it is flushed")
        XCTAssertEqual(try count(try Database(.path(path))), 1, "the deferred write is committed: another connection reads it")

        // Durable and deferred writes from many threads share commits; a durable one never goes without its flush.
        let levelsOfDurableWrites = Outcomes(), failures = Counter()
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            for i in 0..<100 {
                let id = Int64(1_000 + t * 1_000 + i), durable = (t + i) % 2 == 0
                do {
                    try db.write(durable: durable) {
                        try db.run("INSERT INTO rows (id, writer) VALUES (?, ?)", [.integer(id), .integer(Int64(t))])
                        if durable { levelsOfDurableWrites.record(id, String(try Self.synchronousLevel(db))) }
                    }
                } catch { failures.add() }
            }
        }
        XCTAssertEqual(failures.value, 0)
        XCTAssertEqual(levelsOfDurableWrites.all.count, 400)
        XCTAssertEqual(Set(levelsOfDurableWrites.all.values), ["2"], "every commit holding a durable write is flushed")
        XCTAssertEqual(try count(try Database(.path(path))), 801)
        XCTAssertEqual(try Self.synchronousLevel(db), 2)

        // A connection opened without FULL is left as it is.
        let relaxed = try Database(.path(dir.file("relaxed.sqlite")), options: .init(synchronousFull: false))
        XCTAssertEqual(try relaxed.write { try Self.synchronousLevel(relaxed) }, 1)
        XCTAssertEqual(try relaxed.write(durable: false) { try Self.synchronousLevel(relaxed) }, 1)
    }
}

/// `Checkpoints.inBackground`: the log is copied into the database file without any writer doing it.
final class BackgroundCheckpointTests: XCTestCase {
    private func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
    }

    private func fill(_ db: Database) throws {
        try db.exec("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
        for batch in 0..<20 {
            try db.write {
                for i in 0..<100 {
                    try db.run("INSERT INTO filler (id, payload) VALUES (?, ?)", [.integer(Int64(batch * 100 + i)), .blob([UInt8](repeating: 7, count: 400))])
                }
            }
        }
    }

    func testACheckpointThreadCopiesTheLogWhileTheWriterNeverDoes() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let background = dir.file("background.sqlite"), none = dir.file("elsewhere.sqlite")
        let withThread = try Database(.path(background), options: .init(checkpoints: .inBackground(everyMilliseconds: 50)))
        let withoutAny = try Database(.path(none), options: .init(checkpoints: .elsewhere))
        try fill(withThread)
        try fill(withoutAny)
        // About 800 KB of rows: a checkpoint moves them into the database file itself.
        let deadline = Date().addingTimeInterval(10)
        while fileSize(background) < 500_000 && Date() < deadline { usleep(20_000) }
        XCTAssertGreaterThan(fileSize(background), 500_000, "the checkpoint thread copied the log into the file")
        XCTAssertLessThan(fileSize(none), 100_000, "a writer with checkpoints elsewhere leaves everything in the log")
        XCTAssertGreaterThan(fileSize(none + "-wal"), 500_000)
        withThread.close()  // stops the thread; returns
        XCTAssertEqual(try withoutAny.query("SELECT count(*) FROM filler") { $0.int64(0) }, [2_000])
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var value: Int { lock.lock(); defer { lock.unlock() }; return n }
}

private final class Outcomes: @unchecked Sendable {
    private let lock = NSLock()
    private var map: [Int64: String] = [:]
    func record(_ id: Int64, _ outcome: String) { lock.lock(); map[id] = outcome; lock.unlock() }
    var all: [Int64: String] { lock.lock(); defer { lock.unlock() }; return map }
}
