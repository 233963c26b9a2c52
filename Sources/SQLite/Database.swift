import CSQLite
import Foundation

/// One SQLite connection.
///
/// `@unchecked Sendable` because the only mutable state is the C handle, and every use of it (open,
/// statements, transactions, close) happens while holding `lock`; SQLite's own error message is
/// per connection, so holding the lock also keeps `sqlite3_errmsg` matched to the failing call.
/// The lock is recursive so statements can run inside `transaction`, which holds it throughout.
public final class Database: @unchecked Sendable {
    public enum Location: Sendable, Equatable {
        case path(String)
        case memory
    }

    public struct Options: Sendable {
        /// How long a call waits for another connection's lock before failing with `SQLITE_BUSY`.
        public var busyTimeoutMilliseconds: Int32
        /// Write-ahead log: readers never wait for the writer.
        public var walJournal: Bool
        /// `synchronous=FULL`: a committed transaction survives power loss.
        public var synchronousFull: Bool
        /// Opens an existing file for reading only (the journal settings are the writer's business).
        public var readOnly: Bool
        /// Who copies the write-ahead log back into the database file.
        public var checkpoints: Checkpoints

        public init(busyTimeoutMilliseconds: Int32 = 5_000, walJournal: Bool = true, synchronousFull: Bool = true,
                    readOnly: Bool = false, checkpoints: Checkpoints = .onCommit) {
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            self.walJournal = walJournal
            self.synchronousFull = synchronousFull
            self.readOnly = readOnly
            self.checkpoints = checkpoints
        }
    }

    public enum Checkpoints: Sendable, Equatable {
        /// SQLite's default: the commit that grows the log past 1,000 pages checkpoints, in its caller's time.
        case onCommit
        /// A thread of this connection's own checkpoints (passively) when a commit leaves 200 pages in
        /// the log, and at least every so many milliseconds, so no request waits for a checkpoint's fsync.
        case inBackground(everyMilliseconds: Int)
        /// This connection never checkpoints; another connection to the file does it.
        case elsewhere
    }

    public enum TransactionKind: String, Sendable {
        case deferred = "DEFERRED"
        /// Takes the write lock at BEGIN, so a read-then-write cannot be overtaken by another writer.
        case immediate = "IMMEDIATE"
        case exclusive = "EXCLUSIVE"
    }

    public let location: Location
    private let lock = NSRecursiveLock()
    /// How many times the current owner of `lock` holds it; only read or written while holding `lock`.
    private var lockDepth = 0
    private var handle: OpaquePointer?
    /// The busy timeout outside `write` batches that ask for another; guarded by `lock`.
    private var defaultBusyTimeoutMilliseconds: Int32
    /// Set for `.inBackground` checkpoints; stopped by `close()`.
    private var checkpointer: BackgroundCheckpointer?
    /// Writes waiting for the next shared transaction (see `write`).
    let commitQueue = CommitQueue()
    /// `synchronous=FULL` was asked for: commits wait for the disk unless every write in them says they need not.
    let flushesCommits: Bool
    /// Whether the connection's `synchronous` is FULL right now (`write` lowers it for batches of
    /// writes that are not durable); guarded by `lock`.
    var commitsFlushNow: Bool

    /// Opens (creating if needed) the database and applies the options plus `foreign_keys=ON`.
    public init(_ location: Location, options: Options = Options()) throws {
        self.location = location
        defaultBusyTimeoutMilliseconds = options.busyTimeoutMilliseconds
        flushesCommits = options.synchronousFull && !options.readOnly
        commitsFlushNow = flushesCommits
        let path: String
        switch location {
        case .path(let p): path = p
        case .memory: path = ":memory:"
        }
        var h: OpaquePointer?
        let access = options.readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        let rc = sqlite3_open_v2(path, &h, access | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let opened = h else {
            let message = h.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open \(path)"
            sqlite3_close_v2(h)
            throw SQLiteError(code: rc, message: message)
        }
        handle = opened
        sqlite3_extended_result_codes(opened, 1)
        sqlite3_busy_timeout(opened, options.busyTimeoutMilliseconds)
        do {
            if !options.readOnly {
                if options.walJournal, location != .memory { try exec("PRAGMA journal_mode=WAL") }
                try exec("PRAGMA synchronous=\(options.synchronousFull ? "FULL" : "NORMAL")")
                if options.checkpoints != .onCommit { try exec("PRAGMA wal_autocheckpoint=0") }
                if case .inBackground(let interval) = options.checkpoints, case .path(let path) = location {
                    let checkpointer = try BackgroundCheckpointer(path: path, options: options, intervalMilliseconds: interval)
                    checkpointer.watch(opened)
                    self.checkpointer = checkpointer
                }
            }
            try exec("PRAGMA foreign_keys=ON")
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    /// Closes the connection; later calls fail with `SQLITE_MISUSE`.
    public func close() {
        withLock {
            if let h = handle, checkpointer != nil { sqlite3_wal_hook(h, nil, nil) }
            checkpointer?.stop()
            for stmt in statementCache.values { sqlite3_finalize(stmt) }
            statementCache = [:]
            if let h = handle { sqlite3_close_v2(h) }
            handle = nil
        }
    }

    /// Changes the busy timeout of this connection.
    public func setBusyTimeout(milliseconds: Int32) {
        withLock {
            defaultBusyTimeoutMilliseconds = milliseconds
            if let h = handle { sqlite3_busy_timeout(h, milliseconds) }
        }
    }

    /// Runs one or more SQL statements that return nothing of interest.
    public func exec(_ sql: String) throws {
        try withHandle { h in try check(sqlite3_exec(h, sql, nil, nil, nil)) }
    }

    /// Compiles one statement.
    public func prepare(_ sql: String) throws -> Statement {
        try withHandle { h in
            var stmt: OpaquePointer?
            try check(sqlite3_prepare_v2(h, sql, -1, &stmt, nil))
            guard let stmt else { throw SQLiteError(code: SQLITE_MISUSE, message: "empty statement: \(sql)") }
            return Statement(database: self, handle: stmt)
        }
    }

    /// Runs `sql` with `bindings` to completion; returns the number of rows changed.
    @discardableResult
    public func run(_ sql: String, _ bindings: [SQLiteValue] = []) throws -> Int {
        try withCachedStatement(sql) { s in
            try s.bind(bindings)
            while try s.step() {}
            return changes
        }
    }

    /// Runs a query and maps every row with `row`.
    public func query<T>(_ sql: String, _ bindings: [SQLiteValue] = [], row: (Statement) throws -> T) throws -> [T] {
        try withCachedStatement(sql) { s in
            try s.bind(bindings)
            var out: [T] = []
            while try s.step() { out.append(try row(s)) }
            return out
        }
    }

    /// Compiled statements of `run` and `query`, by SQL text: compiling on every call cost about a millisecond
    /// of CPU per sale (docs/PERFORMANCE.md). Finalized by `close()`.
    private var statementCache: [String: OpaquePointer] = [:]
    /// Cached statements being stepped right now; a nested call with the same SQL gets a fresh statement.
    private var statementsInUse: Set<String> = []

    /// Runs `body` with the cached compiled statement for `sql` (compiling it the first time), then resets it
    /// and clears its bindings so it is ready for the next call.
    private func withCachedStatement<T>(_ sql: String, _ body: (Statement) throws -> T) throws -> T {
        try withHandle { h in
            if statementsInUse.contains(sql) { return try body(try prepare(sql)) }
            statementsInUse.insert(sql)
            defer { statementsInUse.remove(sql) }
            let stmt: OpaquePointer
            if let cached = statementCache[sql] {
                stmt = cached
            } else {
                var compiled: OpaquePointer?
                try check(sqlite3_prepare_v3(h, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &compiled, nil))
                guard let compiled else { throw SQLiteError(code: SQLITE_MISUSE, message: "empty statement: \(sql)") }
                statementCache[sql] = compiled
                stmt = compiled
            }
            defer {
                sqlite3_reset(stmt)
                sqlite3_clear_bindings(stmt)
            }
            return try body(Statement(database: self, handle: stmt, owned: false))
        }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE on this connection.
    public var changes: Int {
        withLock { handle.map { Int(sqlite3_changes($0)) } ?? 0 }
    }

    /// Runs `body` in a transaction: committed if it returns, rolled back if it throws.
    ///
    /// Other threads using this connection wait until the transaction ends. Called inside another
    /// transaction or `write` on the same thread, `body` runs under a savepoint of the outer one.
    public func transaction<T>(_ kind: TransactionKind = .deferred, _ body: () throws -> T) throws -> T {
        try withLock {
            if isInTransaction { return try savepoint(body) }
            try setCommitsFlush(true)
            return try bracketed(begin: "BEGIN \(kind.rawValue)", end: "COMMIT", undo: ["ROLLBACK"], body)
        }
    }

    // MARK: - Internals shared with Statement

    @discardableResult
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        lockDepth += 1
        defer {
            lockDepth -= 1
            lock.unlock()
        }
        return try body()
    }

    /// Runs `body` holding `lock` if this thread holds it already; nil (without running `body`) otherwise.
    func ifLockHeldByThisThread<T>(_ body: () throws -> T) rethrows -> T? {
        // A recursive lock's try() succeeds at once for its owner; lockDepth tells the owner from a free lock.
        guard lock.try() else { return nil }
        defer { lock.unlock() }
        guard lockDepth > 0 else { return nil }
        return try withLock(body)
    }

    /// Runs `body` between SAVEPOINT and RELEASE, rolling back to the savepoint if it throws.
    func savepoint<T>(_ body: () throws -> T) throws -> T {
        try withLock {
            try bracketed(begin: "SAVEPOINT nested", end: "RELEASE nested", undo: ["ROLLBACK TO nested", "RELEASE nested"], body)
        }
    }

    /// Runs `begin`, then `body`, then `end`; if either of the last two throws and a transaction is still
    /// open, runs the `undo` statements (their own failures ignored) and rethrows.
    private func bracketed<T>(begin: String, end: String, undo: [String], _ body: () throws -> T) throws -> T {
        try run(begin)
        do {
            let result = try body()
            try run(end)
            return result
        } catch {
            if isInTransaction, let h = handle {
                for sql in undo { sqlite3_exec(h, sql, nil, nil, nil) }
            }
            throw error
        }
    }

    /// Sets the busy timeout for the next statements, or back to the connection's own with nil.
    func useBusyTimeout(_ milliseconds: Int32?) {
        withLock { if let h = handle { sqlite3_busy_timeout(h, milliseconds ?? defaultBusyTimeoutMilliseconds) } }
    }

    var isInTransaction: Bool {
        withLock { handle.map { sqlite3_get_autocommit($0) == 0 } ?? false }
    }

    @discardableResult
    func withHandle<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        try withLock {
            guard let h = handle else { throw SQLiteError(code: SQLITE_MISUSE, message: "database is closed") }
            return try body(h)
        }
    }

    /// The single place C result codes become Swift errors; returns `rc` when it is not an error.
    @discardableResult
    func check(_ rc: Int32) throws -> Int32 {
        switch rc {
        case SQLITE_OK, SQLITE_ROW, SQLITE_DONE:
            return rc
        default:
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "database is closed"
            throw SQLiteError(code: rc, message: message)
        }
    }
}
