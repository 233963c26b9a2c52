import CashierCore
import CashierStorage
import Foundation
import SQLite

/// How many single-row insert transactions per second one SQLite connection commits, with the
/// service's settings (WAL, synchronous=FULL unless `synchronousFull` is false).
///
/// `prepared` reuses one compiled statement (the storage limit); otherwise every insert goes through
/// `Database.run`, as the service's stores do (since the first round of fixes it takes the compiled
/// statement from its cache; before, it compiled one per call).
func sqliteInsertRate(directory: String, seconds: Double, synchronousFull: Bool = true, prepared: Bool = true) throws -> Double {
    let path = directory + "/insert-\(synchronousFull ? "full" : "normal")-\(prepared ? "prepared" : "run").sqlite"
    for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    let db = try Database(.path(path), options: Database.Options(synchronousFull: synchronousFull))
    try db.exec("CREATE TABLE nonces (device_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (device_id, nonce))")
    let sql = "INSERT INTO nonces (device_id, nonce, expires_at) VALUES (?, ?, ?)"
    let statement = try db.prepare(sql)
    var n = 0
    let start = monotonicSeconds()
    let end = start + seconds
    while monotonicSeconds() < end {
        let values: [SQLiteValue] = [.text("bench-device"), .text(Signing.makeNonce()), .integer(Int64(n))]
        if prepared {
            try statement.reset()
            try statement.bind(values)
            while try statement.step() {}
        } else {
            try db.run(sql, values)
        }
        n += 1
    }
    return Double(n) / (monotonicSeconds() - start)
}

/// Writes `count` paid orders of one store straight into the group files (spread evenly), one
/// transaction per 50,000 rows, without going through HTTP. Numbers use instance 999 so they can never
/// collide with the live service's (instance 1), and creation times lie in the past so new sales stay on top.
func seedOrders(groupFiles: [(tag: Int, path: String)], store: StoreInfo, deviceID: String, count: Int, firstIndex: Int) throws {
    let sql = """
        INSERT INTO orders (order_no, merchant_id, store_id, device_id, amount, currency, status, refunded_amount, items,
            client_ref, payment_code, channel_txn, failure_reason, failure_message, created_at, updated_at, paid_at)
        VALUES (?, ?, ?, ?, ?, ?, 'paid', 0, '[]', NULL, '990000000000000000', ?, NULL, NULL, ?, ?, ?)
        """
    let baseSecond = Int64(Date().timeIntervalSince1970) - 40 * 86_400
    for (slot, group) in groupFiles.enumerated() {
        _ = try SQLiteOrderGroupStore(path: group.path)   // creates the schema if the file is new
        let db = try Database(.path(group.path))
        let insert = try db.prepare(sql)
        guard let tag = GroupTag(group.tag) else { throw BenchError("bad group tag \(group.tag)") }
        var i = firstIndex + slot
        let last = firstIndex + count
        while i < last {
            try db.transaction(.immediate) {
                var inBatch = 0
                while i < last && inBatch < 50_000 {
                    let second = baseSecond + Int64(i / 100_000)
                    let number = OrderNumber(epochSeconds: second, instance: 999, sequence: i % 100_000, group: tag)
                    let at = second * 1000 + Int64(i % 1000)
                    try insert.reset()
                    try insert.bind([.text(number.digits), .text(store.merchantId), .text(store.storeId), .text(deviceID),
                                     .integer(Int64(100 + i % 10_000)), .text(store.currency), .text("T\(i)"),
                                     .integer(at), .integer(at), .integer(at)])
                    while try insert.step() {}
                    i += groupFiles.count
                    inBatch += 1
                }
            }
        }
        // Leave no seeding work in the WAL for the service's first writes to checkpoint.
        try db.exec("PRAGMA wal_checkpoint(TRUNCATE)")
    }
}

/// fdatasync latencies of 4 KiB overwrites in a preallocated 1 MiB file, the way SQLite reuses its
/// write-ahead log: one overwrite + fdatasync every `DiskProbe.intervalMicroseconds`, for `seconds`.
/// Each fdatasync is one sample.
func fsyncLatencies(directory: String, seconds: Double) throws -> Latencies {
    let path = directory + "/fsync-probe-\(UInt32.random(in: 0...UInt32.max)).dat"
    let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw BenchError("cannot create \(path)") }
    defer {
        close(fd)
        unlink(path)
    }
    let size = 1 << 20
    let zeros = [UInt8](repeating: 0, count: size)
    guard pwrite(fd, zeros, size, 0) == size, fsync(fd) == 0 else { throw BenchError("cannot preallocate \(path)") }
    let page = [UInt8](repeating: 7, count: 4_096)
    var latencies = Latencies()
    var offset = 0
    let end = monotonicSeconds() + seconds
    while monotonicSeconds() < end {
        guard pwrite(fd, page, page.count, off_t(offset)) == page.count else { throw BenchError("write to \(path) failed") }
        offset = (offset + page.count) % size
        let t0 = monotonicSeconds()
        guard fdatasync(fd) == 0 else { throw BenchError("fdatasync of \(path) failed") }
        latencies.add((monotonicSeconds() - t0) * 1000)
        usleep(DiskProbe.intervalMicroseconds)
    }
    return latencies
}

/// `fsyncLatencies` on a thread of its own, started at once; `wait()` returns its latencies.
final class DiskProbe: @unchecked Sendable {
    // @unchecked: `result` is written by the probe thread before `done` is signalled, read only after.
    /// Sparse enough (about 250 flushes/s) not to be a large share of the disk's work beside a sale load,
    /// dense enough for a p99 of thousands of samples in a 15 s run.
    static let intervalMicroseconds: UInt32 = 4_000
    static let how = "4 KiB overwrite in a preallocated 1 MiB file (as SQLite reuses its log), then fdatasync, one every 4 ms"
    private let done = DispatchSemaphore(value: 0)
    private var result: Latencies?

    init(directory: String, seconds: Double) {
        let thread = Thread { [self] in
            result = try? fsyncLatencies(directory: directory, seconds: seconds)
            done.signal()
        }
        thread.start()
    }

    func wait() -> Latencies? {
        done.wait()
        return result
    }
}
