import CSQLite
import Foundation

/// One write waiting for a shared transaction: the body to run and what became of it.
final class PendingWrite: @unchecked Sendable {
    /// Runs the caller's body; returns the error it threw, nil if it succeeded.
    let run: () -> Error?
    let busyTimeoutMilliseconds: Int32?
    /// False: this write does not need the disk before its caller goes on (see `Database.write`).
    let durable: Bool
    /// Set when the shared transaction failed after (or before) the body ran: the body's work is undone.
    var transactionFailure: Error?
    var done = false

    init(busyTimeoutMilliseconds: Int32?, durable: Bool, run: @escaping () -> Error?) {
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.durable = durable
        self.run = run
    }
}

/// How many writes were committed in how many shared transactions, since the connection opened.
public struct CommitStatistics: Sendable, Equatable {
    public var writes = 0
    public var transactions = 0
}

/// The queue of writes for one connection and who is committing them. Guarded by its condition's lock.
final class CommitQueue: @unchecked Sendable {
    let condition = NSCondition()
    var pending: [PendingWrite] = []
    var leaderActive = false
    var statistics = CommitStatistics()
    /// Most writes one shared transaction takes, so a long queue does not make one commit wait for all.
    static let maximumBatch = 64

    /// Takes the next batch: the oldest pending write and the writes after it that want the same busy
    /// timeout (a write that must fail fast is never held up by one that may wait, nor the other way).
    func takeBatch() -> [PendingWrite] {
        guard let first = pending.first else { return [] }
        var batch: [PendingWrite] = []
        var rest: [PendingWrite] = []
        for entry in pending {
            if batch.count < Self.maximumBatch && entry.busyTimeoutMilliseconds == first.busyTimeoutMilliseconds {
                batch.append(entry)
            } else {
                rest.append(entry)
            }
        }
        pending = rest
        return batch
    }
}

extension Database {
    /// Runs `body` as one atomic write and returns once it is durably committed (group commit).
    ///
    /// Writes that arrive while another thread is committing wait and then go into one shared
    /// transaction, each under its own savepoint: a body that throws is rolled back alone and its caller
    /// gets its error; the others commit together with one fsync. If the shared transaction itself fails
    /// (BEGIN cannot get the lock, the disk fails at COMMIT), every write in it fails with that error.
    /// The first waiting caller commits for everyone (no thread of its own), so a lone write costs what a
    /// plain transaction costs. Inside a transaction or write on the same thread, `body` simply runs under
    /// a savepoint of it.
    ///
    /// - Parameters:
    ///   - busyTimeoutMilliseconds: how long BEGIN waits for another connection's lock for this
    ///     write; nil uses the connection's own. Writes are only batched with writes that ask the same.
    ///   - durable: false lets the commit return before the disk has the write (`synchronous=NORMAL` for
    ///     that one commit, when no durable write shares it): the write survives a crash of the process, and
    ///     a power cut once a later flushed commit or checkpoint of this file has synced the log (the
    ///     background checkpointer does at least once a second). Only for records that can be rebuilt
    ///     from elsewhere. Ignored on a connection opened without `synchronousFull`.
    public func write<T>(busyTimeoutMilliseconds: Int32? = nil, durable: Bool = true, _ body: () throws -> T) throws -> T {
        if let nested = try ifLockHeldByThisThread({ try savepoint(body) }) { return nested }
        return try withoutActuallyEscaping(body) { body in
            var outcome: Result<T, Error>?
            let entry = PendingWrite(busyTimeoutMilliseconds: busyTimeoutMilliseconds, durable: durable) {
                do {
                    outcome = .success(try body())
                    return nil
                } catch {
                    outcome = .failure(error)
                    return error
                }
            }
            waitUntilCommitted(entry)
            if let failure = entry.transactionFailure { throw failure }
            guard let outcome else { throw SQLiteError(code: SQLITE_MISUSE, message: "write was not run") }
            return try outcome.get()
        }
    }

    /// Writes and shared transactions so far (a transaction that failed counts too).
    public var commitStatistics: CommitStatistics {
        commitQueue.condition.lock()
        defer { commitQueue.condition.unlock() }
        return commitQueue.statistics
    }

    /// Queues `entry`, then either commits a batch as leader or waits for the leader to commit it.
    private func waitUntilCommitted(_ entry: PendingWrite) {
        let queue = commitQueue
        queue.condition.lock()
        queue.pending.append(entry)
        while !entry.done {
            if queue.leaderActive {
                queue.condition.wait()
                continue
            }
            queue.leaderActive = true
            let batch = queue.takeBatch()
            queue.statistics.writes += batch.count
            queue.statistics.transactions += 1
            queue.condition.unlock()
            commit(batch)
            queue.condition.lock()
            for e in batch { e.done = true }
            queue.leaderActive = false
            queue.condition.broadcast()
        }
        queue.condition.unlock()
    }

    /// Runs every write of `batch` under its own savepoint inside one IMMEDIATE transaction and commits,
    /// waiting for the disk unless no write in the batch needs it.
    private func commit(_ batch: [PendingWrite]) {
        withLock {
            useBusyTimeout(batch.first?.busyTimeoutMilliseconds)
            defer { useBusyTimeout(nil) }
            let flush = batch.contains { $0.durable }
            do {
                try setCommitsFlush(flush)
            } catch {
                // Never commit a durable write without its flush: fail the batch instead.
                fail(batch, error)
                return
            }
            // Back to flushing at once, so no other way of committing on this connection inherits the lower setting.
            defer { if !flush { try? setCommitsFlush(true) } }
            do {
                try run("BEGIN IMMEDIATE")
            } catch {
                fail(batch, error)
                return
            }
            for (i, e) in batch.enumerated() {
                do {
                    try run("SAVEPOINT batched")
                    let bodyError = e.run()
                    guard isInTransaction else {
                        // SQLite rolled the whole transaction back (an I/O error, a full disk): undo everyone.
                        let error = bodyError ?? SQLiteError(code: SQLITE_ABORT, message: "the shared transaction was rolled back")
                        for earlier in batch[..<i] { earlier.transactionFailure = error }
                        if bodyError == nil { e.transactionFailure = error }
                        for later in batch[(i + 1)...] { later.transactionFailure = error }
                        return
                    }
                    if bodyError != nil { try run("ROLLBACK TO batched") }
                    try run("RELEASE batched")
                } catch {
                    fail(batch, error)
                    rollbackIfOpen()
                    return
                }
            }
            do {
                try run("COMMIT")
            } catch {
                fail(batch, error)
                rollbackIfOpen()
            }
        }
    }

    /// Sets `synchronous` to FULL (`flush`) or NORMAL on a connection opened with `synchronousFull`, if it is not so already.
    func setCommitsFlush(_ flush: Bool) throws {
        guard flushesCommits, flush != commitsFlushNow else { return }
        try exec("PRAGMA synchronous=\(flush ? "FULL" : "NORMAL")")
        commitsFlushNow = flush
    }

    /// Marks every write of `batch` as failed with `error` (the shared transaction did not commit).
    private func fail(_ batch: [PendingWrite], _ error: Error) {
        for write in batch { write.transactionFailure = error }
    }

    private func rollbackIfOpen() {
        if isInTransaction { _ = try? exec("ROLLBACK") }
    }
}
