import CashierCore
import Foundation
import SQLite

/// One order group in one SQLite file.
///
/// The file is opened on first use and reopened after a failed open, so a service can start while a
/// group is down and pick the group up once it is back. A short busy timeout makes a locked group
/// fail fast, which is what lets order hopping move on within milliseconds.
public final class SQLiteOrderGroupStore: OrderGroupStore {
    public static let schemaVersion: Int64 = 2

    public let path: String
    private let options: Database.Options
    /// Guards `opened` only; statements are serialized by the `Database` itself.
    private let lock = NSLock()
    private nonisolated(unsafe) var opened: Database?
    /// A second connection for the write probe, with a short busy timeout: a locked group fails its probe
    /// in milliseconds, and a probe never waits behind this process's own transactions.
    private nonisolated(unsafe) var probeConnection: Database?
    public static let probeBusyTimeoutMilliseconds: Int32 = 20
    /// A read-only connection for order lookups and lists, so they never wait behind the writer's commit.
    private nonisolated(unsafe) var readConnection: Database?

    /// - Parameter busyTimeoutMilliseconds: how long a call waits for another connection's lock.
    /// - Parameter openNow: open the file in the initializer and throw if that fails.
    public init(path: String, busyTimeoutMilliseconds: Int32 = 250, openNow: Bool = true) throws(StorageError) {
        self.path = path
        options = Database.Options(busyTimeoutMilliseconds: busyTimeoutMilliseconds,
                                   checkpoints: .inBackground(everyMilliseconds: SQLiteTuning.checkpointIntervalMilliseconds))
        if openNow { _ = try database() }
    }

    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS orders (
            order_no TEXT PRIMARY KEY, merchant_id TEXT NOT NULL, store_id TEXT NOT NULL, device_id TEXT NOT NULL,
            amount INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL, refunded_amount INTEGER NOT NULL,
            items TEXT NOT NULL, client_ref TEXT, payment_code TEXT, channel_txn TEXT, failure_reason TEXT,
            failure_message TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, paid_at INTEGER,
            staff_id TEXT, shift_id TEXT, tender TEXT NOT NULL DEFAULT 'code', cash_given INTEGER)
        """,
        "CREATE INDEX IF NOT EXISTS orders_shift ON orders(shift_id) WHERE shift_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS orders_list ON orders(store_id, created_at DESC, order_no DESC)",
        "CREATE INDEX IF NOT EXISTS orders_merchant ON orders(merchant_id, created_at DESC, order_no DESC)",
        // Only paying orders are ever looked up by status (`stalePayingOrders`), so only they are indexed:
        // a sale's create and result no longer rewrite a status index, and stored orders cost it nothing.
        // Files made before this change lose the old whole-table index here; both schemas work with
        // either program, so the version stays.
        "DROP INDEX IF EXISTS orders_status",
        "CREATE INDEX IF NOT EXISTS orders_paying ON orders(updated_at, order_no) WHERE \(OrderGroupSQL.payingPredicate)",
        """
        CREATE TABLE IF NOT EXISTS refunds (
            refund_no TEXT PRIMARY KEY, order_no TEXT NOT NULL REFERENCES orders(order_no), amount INTEGER NOT NULL,
            currency TEXT NOT NULL, refund_ref TEXT NOT NULL, status TEXT NOT NULL, staff_id TEXT NOT NULL,
            reason TEXT, created_at INTEGER NOT NULL, completed_at INTEGER, cashier_id TEXT, shift_id TEXT)
        """,
        "CREATE INDEX IF NOT EXISTS refunds_shift ON refunds(shift_id) WHERE shift_id IS NOT NULL",
        "CREATE UNIQUE INDEX IF NOT EXISTS refunds_ref ON refunds(order_no, refund_ref)",
        "CREATE INDEX IF NOT EXISTS refunds_pending ON refunds(created_at, refund_no) WHERE \(OrderGroupSQL.pendingRefundPredicate)",
        "CREATE TABLE IF NOT EXISTS probe (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL)",
    ] + NonceSQL.sqliteSchema

    /// Schema 2: who rang a sale up, its shift and tender (cash), and the shift of a refund.
    static let migrations: [Int64: [String]] = [
        2: ["ALTER TABLE orders ADD COLUMN staff_id TEXT", "ALTER TABLE orders ADD COLUMN shift_id TEXT",
            "ALTER TABLE orders ADD COLUMN tender TEXT NOT NULL DEFAULT 'code'", "ALTER TABLE orders ADD COLUMN cash_given INTEGER",
            "ALTER TABLE refunds ADD COLUMN cashier_id TEXT", "ALTER TABLE refunds ADD COLUMN shift_id TEXT"],
    ]

    /// The open connection, opening it (and creating the schema) if needed.
    private func database() throws(StorageError) -> Database {
        lock.lock()
        defer { lock.unlock() }
        if let opened { return opened }
        let db = try storage { try Database(.path(path), options: options) }
        try storage { try applySchema(db, version: Self.schemaVersion, statements: Self.schema, migrations: Self.migrations) }
        opened = db
        return db
    }

    /// A second connection to the file, kept in `slot` and opened on first use, after the writer (which
    /// creates the file and its schema).
    private func secondConnection(_ slot: ReferenceWritableKeyPath<SQLiteOrderGroupStore, Database?>,
                                  _ options: Database.Options) throws(StorageError) -> Database {
        _ = try database()
        lock.lock()
        defer { lock.unlock() }
        if let open = self[keyPath: slot] { return open }
        let db = try storage { try Database(.path(path), options: options) }
        self[keyPath: slot] = db
        return db
    }

    /// Runs `body` on the read-only connection, mapping errors to `StorageError`.
    private func read<T>(_ body: (Database) throws -> T) throws(StorageError) -> T {
        let db = try secondConnection(\.readConnection, Database.Options(busyTimeoutMilliseconds: options.busyTimeoutMilliseconds, readOnly: true))
        return try storage { try body(db) }
    }

    /// Runs `body` on the connection, mapping errors to `StorageError`.
    @discardableResult
    private func with<T>(_ body: (Database) throws -> T) throws(StorageError) -> T {
        let db = try database()
        return try storage { try body(db) }
    }

    public func probeWrite(now: Int64) throws {
        let probe = try secondConnection(\.probeConnection,
                                         Database.Options(busyTimeoutMilliseconds: Self.probeBusyTimeoutMilliseconds, checkpoints: .elsewhere))
        try storage {
            try probe.run(Self.probeSQL, [.integer(now)])
        }
    }

    private static let probeSQL = "INSERT INTO probe (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at"

    // MARK: Orders

    private static let orderColumns = """
        order_no, merchant_id, store_id, device_id, amount, currency, status, refunded_amount, items, client_ref, \
        payment_code, channel_txn, failure_reason, failure_message, created_at, updated_at, paid_at, staff_id, shift_id, \
        tender, cash_given
        """

    private static func values(_ o: OrderRecord) -> [SQLiteValue] {
        [.text(o.orderNo.digits), .text(o.merchantID), .text(o.storeID), .text(o.deviceID), .integer(o.amount),
         .text(o.currency), .text(o.status.rawValue), .integer(o.refundedAmount), .text(ItemsJSON.encode(o.items)),
         .text(o.clientRef), .text(o.paymentCode), .text(o.channelTxn), .text(o.failureReason), .text(o.failureMessage),
         .integer(o.createdAt), .integer(o.updatedAt), .integer(o.paidAt), .text(o.staffID), .text(o.shiftID),
         .text(o.tender.rawValue), .integer(o.cashGiven)]
    }

    private static func order(_ s: Statement) throws -> OrderRecord {
        guard let no = OrderNumber(s.string(0)), let status = OrderStatus(rawValue: s.string(6)),
              let tender = Tender(rawValue: s.string(19)) else {
            throw StorageError.failed("corrupt order row \(s.string(0))")
        }
        return OrderRecord(orderNo: no, merchantID: s.string(1), storeID: s.string(2), deviceID: s.string(3),
                           amount: s.int64(4), currency: s.string(5), status: status, refundedAmount: s.int64(7),
                           items: try ItemsJSON.decode(s.string(8)), clientRef: s.optionalString(9),
                           paymentCode: s.optionalString(10), channelTxn: s.optionalString(11),
                           failureReason: s.optionalString(12), failureMessage: s.optionalString(13),
                           createdAt: s.int64(14), updatedAt: s.int64(15), paidAt: s.optionalInt64(16),
                           staffID: s.optionalString(17), shiftID: s.optionalString(18), tender: tender,
                           cashGiven: s.optionalInt64(20))
    }

    private static let insertOrderSQL = "INSERT INTO orders (\(orderColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

    public func insertOrder(_ order: OrderRecord) throws {
        try with { db in try db.write { try db.run(Self.insertOrderSQL, Self.values(order)) } }
    }

    /// The probe's update and the insert in one write, group-committed with other writes to this group;
    /// BEGIN waits at most the probe's busy timeout, so a locked group fails as fast as a probe does.
    public func probeAndInsertOrder(_ order: OrderRecord, now: Int64) throws {
        try with { db in
            try db.write(busyTimeoutMilliseconds: Self.probeBusyTimeoutMilliseconds) {
                try db.run(Self.probeSQL, [.integer(now)])
                try db.run(Self.insertOrderSQL, Self.values(order))
            }
        }
    }

    public func placeSale(_ order: OrderRecord, recording nonce: NonceRecord) throws -> PlacedSale {
        try with { db in
            try db.write { () throws -> PlacedSale in
                guard try nonce.insert(into: db) else { return .replayed }
                if let existing = try fetchOrder(db, order.orderNo) { return .existing(existing) }
                try db.run(Self.insertOrderSQL, Self.values(order))
                return .placed(order)
            }
        }
    }

    private func fetchOrder(_ db: Database, _ orderNo: OrderNumber) throws -> OrderRecord? {
        try db.query("SELECT \(Self.orderColumns) FROM orders WHERE order_no = ?", [.text(orderNo.digits)], row: Self.order).first
    }

    public func order(_ orderNo: OrderNumber) throws -> OrderRecord? {
        try read { db in try fetchOrder(db, orderNo) }
    }

    public func transition(_ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange,
                           now: Int64, durability: WriteDurability) throws -> (OrderRecord, changed: Bool)? {
        try with { db in
            try db.write(durable: durability == .immediate) {
                try applyTransition(db, orderNo, from: from, change: change, now: now)
            }
        }
    }

    public func transition(_ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange, now: Int64,
                           recording nonce: NonceRecord) throws -> NoncedTransition {
        try with { db in
            try db.write { () throws -> NoncedTransition in
                guard try nonce.insert(into: db) else { return .replayed }
                guard let (after, changed) = try applyTransition(db, orderNo, from: from, change: change, now: now) else {
                    return .orderNotFound
                }
                return .done(after, changed: changed)
            }
        }
    }

    /// The compare-and-set inside a write: nil if there is no such order.
    private func applyTransition(_ db: Database, _ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange,
                                 now: Int64) throws -> (OrderRecord, changed: Bool)? {
        guard let current = try fetchOrder(db, orderNo) else { return nil }
        guard from.contains(current.status) else { return (current, changed: false) }
        try db.run("""
            UPDATE orders SET status = ?, payment_code = coalesce(?, payment_code),
                channel_txn = coalesce(?, channel_txn), failure_reason = coalesce(?, failure_reason),
                failure_message = coalesce(?, failure_message), paid_at = coalesce(?, paid_at), updated_at = ?
            WHERE order_no = ?
            """,
            [.text(change.status.rawValue), .text(change.paymentCode), .text(change.channelTxn),
             .text(change.failureReason), .text(change.failureMessage), .integer(change.paidAt),
             .integer(now), .text(orderNo.digits)])
        guard let updated = try fetchOrder(db, orderNo) else { throw StorageError.failed("order vanished") }
        return (updated, changed: true)
    }

    // MARK: Nonces

    public func recordNonce(_ nonce: NonceRecord) throws -> Bool {
        try with { db in try db.write { try nonce.insert(into: db) } }
    }

    @discardableResult
    public func pruneNonces(now: Int64) throws -> Int {
        try with { db in try db.run(NonceSQL.sqlitePrune, [.integer(now)]) }
    }

    // MARK: Refunds

    private static let refundColumns = "refund_no, order_no, amount, currency, refund_ref, status, staff_id, reason, created_at, completed_at, cashier_id, shift_id"
    private static let insertRefundSQL = "INSERT INTO refunds (\(refundColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

    private static func refund(_ s: Statement) throws -> RefundRecord {
        guard let no = RefundNumber(s.string(0)), let orderNo = OrderNumber(s.string(1)),
              let status = RefundStatus(rawValue: s.string(5)) else {
            throw StorageError.failed("corrupt refund row \(s.string(0))")
        }
        return RefundRecord(refundNo: no, orderNo: orderNo, amount: s.int64(2), currency: s.string(3),
                            refundRef: s.string(4), status: status, staffID: s.string(6), reason: s.optionalString(7),
                            createdAt: s.int64(8), completedAt: s.optionalInt64(9), cashierID: s.optionalString(10),
                            shiftID: s.optionalString(11))
    }

    private static func values(_ r: RefundRecord) -> [SQLiteValue] {
        [.text(r.refundNo.text), .text(r.orderNo.digits), .integer(r.amount), .text(r.currency), .text(r.refundRef),
         .text(r.status.rawValue), .text(r.staffID), .text(r.reason), .integer(r.createdAt), .integer(r.completedAt),
         .text(r.cashierID), .text(r.shiftID)]
    }

    public func refunds(of orderNo: OrderNumber) throws -> [RefundRecord] {
        try read { db in
            try db.query("SELECT \(Self.refundColumns) FROM refunds WHERE order_no = ? ORDER BY created_at, refund_no",
                         [.text(orderNo.digits)], row: Self.refund)
        }
    }

    /// BEGIN IMMEDIATE: the order's refunded amount is read and raised under the write lock, so
    /// concurrent refunds (from any connection) can never together exceed the paid amount.
    public func reserveRefund(_ refund: RefundRecord, maxRefunds: Int, now: Int64) throws -> RefundReservation {
        try with { db in
            try db.write { () throws -> RefundReservation in
                if let existing = try db.query("SELECT \(Self.refundColumns) FROM refunds WHERE order_no = ? AND refund_ref = ?",
                                               [.text(refund.orderNo.digits), .text(refund.refundRef)], row: Self.refund).first {
                    return existing.amount == refund.amount ? .existing(existing) : .conflict(existing)
                }
                guard let order = try fetchOrder(db, refund.orderNo) else { return .orderNotFound }
                guard order.status == .paid else { return .orderNotPaid }
                let count = try db.query("SELECT count(*) FROM refunds WHERE order_no = ?", [.text(refund.orderNo.digits)]) {
                    Int($0.int64(0))
                }.first ?? 0
                guard count < maxRefunds else { return .limitReached }
                let remaining = order.amount - order.refundedAmount
                guard refund.amount <= remaining else { return .exceedsPaid(remaining: remaining) }
                var row = refund
                row.status = .pending
                row.completedAt = nil
                try db.run(Self.insertRefundSQL, Self.values(row))
                try db.run("UPDATE orders SET refunded_amount = refunded_amount + ?, updated_at = ? WHERE order_no = ?",
                           [.integer(row.amount), .integer(now), .text(row.orderNo.digits)])
                return .reserved(row)
            }
        }
    }

    /// Completing a refund twice is harmless; an unknown refund number is `.failed`.
    public func completeRefund(_ refundNo: RefundNumber, now: Int64) throws {
        try with { db in
            try db.write {
                let found = try db.query("SELECT status FROM refunds WHERE refund_no = ?", [.text(refundNo.text)]) { $0.string(0) }
                guard let status = found.first else { throw StorageError.failed("no refund \(refundNo)") }
                if status == RefundStatus.succeeded.rawValue { return }
                try db.run("UPDATE refunds SET status = ?, completed_at = ? WHERE refund_no = ?",
                           [.text(RefundStatus.succeeded.rawValue), .integer(now), .text(refundNo.text)])
            }
        }
    }

    public func dropRefusedRefund(_ refundNo: RefundNumber, now: Int64) throws -> Bool {
        try with { db in
            try db.write { () throws -> Bool in
                let found = try db.query("SELECT order_no, amount FROM refunds WHERE refund_no = ? AND status = ?",
                                         [.text(refundNo.text), .text(RefundStatus.pending.rawValue)]) { ($0.string(0), $0.int64(1)) }
                guard let (orderNo, amount) = found.first else { return false }
                try db.run("DELETE FROM refunds WHERE refund_no = ?", [.text(refundNo.text)])
                try db.run("UPDATE orders SET refunded_amount = refunded_amount - ?, updated_at = ? WHERE order_no = ?",
                           [.integer(amount), .integer(now), .text(orderNo)])
                return true
            }
        }
    }

    // MARK: Shifts

    public func orders(ofShift shiftID: String) throws -> [OrderRecord] {
        try read { db in
            try db.query("SELECT \(Self.orderColumns) FROM orders WHERE shift_id = ? ORDER BY created_at, order_no",
                         [.text(shiftID)], row: Self.order)
        }
    }

    public func refunds(ofShift shiftID: String) throws -> [(refund: RefundRecord, order: OrderRecord)] {
        try read { db in
            let refunds = try db.query("SELECT \(Self.refundColumns) FROM refunds WHERE shift_id = ? ORDER BY created_at, refund_no",
                                       [.text(shiftID)], row: Self.refund)
            return try refunds.map { refund in
                guard let order = try fetchOrder(db, refund.orderNo) else { throw StorageError.failed("refund \(refund.refundNo) has no order") }
                return (refund, order)
            }
        }
    }

    // MARK: Lists

    public func listOrders(_ scope: OrderListScope, before: OrderListCursor?, limit: Int) throws -> [OrderRecord] {
        try read { db in
            if let before {
                return try db.query("""
                    SELECT \(Self.orderColumns) FROM orders WHERE \(scope.column) = ? AND (created_at, order_no) < (?, ?)
                    ORDER BY created_at DESC, order_no DESC LIMIT ?
                    """, [.text(scope.id), .integer(before.createdAt), .text(before.orderNo), .integer(Int64(limit))], row: Self.order)
            }
            return try db.query("""
                SELECT \(Self.orderColumns) FROM orders WHERE \(scope.column) = ? ORDER BY created_at DESC, order_no DESC LIMIT ?
                """, [.text(scope.id), .integer(Int64(limit))], row: Self.order)
        }
    }

    public func stalePayingOrders(updatedBefore: Int64, limit: Int) throws -> [OrderRecord] {
        try with { db in
            try db.query("""
                SELECT \(Self.orderColumns) FROM orders WHERE \(OrderGroupSQL.payingPredicate) AND updated_at < ?
                ORDER BY updated_at, order_no LIMIT ?
                """, [.integer(updatedBefore), .integer(Int64(limit))], row: Self.order)
        }
    }

    public func stalePendingRefunds(createdBefore: Int64, limit: Int) throws -> [RefundRecord] {
        try read { db in
            try db.query("""
                SELECT \(Self.refundColumns) FROM refunds WHERE \(OrderGroupSQL.pendingRefundPredicate) AND created_at < ?
                ORDER BY created_at, refund_no LIMIT ?
                """, [.integer(createdBefore), .integer(Int64(limit))], row: Self.refund)
        }
    }

    public func allOrders(after: OrderNumber?, limit: Int) throws -> [OrderRecord] {
        try with { db in
            try db.query("SELECT \(Self.orderColumns) FROM orders WHERE order_no > ? ORDER BY order_no LIMIT ?",
                         [.text(after?.digits ?? ""), .integer(Int64(limit))], row: Self.order)
        }
    }

    public func importOrder(_ order: OrderRecord, refunds: [RefundRecord]) throws {
        try with { db in
            try db.write {
                try db.run(Self.insertOrderSQL + " ON CONFLICT DO NOTHING", Self.values(order))
                for r in refunds {
                    try db.run(Self.insertRefundSQL + " ON CONFLICT DO NOTHING", Self.values(r))
                }
            }
        }
    }
}
