import CashierCore
import Postgres
import SQLite

/// The shifts table, which both base stores keep alike: one row per shift, at most one open per device
/// (a partial unique index), Z numbers unique per store.
enum ShiftSQL {
    static let columns = """
        id, store_id, device_id, currency, opening_float, opened_at, opened_by, opened_by_name, opened_by_role, \
        closed_at, closed_by, closed_by_name, closed_by_role, counted_cash, z_number, z_report
        """

    static let sqliteSchema = [
        """
        CREATE TABLE IF NOT EXISTS shifts (
            id TEXT PRIMARY KEY, store_id TEXT NOT NULL REFERENCES stores(id), device_id TEXT NOT NULL REFERENCES devices(id),
            currency TEXT NOT NULL, opening_float INTEGER NOT NULL, opened_at INTEGER NOT NULL, opened_by TEXT NOT NULL,
            opened_by_name TEXT NOT NULL, opened_by_role TEXT NOT NULL, closed_at INTEGER, closed_by TEXT,
            closed_by_name TEXT, closed_by_role TEXT, counted_cash INTEGER, z_number INTEGER, z_report TEXT)
        """,
        "CREATE UNIQUE INDEX IF NOT EXISTS shifts_open ON shifts(device_id) WHERE closed_at IS NULL",
        "CREATE UNIQUE INDEX IF NOT EXISTS shifts_z ON shifts(store_id, z_number) WHERE z_number IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS shifts_store ON shifts(store_id, opened_at DESC)",
    ]

    static let postgresSchema = [
        """
        CREATE TABLE IF NOT EXISTS shifts (
            id text PRIMARY KEY, store_id text NOT NULL REFERENCES stores(id), device_id text NOT NULL REFERENCES devices(id),
            currency text NOT NULL, opening_float bigint NOT NULL, opened_at bigint NOT NULL, opened_by text NOT NULL,
            opened_by_name text NOT NULL, opened_by_role text NOT NULL, closed_at bigint, closed_by text,
            closed_by_name text, closed_by_role text, counted_cash bigint, z_number integer, z_report text)
        """,
        "CREATE UNIQUE INDEX IF NOT EXISTS shifts_open ON shifts(device_id) WHERE closed_at IS NULL",
        "CREATE UNIQUE INDEX IF NOT EXISTS shifts_z ON shifts(store_id, z_number) WHERE z_number IS NOT NULL",
        "CREATE INDEX IF NOT EXISTS shifts_store ON shifts(store_id, opened_at DESC)",
    ]

    /// The row's values in `columns` order, as text (NULL for nil); both backends bind these.
    static func values(_ s: ShiftRecord) -> [String?] {
        [s.id, s.storeID, s.deviceID, s.currency, String(s.openingFloat), String(s.openedAt), s.openedBy.id,
         s.openedBy.name, s.openedBy.role.rawValue, s.closedAt.map(String.init), s.closedBy?.id, s.closedBy?.name,
         s.closedBy?.role.rawValue, s.countedCash.map(String.init), s.zNumber.map(String.init), s.zReport]
    }

    /// A row read back (every value as text or NULL).
    static func record(_ v: [String?]) throws(StorageError) -> ShiftRecord {
        func text(_ i: Int) throws(StorageError) -> String {
            guard i < v.count, let t = v[i] else { throw .failed("unexpected NULL in shifts column \(i)") }
            return t
        }
        func int(_ i: Int) throws(StorageError) -> Int64 {
            guard let n = Int64(try text(i)) else { throw .failed("not an integer in shifts column \(i)") }
            return n
        }
        func optionalInt(_ i: Int) throws(StorageError) -> Int64? { v[i] == nil ? nil : try int(i) }
        func staff(_ i: Int) throws(StorageError) -> ShiftStaff? {
            guard v[i] != nil else { return nil }
            guard let role = StaffRole(rawValue: try text(i + 2)) else { throw .failed("unknown staff role in shift \(v[0] ?? "?")") }
            return ShiftStaff(id: try text(i), name: try text(i + 1), role: role)
        }
        guard v.count == 16, let openedBy = try staff(6) else { throw .failed("corrupt shift row \(v.first.flatMap { $0 } ?? "?")") }
        return ShiftRecord(id: try text(0), storeID: try text(1), deviceID: try text(2), currency: try text(3),
                           openingFloat: try int(4), openedAt: try int(5), openedBy: openedBy, closedAt: try optionalInt(9),
                           closedBy: try staff(10), countedCash: try optionalInt(13), zNumber: try optionalInt(14).map { Int($0) },
                           zReport: v[15])
    }
}

extension SQLiteBaseStore {
    private static func sqliteValues(_ s: ShiftRecord) -> [SQLiteValue] {
        ShiftSQL.values(s).map { $0.map(SQLiteValue.text) ?? .null }
    }

    private static func shiftRow(_ s: Statement) throws -> ShiftRecord {
        try ShiftSQL.record((0..<16).map { s.optionalString(Int32($0)) })
    }

    private func fetchShift(_ sql: String, _ key: String) throws -> ShiftRecord? {
        try db.query("SELECT \(ShiftSQL.columns) FROM shifts WHERE \(sql)", [.text(key)], row: Self.shiftRow).first
    }

    public func openShift(_ shift: ShiftRecord) throws -> ShiftOpening {
        try storage {
            try db.write { () throws -> ShiftOpening in
                if let open = try fetchShift("device_id = ? AND closed_at IS NULL", shift.deviceID) { return .alreadyOpen(open) }
                let marks = Array(repeating: "?", count: 16).joined(separator: ", ")
                try db.run("INSERT INTO shifts (\(ShiftSQL.columns)) VALUES (\(marks))", Self.sqliteValues(shift))
                return .opened(shift)
            }
        }
    }

    public func shift(id: String) throws -> ShiftRecord? {
        try storage { try fetchShift("id = ?", id) }
    }

    public func openShift(deviceID: String) throws -> ShiftRecord? {
        try storage { try fetchShift("device_id = ? AND closed_at IS NULL", deviceID) }
    }

    /// One write transaction: SQLite has one writer at a time, so reading the store's highest Z number
    /// and giving the next cannot race another close.
    public func closeShift(id: String, closedBy: ShiftStaff, countedCash: Int64, now: Int64,
                           zReport: (Int) -> String) throws -> ShiftClosing {
        try storage {
            try db.write { () throws -> ShiftClosing in
                guard var shift = try fetchShift("id = ?", id) else { return .notFound }
                guard shift.isOpen else { return .alreadyClosed(shift) }
                let highest = try db.query("SELECT max(z_number) FROM shifts WHERE store_id = ?", [.text(shift.storeID)]) {
                    $0.optionalInt64(0)
                }.first ?? nil
                shift.zNumber = Int(highest ?? 0) + 1
                shift.closedAt = now
                shift.closedBy = closedBy
                shift.countedCash = countedCash
                shift.zReport = zReport(shift.zNumber!)
                try db.run("""
                    UPDATE shifts SET closed_at = ?, closed_by = ?, closed_by_name = ?, closed_by_role = ?, counted_cash = ?,
                        z_number = ?, z_report = ? WHERE id = ? AND closed_at IS NULL
                    """, [.integer(now), .text(closedBy.id), .text(closedBy.name), .text(closedBy.role.rawValue),
                          .integer(countedCash), .integer(Int64(shift.zNumber!)), .text(shift.zReport), .text(id)])
                return .closed(shift)
            }
        }
    }

    public func shifts(storeID: String, limit: Int) throws -> [ShiftRecord] {
        try storage {
            try db.query("SELECT \(ShiftSQL.columns) FROM shifts WHERE store_id = ? ORDER BY opened_at DESC, id DESC LIMIT ?",
                         [.text(storeID), .integer(Int64(limit))], row: Self.shiftRow)
        }
    }
}

extension PostgresBaseStore {
    private func fetchShift(_ condition: String, _ key: String, on c: Connection, forUpdate: Bool = false) throws -> ShiftRecord? {
        try c.execute("SELECT \(ShiftSQL.columns) FROM shifts WHERE \(condition)\(forUpdate ? " FOR UPDATE" : "")", [key])
            .rows.first.map(ShiftSQL.record)
    }

    /// The partial unique index refuses a second open shift of a device even from two instances at once;
    /// the loser reads the winner's.
    public func openShift(_ shift: ShiftRecord) throws -> ShiftOpening {
        try inTransaction { c in
            let marks = (1...16).map { "$\($0)" }.joined(separator: ", ")
            let inserted = try c.execute("""
                INSERT INTO shifts (\(ShiftSQL.columns)) VALUES (\(marks))
                ON CONFLICT (device_id) WHERE closed_at IS NULL DO NOTHING
                """, ShiftSQL.values(shift)).affectedRows
            if inserted == 1 { return .opened(shift) }
            guard let open = try fetchShift("device_id = $1 AND closed_at IS NULL", shift.deviceID, on: c) else {
                throw StorageError.unavailable("the open shift of \(shift.deviceID) was closed meanwhile; try again")
            }
            return .alreadyOpen(open)
        }
    }

    public func shift(id: String) throws -> ShiftRecord? {
        try run { c in try fetchShift("id = $1", id, on: c) }
    }

    public func openShift(deviceID: String) throws -> ShiftRecord? {
        try run { c in try fetchShift("device_id = $1 AND closed_at IS NULL", deviceID, on: c) }
    }

    /// The store's row is locked for the transaction, so two instances closing two shifts of one store at
    /// once take turns for the next Z number; the shift's own row lock makes a second close of it wait and
    /// then find it closed.
    public func closeShift(id: String, closedBy: ShiftStaff, countedCash: Int64, now: Int64,
                           zReport: (Int) -> String) throws -> ShiftClosing {
        try inTransaction { c in
            guard let found = try fetchShift("id = $1", id, on: c) else { return .notFound }
            _ = try c.execute("SELECT 1 FROM stores WHERE id = $1 FOR UPDATE", [found.storeID])
            guard var shift = try fetchShift("id = $1", id, on: c, forUpdate: true) else { return .notFound }
            guard shift.isOpen else { return .alreadyClosed(shift) }
            let highest = try c.execute("SELECT max(z_number) FROM shifts WHERE store_id = $1", [shift.storeID]).rows.first?.first ?? nil
            shift.zNumber = (highest.flatMap { Int($0) } ?? 0) + 1
            shift.closedAt = now
            shift.closedBy = closedBy
            shift.countedCash = countedCash
            shift.zReport = zReport(shift.zNumber!)
            _ = try c.execute("""
                UPDATE shifts SET closed_at = $1, closed_by = $2, closed_by_name = $3, closed_by_role = $4, counted_cash = $5,
                    z_number = $6, z_report = $7 WHERE id = $8 AND closed_at IS NULL
                """, [String(now), closedBy.id, closedBy.name, closedBy.role.rawValue, String(countedCash),
                      String(shift.zNumber!), shift.zReport, id])
            return .closed(shift)
        }
    }

    public func shifts(storeID: String, limit: Int) throws -> [ShiftRecord] {
        try run { c in
            try c.execute("SELECT \(ShiftSQL.columns) FROM shifts WHERE store_id = $1 ORDER BY opened_at DESC, id DESC LIMIT $2",
                          [storeID, String(limit)]).rows.map(ShiftSQL.record)
        }
    }
}
