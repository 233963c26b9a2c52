import CashierCore
import Foundation
import SQLite

/// The local journal (SQLite): every sale and refund as its state machine's latest snapshot, so a
/// restarted client finishes what it started and a retried refund reuses its reference.
public final class Journal: @unchecked Sendable {
    // @unchecked: the database handle is only used while `lock` is held.
    private let lock = NSLock()
    private let db: Database

    public init(path: String) throws {
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        db = try Database(.path(path))
        try db.exec("""
            CREATE TABLE IF NOT EXISTS sales (
                id TEXT PRIMARY KEY, snapshot TEXT NOT NULL, final INTEGER NOT NULL, updated_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS probe_results (
                domain TEXT PRIMARY KEY, latency_ms INTEGER NOT NULL, at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS order_numbers (
                order_no TEXT PRIMARY KEY, valid_until INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS refunds (
                ref TEXT PRIMARY KEY, order_no TEXT NOT NULL, amount INTEGER NOT NULL, snapshot TEXT NOT NULL,
                final INTEGER NOT NULL, updated_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS signed_in (
                id INTEGER PRIMARY KEY CHECK (id = 1), staff TEXT NOT NULL, at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS receipts (
                order_no TEXT PRIMARY KEY, printed_at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS shift (
                id INTEGER PRIMARY KEY CHECK (id = 1), shift TEXT NOT NULL, at INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS cash_sales (
                id TEXT PRIMARY KEY, snapshot TEXT NOT NULL, waiting INTEGER NOT NULL, amount INTEGER NOT NULL,
                taken_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
            """)
    }

    private func now() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: Probe results kept for the next run

    /// Keeps the latest good probe result of a domain (its base URL).
    public func saveProbeResult(domain: String, latencyMs: Int64, atMs: Int64) throws {
        lock.lock(); defer { lock.unlock() }
        _ = try db.run("INSERT INTO probe_results (domain, latency_ms, at) VALUES (?, ?, ?) "
                       + "ON CONFLICT(domain) DO UPDATE SET latency_ms = excluded.latency_ms, at = excluded.at",
                       [.text(domain), .integer(latencyMs), .integer(atMs)])
    }

    /// The most recent good probe result among `domains`, if any.
    public func latestProbeResult(among domains: [String]) throws -> (domain: String, latencyMs: Int64, atMs: Int64)? {
        lock.lock(); defer { lock.unlock() }
        return try db.query("SELECT domain, latency_ms, at FROM probe_results ORDER BY at DESC") {
            ($0.string(0), $0.int64(1), $0.int64(2))
        }.first { domains.contains($0.0) }
    }

    // MARK: Order numbers for one-call sales

    /// Keeps numbers the service gave out, usable until `validUntil` (Unix ms).
    public func addOrderNumbers(_ numbers: [OrderNumber], validUntil: Int64) throws {
        lock.lock(); defer { lock.unlock() }
        try db.write {
            for n in numbers {
                _ = try db.run("INSERT OR IGNORE INTO order_numbers (order_no, valid_until) VALUES (?, ?)",
                               [.text(n.digits), .integer(validUntil)])
            }
        }
    }

    /// Takes up to `count` numbers still valid at `now` for one sale, from as many different groups as
    /// there are, and forgets them (a number serves one sale only, whatever becomes of it). Expired ones
    /// are dropped. The newest first: the service gives numbers only in groups that take orders at the
    /// time, so the latest reflect the groups' health best (a group back from an outage is used as soon
    /// as its numbers come, not after the stock from the outage is used up).
    public func takeOrderNumbers(_ count: Int, now: Int64) throws -> [OrderNumber] {
        lock.lock(); defer { lock.unlock() }
        return try db.write {
            _ = try db.run("DELETE FROM order_numbers WHERE valid_until <= ?", [.integer(now)])
            let all = try db.query("SELECT order_no FROM order_numbers ORDER BY valid_until DESC, order_no") { OrderNumber($0.string(0)) }
                .compactMap { $0 }
            var taken: [OrderNumber] = []
            for n in all where taken.count < count && !taken.contains(where: { $0.group == n.group }) { taken.append(n) }
            for n in all where taken.count < count && !taken.contains(n) { taken.append(n) }
            for n in taken { _ = try db.run("DELETE FROM order_numbers WHERE order_no = ?", [.text(n.digits)]) }
            return taken
        }
    }

    /// How many numbers are kept, valid at `now`.
    public func orderNumberCount(now: Int64) throws -> Int {
        lock.lock(); defer { lock.unlock() }
        return Int(try db.query("SELECT count(*) FROM order_numbers WHERE valid_until > ?", [.integer(now)]) { $0.int64(0) }.first ?? 0)
    }

    public func saveSale(id: String, _ sale: SaleStateMachine) throws {
        let json = String(decoding: API.encode(sale), as: UTF8.self)
        lock.lock(); defer { lock.unlock() }
        _ = try db.run("INSERT INTO sales (id, snapshot, final, updated_at) VALUES (?, ?, ?, ?) "
                       + "ON CONFLICT(id) DO UPDATE SET snapshot = excluded.snapshot, final = excluded.final, updated_at = excluded.updated_at",
                       [.text(id), .text(json), .integer(sale.phase.isFinal ? 1 : 0), .integer(now())])
    }

    /// Sales not yet in a final state, oldest first.
    public func unfinishedSales() throws -> [(id: String, sale: SaleStateMachine)] {
        lock.lock(); defer { lock.unlock() }
        return try db.query("SELECT id, snapshot FROM sales WHERE final = 0 ORDER BY updated_at") { row in
            (row.string(0), row.string(1))
        }.compactMap { id, json in
            (try? API.decode(SaleStateMachine.self, from: Array(json.utf8))).map { (id, $0) }
        }
    }

    public func sale(id: String) throws -> SaleStateMachine? {
        lock.lock(); defer { lock.unlock() }
        return try db.query("SELECT snapshot FROM sales WHERE id = ?", [.text(id)]) { $0.string(0) }
            .first.flatMap { try? API.decode(SaleStateMachine.self, from: Array($0.utf8)) }
    }

    /// Keeps who is signed in at the terminal (nil: nobody).
    public func saveSignedInStaff(_ staff: StaffView?) throws {
        lock.lock(); defer { lock.unlock() }
        guard let staff else { _ = try db.run("DELETE FROM signed_in"); return }
        _ = try db.run("INSERT INTO signed_in (id, staff, at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET staff = excluded.staff, at = excluded.at",
                       [.text(String(decoding: API.encode(staff), as: UTF8.self)), .integer(now())])
    }

    /// Who is signed in at the terminal, if anyone.
    public func signedInStaff() throws -> StaffView? {
        lock.lock(); defer { lock.unlock() }
        return try db.query("SELECT staff FROM signed_in WHERE id = 1") { $0.string(0) }
            .first.flatMap { try? API.decode(StaffView.self, from: Array($0.utf8)) }
    }

    /// Keeps the shift open at this terminal (nil: none).
    public func saveShift(_ shift: ShiftView?) throws {
        lock.lock(); defer { lock.unlock() }
        guard let shift else { _ = try db.run("DELETE FROM shift"); return }
        _ = try db.run("INSERT INTO shift (id, shift, at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET shift = excluded.shift, at = excluded.at",
                       [.text(String(decoding: API.encode(shift), as: UTF8.self)), .integer(now())])
    }

    /// The shift open at this terminal, as last seen.
    public func currentShift() throws -> ShiftView? {
        lock.lock(); defer { lock.unlock() }
        return try db.query("SELECT shift FROM shift WHERE id = 1") { $0.string(0) }
            .first.flatMap { try? API.decode(ShiftView.self, from: Array($0.utf8)) }
    }

    // MARK: Cash sales

    public func saveCashSale(id: String, _ sale: CashSaleStateMachine) throws {
        let json = String(decoding: API.encode(sale), as: UTF8.self)
        lock.lock(); defer { lock.unlock() }
        _ = try db.run("INSERT INTO cash_sales (id, snapshot, waiting, amount, taken_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                       + "ON CONFLICT(id) DO UPDATE SET snapshot = excluded.snapshot, waiting = excluded.waiting, updated_at = excluded.updated_at",
                       [.text(id), .text(json), .integer(sale.phase.isFinal ? 0 : 1), .integer(sale.request.amount),
                        .integer(sale.takenAtMs), .integer(now())])
    }

    /// Cash sales not yet recorded by the service (being placed, or waiting to be forwarded), oldest first.
    public func unrecordedCashSales() throws -> [(id: String, sale: CashSaleStateMachine)] {
        lock.lock(); defer { lock.unlock() }
        return try db.query("SELECT id, snapshot FROM cash_sales WHERE waiting = 1 ORDER BY taken_at, id") { ($0.string(0), $0.string(1)) }
            .compactMap { id, json in (try? API.decode(CashSaleStateMachine.self, from: Array(json.utf8))).map { (id, $0) } }
    }

    /// How many cash sales wait to be recorded, their total and when the oldest was taken.
    public func unrecordedCashTotals() throws -> (count: Int, amount: Int64, oldestMs: Int64?) {
        lock.lock(); defer { lock.unlock() }
        return try db.query("SELECT count(*), coalesce(sum(amount), 0), min(taken_at) FROM cash_sales WHERE waiting = 1") {
            (Int($0.int64(0)), $0.int64(1), $0.optionalInt64(2))
        }.first ?? (0, 0, nil)
    }

    /// Notes that a receipt of `order` went to the printer (or file), for "reprint the last receipt".
    public func recordReceipt(_ order: OrderNumber) throws {
        lock.lock(); defer { lock.unlock() }
        _ = try db.run("INSERT INTO receipts (order_no, printed_at) VALUES (?, ?) ON CONFLICT(order_no) DO UPDATE SET printed_at = excluded.printed_at",
                       [.text(order.digits), .integer(now())])
    }

    /// The order whose receipt was printed last, if any.
    public func lastReceipt() throws -> OrderNumber? {
        lock.lock(); defer { lock.unlock() }
        return try db.query("SELECT order_no FROM receipts ORDER BY printed_at DESC, rowid DESC LIMIT 1") { $0.string(0) }
            .first.flatMap(OrderNumber.init)
    }

    public func saveRefund(_ refund: RefundStateMachine) throws {
        let json = String(decoding: API.encode(refund), as: UTF8.self)
        var final = 0
        if case .finished(let outcome) = refund.phase {
            // A refund left for later keeps its reference available for the retry.
            if case .needsAttention = outcome { final = 0 } else { final = 1 }
        }
        lock.lock(); defer { lock.unlock() }
        _ = try db.run("INSERT INTO refunds (ref, order_no, amount, snapshot, final, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                       + "ON CONFLICT(ref) DO UPDATE SET snapshot = excluded.snapshot, final = excluded.final, updated_at = excluded.updated_at",
                       [.text(refund.refundRef), .text(refund.order.digits), .integer(refund.amount), .text(json),
                        .integer(Int64(final)), .integer(now())])
    }

    /// The reference of an unconfirmed refund of this order and amount, to reuse on a retry.
    public func pendingRefundRef(order: OrderNumber, amount: Int64) throws -> String? {
        lock.lock(); defer { lock.unlock() }
        return try db.query("SELECT ref FROM refunds WHERE order_no = ? AND amount = ? AND final = 0 ORDER BY updated_at DESC LIMIT 1",
                            [.text(order.digits), .integer(amount)]) { $0.string(0) }.first
    }

    public func refund(ref: String) throws -> RefundStateMachine? {
        lock.lock(); defer { lock.unlock() }
        return try db.query("SELECT snapshot FROM refunds WHERE ref = ?", [.text(ref)]) { $0.string(0) }
            .first.flatMap { try? API.decode(RefundStateMachine.self, from: Array($0.utf8)) }
    }
}
