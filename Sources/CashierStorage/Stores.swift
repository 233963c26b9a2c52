import CashierCore
import CashierCrypto
import Foundation

/// Base data: merchants, stores, staff, devices, activation codes, nonces and attempt counters.
///
/// Small and read-mostly; one database shared by every service instance. All times are Unix ms.
/// Every method may throw `StorageError`.
public protocol BaseStore: AnyObject, Sendable {
    func insertMerchant(_ merchant: MerchantRecord) throws
    func merchant(id: String) throws -> MerchantRecord?
    func merchants() throws -> [MerchantRecord]

    func insertStore(_ store: StoreRecord) throws
    func store(id: String) throws -> StoreRecord?
    func stores() throws -> [StoreRecord]
    /// Sets a store's time zone (an IANA name the caller has checked); false if there is no such store.
    func setStoreTimeZone(storeID: String, timeZone: String) throws -> Bool

    /// The payment channels the store takes (none configured: none).
    func storeChannels(storeID: String) throws -> [StoreChannelRecord]
    /// Adds the channel to its store, or replaces its settings.
    func setStoreChannel(_ record: StoreChannelRecord) throws
    /// Removes a channel from a store; false if the store did not have it.
    func removeStoreChannel(storeID: String, channel: String) throws -> Bool

    func insertStaff(_ staff: StaffRecord) throws
    func staff(storeID: String) throws -> [StaffRecord]

    func insertActivationCode(_ code: ActivationCodeRecord) throws
    func activationCodes(storeID: String?) throws -> [ActivationCodeRecord]
    /// Atomically checks the code (exists, unused, unexpired at `now`), marks it used and inserts `device`
    /// with the code's store. Exactly one of two concurrent redeemers of a code wins.
    func redeemActivationCode(_ code: String, now: Int64, makeDevice: (String) -> DeviceRecord) throws -> RedeemOutcome

    func device(id: String) throws -> DeviceRecord?
    func devices() throws -> [DeviceRecord]
    /// Marks a device revoked at `now`; false if there is no such device.
    func revokeDevice(id: String, now: Int64) throws -> Bool
    /// Compare-and-set of a device's key: makes it `new` only if the device is not revoked and its key is
    /// still `current`, and keeps nothing of `current` (a secret is deleted, not kept beside the new key).
    /// False if the key had changed meanwhile, the device is revoked or there is no such device.
    func replaceDeviceKey(id: String, current: VerifyingKey, new: VerifyingKey) throws -> Bool

    /// The service's Ed25519 key that signs answers to devices with public keys: made with `make` and
    /// stored the first time it is asked for, then the same for every instance sharing this base data.
    /// Kept in memory after the first read; it never changes.
    func serviceSigningKey(make: () -> Ed25519.PrivateKey, now: Int64) throws -> Ed25519.PrivateKey

    /// Records a nonce for a device until `expiresAt`; false if it was already recorded (a replay).
    func recordNonce(deviceID: String, nonce: String, expiresAt: Int64) throws -> Bool
    /// Deletes nonces whose expiry has passed; returns how many.
    @discardableResult func pruneNonces(now: Int64) throws -> Int

    /// Adds one attempt under `key` (e.g. "pin:<device>", "activate:<ip>") and returns how many attempts
    /// that key has had since `windowStart`, this one included.
    func countAttempt(key: String, now: Int64, windowStart: Int64) throws -> Int
    /// How many attempts `key` has had since `windowStart`.
    func attempts(key: String, windowStart: Int64) throws -> Int
    /// Forgets all attempts under `key` (after a success).
    func clearAttempts(key: String) throws

    /// Opens `shift` unless its device has a shift open already (one at a time): then that one stands.
    func openShift(_ shift: ShiftRecord) throws -> ShiftOpening
    func shift(id: String) throws -> ShiftRecord?
    /// The device's open shift, if it has one.
    func openShift(deviceID: String) throws -> ShiftRecord?
    /// Closes the shift if it is open: gives it its store's next Z number and writes `zReport(number)` as its
    /// report, in one transaction, so a Z number is never given twice nor a shift closed twice.
    func closeShift(id: String, closedBy: ShiftStaff, countedCash: Int64, now: Int64,
                    zReport: (_ zNumber: Int) -> String) throws -> ShiftClosing
    /// A store's shifts, newest first.
    func shifts(storeID: String, limit: Int) throws -> [ShiftRecord]

    /// A setting every instance shares (its JSON and version), or nil if it was never set.
    func sharedSetting(_ name: String) throws -> SharedSetting?
    /// Sets it if its version is still `replacing` (nil: only if it was never set), raising the version;
    /// false if another change came first.
    func putSharedSetting(_ name: String, value: String, replacing version: Int64?, now: Int64) throws -> Bool
}

/// One order group's database: orders and refunds.
///
/// Every method may throw `StorageError`; `.unavailable` means the group itself is failing.
/// A store on a server it can lose and connect to again (PostgreSQL): how often it did, for `/metrics`.
public protocol ReconnectingStore: AnyObject {
    /// Times the store's connections were made afresh after a connection-level failure (`ConnectionPool.reconnects`).
    var reconnects: Int { get }
}

public protocol OrderGroupStore: AnyObject, Sendable {
    /// One small write that proves the group takes writes now (the seed's "one update").
    func probeWrite(now: Int64) throws

    /// Inserts a new order; `.duplicateKey` if the number exists.
    func insertOrder(_ order: OrderRecord) throws
    /// The write probe and then the insert, committed together: if the probe's update fails nothing is
    /// inserted (`.unavailable`). Saves a group that is known to be healthy one commit per new order.
    func probeAndInsertOrder(_ order: OrderRecord, now: Int64) throws
    func order(_ orderNo: OrderNumber) throws -> OrderRecord?
    /// Compare-and-set: applies `change` only if the order's status is one of `from`. Returns the order
    /// after the call (changed or not) and whether it changed; nil if there is no such order.
    /// `durability` says whether the change must be on disk before the call returns.
    func transition(_ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange, now: Int64,
                    durability: WriteDurability) throws -> (OrderRecord, changed: Bool)?
    /// Records `nonce` and makes the transition (on disk before the call returns) in one transaction, so a
    /// request that names an order costs one commit, not two. If the nonce is already recorded here (a
    /// replay) nothing is written and the order is not looked at.
    func transition(_ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange, now: Int64,
                    recording nonce: NonceRecord) throws -> NoncedTransition

    /// The one-call sale's single commit: records `nonce` and inserts `order` (already `paying`, with its
    /// payment code) unless an order with its number exists, in one transaction, on disk before the call
    /// returns. A replay writes nothing; an existing order is returned as it is (a retry of the same sale).
    func placeSale(_ order: OrderRecord, recording nonce: NonceRecord) throws -> PlacedSale

    /// Records a request's nonce in this group, on disk before the call returns; false if it was already
    /// recorded (a replay).
    func recordNonce(_ nonce: NonceRecord) throws -> Bool
    /// Deletes nonces whose expiry has passed; returns how many.
    @discardableResult func pruneNonces(now: Int64) throws -> Int

    func refunds(of orderNo: OrderNumber) throws -> [RefundRecord]
    /// Atomically: looks up `refund.refundRef` for the order (returns `.existing`/`.conflict`), else checks
    /// the order is paid, the count is below `maxRefunds` and the total stays within the paid amount, then
    /// inserts `refund` (status pending) and adds its amount to the order's refunded amount.
    func reserveRefund(_ refund: RefundRecord, maxRefunds: Int, now: Int64) throws -> RefundReservation
    /// Marks a pending refund succeeded.
    func completeRefund(_ refundNo: RefundNumber, now: Int64) throws
    /// Drops a pending refund the channel refused: the row goes and its amount is no longer reserved on
    /// the order, so nothing (the sweep included) sends it again. False if it is not pending (gone, or
    /// succeeded meanwhile: then it stands).
    func dropRefusedRefund(_ refundNo: RefundNumber, now: Int64) throws -> Bool

    /// The orders rung up in a shift (any status).
    func orders(ofShift shiftID: String) throws -> [OrderRecord]
    /// The refunds made during a shift, each with the order it returns money of.
    func refunds(ofShift shiftID: String) throws -> [(refund: RefundRecord, order: OrderRecord)]

    /// Orders in `scope` strictly older than `before` (by createdAt, then order number), newest first.
    func listOrders(_ scope: OrderListScope, before: OrderListCursor?, limit: Int) throws -> [OrderRecord]
    /// Orders whose status is `paying` and that were last updated before `updatedBefore` (for sweeps).
    func stalePayingOrders(updatedBefore: Int64, limit: Int) throws -> [OrderRecord]
    /// Refunds still `pending` (reserved, not confirmed by the channel) made before `createdBefore`, oldest first.
    func stalePendingRefunds(createdBefore: Int64, limit: Int) throws -> [RefundRecord]

    /// Every order and refund in the group, for migration when a group is retired and for reconciliation.
    func allOrders(after: OrderNumber?, limit: Int) throws -> [OrderRecord]
    /// Inserts an order and its refunds as they are (migration); existing rows are left as they are.
    func importOrder(_ order: OrderRecord, refunds: [RefundRecord]) throws
}

/// A setting shared through the base data, as read.
public struct SharedSetting: Equatable, Sendable {
    public var value: String
    public var version: Int64
    public init(value: String, version: Int64) { self.value = value; self.version = version }
}

/// A signed request's nonce, kept until `expiresAt` so the same request is refused if it comes again.
///
/// Most nonces are kept in the base database. A pay keeps its nonce in the group of the order it names
/// instead, where the same signed bytes always lead again (docs/SECURITY.md, "Replay").
public struct NonceRecord: Sendable, Equatable {
    public var deviceID: String
    public var nonce: String
    public var expiresAt: Int64

    public init(deviceID: String, nonce: String, expiresAt: Int64) {
        self.deviceID = deviceID
        self.nonce = nonce
        self.expiresAt = expiresAt
    }
}

/// What a transition made together with recording a request's nonce came to.
public enum NoncedTransition: Sendable, Equatable {
    /// The nonce was recorded already: a replay. Nothing was written.
    case replayed
    /// There is no such order (the nonce is recorded).
    case orderNotFound
    /// The order after the call, and whether this call changed it (the nonce is recorded).
    case done(OrderRecord, changed: Bool)
}

/// What placing a one-call sale found.
public enum PlacedSale: Sendable, Equatable {
    /// The nonce was recorded already: a replay. Nothing was written.
    case replayed
    /// The order is new, as given (the nonce is recorded).
    case placed(OrderRecord)
    /// An order with that number existed; it is returned as it stands (the nonce is recorded).
    case existing(OrderRecord)
}

/// Whether a write must be on disk before the call that makes it returns.
public enum WriteDurability: Sendable, Equatable {
    /// On disk before the call returns (SQLite `synchronous=FULL`, PostgreSQL's synchronous commit): for
    /// records nothing else could rebuild, such as a new order or the claim made before a channel is called.
    case immediate
    /// May return first: survives a crash of the process at once, a power cut once the next flushed commit
    /// or checkpoint has reached the disk (about a second at most). Only for records that can be learnt
    /// again from elsewhere: the channel's answer to a `paying` order, which a query or the sweep of stale
    /// payments asks the channel again if a power cut takes it.
    case deferred
}

extension OrderGroupStore {
    /// A transition that is on disk before the call returns.
    public func transition(_ orderNo: OrderNumber, from: Set<OrderStatus>, change: OrderChange,
                           now: Int64) throws -> (OrderRecord, changed: Bool)? {
        try transition(orderNo, from: from, change: change, now: now, durability: .immediate)
    }

    /// For stores that cannot do better: the probe, then the insert, as two writes.
    public func probeAndInsertOrder(_ order: OrderRecord, now: Int64) throws {
        try probeWrite(now: now)
        try insertOrder(order)
    }
}

/// Whose orders a list shows: one store's (what its terminals see) or a whole merchant's (the back office).
/// Each has an index that leads with its column, so a page costs the same however many orders are stored.
public enum OrderListScope: Equatable, Sendable {
    case store(String)
    case merchant(String)

    /// The column the scope filters on; a fixed name, never caller input.
    var column: String {
        switch self {
        case .store: return "store_id"
        case .merchant: return "merchant_id"
        }
    }

    var id: String {
        switch self {
        case .store(let id), .merchant(let id): return id
        }
    }
}

/// The nonce table, which the base database and every order group keep alike (both backends).
enum NonceSQL {
    static let sqliteSchema = [
        """
        CREATE TABLE IF NOT EXISTS nonces (
            device_id TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL,
            PRIMARY KEY (device_id, nonce)) WITHOUT ROWID
        """,
        "CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces(expires_at)",
    ]
    static let postgresSchema = [
        """
        CREATE TABLE IF NOT EXISTS nonces (
            device_id text NOT NULL, nonce text NOT NULL, expires_at bigint NOT NULL, PRIMARY KEY (device_id, nonce))
        """,
        "CREATE INDEX IF NOT EXISTS nonces_expiry ON nonces(expires_at)",
    ]
    /// Inserts one nonce; changes no row if it is there already (a replay).
    static let sqliteInsert = "INSERT INTO nonces (device_id, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
    /// The same for PostgreSQL, its three values numbered from `$first` (so it can sit in a larger statement).
    static func postgresInsert(first: Int = 1) -> String {
        "INSERT INTO nonces (device_id, nonce, expires_at) VALUES ($\(first), $\(first + 1), $\(first + 2)) ON CONFLICT DO NOTHING"
    }
    static let sqlitePrune = "DELETE FROM nonces WHERE expires_at <= ?"
    static let postgresPrune = "DELETE FROM nonces WHERE expires_at <= $1"
}

/// The service's own signing keys, kept in the base data: one row per purpose, written once.
enum ServiceKeySQL {
    /// The purpose of the key that signs answers to Ed25519 devices.
    static let responsePurpose = "response-ed25519"
}

/// Holds the service's signing key once read, so answers do not read the base data for it.
/// `@unchecked Sendable`: `key` is guarded by `lock`.
final class ServiceKeyCache: @unchecked Sendable {
    private let lock = NSLock()
    private var key: Ed25519.PrivateKey?

    /// The cached key, or the one `load` returns (cached if it succeeds).
    func get(_ load: () throws(StorageError) -> Ed25519.PrivateKey) throws(StorageError) -> Ed25519.PrivateKey {
        lock.lock()
        defer { lock.unlock() }
        if let key { return key }
        let loaded = try load()
        key = loaded
        return loaded
    }
}

/// SQL text both group stores share.
enum OrderGroupSQL {
    /// The condition of the partial index on paying orders, written out in the stale-paying query too so
    /// the planner can use the index.
    static let payingPredicate = "status = '\(OrderStatus.paying.rawValue)'"
    /// The same for the partial index on refunds still pending at the channel.
    static let pendingRefundPredicate = "status = '\(RefundStatus.pending.rawValue)'"
}
