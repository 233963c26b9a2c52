import CashierCore
import Foundation
import Postgres

/// One order group in one PostgreSQL database.
///
/// Making the store never touches the server, so a service can start while a group is down; the schema is
/// created by the first call that gets through. A lost connection, an unreachable server, a statement or lock
/// timeout all surface as `StorageError.unavailable`, which is what lets order hopping skip the group.
/// Calls block the calling thread (libpq is synchronous); the service runs them on threads of its own.
public final class PostgresOrderGroupStore: OrderGroupStore {
    public let pool: ConnectionPool
    private let schema: PostgresSchema

    public init(pool: ConnectionPool) {
        self.pool = pool
        self.schema = PostgresSchema(name: "cashier_orders", statements: Self.schemaStatements)
    }

    /// Opens a pool to `options` and creates the schema now; throws `.unavailable` if the server is down.
    public static func open(_ options: ConnectionOptions, maxConnections: Int = 4) throws(StorageError) -> PostgresOrderGroupStore {
        let store = PostgresOrderGroupStore(pool: ConnectionPool(options: options, maxConnections: maxConnections))
        try store.schema.ensure(store.pool)
        return store
    }

    /// Order and refund numbers sort bytewise (COLLATE "C") so cursors compare the same as in Swift.
    static let schemaStatements = [
        """
        CREATE TABLE IF NOT EXISTS orders (
            order_no text COLLATE "C" PRIMARY KEY, merchant_id text NOT NULL, store_id text NOT NULL,
            device_id text NOT NULL, amount bigint NOT NULL, currency text NOT NULL, status text NOT NULL,
            refunded_amount bigint NOT NULL, items text NOT NULL, client_ref text, payment_code text, channel_txn text,
            failure_reason text, failure_message text, created_at bigint NOT NULL, updated_at bigint NOT NULL, paid_at bigint,
            staff_id text, shift_id text, tender text NOT NULL DEFAULT 'code', cash_given bigint)
        """,
        // Columns added after the first release (who, which shift, cash): a database made before gets them here.
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS staff_id text",
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS shift_id text",
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS tender text NOT NULL DEFAULT 'code'",
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS cash_given bigint",
        "CREATE INDEX IF NOT EXISTS orders_shift ON orders(shift_id) WHERE shift_id IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS orders_list ON orders(store_id, created_at DESC, order_no DESC)",
        "CREATE INDEX IF NOT EXISTS orders_merchant ON orders(merchant_id, created_at DESC, order_no DESC)",
        // Only paying orders are looked up by status, so only they are indexed (see SQLiteOrderGroupStore);
        // a database made before this change loses its whole-table status index here.
        "DROP INDEX IF EXISTS orders_status",
        "CREATE INDEX IF NOT EXISTS orders_paying ON orders(updated_at, order_no) WHERE \(OrderGroupSQL.payingPredicate)",
        """
        CREATE TABLE IF NOT EXISTS refunds (
            refund_no text COLLATE "C" PRIMARY KEY, order_no text COLLATE "C" NOT NULL REFERENCES orders(order_no),
            amount bigint NOT NULL, currency text NOT NULL, refund_ref text NOT NULL, status text NOT NULL,
            staff_id text NOT NULL, reason text, created_at bigint NOT NULL, completed_at bigint, cashier_id text, shift_id text)
        """,
        "ALTER TABLE refunds ADD COLUMN IF NOT EXISTS cashier_id text",
        "ALTER TABLE refunds ADD COLUMN IF NOT EXISTS shift_id text",
        "CREATE INDEX IF NOT EXISTS refunds_shift ON refunds(shift_id) WHERE shift_id IS NOT NULL",
        "CREATE UNIQUE INDEX IF NOT EXISTS refunds_ref ON refunds(order_no, refund_ref)",
        "CREATE INDEX IF NOT EXISTS refunds_pending ON refunds(created_at, refund_no) WHERE \(OrderGroupSQL.pendingRefundPredicate)",
        "CREATE TABLE IF NOT EXISTS probe (id integer PRIMARY KEY CHECK (id = 1), at bigint NOT NULL)",
    ] + NonceSQL.postgresSchema

    private func run<T>(_ body: (Connection) throws -> T) throws(StorageError) -> T {
        try schema.ensure(pool)
        return try postgresStorage { try pool.withConnection(body) }
    }

    private func inTransaction<T>(_ body: (Connection) throws -> T) throws(StorageError) -> T {
        try run { try $0.transaction(body) }
    }

    public func probeWrite(now: Int64) throws {
        _ = try run {
            try $0.execute("INSERT INTO probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at", [String(now)])
        }
    }

    // MARK: Orders

    private static let orderColumns = """
        order_no, merchant_id, store_id, device_id, amount, currency, status, refunded_amount, items, client_ref, \
        payment_code, channel_txn, failure_reason, failure_message, created_at, updated_at, paid_at, staff_id, shift_id, \
        tender, cash_given
        """

    private static let insertOrderSQL = """
        INSERT INTO orders (\(orderColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
        """

    private static func values(_ o: OrderRecord) -> [String?] {
        [o.orderNo.digits, o.merchantID, o.storeID, o.deviceID, String(o.amount), o.currency, o.status.rawValue,
         String(o.refundedAmount), ItemsJSON.encode(o.items), o.clientRef, o.paymentCode, o.channelTxn, o.failureReason,
         o.failureMessage, String(o.createdAt), String(o.updatedAt), o.paidAt.map(String.init), o.staffID, o.shiftID,
         o.tender.rawValue, o.cashGiven.map(String.init)]
    }

    private static func order(_ r: [String?]) throws -> OrderRecord {
        let row = PostgresRow(r)
        guard let no = OrderNumber(try row.string(0)), let status = OrderStatus(rawValue: try row.string(6)),
              let tender = Tender(rawValue: try row.string(19)) else {
            throw StorageError.failed("corrupt order row \(r.first.flatMap { $0 } ?? "?")")
        }
        return OrderRecord(orderNo: no, merchantID: try row.string(1), storeID: try row.string(2), deviceID: try row.string(3),
                           amount: try row.int64(4), currency: try row.string(5), status: status,
                           refundedAmount: try row.int64(7), items: try ItemsJSON.decode(try row.string(8)),
                           clientRef: row.optionalString(9), paymentCode: row.optionalString(10),
                           channelTxn: row.optionalString(11), failureReason: row.optionalString(12),
                           failureMessage: row.optionalString(13), createdAt: try row.int64(14),
                           updatedAt: try row.int64(15), paidAt: try row.optionalInt64(16),
                           staffID: row.optionalString(17), shiftID: row.optionalString(18), tender: tender,
                           cashGiven: try row.optionalInt64(20))
    }

    public func insertOrder(_ order: OrderRecord) throws {
        _ = try run { try $0.execute(Self.insertOrderSQL, Self.values(order)) }
    }

    /// One statement, so one round trip and one commit: the probe's upsert runs as a data-modifying
    /// CTE, which PostgreSQL always executes, atomically with the insert.
    public func probeAndInsertOrder(_ order: OrderRecord, now: Int64) throws {
        _ = try run {
            try $0.execute("""
                WITH probe_write AS (
                    INSERT INTO probe (id, at) VALUES (1, $22) ON CONFLICT (id) DO UPDATE SET at = excluded.at)
                \(Self.insertOrderSQL)
                """, Self.values(order) + [String(now)])
        }
    }

    public func order(_ orderNo: OrderNumber) throws -> OrderRecord? {
        try run { try Self.fetchOrder(orderNo, on: $0) }
    }

    /// One statement, so one round trip and one commit: the nonce's insert and the order's insert are
    /// data-modifying CTEs, the order's only if the nonce was new, and ON CONFLICT leaves an existing
    /// order alone; a second statement reads an existing order as it is now.
    public func placeSale(_ order: OrderRecord, recording nonce: NonceRecord) throws -> PlacedSale {
        try run { c in
            let result = try c.execute("""
                WITH fresh AS (
                    \(NonceSQL.postgresInsert(first: 22)) RETURNING 1),
                inserted AS (
                    INSERT INTO orders (\(Self.orderColumns))
                    SELECT $1, $2, $3, $4, $5::bigint, $6, $7, $8::bigint, $9, $10, $11, $12, $13, $14, $15::bigint, $16::bigint, $17::bigint,
                           $18, $19, $20, $21::bigint
                    WHERE EXISTS (SELECT 1 FROM fresh)
                    ON CONFLICT (order_no) DO NOTHING RETURNING 1)
                SELECT (SELECT count(*) FROM fresh), (SELECT count(*) FROM inserted)
                """, Self.values(order) + nonce.parameters)
            guard let row = result.rows.first, row.count == 2 else { throw StorageError.failed("placing a sale gave no answer") }
            guard row[0] == "1" else { return .replayed }
            if row[1] == "1" { return .placed(order) }
            guard let existing = try Self.fetchOrder(order.orderNo, on: c) else {
                throw StorageError.failed("order \(order.orderNo) neither placed nor found")
            }
            return .existing(existing)
        }
    }

    private static func fetchOrder(_ orderNo: OrderNumber, forUpdate: Bool = false, on c: Connection) throws -> OrderRecord? {
        try c.execute("SELECT \(orderColumns) FROM orders WHERE order_no = $1\(forUpdate ? " FOR UPDATE" : "")", [orderNo.digits])
            .rows.map(order).first
    }

    /// One conditional UPDATE is the compare-and-set; the row lock makes a concurrent transition wait and
    /// re-check the status, so of two racing transitions from the same status only one changes the order.
    public func transition(_ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange,
                           now: Int64, durability: WriteDurability) throws -> (OrderRecord, changed: Bool)? {
        let update = { (c: Connection) throws -> (OrderRecord, changed: Bool)? in
            try Self.applyTransition(orderNo, from: from, change: change, now: now, on: c)
        }
        switch durability {
        case .immediate:
            return try run(update)
        case .deferred:
            // PostgreSQL's asynchronous commit, for this transaction only: the server flushes its log
            // within three times wal_writer_delay (600 ms by default).
            return try inTransaction { c in
                _ = try c.execute("SET LOCAL synchronous_commit TO OFF")
                return try update(c)
            }
        }
    }

    /// One statement, so one round trip and one commit when the claim is made: the nonce's insert is a
    /// data-modifying CTE and the update runs only if it inserted, so a replay writes nothing. When the
    /// order did not change, a second statement reads it as it is now (one that raced and won has
    /// committed by then; the first statement's snapshot may predate it).
    public func transition(_ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange, now: Int64,
                           recording nonce: NonceRecord) throws -> NoncedTransition {
        try run { c in
            let result = try c.execute("""
                WITH fresh AS (
                    \(NonceSQL.postgresInsert(first: 10)) RETURNING 1),
                updated AS (
                    \(Self.transitionUpdateSQL) AND EXISTS (SELECT 1 FROM fresh)
                    RETURNING \(Self.orderColumns))
                SELECT (SELECT count(*) FROM fresh), updated.* FROM (SELECT 1) AS one LEFT JOIN updated ON true
                """,
                Self.transitionParameters(orderNo, from: from, change: change, now: now) + nonce.parameters)
            guard let row = result.rows.first, let freshCount = row.first ?? nil else {
                throw StorageError.failed("a claim with its nonce gave no answer")
            }
            guard freshCount == "1" else { return .replayed }
            if row.count > 1, row[1] != nil { return .done(try Self.order(Array(row.dropFirst())), changed: true) }
            guard let current = try Self.fetchOrder(orderNo, on: c) else { return .orderNotFound }
            return .done(current, changed: false)
        }
    }

    /// The compare-and-set: $1 the order, $2–$8 the change and time, $9 the statuses it may move from.
    private static let transitionUpdateSQL = """
        UPDATE orders SET status = $2, payment_code = coalesce($3, payment_code),
            channel_txn = coalesce($4, channel_txn), failure_reason = coalesce($5, failure_reason),
            failure_message = coalesce($6, failure_message), paid_at = coalesce($7::bigint, paid_at), updated_at = $8
        WHERE order_no = $1 AND status = ANY($9::text[])
        """

    private static func transitionParameters(_ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange,
                                             now: Int64) -> [String?] {
        let fromArray = "{" + from.map(\.rawValue).sorted().joined(separator: ",") + "}"
        return [orderNo.digits, change.status.rawValue, change.paymentCode, change.channelTxn, change.failureReason,
                change.failureMessage, change.paidAt.map(String.init), String(now), fromArray]
    }

    private static func applyTransition(_ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange, now: Int64,
                                        on c: Connection) throws -> (OrderRecord, changed: Bool)? {
        let updated = try c.execute("\(transitionUpdateSQL) RETURNING \(orderColumns)",
                                    transitionParameters(orderNo, from: from, change: change, now: now))
        if let row = updated.rows.first { return (try order(row), changed: true) }
        guard let current = try fetchOrder(orderNo, on: c) else { return nil }
        return (current, changed: false)
    }

    // MARK: Nonces

    public func recordNonce(_ nonce: NonceRecord) throws -> Bool {
        try run { try nonce.insert(on: $0) }
    }

    @discardableResult
    public func pruneNonces(now: Int64) throws -> Int {
        try run { try $0.execute(NonceSQL.postgresPrune, [String(now)]) }.affectedRows
    }

    // MARK: Refunds

    private static let refundColumns = "refund_no, order_no, amount, currency, refund_ref, status, staff_id, reason, created_at, completed_at, cashier_id, shift_id"

    private static func refund(_ r: [String?]) throws -> RefundRecord {
        let row = PostgresRow(r)
        guard let no = RefundNumber(try row.string(0)), let orderNo = OrderNumber(try row.string(1)),
              let status = RefundStatus(rawValue: try row.string(5)) else {
            throw StorageError.failed("corrupt refund row \(r.first.flatMap { $0 } ?? "?")")
        }
        return RefundRecord(refundNo: no, orderNo: orderNo, amount: try row.int64(2), currency: try row.string(3),
                            refundRef: try row.string(4), status: status, staffID: try row.string(6),
                            reason: row.optionalString(7), createdAt: try row.int64(8), completedAt: try row.optionalInt64(9),
                            cashierID: row.optionalString(10), shiftID: row.optionalString(11))
    }

    private static func values(_ r: RefundRecord) -> [String?] {
        [r.refundNo.text, r.orderNo.digits, String(r.amount), r.currency, r.refundRef, r.status.rawValue, r.staffID,
         r.reason, String(r.createdAt), r.completedAt.map(String.init), r.cashierID, r.shiftID]
    }

    private static let insertRefundSQL = "INSERT INTO refunds (\(refundColumns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"

    public func refunds(of orderNo: OrderNumber) throws -> [RefundRecord] {
        try run {
            try $0.execute("SELECT \(Self.refundColumns) FROM refunds WHERE order_no = $1 ORDER BY created_at, refund_no",
                           [orderNo.digits])
        }.rows.map(Self.refund)
    }

    /// SELECT ... FOR UPDATE on the order row serializes every reservation for that order, so concurrent
    /// refunds (from any service instance) can never together exceed the paid amount or the refund count.
    public func reserveRefund(_ refund: RefundRecord, maxRefunds: Int, now: Int64) throws -> RefundReservation {
        try inTransaction { c -> RefundReservation in
            guard let order = try Self.fetchOrder(refund.orderNo, forUpdate: true, on: c) else { return .orderNotFound }
            let existing = try c.execute("SELECT \(Self.refundColumns) FROM refunds WHERE order_no = $1 AND refund_ref = $2",
                                         [refund.orderNo.digits, refund.refundRef]).rows.map(Self.refund).first
            if let existing { return existing.amount == refund.amount ? .existing(existing) : .conflict(existing) }
            guard order.status == .paid else { return .orderNotPaid }
            let count = try PostgresRow(c.execute("SELECT count(*) FROM refunds WHERE order_no = $1",
                                                  [refund.orderNo.digits]).rows.first ?? []).int64(0)
            guard count < maxRefunds else { return .limitReached }
            let remaining = order.amount - order.refundedAmount
            guard refund.amount <= remaining else { return .exceedsPaid(remaining: remaining) }
            var row = refund
            row.status = .pending
            row.completedAt = nil
            try c.execute(Self.insertRefundSQL, Self.values(row))
            try c.execute("UPDATE orders SET refunded_amount = refunded_amount + $2, updated_at = $3 WHERE order_no = $1",
                          [row.orderNo.digits, String(row.amount), String(now)])
            return .reserved(row)
        }
    }

    /// Completing a refund twice is harmless; an unknown refund number is `.failed`.
    public func completeRefund(_ refundNo: RefundNumber, now: Int64) throws {
        let found = try run { c in
            try c.execute("""
                WITH target AS (SELECT refund_no FROM refunds WHERE refund_no = $1),
                     done AS (UPDATE refunds SET status = 'succeeded', completed_at = $2
                              WHERE refund_no = $1 AND status = 'pending' RETURNING refund_no)
                SELECT count(*) FROM target
                """, [refundNo.text, String(now)])
        }
        guard (try PostgresRow(found.rows.first ?? []).int64(0)) > 0 else { throw StorageError.failed("no refund \(refundNo)") }
    }

    /// One statement: the pending row's delete and the order's update, as data-modifying CTEs.
    public func dropRefusedRefund(_ refundNo: RefundNumber, now: Int64) throws -> Bool {
        let result = try run { c in
            try c.execute("""
                WITH gone AS (DELETE FROM refunds WHERE refund_no = $1 AND status = 'pending' RETURNING order_no, amount),
                     released AS (UPDATE orders SET refunded_amount = orders.refunded_amount - gone.amount, updated_at = $2
                                  FROM gone WHERE orders.order_no = gone.order_no RETURNING 1)
                SELECT count(*) FROM released
                """, [refundNo.text, String(now)])
        }
        return (try PostgresRow(result.rows.first ?? []).int64(0)) > 0
    }

    // MARK: Shifts

    public func orders(ofShift shiftID: String) throws -> [OrderRecord] {
        try run {
            try $0.execute("SELECT \(Self.orderColumns) FROM orders WHERE shift_id = $1 ORDER BY created_at, order_no", [shiftID])
        }.rows.map(Self.order)
    }

    /// A shift's refunds joined with their orders: the refund's columns, then the order's.
    private static let refundsOfShiftSQL: String = {
        func qualified(_ columns: String, _ table: String) -> String {
            columns.split(separator: ",").map { "\(table)." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")
        }
        return """
            SELECT \(qualified(refundColumns, "r")), \(qualified(orderColumns, "o")) FROM refunds r JOIN orders o ON o.order_no = r.order_no
            WHERE r.shift_id = $1 ORDER BY r.created_at, r.refund_no
            """
    }()
    private static let refundColumnCount = refundColumns.split(separator: ",").count

    public func refunds(ofShift shiftID: String) throws -> [(refund: RefundRecord, order: OrderRecord)] {
        try run { try $0.execute(Self.refundsOfShiftSQL, [shiftID]) }.rows.map { row in
            (try Self.refund(Array(row.prefix(Self.refundColumnCount))), try Self.order(Array(row.dropFirst(Self.refundColumnCount))))
        }
    }

    // MARK: Lists

    public func listOrders(_ scope: OrderListScope, before: OrderListCursor?, limit: Int) throws -> [OrderRecord] {
        try run { c in
            if let before {
                return try c.execute("""
                    SELECT \(Self.orderColumns) FROM orders WHERE \(scope.column) = $1 AND (created_at, order_no) < ($2, $3)
                    ORDER BY created_at DESC, order_no DESC LIMIT $4
                    """, [scope.id, String(before.createdAt), before.orderNo, String(limit)])
            }
            return try c.execute("""
                SELECT \(Self.orderColumns) FROM orders WHERE \(scope.column) = $1 ORDER BY created_at DESC, order_no DESC LIMIT $2
                """, [scope.id, String(limit)])
        }.rows.map(Self.order)
    }

    public func stalePayingOrders(updatedBefore: Int64, limit: Int) throws -> [OrderRecord] {
        try run {
            try $0.execute("""
                SELECT \(Self.orderColumns) FROM orders WHERE \(OrderGroupSQL.payingPredicate) AND updated_at < $1
                ORDER BY updated_at, order_no LIMIT $2
                """, [String(updatedBefore), String(limit)])
        }.rows.map(Self.order)
    }

    public func stalePendingRefunds(createdBefore: Int64, limit: Int) throws -> [RefundRecord] {
        try run {
            try $0.execute("""
                SELECT \(Self.refundColumns) FROM refunds WHERE \(OrderGroupSQL.pendingRefundPredicate) AND created_at < $1
                ORDER BY created_at, refund_no LIMIT $2
                """, [String(createdBefore), String(limit)])
        }.rows.map(Self.refund)
    }

    public func allOrders(after: OrderNumber?, limit: Int) throws -> [OrderRecord] {
        try run {
            try $0.execute("SELECT \(Self.orderColumns) FROM orders WHERE order_no > $1 ORDER BY order_no LIMIT $2",
                           [after?.digits ?? "", String(limit)])
        }.rows.map(Self.order)
    }

    public func importOrder(_ order: OrderRecord, refunds: [RefundRecord]) throws {
        try inTransaction { c in
            try c.execute(Self.insertOrderSQL + " ON CONFLICT DO NOTHING", Self.values(order))
            for r in refunds { try c.execute(Self.insertRefundSQL + " ON CONFLICT DO NOTHING", Self.values(r)) }
        }
    }
}

extension PostgresOrderGroupStore: ReconnectingStore {
    public var reconnects: Int { pool.reconnects }
}
