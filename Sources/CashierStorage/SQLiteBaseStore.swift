import CashierCore
import CashierCrypto
import SQLite

/// Base data in one SQLite file shared by every service instance on the machine.
public final class SQLiteBaseStore: BaseStore {
    /// 2: devices keep a key type and either a secret or a public key; the service's signing key.
    /// 3: stores have a time zone.
    public static let schemaVersion: Int64 = 3

    let db: Database
    /// A read-only connection for the device and store lookups of every signed request, so they never wait
    /// behind the writer's commit (WAL readers do not block on the writer). The writer itself for `.memory`.
    private let lookups: Database
    private let serviceKey = ServiceKeyCache()

    /// Opens (creating if needed) the base database at `location`.
    public init(_ location: Database.Location, busyTimeoutMilliseconds: Int32 = 5_000) throws(StorageError) {
        let db = try storage {
            try Database(location, options: .init(busyTimeoutMilliseconds: busyTimeoutMilliseconds,
                                                   checkpoints: .inBackground(everyMilliseconds: SQLiteTuning.checkpointIntervalMilliseconds)))
        }
        try storage { try applySchema(db, version: Self.schemaVersion, statements: Self.schema, migrations: Self.migrations) }
        self.db = db
        lookups = location == .memory ? db : try storage {
            try Database(location, options: .init(busyTimeoutMilliseconds: busyTimeoutMilliseconds, readOnly: true))
        }
    }

    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS merchants (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS stores (
            id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL REFERENCES merchants(id), name TEXT NOT NULL,
            currency TEXT NOT NULL, created_at INTEGER NOT NULL, time_zone TEXT NOT NULL DEFAULT 'UTC')
        """,
        """
        CREATE TABLE IF NOT EXISTS staff (
            id TEXT PRIMARY KEY, store_id TEXT NOT NULL REFERENCES stores(id), name TEXT NOT NULL,
            role TEXT NOT NULL, pin_hash TEXT NOT NULL, created_at INTEGER NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS staff_store ON staff(store_id)",
        devicesTable("IF NOT EXISTS devices"),
        """
        CREATE TABLE IF NOT EXISTS service_keys (
            purpose TEXT PRIMARY KEY, private_key BLOB NOT NULL, public_key BLOB NOT NULL, created_at INTEGER NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS activation_codes (
            code TEXT PRIMARY KEY, store_id TEXT NOT NULL REFERENCES stores(id), created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL, used_at INTEGER, device_id TEXT REFERENCES devices(id))
        """,
        """
        CREATE TABLE IF NOT EXISTS store_channels (
            store_id TEXT NOT NULL REFERENCES stores(id), channel TEXT NOT NULL, settings TEXT NOT NULL,
            updated_at INTEGER NOT NULL, PRIMARY KEY (store_id, channel))
        """,
        "CREATE TABLE IF NOT EXISTS attempts (key TEXT NOT NULL, at INTEGER NOT NULL)",
        "CREATE INDEX IF NOT EXISTS attempts_key ON attempts(key, at)",
    ] + NonceSQL.sqliteSchema + ShiftSQL.sqliteSchema + SharedSettingSQL.sqliteSchema

    /// The devices table: a key type and, depending on it, either the HMAC secret or the Ed25519 public
    /// key; the other column is NULL.
    static func devicesTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            id TEXT PRIMARY KEY, store_id TEXT NOT NULL REFERENCES stores(id), name TEXT NOT NULL,
            key_type TEXT NOT NULL, secret BLOB, public_key BLOB, activated_at INTEGER NOT NULL, revoked_at INTEGER,
            CHECK ((key_type = '\(DeviceKeyColumns.hmacType)' AND secret IS NOT NULL AND public_key IS NULL)
                OR (key_type = '\(DeviceKeyColumns.ed25519Type)' AND secret IS NULL AND public_key IS NOT NULL)))
        """
    }

    /// Version 2 from 1: SQLite cannot drop a NOT NULL, so the devices table is rebuilt with the key
    /// columns (every existing device keeps its secret) and put in the old one's place; the activation
    /// codes that name devices still name the same rows.
    static let migrations: [Int64: [String]] = [
        2: [
            devicesTable("devices_v2"),
            """
            INSERT INTO devices_v2 (id, store_id, name, key_type, secret, public_key, activated_at, revoked_at)
            SELECT id, store_id, name, '\(DeviceKeyColumns.hmacType)', secret, NULL, activated_at, revoked_at FROM devices
            """,
            "DROP TABLE devices",
            "ALTER TABLE devices_v2 RENAME TO devices",
        ],
        3: ["ALTER TABLE stores ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC'"],
    ]

    // MARK: Merchants and stores

    public func insertMerchant(_ merchant: MerchantRecord) throws {
        try storage {
            try db.run("INSERT INTO merchants (id, name, created_at) VALUES (?, ?, ?)",
                       [.text(merchant.id), .text(merchant.name), .integer(merchant.createdAt)])
        }
    }

    public func merchant(id: String) throws -> MerchantRecord? {
        try storage { try db.query("SELECT id, name, created_at FROM merchants WHERE id = ?", [.text(id)], row: Self.merchant).first }
    }

    public func merchants() throws -> [MerchantRecord] {
        try storage { try db.query("SELECT id, name, created_at FROM merchants ORDER BY id", row: Self.merchant) }
    }

    private static func merchant(_ s: Statement) -> MerchantRecord {
        MerchantRecord(id: s.string(0), name: s.string(1), createdAt: s.int64(2))
    }

    public func insertStore(_ store: StoreRecord) throws {
        try storage {
            try db.run("INSERT INTO stores (id, merchant_id, name, currency, created_at, time_zone) VALUES (?, ?, ?, ?, ?, ?)",
                       [.text(store.id), .text(store.merchantID), .text(store.name), .text(store.currency), .integer(store.createdAt),
                        .text(store.timeZone)])
        }
    }

    public func store(id: String) throws -> StoreRecord? {
        try storage {
            try lookups.query("SELECT id, merchant_id, name, currency, created_at, time_zone FROM stores WHERE id = ?", [.text(id)], row: Self.store).first
        }
    }

    public func stores() throws -> [StoreRecord] {
        try storage { try db.query("SELECT id, merchant_id, name, currency, created_at, time_zone FROM stores ORDER BY id", row: Self.store) }
    }

    private static func store(_ s: Statement) -> StoreRecord {
        StoreRecord(id: s.string(0), merchantID: s.string(1), name: s.string(2), currency: s.string(3), createdAt: s.int64(4),
                    timeZone: s.string(5))
    }

    public func setStoreTimeZone(storeID: String, timeZone: String) throws -> Bool {
        try storage { try db.run("UPDATE stores SET time_zone = ? WHERE id = ?", [.text(timeZone), .text(storeID)]) == 1 }
    }

    // MARK: Store channels

    public func storeChannels(storeID: String) throws -> [StoreChannelRecord] {
        try storage {
            try lookups.query("SELECT store_id, channel, settings, updated_at FROM store_channels WHERE store_id = ? ORDER BY channel",
                              [.text(storeID)]) {
                StoreChannelRecord(storeID: $0.string(0), channel: $0.string(1), settings: $0.string(2), updatedAt: $0.int64(3))
            }
        }
    }

    public func setStoreChannel(_ record: StoreChannelRecord) throws {
        try storage {
            try db.run("""
                INSERT INTO store_channels (store_id, channel, settings, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (store_id, channel) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at
                """, [.text(record.storeID), .text(record.channel), .text(record.settings), .integer(record.updatedAt)])
        }
    }

    public func removeStoreChannel(storeID: String, channel: String) throws -> Bool {
        try storage { try db.run("DELETE FROM store_channels WHERE store_id = ? AND channel = ?", [.text(storeID), .text(channel)]) > 0 }
    }

    // MARK: Staff

    public func insertStaff(_ staff: StaffRecord) throws {
        try storage {
            try db.run("INSERT INTO staff (id, store_id, name, role, pin_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                       [.text(staff.id), .text(staff.storeID), .text(staff.name), .text(staff.role.rawValue),
                        .text(staff.pinHash.encoded), .integer(staff.createdAt)])
        }
    }

    public func staff(storeID: String) throws -> [StaffRecord] {
        let rows = try storage {
            try db.query("SELECT id, store_id, name, role, pin_hash, created_at FROM staff WHERE store_id = ? ORDER BY id",
                         [.text(storeID)]) { s in
                (s.string(0), s.string(1), s.string(2), s.string(3), s.string(4), s.int64(5))
            }
        }
        return try rows.map { r throws(StorageError) in
            guard let role = StaffRole(rawValue: r.3), let hash = PINHash(encoded: r.4) else {
                throw .failed("corrupt staff row \(r.0)")
            }
            return StaffRecord(id: r.0, storeID: r.1, name: r.2, role: role, pinHash: hash, createdAt: r.5)
        }
    }

    // MARK: Activation and devices

    private static let codeColumns = "code, store_id, created_at, expires_at, used_at, device_id"

    private static func code(_ s: Statement) -> ActivationCodeRecord {
        ActivationCodeRecord(code: s.string(0), storeID: s.string(1), createdAt: s.int64(2), expiresAt: s.int64(3),
                             usedAt: s.optionalInt64(4), deviceID: s.optionalString(5))
    }

    public func insertActivationCode(_ code: ActivationCodeRecord) throws {
        try storage {
            try db.run("INSERT INTO activation_codes (\(Self.codeColumns)) VALUES (?, ?, ?, ?, ?, ?)",
                       [.text(code.code), .text(code.storeID), .integer(code.createdAt), .integer(code.expiresAt),
                        .integer(code.usedAt), .text(code.deviceID)])
        }
    }

    public func activationCodes(storeID: String?) throws -> [ActivationCodeRecord] {
        try storage {
            if let storeID {
                return try db.query("SELECT \(Self.codeColumns) FROM activation_codes WHERE store_id = ? ORDER BY created_at, code",
                                    [.text(storeID)], row: Self.code)
            }
            return try db.query("SELECT \(Self.codeColumns) FROM activation_codes ORDER BY created_at, code", row: Self.code)
        }
    }

    /// BEGIN IMMEDIATE takes the write lock before the code is read, so two redeemers (threads or
    /// processes) cannot both see it unused.
    public func redeemActivationCode(_ code: String, now: Int64, makeDevice: (String) -> DeviceRecord) throws -> RedeemOutcome {
        try storage {
            try db.write {
                guard let record = try db.query("SELECT \(Self.codeColumns) FROM activation_codes WHERE code = ?",
                                                [.text(code)], row: Self.code).first else { return .unknownCode }
                if record.usedAt != nil { return .alreadyUsed }
                if now >= record.expiresAt { return .expired }
                var device = makeDevice(record.storeID)
                device.storeID = record.storeID
                try insertDevice(device)
                try db.run("UPDATE activation_codes SET used_at = ?, device_id = ? WHERE code = ?",
                           [.integer(now), .text(device.id), .text(code)])
                return .activated(device)
            }
        }
    }

    private static let deviceColumns = "id, store_id, name, key_type, secret, public_key, activated_at, revoked_at"

    private func insertDevice(_ d: DeviceRecord) throws {
        let key = DeviceKeyColumns.split(d.key)
        try db.run("INSERT INTO devices (\(Self.deviceColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [.text(d.id), .text(d.storeID), .text(d.name), .text(key.type), .blob(key.secret), .blob(key.publicKey),
                    .integer(d.activatedAt), .integer(d.revokedAt)])
    }

    private static func device(_ s: Statement) throws -> DeviceRecord {
        let id = s.string(0)
        let key = try DeviceKeyColumns.join(type: s.string(3), secret: s.isNull(4) ? nil : s.blob(4),
                                            publicKey: s.isNull(5) ? nil : s.blob(5), device: id)
        return DeviceRecord(id: id, storeID: s.string(1), name: s.string(2), key: key,
                            activatedAt: s.int64(6), revokedAt: s.optionalInt64(7))
    }

    public func device(id: String) throws -> DeviceRecord? {
        try storage {
            try lookups.query("SELECT \(Self.deviceColumns) FROM devices WHERE id = ?", [.text(id)], row: Self.device).first
        }
    }

    public func devices() throws -> [DeviceRecord] {
        try storage {
            try db.query("SELECT \(Self.deviceColumns) FROM devices ORDER BY activated_at, id", row: Self.device)
        }
    }

    /// One conditional UPDATE: the key columns must still hold `current` (`IS` compares NULLs too).
    public func replaceDeviceKey(id: String, current: VerifyingKey, new: VerifyingKey) throws -> Bool {
        let old = DeviceKeyColumns.split(current)
        let replacement = DeviceKeyColumns.split(new)
        return try storage {
            try db.write {
                try db.run("""
                    UPDATE devices SET key_type = ?, secret = ?, public_key = ?
                    WHERE id = ? AND revoked_at IS NULL AND key_type = ? AND secret IS ? AND public_key IS ?
                    """, [.text(replacement.type), .blob(replacement.secret), .blob(replacement.publicKey),
                          .text(id), .text(old.type), .blob(old.secret), .blob(old.publicKey)]) == 1
            }
        }
    }

    /// Of two instances making the key at once, the first insert wins and both read that one.
    public func serviceSigningKey(make: () -> Ed25519.PrivateKey, now: Int64) throws -> Ed25519.PrivateKey {
        try serviceKey.get { () throws(StorageError) in
            try storage {
                if let stored = try readServiceKey() { return stored }
                let made = make()
                _ = try db.write {
                    try db.run("INSERT INTO service_keys (purpose, private_key, public_key, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                               [.text(ServiceKeySQL.responsePurpose), .blob(made.seed), .blob(made.publicKey), .integer(now)])
                }
                guard let stored = try readServiceKey() else { throw StorageError.failed("the service key was not stored") }
                return stored
            }
        }
    }

    private func readServiceKey() throws -> Ed25519.PrivateKey? {
        let seeds = try db.query("SELECT private_key FROM service_keys WHERE purpose = ?", [.text(ServiceKeySQL.responsePurpose)]) {
            $0.blob(0)
        }
        guard let seed = seeds.first else { return nil }
        guard let key = Ed25519.PrivateKey(seed: seed) else { throw StorageError.failed("corrupt service key") }
        return key
    }

    /// A device already revoked keeps its first revocation time.
    public func revokeDevice(id: String, now: Int64) throws -> Bool {
        try storage {
            try db.write {
                try db.run("UPDATE devices SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", [.integer(now), .text(id)]) > 0
            }
        }
    }

    // MARK: Nonces and attempts

    public func recordNonce(deviceID: String, nonce: String, expiresAt: Int64) throws -> Bool {
        try storage {
            // Group commit: concurrent requests' nonces share one fsync.
            try db.write {
                try NonceRecord(deviceID: deviceID, nonce: nonce, expiresAt: expiresAt).insert(into: db)
            }
        }
    }

    @discardableResult
    public func pruneNonces(now: Int64) throws -> Int {
        try storage { try db.run(NonceSQL.sqlitePrune, [.integer(now)]) }
    }

    /// Also forgets this key's attempts older than `windowStart`, so the table stays small.
    public func countAttempt(key: String, now: Int64, windowStart: Int64) throws -> Int {
        try storage {
            try db.write {
                try db.run("DELETE FROM attempts WHERE key = ? AND at < ?", [.text(key), .integer(windowStart)])
                try db.run("INSERT INTO attempts (key, at) VALUES (?, ?)", [.text(key), .integer(now)])
                return try countAttempts(key: key, windowStart: windowStart)
            }
        }
    }

    public func attempts(key: String, windowStart: Int64) throws -> Int {
        try storage { try countAttempts(key: key, windowStart: windowStart) }
    }

    private func countAttempts(key: String, windowStart: Int64) throws -> Int {
        try db.query("SELECT count(*) FROM attempts WHERE key = ? AND at >= ?", [.text(key), .integer(windowStart)]) {
            Int($0.int64(0))
        }.first ?? 0
    }

    public func clearAttempts(key: String) throws {
        try storage { try db.write { try db.run("DELETE FROM attempts WHERE key = ?", [.text(key)]) } }
    }
}
