import CashierChannels
import CashierCore

/// The settings of one `cashierd` instance, read from `cashierd.json` in its data directory.
public struct ServiceConfiguration: Codable, Sendable, Equatable {
    /// This instance's id, 0–999; it is part of every order number the instance makes, so two
    /// instances sharing groups must have different ids.
    public var instance: Int = 1
    public var base: DatabaseLocation = .sqlite(path: "base.sqlite")
    /// `base.device_cache_seconds`: how long a device (its key, whether it is revoked, its store) as last read from
    /// the base data may still verify that device's signed requests while the base data cannot be read; 0 turns
    /// the cache off. Also the longest a terminal revoked just before an outage may still sell (docs/SECURITY.md).
    public var deviceCacheSeconds: Int = 30
    public var groups: [GroupLocation] = []
    /// Retired group tags and the group that now holds their data (the seed's scale-in).
    public var routes: [String: Int] = [:]
    public var channel: ChannelSettings = ChannelSettings()
    public var listen: [ListenSetting] = []
    public var tlsCertificate: String = "server.pem"
    public var tlsKey: String = "server-key.pem"
    public var limits: Limits = Limits()
    public var hopping: HoppingSettings = HoppingSettings()
    public var sweep: SweepSettings = SweepSettings()
    /// Request log file (relative to the data directory); nil logs to standard error.
    public var requestLog: String? = "requests.log"

    public init() {}

    enum CodingKeys: String, CodingKey {
        case instance, base, groups, routes, channel, listen, tlsCertificate, tlsKey, limits, hopping, sweep, requestLog
    }

    /// The `base` object: where the base data is (`sqlite` or `postgres`, as every `DatabaseLocation` is written)
    /// and the device cache's setting beside it.
    private enum BaseKeys: String, CodingKey { case sqlite, postgres, deviceCacheSeconds }
    private enum PathKeys: String, CodingKey { case path }
    private enum URLKeys: String, CodingKey { case url }

    /// Every key is optional in the file: a missing one takes its default, so an operator can write a short file.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ServiceConfiguration()
        instance = try c.decodeIfPresent(Int.self, forKey: .instance) ?? d.instance
        if c.contains(.base) {
            let b = try c.nestedContainer(keyedBy: BaseKeys.self, forKey: .base)
            switch (b.contains(.sqlite), b.contains(.postgres)) {
            case (true, false):
                base = .sqlite(path: try b.nestedContainer(keyedBy: PathKeys.self, forKey: .sqlite).decode(String.self, forKey: .path))
            case (false, true):
                base = .postgres(url: try b.nestedContainer(keyedBy: URLKeys.self, forKey: .postgres).decode(String.self, forKey: .url))
            default:
                throw DecodingError.dataCorruptedError(forKey: .base, in: c,
                                                       debugDescription: "base names one database: {\"sqlite\": {\"path\": …}} or {\"postgres\": {\"url\": …}}")
            }
            deviceCacheSeconds = try b.decodeIfPresent(Int.self, forKey: .deviceCacheSeconds) ?? d.deviceCacheSeconds
            guard deviceCacheSeconds >= 0 else {
                throw DecodingError.dataCorruptedError(forKey: .deviceCacheSeconds, in: b, debugDescription: "device_cache_seconds is 0 (off) or more")
            }
        }
        groups = try c.decodeIfPresent([GroupLocation].self, forKey: .groups) ?? d.groups
        routes = try c.decodeIfPresent([String: Int].self, forKey: .routes) ?? d.routes
        channel = try c.decodeIfPresent(ChannelSettings.self, forKey: .channel) ?? d.channel
        listen = try c.decodeIfPresent([ListenSetting].self, forKey: .listen) ?? d.listen
        tlsCertificate = try c.decodeIfPresent(String.self, forKey: .tlsCertificate) ?? d.tlsCertificate
        tlsKey = try c.decodeIfPresent(String.self, forKey: .tlsKey) ?? d.tlsKey
        limits = try c.decodeIfPresent(Limits.self, forKey: .limits) ?? d.limits
        hopping = try c.decodeIfPresent(HoppingSettings.self, forKey: .hopping) ?? d.hopping
        sweep = try c.decodeIfPresent(SweepSettings.self, forKey: .sweep) ?? d.sweep
        requestLog = c.contains(.requestLog) ? try c.decodeIfPresent(String.self, forKey: .requestLog) : d.requestLog
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(instance, forKey: .instance)
        var b = c.nestedContainer(keyedBy: BaseKeys.self, forKey: .base)
        switch base {
        case .sqlite(let path):
            var l = b.nestedContainer(keyedBy: PathKeys.self, forKey: .sqlite)
            try l.encode(path, forKey: .path)
        case .postgres(let url):
            var l = b.nestedContainer(keyedBy: URLKeys.self, forKey: .postgres)
            try l.encode(url, forKey: .url)
        }
        try b.encode(deviceCacheSeconds, forKey: .deviceCacheSeconds)
        try c.encode(groups, forKey: .groups)
        try c.encode(routes, forKey: .routes)
        try c.encode(channel, forKey: .channel)
        try c.encode(listen, forKey: .listen)
        try c.encode(tlsCertificate, forKey: .tlsCertificate)
        try c.encode(tlsKey, forKey: .tlsKey)
        try c.encode(limits, forKey: .limits)
        try c.encode(hopping, forKey: .hopping)
        try c.encode(sweep, forKey: .sweep)
        // null, not left out: a missing request_log means the default file.
        try c.encode(requestLog, forKey: .requestLog)
    }

    public struct GroupLocation: Codable, Sendable, Equatable {
        public var tag: Int
        public var location: DatabaseLocation
        /// False for a group being retired: it keeps its data but takes no new orders.
        public var accepting: Bool = true
        /// True while the group's data is being moved: its orders answer "retry later".
        public var frozen: Bool? = nil
        public init(tag: Int, location: DatabaseLocation, accepting: Bool = true, frozen: Bool? = nil) {
            self.tag = tag; self.location = location; self.accepting = accepting; self.frozen = frozen
        }
    }

    public enum DatabaseLocation: Codable, Sendable, Equatable {
        case sqlite(path: String)
        case postgres(url: String)
    }

    public struct ListenSetting: Codable, Sendable, Equatable {
        public var host: String
        public var port: UInt16
        public var tls: Bool
        public init(host: String, port: UInt16, tls: Bool) { self.host = host; self.port = port; self.tls = tls }
    }

    public struct ChannelSettings: Codable, Sendable, Equatable {
        /// The sandbox channel's own ledger, apart from the order data.
        public var ledger: DatabaseLocation = .sqlite(path: "channel.sqlite")
        /// How long a customer takes to confirm a USERPAYING payment (scenario 4).
        public var confirmDelayMs: Int64 = 6_000
        /// How long the slow scenario (8) takes to answer.
        public var slowDelayMs: Int64 = 3_000
        /// After this long an unconfirmed payment is closed by the channel.
        public var autoCloseMs: Int64 = 180_000
        /// The sandbox as a service (`cashierd sandbox serve`), `http://HOST:PORT` or `https://HOST:PORT`: when
        /// set, every store's sandbox channel is that service (shared by every instance pointed at it) and
        /// `ledger` and the three delays above are not used here (the service has its own).
        public var sandboxUrl: String? = nil
        /// The CA that signed an https sandbox service's certificate (relative to the data directory);
        /// nil: the data directory's own `ca.pem`.
        public var sandboxCaFile: String? = nil
        /// The file holding the secret the sandbox service signs with (owner-only; relative to the data
        /// directory); nil: requests and answers are not signed.
        public var sandboxSecretFile: String? = nil
        /// How long one call to the sandbox service may take (more than the service's slow-scenario delay).
        public var sandboxTimeoutMs: Int = 10_000
        /// How the service paces sandbox payments, as a provider's rules pace theirs: a payment under way is
        /// asked of the sandbox at most every `poll_interval_ms`, and one still undecided `pay_deadline_ms`
        /// after its claim is reversed when a terminal asks about it.
        public var pollIntervalMs: Int64 = SandboxChannel.standardTiming.pollIntervalMs
        public var payDeadlineMs: Int64 = SandboxChannel.standardTiming.payDeadlineMs
        public init() {}

        /// The pacing the sandbox adapters are given.
        public var sandboxTiming: ChannelTiming {
            ChannelTiming(pollIntervalMs: pollIntervalMs, payDeadlineMs: payDeadlineMs, earliestReverseMs: 0)
        }

        /// The simulated customers' behaviour, as the sandbox takes it.
        public var sandboxSettings: SandboxChannel.Settings {
            SandboxChannel.Settings(confirmDelayMs: confirmDelayMs, slowDelayMs: slowDelayMs, autoCloseMs: autoCloseMs)
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = ChannelSettings()
            ledger = try c.decodeIfPresent(DatabaseLocation.self, forKey: .ledger) ?? d.ledger
            confirmDelayMs = try c.decodeIfPresent(Int64.self, forKey: .confirmDelayMs) ?? d.confirmDelayMs
            slowDelayMs = try c.decodeIfPresent(Int64.self, forKey: .slowDelayMs) ?? d.slowDelayMs
            autoCloseMs = try c.decodeIfPresent(Int64.self, forKey: .autoCloseMs) ?? d.autoCloseMs
            sandboxUrl = try c.decodeIfPresent(String.self, forKey: .sandboxUrl)
            sandboxCaFile = try c.decodeIfPresent(String.self, forKey: .sandboxCaFile)
            sandboxSecretFile = try c.decodeIfPresent(String.self, forKey: .sandboxSecretFile)
            sandboxTimeoutMs = try c.decodeIfPresent(Int.self, forKey: .sandboxTimeoutMs) ?? d.sandboxTimeoutMs
            pollIntervalMs = try c.decodeIfPresent(Int64.self, forKey: .pollIntervalMs) ?? d.pollIntervalMs
            payDeadlineMs = try c.decodeIfPresent(Int64.self, forKey: .payDeadlineMs) ?? d.payDeadlineMs
        }
    }

    public struct Limits: Codable, Sendable, Equatable {
        /// Requests in flight before overload protection refuses the least urgent.
        public var maxInFlight: Int = 64
        public var maxBodyBytes: Int = 64 * 1024
        public var connectionTimeoutSeconds: Int = 15
        /// Connections one listen address keeps open; bounded at start by the open-file limit (raised to the
        /// hard limit) less 512, shared by all listen addresses (docs/OPERATIONS.md).
        public var connectionLimit: Int = 20_000
        public var perIpConnectionLimit: Int = 0
        /// Threads that run request handlers (shared by every listener; started as needed). Twice
        /// `max_in_flight` by default, so a request to be refused for load is refused at once.
        public var workerThreads: Int = 128
        public var clockSkewSeconds: Int64 = 300
        /// Failed activation attempts allowed per client address per 10 minutes.
        public var activationAttempts: Int = 10
        /// Wrong PINs allowed per terminal per 15 minutes.
        public var pinAttempts: Int = 5
        /// Refunds allowed per order.
        public var maxRefundsPerOrder: Int = 50
        /// A shift closed with counted cash further than this from the expected (minor units, either way)
        /// needs a supervisor's PIN.
        public var cashDifferenceLimit: Int64 = 500
        public init() {}

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = Limits()
            maxInFlight = try c.decodeIfPresent(Int.self, forKey: .maxInFlight) ?? d.maxInFlight
            maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? d.maxBodyBytes
            connectionTimeoutSeconds = try c.decodeIfPresent(Int.self, forKey: .connectionTimeoutSeconds) ?? d.connectionTimeoutSeconds
            connectionLimit = try c.decodeIfPresent(Int.self, forKey: .connectionLimit) ?? d.connectionLimit
            perIpConnectionLimit = try c.decodeIfPresent(Int.self, forKey: .perIpConnectionLimit) ?? d.perIpConnectionLimit
            workerThreads = try c.decodeIfPresent(Int.self, forKey: .workerThreads) ?? d.workerThreads
            clockSkewSeconds = try c.decodeIfPresent(Int64.self, forKey: .clockSkewSeconds) ?? d.clockSkewSeconds
            activationAttempts = try c.decodeIfPresent(Int.self, forKey: .activationAttempts) ?? d.activationAttempts
            pinAttempts = try c.decodeIfPresent(Int.self, forKey: .pinAttempts) ?? d.pinAttempts
            maxRefundsPerOrder = try c.decodeIfPresent(Int.self, forKey: .maxRefundsPerOrder) ?? d.maxRefundsPerOrder
            cashDifferenceLimit = try c.decodeIfPresent(Int64.self, forKey: .cashDifferenceLimit) ?? d.cashDifferenceLimit
        }
    }

    /// The sweep of `paying` orders no terminal is asking about any more (`CashierService.sweepStalePayments`).
    public struct SweepSettings: Codable, Sendable, Equatable {
        /// A `paying` order unchanged for this long is asked of the channel; 0 turns the sweep off.
        public var afterSeconds: Int64 = 60
        /// A `paying` order the channel still has not decided after this long is reversed.
        public var reverseAfterSeconds: Int64 = 300
        /// How often the sweep runs.
        public var everySeconds: Int = 15
        public init() {}

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let d = SweepSettings()
            afterSeconds = try c.decodeIfPresent(Int64.self, forKey: .afterSeconds) ?? d.afterSeconds
            reverseAfterSeconds = try c.decodeIfPresent(Int64.self, forKey: .reverseAfterSeconds) ?? d.reverseAfterSeconds
            everySeconds = try c.decodeIfPresent(Int.self, forKey: .everySeconds) ?? d.everySeconds
        }
    }

    public struct HoppingSettings: Codable, Sendable, Equatable {
        public var failureThreshold: Double = 3
        public var halfLifeSeconds: Double = 10
        public init() {}

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            failureThreshold = try c.decodeIfPresent(Double.self, forKey: .failureThreshold) ?? 3
            halfLifeSeconds = try c.decodeIfPresent(Double.self, forKey: .halfLifeSeconds) ?? 10
        }
    }
}
