import CashierChannels
import CashierCore
import CashierCrypto
import CashierStorage
import Foundation

/// What `cashierd init` and the admin commands do, apart from parsing their arguments.
public enum Administration {
    /// Creates a data directory: configuration, private CA, server certificate, base and group databases.
    /// Refuses to touch a directory that already holds a configuration (nothing is ever overwritten).
    public static func initialize(dataDirectory: String, groups: Int, listen: [ServiceConfiguration.ListenSetting],
                                  instance: Int, serverNames: [String]) throws -> ServiceConfiguration {
        let fm = FileManager.default
        let configPath = (dataDirectory as NSString).appendingPathComponent(ServiceRuntime.configurationFile)
        guard !fm.fileExists(atPath: configPath) else {
            throw RuntimeError("\(dataDirectory) is already initialized; nothing was changed")
        }
        guard (1...100).contains(groups) else { throw RuntimeError("--groups must be 1 to 100") }
        try fm.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])

        var configuration = ServiceConfiguration()
        configuration.instance = instance
        configuration.listen = listen
        configuration.groups = (0..<groups).map {
            .init(tag: $0, location: .sqlite(path: "group-\(pad($0, 2)).sqlite"))
        }
        // TLS: a private CA that terminals trust, and a server certificate for the local names.
        let ca = try Certificates.makeCertificateAuthority(commonName: "Cashier Private CA", validDays: 3650)
        var dns = ["localhost"]
        var ips = ["127.0.0.1", "::1"]
        for name in serverNames + listen.map(\.host) {
            if name.contains(":") || name.allSatisfy({ $0.isNumber || $0 == "." }) {
                if !ips.contains(name) { ips.append(name) }
            } else if !dns.contains(name) {
                dns.append(name)
            }
        }
        let server = try Certificates.issueServerCertificate(authority: ca, commonName: dns.first ?? "localhost",
                                                             dnsNames: dns, ipAddresses: ips, validDays: 825)
        try write(ca.certificatePEM, to: dataDirectory, "ca.pem", mode: 0o644)
        try write(ca.privateKeyPEM, to: dataDirectory, "ca-key.pem", mode: 0o600)
        try write(server.certificatePEM, to: dataDirectory, "server.pem", mode: 0o644)
        try write(server.privateKeyPEM, to: dataDirectory, "server-key.pem", mode: 0o600)
        try write(String(decoding: try prettyEncoder().encode(configuration), as: UTF8.self) + "\n",
                  to: dataDirectory, ServiceRuntime.configurationFile, mode: 0o600)
        // Opening creates the databases and their schemas.
        _ = try ServiceRuntime(dataDirectory: dataDirectory, logRequests: false)
        return configuration
    }

    /// A demo merchant and store with a supervisor and a cashier, for the README's first run.
    public struct DemoData: Sendable {
        public var store: StoreRecord
        public var supervisorPIN: String
        public var cashierPIN: String
    }

    public static func seedDemo(base: BaseStore, now: Int64) throws -> DemoData {
        let merchant = try addMerchant(base: base, name: "Demo Merchant", now: now)
        let store = try addStore(base: base, merchantID: merchant.id, name: "Demo Store", currency: "CNY", now: now)
        _ = try addStaff(base: base, storeID: store.id, name: "Sam Supervisor", role: .supervisor, pin: "2468", now: now)
        _ = try addStaff(base: base, storeID: store.id, name: "Casey Cashier", role: .cashier, pin: "1357", now: now)
        // The demo store takes sandbox codes only: no credentials, and no real money can move.
        try setStoreChannel(base: base, storeID: store.id, channel: .sandbox, settings: "{}", now: now)
        return DemoData(store: store, supervisorPIN: "2468", cashierPIN: "1357")
    }

    public static func addMerchant(base: BaseStore, name: String, now: Int64) throws -> MerchantRecord {
        guard (1...100).contains(name.count) else { throw RuntimeError("a merchant name is 1 to 100 characters") }
        let m = MerchantRecord(id: newID("M"), name: name, createdAt: now)
        try base.insertMerchant(m)
        return m
    }

    public static func addStore(base: BaseStore, merchantID: String, name: String, currency: String, timeZone: String = "UTC",
                                now: Int64) throws -> StoreRecord {
        guard try base.merchant(id: merchantID) != nil else { throw RuntimeError("no merchant \(merchantID)") }
        guard Money.isValidCurrency(currency) else { throw RuntimeError("currency must be three capital letters, e.g. CNY") }
        guard (1...100).contains(name.count) else { throw RuntimeError("a store name is 1 to 100 characters") }
        try checkTimeZone(timeZone)
        let s = StoreRecord(id: newID("S"), merchantID: merchantID, name: name, currency: currency, createdAt: now, timeZone: timeZone)
        try base.insertStore(s)
        return s
    }

    /// Sets the time zone a store's people read times in (screens, receipts); terminals learn it from
    /// their next ping or activation.
    public static func setStoreTimeZone(base: BaseStore, storeID: String, timeZone: String) throws {
        try checkTimeZone(timeZone)
        guard try base.setStoreTimeZone(storeID: storeID, timeZone: timeZone) else { throw RuntimeError("no store \(storeID)") }
    }

    private static func checkTimeZone(_ name: String) throws {
        guard StoreTime(identifier: name) != nil else {
            throw RuntimeError("\(name) is not a time zone this system knows; use an IANA name such as Asia/Shanghai or UTC")
        }
    }

    /// Lets a store take a channel's codes, with the merchant settings its adapter reads (a JSON object
    /// naming credential files; docs/CHANNELS.md). The settings are checked by building the adapter, so a
    /// store is never left with settings that fail at the first sale. Replaces earlier settings.
    public static func setStoreChannel(base: BaseStore, storeID: String, channel: ChannelKind, settings: String,
                                       now: Int64) throws {
        guard try base.store(id: storeID) != nil else { throw RuntimeError("no store \(storeID)") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(settings.utf8)), object is [String: Any] else {
            throw RuntimeError("the \(channel.rawValue) settings must be one JSON object")
        }
        do {
            try ServiceRuntime.checkChannelSettings(channel, settings)
        } catch {
            throw RuntimeError("the \(channel.rawValue) settings cannot be used: \(error)")
        }
        try base.setStoreChannel(StoreChannelRecord(storeID: storeID, channel: channel.rawValue, settings: settings, updatedAt: now))
    }

    public static func addStaff(base: BaseStore, storeID: String, name: String, role: StaffRole, pin: String, now: Int64) throws -> StaffRecord {
        guard try base.store(id: storeID) != nil else { throw RuntimeError("no store \(storeID)") }
        guard PINHash.isValidPIN(pin) else { throw RuntimeError("a PIN is 4 to 12 digits") }
        if try base.staff(storeID: storeID).contains(where: { $0.pinHash.matches(pin) }) {
            throw RuntimeError("another staff member of this store has that PIN; choose another")
        }
        let s = StaffRecord(id: newID("P"), storeID: storeID, name: name, role: role, pinHash: PINHash.make(pin: pin), createdAt: now)
        try base.insertStaff(s)
        return s
    }

    /// One page of a merchant's orders from every group, newest first (`cashierd merchant orders`).
    public struct MerchantOrderPage: Sendable {
        /// One line per order: number, created (UTC), store, status, amount; tab-separated.
        public var lines: [String]
        /// Where the next page starts; nil when this page was the last.
        public var nextCursor: String?
        /// Groups that did not answer: their orders are missing from this page.
        public var unavailable: [GroupTag]
    }

    /// A merchant's orders across all stores and groups, `limit` at a time, older than `cursor`.
    public static func merchantOrders(base: BaseStore, hopping: OrderHopping, merchantID: String, cursor: String?,
                                      limit: Int) throws -> MerchantOrderPage {
        guard try base.merchant(id: merchantID) != nil else { throw RuntimeError("no merchant \(merchantID)") }
        guard (1...500).contains(limit) else { throw RuntimeError("--limit must be 1 to 500") }
        var before: OrderListCursor?
        if let cursor {
            guard let parsed = OrderListCursor(token: cursor) else { throw RuntimeError("--cursor must be one this command printed") }
            before = parsed
        }
        let (orders, unavailable) = hopping.listOrders(.merchant(merchantID), before: before, limit: limit)
        let lines = orders.map { o in
            [o.orderNo.digits, RequestLog.timestamp(ms: o.createdAt), o.storeID, o.status.rawValue,
             Money(minorUnits: o.amount, currency: o.currency).description].joined(separator: "\t")
        }
        return MerchantOrderPage(lines: lines, nextCursor: OrderListCursor.after(orders, limit: limit)?.token, unavailable: unavailable)
    }

    /// Issues a one-time activation code for a store, valid for `ttlSeconds`.
    public static func issueActivationCode(base: BaseStore, storeID: String, ttlSeconds: Int64, now: Int64) throws -> ActivationCodeRecord {
        guard try base.store(id: storeID) != nil else { throw RuntimeError("no store \(storeID)") }
        guard (60...7 * 86_400).contains(ttlSeconds) else { throw RuntimeError("--ttl must be 60 seconds to 7 days") }
        let code = ActivationCodeRecord(code: ActivationCode.normalize(ActivationCode.generate()), storeID: storeID,
                                        createdAt: now, expiresAt: now + ttlSeconds * 1000)
        try base.insertActivationCode(code)
        return code
    }

    // MARK: - `--json` outputs: one document, snake_case keys, every key always present (null when empty)

    /// `cashierd init --json`: what was made, and with `--demo` the demo store's details.
    public struct InitReport: Encodable, Sendable {
        public var dataDirectory: String
        public var instance: Int
        public var groups: [Int]
        /// Base URLs of the listen addresses, e.g. `https://127.0.0.1:8443`.
        public var listen: [String]
        /// The CA certificate terminals trust.
        public var caFile: String
        public var demo: DemoReport?

        public init(dataDirectory: String, configuration: ServiceConfiguration, demo: DemoReport?) {
            self.dataDirectory = dataDirectory
            instance = configuration.instance
            groups = configuration.groups.map(\.tag)
            listen = configuration.listen.map { ($0.tls ? "https://" : "http://") + ($0.host.contains(":") ? "[\($0.host)]" : $0.host) + ":\($0.port)" }
            caFile = (dataDirectory as NSString).appendingPathComponent("ca.pem")
            self.demo = demo
        }

        enum CodingKeys: String, CodingKey { case dataDirectory = "data_directory", instance, groups, listen, caFile = "ca_file", demo }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(dataDirectory, forKey: .dataDirectory)
            try c.encode(instance, forKey: .instance)
            try c.encode(groups, forKey: .groups)
            try c.encode(listen, forKey: .listen)
            try c.encode(caFile, forKey: .caFile)
            try c.encode(demo, forKey: .demo)
        }
    }

    /// The demo data `init --demo` seeds, and its first activation code.
    public struct DemoReport: Encodable, Sendable {
        public var merchantId: String
        public var storeId: String
        public var storeName: String
        public var currency: String
        public var supervisorPin: String
        public var cashierPin: String
        /// As a terminal shows it: `WDJB-MJHT`.
        public var activationCode: String
        /// Milliseconds since 1970 (UTC).
        public var activationCodeExpiresAt: Int64

        public init(demo: DemoData, code: ActivationCodeRecord) {
            merchantId = demo.store.merchantID
            storeId = demo.store.id
            storeName = demo.store.name
            currency = demo.store.currency
            supervisorPin = demo.supervisorPIN
            cashierPin = demo.cashierPIN
            activationCode = ActivationCode.display(code.code)
            activationCodeExpiresAt = code.expiresAt
        }

        enum CodingKeys: String, CodingKey {
            case merchantId = "merchant_id", storeId = "store_id", storeName = "store_name", currency
            case supervisorPin = "supervisor_pin", cashierPin = "cashier_pin", activationCode = "activation_code"
            case activationCodeExpiresAt = "activation_code_expires_at"
        }
    }

    /// `cashierd store list --json`.
    public struct StoreList: Encodable, Sendable {
        public struct Store: Encodable, Sendable {
            public var id: String
            public var merchantId: String
            public var name: String
            public var currency: String
            /// Milliseconds since 1970 (UTC).
            public var createdAt: Int64
            /// IANA name.
            public var timeZone: String
            enum CodingKeys: String, CodingKey {
                case id, merchantId = "merchant_id", name, currency, createdAt = "created_at", timeZone = "time_zone"
            }
        }
        public var stores: [Store]

        public init(_ records: [StoreRecord]) {
            stores = records.map {
                Store(id: $0.id, merchantId: $0.merchantID, name: $0.name, currency: $0.currency, createdAt: $0.createdAt, timeZone: $0.timeZone)
            }
        }
    }

    /// `cashierd device list --json`. A device's key is never part of it.
    public struct DeviceList: Encodable, Sendable {
        public struct Device: Encodable, Sendable {
            public var id: String
            public var storeId: String
            public var name: String
            /// `active` or `revoked`.
            public var status: String
            /// Milliseconds since 1970 (UTC).
            public var activatedAt: Int64
            /// Null while active.
            public var revokedAt: Int64?

            enum CodingKeys: String, CodingKey {
                case id, storeId = "store_id", name, status, activatedAt = "activated_at", revokedAt = "revoked_at"
            }

            public func encode(to encoder: Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(id, forKey: .id)
                try c.encode(storeId, forKey: .storeId)
                try c.encode(name, forKey: .name)
                try c.encode(status, forKey: .status)
                try c.encode(activatedAt, forKey: .activatedAt)
                try c.encode(revokedAt, forKey: .revokedAt)
            }
        }
        public var devices: [Device]

        public init(_ records: [DeviceRecord]) {
            devices = records.map {
                Device(id: $0.id, storeId: $0.storeID, name: $0.name, status: $0.revokedAt == nil ? "active" : "revoked",
                       activatedAt: $0.activatedAt, revokedAt: $0.revokedAt)
            }
        }
    }

    /// One of the reports above as the JSON document a `--json` command prints: sorted keys, indented.
    public static func jsonDocument<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try prettyEncoder().encode(value), as: UTF8.self)
    }

    static func newID(_ prefix: String) -> String { prefix + Hex.encode(Crypto.randomBytes(5)).uppercased() }

    static func write(_ text: String, to directory: String, _ name: String, mode: Int) throws {
        let path = (directory as NSString).appendingPathComponent(name)
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw RuntimeError("cannot write \(path)")
        }
    }

    public static func prettyEncoder() -> JSONEncoder {
        let e = API.makeEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
