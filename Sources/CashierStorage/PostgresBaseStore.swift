import CashierCore
import CashierCrypto
import Foundation
import Postgres

/// Base data in one PostgreSQL database shared by every service instance.
///
/// Calls block the calling thread (libpq is synchronous); the service runs them on threads of its own.
/// The schema is created on `open` and, if the server was down then, before the first call that reaches it.
public final class PostgresBaseStore: BaseStore {
    public let pool: ConnectionPool
    private let schema: PostgresSchema
    private let serviceKey = ServiceKeyCache()

    /// Uses `pool` without touching the server; the schema is created by the first call that gets through.
    public init(pool: ConnectionPool) {
        self.pool = pool
        self.schema = PostgresSchema(name: "cashier_base", statements: Self.schemaStatements)
    }

    /// Opens a pool to `options` and creates the schema now; throws `.unavailable` if the server is down.
    public static func open(_ options: ConnectionOptions, maxConnections: Int = 4) throws(StorageError) -> PostgresBaseStore {
        let store = PostgresBaseStore(pool: ConnectionPool(options: options, maxConnections: maxConnections))
        try store.schema.ensure(store.pool)
        return store
    }

    static let schemaStatements = [
        "CREATE TABLE IF NOT EXISTS merchants (id text PRIMARY KEY, name text NOT NULL, created_at bigint NOT NULL)",
        """
        CREATE TABLE IF NOT EXISTS stores (
            id text PRIMARY KEY, merchant_id text NOT NULL REFERENCES merchants(id), name text NOT NULL,
            currency text NOT NULL, created_at bigint NOT NULL, time_zone text NOT NULL DEFAULT 'UTC')
        """,
        // A base made before store time zones: every store is UTC until one is set. Checked first, so a
        // current table is not locked for nothing.
        """
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                           WHERE table_schema = current_schema() AND table_name = 'stores' AND column_name = 'time_zone') THEN
                ALTER TABLE stores ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC';
            END IF;
        END $$
        """,
        """
        CREATE TABLE IF NOT EXISTS staff (
            id text PRIMARY KEY, store_id text NOT NULL REFERENCES stores(id), name text NOT NULL,
            role text NOT NULL, pin_hash text NOT NULL, created_at bigint NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS staff_store ON staff(store_id)",
        // The key columns come last, where adding them to an older table puts them.
        """
        CREATE TABLE IF NOT EXISTS devices (
            id text PRIMARY KEY, store_id text NOT NULL REFERENCES stores(id), name text NOT NULL,
            secret_hex text, activated_at bigint NOT NULL, revoked_at bigint,
            key_type text NOT NULL DEFAULT '\(DeviceKeyColumns.hmacType)', public_key_hex text,
            CONSTRAINT devices_one_key CHECK (\(oneKeyCheck)))
        """,
        // A base made before public keys: the key columns are added (every existing device is an HMAC
        // one, and so is one an instance of the older version inserts during a rolling upgrade, by the
        // default) and the secret may be NULL. Checked first, so a current table is not locked for nothing.
        """
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                           WHERE table_schema = current_schema() AND table_name = 'devices' AND column_name = 'key_type') THEN
                ALTER TABLE devices ADD COLUMN key_type text NOT NULL DEFAULT '\(DeviceKeyColumns.hmacType)',
                                    ADD COLUMN public_key_hex text,
                                    ALTER COLUMN secret_hex DROP NOT NULL;
            END IF;
            IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'devices_one_key' AND conrelid = 'devices'::regclass) THEN
                ALTER TABLE devices ADD CONSTRAINT devices_one_key CHECK (\(oneKeyCheck));
            END IF;
        END $$
        """,
        """
        CREATE TABLE IF NOT EXISTS service_keys (
            purpose text PRIMARY KEY, private_key_hex text NOT NULL, public_key_hex text NOT NULL, created_at bigint NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS activation_codes (
            code text PRIMARY KEY, store_id text NOT NULL REFERENCES stores(id), created_at bigint NOT NULL,
            expires_at bigint NOT NULL, used_at bigint, device_id text REFERENCES devices(id))
        """,
        """
        CREATE TABLE IF NOT EXISTS store_channels (
            store_id text NOT NULL REFERENCES stores(id), channel text NOT NULL, settings text NOT NULL,
            updated_at bigint NOT NULL, PRIMARY KEY (store_id, channel))
        """,
        "CREATE TABLE IF NOT EXISTS attempts (key text NOT NULL, at bigint NOT NULL)",
        "CREATE INDEX IF NOT EXISTS attempts_key ON attempts(key, at)",
    ] + NonceSQL.postgresSchema + ShiftSQL.postgresSchema + SharedSettingSQL.postgresSchema

    /// A device has exactly the key its type says: the secret or the public key, never both.
    static let oneKeyCheck = """
        (key_type = '\(DeviceKeyColumns.hmacType)' AND secret_hex IS NOT NULL AND public_key_hex IS NULL) \
        OR (key_type = '\(DeviceKeyColumns.ed25519Type)' AND secret_hex IS NULL AND public_key_hex IS NOT NULL)
        """

    /// Runs `body` on a pooled connection once the schema exists, mapping errors to `StorageError`.
    func run<T>(_ body: (Connection) throws -> T) throws(StorageError) -> T {
        try schema.ensure(pool)
        return try postgresStorage { try pool.withConnection(body) }
    }

    func inTransaction<T>(_ body: (Connection) throws -> T) throws(StorageError) -> T {
        try run { try $0.transaction(body) }
    }

    // MARK: Merchants and stores

    public func insertMerchant(_ merchant: MerchantRecord) throws {
        _ = try run { try $0.execute("INSERT INTO merchants (id, name, created_at) VALUES ($1, $2, $3)",
                                 [merchant.id, merchant.name, String(merchant.createdAt)]) }
    }

    public func merchant(id: String) throws -> MerchantRecord? {
        try run { try $0.execute("SELECT id, name, created_at FROM merchants WHERE id = $1", [id]) }
            .rows.map(Self.merchant).first
    }

    public func merchants() throws -> [MerchantRecord] {
        try run { try $0.execute("SELECT id, name, created_at FROM merchants ORDER BY id") }.rows.map(Self.merchant)
    }

    private static func merchant(_ r: [String?]) throws -> MerchantRecord {
        let row = PostgresRow(r)
        return MerchantRecord(id: try row.string(0), name: try row.string(1), createdAt: try row.int64(2))
    }

    public func insertStore(_ store: StoreRecord) throws {
        _ = try run {
            try $0.execute("INSERT INTO stores (id, merchant_id, name, currency, created_at, time_zone) VALUES ($1, $2, $3, $4, $5, $6)",
                           [store.id, store.merchantID, store.name, store.currency, String(store.createdAt), store.timeZone])
        }
    }

    public func store(id: String) throws -> StoreRecord? {
        try run { try $0.execute("SELECT id, merchant_id, name, currency, created_at, time_zone FROM stores WHERE id = $1", [id]) }
            .rows.map(Self.store).first
    }

    public func stores() throws -> [StoreRecord] {
        try run { try $0.execute("SELECT id, merchant_id, name, currency, created_at, time_zone FROM stores ORDER BY id") }.rows.map(Self.store)
    }

    public func setStoreTimeZone(storeID: String, timeZone: String) throws -> Bool {
        try run { try $0.execute("UPDATE stores SET time_zone = $1 WHERE id = $2", [timeZone, storeID]) }.affectedRows == 1
    }

    private static func store(_ r: [String?]) throws -> StoreRecord {
        let row = PostgresRow(r)
        return StoreRecord(id: try row.string(0), merchantID: try row.string(1), name: try row.string(2),
                           currency: try row.string(3), createdAt: try row.int64(4), timeZone: try row.string(5))
    }

    // MARK: Store channels

    public func storeChannels(storeID: String) throws -> [StoreChannelRecord] {
        try run {
            try $0.execute("SELECT store_id, channel, settings, updated_at FROM store_channels WHERE store_id = $1 ORDER BY channel", [storeID])
        }.rows.map { r in
            let row = PostgresRow(r)
            return StoreChannelRecord(storeID: try row.string(0), channel: try row.string(1), settings: try row.string(2),
                                      updatedAt: try row.int64(3))
        }
    }

    public func setStoreChannel(_ record: StoreChannelRecord) throws {
        _ = try run {
            try $0.execute("""
                INSERT INTO store_channels (store_id, channel, settings, updated_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (store_id, channel) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at
                """, [record.storeID, record.channel, record.settings, String(record.updatedAt)])
        }
    }

    public func removeStoreChannel(storeID: String, channel: String) throws -> Bool {
        try run { try $0.execute("DELETE FROM store_channels WHERE store_id = $1 AND channel = $2", [storeID, channel]) }.affectedRows > 0
    }

    // MARK: Staff

    public func insertStaff(_ staff: StaffRecord) throws {
        _ = try run {
            try $0.execute("INSERT INTO staff (id, store_id, name, role, pin_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                           [staff.id, staff.storeID, staff.name, staff.role.rawValue, staff.pinHash.encoded, String(staff.createdAt)])
        }
    }

    public func staff(storeID: String) throws -> [StaffRecord] {
        try run {
            try $0.execute("SELECT id, store_id, name, role, pin_hash, created_at FROM staff WHERE store_id = $1 ORDER BY id", [storeID])
        }.rows.map { r in
            let row = PostgresRow(r)
            guard let role = StaffRole(rawValue: try row.string(3)), let hash = PINHash(encoded: try row.string(4)) else {
                throw StorageError.failed("corrupt staff row \(r.first.flatMap { $0 } ?? "?")")
            }
            return StaffRecord(id: try row.string(0), storeID: try row.string(1), name: try row.string(2), role: role,
                               pinHash: hash, createdAt: try row.int64(5))
        }
    }

    // MARK: Activation and devices

    private static let codeColumns = "code, store_id, created_at, expires_at, used_at, device_id"

    private static func code(_ r: [String?]) throws -> ActivationCodeRecord {
        let row = PostgresRow(r)
        return ActivationCodeRecord(code: try row.string(0), storeID: try row.string(1), createdAt: try row.int64(2),
                                    expiresAt: try row.int64(3), usedAt: try row.optionalInt64(4), deviceID: row.optionalString(5))
    }

    public func insertActivationCode(_ code: ActivationCodeRecord) throws {
        _ = try run {
            try $0.execute("INSERT INTO activation_codes (\(Self.codeColumns)) VALUES ($1, $2, $3, $4, $5, $6)",
                           [code.code, code.storeID, String(code.createdAt), String(code.expiresAt),
                            code.usedAt.map(String.init), code.deviceID])
        }
    }

    public func activationCodes(storeID: String?) throws -> [ActivationCodeRecord] {
        try run { c in
            if let storeID {
                return try c.execute("SELECT \(Self.codeColumns) FROM activation_codes WHERE store_id = $1 ORDER BY created_at, code",
                                     [storeID])
            }
            return try c.execute("SELECT \(Self.codeColumns) FROM activation_codes ORDER BY created_at, code")
        }.rows.map(Self.code)
    }

    /// The conditional UPDATE claims the code: of two concurrent redeemers the second waits for the first's row
    /// lock, re-checks `used_at IS NULL` and matches nothing.
    public func redeemActivationCode(_ code: String, now: Int64, makeDevice: (String) -> DeviceRecord) throws -> RedeemOutcome {
        try inTransaction { c in
            let claimed = try c.execute("""
                UPDATE activation_codes SET used_at = $2 WHERE code = $1 AND used_at IS NULL AND expires_at > $2
                RETURNING store_id
                """, [code, String(now)])
            guard let storeID = claimed.rows.first.flatMap({ $0.first ?? nil }) else {
                let found = try c.execute("SELECT used_at FROM activation_codes WHERE code = $1", [code])
                guard let row = found.rows.first else { return .unknownCode }
                return row[0] != nil ? .alreadyUsed : .expired
            }
            var device = makeDevice(storeID)
            device.storeID = storeID
            try Self.insertDevice(device, on: c)
            try c.execute("UPDATE activation_codes SET device_id = $2 WHERE code = $1", [code, device.id])
            return .activated(device)
        }
    }

    private static func insertDevice(_ d: DeviceRecord, on c: Connection) throws {
        let key = DeviceKeyColumns.split(d.key)
        try c.execute("""
            INSERT INTO devices (id, store_id, name, key_type, secret_hex, public_key_hex, activated_at, revoked_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
            """, [d.id, d.storeID, d.name, key.type, key.secret.map(Hex.encode), key.publicKey.map(Hex.encode),
                  String(d.activatedAt), d.revokedAt.map(String.init)])
    }

    private static let deviceColumns = "id, store_id, name, key_type, secret_hex, public_key_hex, activated_at, revoked_at"

    private static func device(_ r: [String?]) throws -> DeviceRecord {
        let row = PostgresRow(r)
        let id = try row.string(0)
        func bytes(_ column: Int) throws(StorageError) -> [UInt8]? {
            guard let text = row.optionalString(column) else { return nil }
            guard let decoded = Hex.decode(text) else { throw .failed("corrupt key of device \(id)") }
            return decoded
        }
        let key = try DeviceKeyColumns.join(type: try row.string(3), secret: try bytes(4), publicKey: try bytes(5), device: id)
        return DeviceRecord(id: id, storeID: try row.string(1), name: try row.string(2), key: key,
                            activatedAt: try row.int64(6), revokedAt: try row.optionalInt64(7))
    }

    public func device(id: String) throws -> DeviceRecord? {
        try run { try $0.execute("SELECT \(Self.deviceColumns) FROM devices WHERE id = $1", [id]) }.rows.map(Self.device).first
    }

    public func devices() throws -> [DeviceRecord] {
        try run { try $0.execute("SELECT \(Self.deviceColumns) FROM devices ORDER BY activated_at, id") }.rows.map(Self.device)
    }

    /// One conditional UPDATE: the key columns must still hold `current`. Of two concurrent rotations the
    /// second waits for the first's row lock, re-checks the condition and matches nothing.
    public func replaceDeviceKey(id: String, current: VerifyingKey, new: VerifyingKey) throws -> Bool {
        let old = DeviceKeyColumns.split(current)
        let replacement = DeviceKeyColumns.split(new)
        return try run {
            try $0.execute("""
                UPDATE devices SET key_type = $1, secret_hex = $2, public_key_hex = $3
                WHERE id = $4 AND revoked_at IS NULL AND key_type = $5
                  AND secret_hex IS NOT DISTINCT FROM $6 AND public_key_hex IS NOT DISTINCT FROM $7
                """, [replacement.type, replacement.secret.map(Hex.encode), replacement.publicKey.map(Hex.encode),
                      id, old.type, old.secret.map(Hex.encode), old.publicKey.map(Hex.encode)])
        }.affectedRows == 1
    }

    /// Of two instances making the key at once, the first insert wins and both read that one.
    public func serviceSigningKey(make: () -> Ed25519.PrivateKey, now: Int64) throws -> Ed25519.PrivateKey {
        try serviceKey.get { () throws(StorageError) in
            if let stored = try readServiceKey() { return stored }
            let made = make()
            _ = try run {
                try $0.execute("""
                    INSERT INTO service_keys (purpose, private_key_hex, public_key_hex, created_at) VALUES ($1, $2, $3, $4)
                    ON CONFLICT DO NOTHING
                    """, [ServiceKeySQL.responsePurpose, Hex.encode(made.seed), Hex.encode(made.publicKey), String(now)])
            }
            guard let stored = try readServiceKey() else { throw .failed("the service key was not stored") }
            return stored
        }
    }

    private func readServiceKey() throws(StorageError) -> Ed25519.PrivateKey? {
        let rows = try run { try $0.execute("SELECT private_key_hex FROM service_keys WHERE purpose = $1", [ServiceKeySQL.responsePurpose]) }.rows
        guard let first = rows.first else { return nil }
        guard let seed = first.first.flatMap({ $0 }).flatMap(Hex.decode), let key = Ed25519.PrivateKey(seed: seed) else {
            throw .failed("corrupt service key")
        }
        return key
    }

    /// A device already revoked keeps its first revocation time.
    public func revokeDevice(id: String, now: Int64) throws -> Bool {
        try run {
            try $0.execute("UPDATE devices SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1", [id, String(now)])
        }.affectedRows > 0
    }

    // MARK: Nonces and attempts

    public func recordNonce(deviceID: String, nonce: String, expiresAt: Int64) throws -> Bool {
        try run { try NonceRecord(deviceID: deviceID, nonce: nonce, expiresAt: expiresAt).insert(on: $0) }
    }

    @discardableResult
    public func pruneNonces(now: Int64) throws -> Int {
        try run { try $0.execute(NonceSQL.postgresPrune, [String(now)]) }.affectedRows
    }

    /// Also forgets this key's attempts older than `windowStart`, so the table stays small.
    public func countAttempt(key: String, now: Int64, windowStart: Int64) throws -> Int {
        try inTransaction { c in
            try c.execute("DELETE FROM attempts WHERE key = $1 AND at < $2", [key, String(windowStart)])
            try c.execute("INSERT INTO attempts (key, at) VALUES ($1, $2)", [key, String(now)])
            return try Self.countAttempts(key: key, windowStart: windowStart, on: c)
        }
    }

    public func attempts(key: String, windowStart: Int64) throws -> Int {
        try run { try Self.countAttempts(key: key, windowStart: windowStart, on: $0) }
    }

    private static func countAttempts(key: String, windowStart: Int64, on c: Connection) throws -> Int {
        let result = try c.execute("SELECT count(*) FROM attempts WHERE key = $1 AND at >= $2", [key, String(windowStart)])
        return Int(try PostgresRow(result.rows.first ?? []).int64(0))
    }

    public func clearAttempts(key: String) throws {
        _ = try run { try $0.execute("DELETE FROM attempts WHERE key = $1", [key]) }
    }
}

// MARK: - Shared by the PostgreSQL stores

extension StorageError {
    /// Maps a Postgres wrapper error (or any other) onto the storage contract's three cases.
    static func fromPostgres(_ error: Error) -> StorageError {
        if let e = error as? StorageError { return e }
        guard let e = error as? PostgresError else { return .failed(String(describing: error)) }
        switch e.kind {
        case .unavailable: return .unavailable(e.description)
        case .uniqueViolation: return .duplicateKey(e.description)
        case .other: return .failed(e.description)
        }
    }
}

/// Runs `body`, rethrowing every error as a `StorageError`.
func postgresStorage<T>(_ body: () throws -> T) throws(StorageError) -> T {
    do { return try body() } catch { throw StorageError.fromPostgres(error) }
}

extension NonceRecord {
    /// Inserts the nonce on `c`; false if it was there already (a replay). The base database and every
    /// PostgreSQL order group record nonces through this.
    func insert(on c: Connection) throws -> Bool {
        try c.execute(NonceSQL.postgresInsert(), parameters).affectedRows == 1
    }

    /// The values of `NonceSQL.postgresInsert`, in its order.
    var parameters: [String?] { [deviceID, nonce, String(expiresAt)] }
}

/// Typed reads of one text-format row; a missing or malformed value is corrupt data.
struct PostgresRow {
    let values: [String?]
    init(_ values: [String?]) { self.values = values }

    func string(_ i: Int) throws(StorageError) -> String {
        guard i < values.count, let v = values[i] else { throw .failed("unexpected NULL in column \(i)") }
        return v
    }

    func optionalString(_ i: Int) -> String? { i < values.count ? values[i] : nil }

    func int64(_ i: Int) throws(StorageError) -> Int64 {
        guard let v = Int64(try string(i)) else { throw .failed("not an integer in column \(i)") }
        return v
    }

    func optionalInt64(_ i: Int) throws(StorageError) -> Int64? {
        guard let s = optionalString(i) else { return nil }
        guard let v = Int64(s) else { throw .failed("not an integer in column \(i)") }
        return v
    }
}

/// Creates a store's tables once per process, under an advisory lock so that several service instances
/// starting together do not race on CREATE ... IF NOT EXISTS. `@unchecked Sendable`: `done` is guarded by `lock`.
final class PostgresSchema: @unchecked Sendable {
    /// How long the schema statements together may run: longer than a request's statement timeout, because
    /// the first start after an upgrade may build an index over every stored order (about 0.25 s per
    /// million orders for `orders_paying`), and failing that at the request timeout would fail it forever.
    static let statementTimeoutMilliseconds = 600_000
    let name: String
    let statements: [String]
    private let lock = NSLock()
    private var done = false

    init(name: String, statements: [String]) {
        self.name = name
        self.statements = statements
    }

    func ensure(_ pool: ConnectionPool) throws(StorageError) {
        lock.lock()
        defer { lock.unlock() }
        if done { return }
        try postgresStorage {
            try pool.transaction { c in
                try c.execute("SET LOCAL statement_timeout = \(Self.statementTimeoutMilliseconds)")
                try c.execute("SELECT pg_advisory_xact_lock(hashtext($1))", [name])
                for sql in statements { try c.execute(sql) }
            }
        }
        done = true
    }
}

extension PostgresBaseStore: ReconnectingStore {
    public var reconnects: Int { pool.reconnects }
}
