import CashierCore
import CashierCrypto
import CashierStorage
import Foundation
import Postgres
import SQLite
import XCTest

/// Device keys in the base data, on both backends: a device with a public key has no secret, a rotation
/// is a compare-and-set that deletes the secret it replaces, the service's key is one for all instances,
/// and a base made before public keys is migrated with every device kept.
final class DeviceKeyStoreTests: XCTestCase {
    static let postgres = ClassCluster()

    override class func setUp() {
        super.setUp()
        postgres.start()
    }

    override class func tearDown() {
        postgres.destroy()
        super.tearDown()
    }

    // MARK: SQLite

    func testSQLiteDeviceKeys() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("base.sqlite")
        let store = try SQLiteBaseStore(.path(path))
        try checkDeviceKeys(store, second: try SQLiteBaseStore(.path(path))) { id in
            let db = try Database(.path(path), options: .init(readOnly: true))
            defer { db.close() }
            return try db.query("SELECT key_type, secret IS NULL, public_key IS NULL FROM devices WHERE id = ?", [.text(id)]) {
                KeyColumns(type: $0.string(0), secretIsNull: $0.int64(1) == 1, publicKeyIsNull: $0.int64(2) == 1)
            }.first
        }
    }

    /// A base file made by the version before public keys (schema 1, `secret BLOB NOT NULL`) opens with
    /// every device and its secret kept, the activation code still naming its device, and takes Ed25519
    /// devices and rotations from then on.
    func testSQLiteBaseFromBeforePublicKeysIsMigrated() throws {
        let dir = try TempDirectory()
        defer { dir.remove() }
        let path = dir.file("base.sqlite")
        let secret = Array(repeating: UInt8(0x5A), count: 32)
        do {
            let old = try Database(.path(path))
            for sql in Self.sqliteVersion1 { try old.exec(sql) }
            try old.exec("INSERT INTO schema_version (version) VALUES (1)")
            try old.exec("INSERT INTO merchants VALUES ('M1', 'Tea', 1)")
            try old.exec("INSERT INTO stores VALUES ('S1', 'M1', 'Main', 'CNY', 2)")
            _ = try old.run("INSERT INTO devices VALUES ('D1', 'S1', 'till', ?, 3, NULL)", [.blob(secret)])
            try old.exec("INSERT INTO activation_codes VALUES ('AAAA1111', 'S1', 1, 9, 3, 'D1')")
            try old.exec("INSERT INTO activation_codes VALUES ('BBBB2222', 'S1', 1, 9999, NULL, NULL)")
            old.close()
        }
        let store = try SQLiteBaseStore(.path(path))
        XCTAssertEqual(try store.device(id: "D1"), DeviceRecord(id: "D1", storeID: "S1", name: "till", secret: secret, activatedAt: 3))
        XCTAssertEqual(try store.store(id: "S1")?.timeZone, "UTC", "a store from before time zones is UTC")
        XCTAssertEqual(try store.activationCodes(storeID: "S1").first?.deviceID, "D1")
        let db = try Database(.path(path), options: .init(readOnly: true))
        defer { db.close() }
        XCTAssertEqual(try db.query("SELECT max(version) FROM schema_version") { $0.int64(0) }, [SQLiteBaseStore.schemaVersion])
        XCTAssertEqual(try db.query("PRAGMA foreign_key_check") { $0.string(0) }, [])
        let tables = try db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name") { $0.string(0) }
        XCTAssertFalse(tables.contains("devices_v2"), "\(tables)")
        // The migrated table takes what the new version writes.
        let key = Ed25519.PrivateKey.generate()
        guard case .activated = try store.redeemActivationCode("BBBB2222", now: 10, makeDevice: {
            DeviceRecord(id: "D2", storeID: $0, name: "new", key: .ed25519(publicKey: key.publicKey), activatedAt: 10)
        }) else { return XCTFail("the migrated base takes an Ed25519 device") }
        XCTAssertEqual(try store.device(id: "D2")?.key, .ed25519(publicKey: key.publicKey))
        XCTAssertTrue(try store.replaceDeviceKey(id: "D1", current: .hmacSHA256(secret: secret),
                                                 new: .ed25519(publicKey: Ed25519.PrivateKey.generate().publicKey)))
        XCTAssertEqual(try db.query("SELECT count(*) FROM devices WHERE secret IS NOT NULL") { $0.int64(0) }, [0])
        // Opening again changes nothing.
        _ = try SQLiteBaseStore(.path(path))
        XCTAssertEqual(try db.query("SELECT count(*) FROM schema_version WHERE version = ?", [.integer(SQLiteBaseStore.schemaVersion)]) {
            $0.int64(0)
        }, [1])
    }

    // MARK: PostgreSQL

    func testPostgresDeviceKeys() throws {
        let options = try Self.postgres.live().freshDatabase()
        let store = try PostgresBaseStore.open(options)
        try checkDeviceKeys(store, second: try PostgresBaseStore.open(options)) { id in
            try store.pool.execute("SELECT key_type, secret_hex IS NULL, public_key_hex IS NULL FROM devices WHERE id = $1", [id])
                .rows.first.map { KeyColumns(type: $0[0] ?? "", secretIsNull: $0[1] == "t", publicKeyIsNull: $0[2] == "t") }
        }
    }

    /// A PostgreSQL base made before public keys gets the key columns, keeps every device's secret, and
    /// an insert of the older version (no key columns) still makes an HMAC device, as during a rolling upgrade.
    func testPostgresBaseFromBeforePublicKeysIsMigrated() throws {
        let options = try Self.postgres.live().freshDatabase()
        let secret = Array(repeating: UInt8(0x5A), count: 32)
        do {
            let old = try Connection(options: options)
            defer { old.close() }
            for sql in Self.postgresVersion1 { try old.execute(sql) }
            try old.execute("INSERT INTO merchants VALUES ('M1', 'Tea', 1)")
            try old.execute("INSERT INTO stores VALUES ('S1', 'M1', 'Main', 'CNY', 2)")
            try old.execute("INSERT INTO devices VALUES ('D1', 'S1', 'till', $1, 3, NULL)", [Hex.encode(secret)])
            try old.execute("INSERT INTO activation_codes VALUES ('AAAA1111', 'S1', 1, 9, 3, 'D1')")
        }
        let store = try PostgresBaseStore.open(options)
        XCTAssertEqual(try store.device(id: "D1"), DeviceRecord(id: "D1", storeID: "S1", name: "till", secret: secret, activatedAt: 3))
        XCTAssertEqual(try store.store(id: "S1")?.timeZone, "UTC", "a store from before time zones is UTC")
        XCTAssertEqual(try store.activationCodes(storeID: "S1").first?.deviceID, "D1")
        // What an instance of the older version inserts is an HMAC device.
        try store.pool.execute("INSERT INTO devices (id, store_id, name, secret_hex, activated_at, revoked_at) VALUES ('D0', 'S1', 'old', $1, 4, NULL)",
                               [Hex.encode(secret)])
        XCTAssertEqual(try store.device(id: "D0")?.key, .hmacSHA256(secret: secret))
        // The constraint holds on the migrated table too: never both keys, never neither.
        XCTAssertThrowsError(try store.pool.execute("UPDATE devices SET public_key_hex = 'aa' WHERE id = 'D1'"))
        XCTAssertThrowsError(try store.pool.execute("UPDATE devices SET secret_hex = NULL WHERE id = 'D1'"))
        let key = Ed25519.PrivateKey.generate()
        XCTAssertTrue(try store.replaceDeviceKey(id: "D1", current: .hmacSHA256(secret: secret), new: .ed25519(publicKey: key.publicKey)))
        XCTAssertEqual(try store.device(id: "D1")?.key, .ed25519(publicKey: key.publicKey))
        XCTAssertEqual(try store.pool.execute("SELECT secret_hex FROM devices WHERE id = 'D1'").rows.first?.first ?? "gone", nil)
        // Opening again (every start runs the schema statements) changes nothing.
        _ = try PostgresBaseStore.open(options)
        XCTAssertEqual(try store.device(id: "D1")?.key, .ed25519(publicKey: key.publicKey))
    }

    // MARK: Shared checks

    struct KeyColumns: Equatable {
        var type: String
        var secretIsNull: Bool
        var publicKeyIsNull: Bool
    }

    /// - Parameters:
    ///   - second: another store on the same base (another instance).
    ///   - columns: the raw key columns of a device row.
    private func checkDeviceKeys(_ store: BaseStore, second: BaseStore, columns: (String) throws -> KeyColumns?,
                                 file: StaticString = #filePath, line: UInt = #line) throws {
        try store.insertMerchant(MerchantRecord(id: "M1", name: "Tea", createdAt: 1))
        try store.insertStore(StoreRecord(id: "S1", merchantID: "M1", name: "Main", currency: "CNY", createdAt: 2))
        for code in ["AAAA1111", "BBBB2222", "CCCC3333"] {
            try store.insertActivationCode(ActivationCodeRecord(code: code, storeID: "S1", createdAt: 1, expiresAt: 10_000))
        }
        let first = Ed25519.PrivateKey.generate()
        let secret = Array(repeating: UInt8(0x42), count: 32)
        _ = try store.redeemActivationCode("AAAA1111", now: 5) {
            DeviceRecord(id: "DKEY", storeID: $0, name: "till", key: .ed25519(publicKey: first.publicKey), activatedAt: 5)
        }
        _ = try store.redeemActivationCode("BBBB2222", now: 6) { DeviceRecord(id: "DHMAC", storeID: $0, name: "old", secret: secret, activatedAt: 6) }
        XCTAssertEqual(try store.device(id: "DKEY")?.key, .ed25519(publicKey: first.publicKey), file: file, line: line)
        XCTAssertEqual(try columns("DKEY"), KeyColumns(type: "ed25519", secretIsNull: true, publicKeyIsNull: false),
                       "a device with a public key has no secret", file: file, line: line)
        XCTAssertEqual(try columns("DHMAC"), KeyColumns(type: "hmac-sha256", secretIsNull: false, publicKeyIsNull: true), file: file, line: line)

        // HMAC to Ed25519: the secret is deleted.
        let moved = Ed25519.PrivateKey.generate()
        XCTAssertTrue(try store.replaceDeviceKey(id: "DHMAC", current: .hmacSHA256(secret: secret), new: .ed25519(publicKey: moved.publicKey)),
                      file: file, line: line)
        XCTAssertEqual(try second.device(id: "DHMAC")?.key, .ed25519(publicKey: moved.publicKey), file: file, line: line)
        XCTAssertEqual(try columns("DHMAC"), KeyColumns(type: "ed25519", secretIsNull: true, publicKeyIsNull: false), file: file, line: line)
        // The same change again: the key is no longer the one it names.
        XCTAssertFalse(try store.replaceDeviceKey(id: "DHMAC", current: .hmacSHA256(secret: secret),
                                                  new: .ed25519(publicKey: Ed25519.PrivateKey.generate().publicKey)), file: file, line: line)
        XCTAssertEqual(try store.device(id: "DHMAC")?.key, .ed25519(publicKey: moved.publicKey), file: file, line: line)

        // Ed25519 to Ed25519, eight at once from the same old key: exactly one wins.
        let candidates = (0..<8).map { _ in Ed25519.PrivateKey.generate() }
        let wins = Collector<Int>()
        runConcurrently(8, file: file, line: line) { i in
            if (try? store.replaceDeviceKey(id: "DKEY", current: .ed25519(publicKey: first.publicKey),
                                            new: .ed25519(publicKey: candidates[i].publicKey))) == true { wins.append(i) }
        }
        XCTAssertEqual(wins.values.count, 1, "\(wins.values)", file: file, line: line)
        let winner = try XCTUnwrap(wins.values.first, file: file, line: line)
        XCTAssertEqual(try store.device(id: "DKEY")?.key, .ed25519(publicKey: candidates[winner].publicKey), file: file, line: line)

        // A revoked device keeps its key, and an unknown one has none to replace.
        XCTAssertTrue(try store.revokeDevice(id: "DKEY", now: 7), file: file, line: line)
        XCTAssertFalse(try store.replaceDeviceKey(id: "DKEY", current: .ed25519(publicKey: candidates[winner].publicKey),
                                                  new: .ed25519(publicKey: first.publicKey)), file: file, line: line)
        XCTAssertFalse(try store.replaceDeviceKey(id: "NOPE", current: .hmacSHA256(secret: secret),
                                                  new: .ed25519(publicKey: first.publicKey)), file: file, line: line)

        // One service key for every instance: made once, the second store reads the first's.
        let made = Collector<Int>()
        let one = try store.serviceSigningKey(make: { made.append(1); return Ed25519.PrivateKey.generate() }, now: 8)
        let two = try second.serviceSigningKey(make: { made.append(2); return Ed25519.PrivateKey.generate() }, now: 9)
        XCTAssertEqual(one.publicKey, two.publicKey, file: file, line: line)
        XCTAssertEqual(made.values.first, 1, file: file, line: line)
        XCTAssertEqual(try store.serviceSigningKey(make: { XCTFail("made again"); return Ed25519.PrivateKey.generate() }, now: 10).seed,
                       one.seed, file: file, line: line)
    }

    // MARK: The schemas of the version before public keys

    static let sqliteVersion1 = [
        "CREATE TABLE schema_version (version INTEGER NOT NULL)",
        "CREATE TABLE merchants (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL)",
        """
        CREATE TABLE stores (id TEXT PRIMARY KEY, merchant_id TEXT NOT NULL REFERENCES merchants(id), name TEXT NOT NULL,
            currency TEXT NOT NULL, created_at INTEGER NOT NULL)
        """,
        """
        CREATE TABLE staff (id TEXT PRIMARY KEY, store_id TEXT NOT NULL REFERENCES stores(id), name TEXT NOT NULL,
            role TEXT NOT NULL, pin_hash TEXT NOT NULL, created_at INTEGER NOT NULL)
        """,
        "CREATE INDEX staff_store ON staff(store_id)",
        """
        CREATE TABLE devices (id TEXT PRIMARY KEY, store_id TEXT NOT NULL REFERENCES stores(id), name TEXT NOT NULL,
            secret BLOB NOT NULL, activated_at INTEGER NOT NULL, revoked_at INTEGER)
        """,
        """
        CREATE TABLE activation_codes (code TEXT PRIMARY KEY, store_id TEXT NOT NULL REFERENCES stores(id), created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL, used_at INTEGER, device_id TEXT REFERENCES devices(id))
        """,
        "CREATE TABLE attempts (key TEXT NOT NULL, at INTEGER NOT NULL)",
        "CREATE INDEX attempts_key ON attempts(key, at)",
        """
        CREATE TABLE nonces (device_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL,
            PRIMARY KEY (device_id, nonce)) WITHOUT ROWID
        """,
        "CREATE INDEX nonces_expiry ON nonces(expires_at)",
    ]

    static let postgresVersion1 = [
        "CREATE TABLE merchants (id text PRIMARY KEY, name text NOT NULL, created_at bigint NOT NULL)",
        """
        CREATE TABLE stores (id text PRIMARY KEY, merchant_id text NOT NULL REFERENCES merchants(id), name text NOT NULL,
            currency text NOT NULL, created_at bigint NOT NULL)
        """,
        """
        CREATE TABLE devices (id text PRIMARY KEY, store_id text NOT NULL REFERENCES stores(id), name text NOT NULL,
            secret_hex text NOT NULL, activated_at bigint NOT NULL, revoked_at bigint)
        """,
        """
        CREATE TABLE activation_codes (code text PRIMARY KEY, store_id text NOT NULL REFERENCES stores(id), created_at bigint NOT NULL,
            expires_at bigint NOT NULL, used_at bigint, device_id text REFERENCES devices(id))
        """,
    ]
}
