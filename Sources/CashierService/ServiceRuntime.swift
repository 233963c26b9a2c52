import CashierChannels
import CashierCore
import CashierCrypto
import CashierStorage
import Foundation
import HTTPServer
import Postgres

/// A running-ready `cashierd`: its data directory opened, stores connected, the service assembled.
public final class ServiceRuntime: @unchecked Sendable {
    // @unchecked: the mutable group bookkeeping is guarded by `reloadLock`; everything else is immutable.
    public let dataDirectory: String
    public let configuration: ServiceConfiguration
    public let base: BaseStore
    public let hopping: OrderHopping
    /// The sandbox channel, shared by every store that takes sandbox codes: its ledger in this data
    /// directory, or the sandbox service at `channel.sandbox_url` (shared with other instances).
    public let sandbox: any SandboxLedgerChannel
    public let service: CashierService

    public static let configurationFile = "cashierd.json"

    private let reloadLock = NSLock()
    /// Where each open group's data lives, to notice a changed location on reload.
    private var groupLocations: [GroupTag: ServiceConfiguration.DatabaseLocation] = [:]
    private var configurationDate: Date?
    /// The version of the shared order groups (`groups share`) last applied; nil while the groups come
    /// from the configuration file.
    private var sharedGroupsVersion: Int64?

    /// The name of the shared setting that holds the order groups and routes in the base data.
    public static let sharedGroupsSetting = "order_groups"

    /// Opens the data directory written by `cashierd init`.
    /// - Parameter instance: overrides the configuration's instance id, so several instances can share one
    ///   data directory (and so see the same group changes).
    public init(dataDirectory: String, logRequests: Bool = true, instance: Int? = nil) throws {
        self.dataDirectory = dataDirectory
        let configPath = Self.path(Self.configurationFile, in: dataDirectory)
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw RuntimeError("no \(Self.configurationFile) in \(dataDirectory); run `cashierd init --data \(dataDirectory)` first")
        }
        var configuration: ServiceConfiguration
        do {
            configuration = try API.makeDecoder().decode(ServiceConfiguration.self, from: data)
            if let instance { configuration.instance = instance }
        } catch {
            throw RuntimeError("\(configPath) is not a valid configuration: \(error)")
        }
        guard (0...999).contains(configuration.instance) else { throw RuntimeError("instance must be 0 to 999") }
        guard !configuration.groups.isEmpty else { throw RuntimeError("the configuration names no order groups") }
        let sweep = configuration.sweep
        guard sweep.afterSeconds >= 0, sweep.everySeconds >= 1, sweep.reverseAfterSeconds >= sweep.afterSeconds else {
            throw RuntimeError("sweep: after_seconds must be 0 or more, every_seconds 1 or more, and reverse_after_seconds at least after_seconds")
        }
        base = try Self.openBase(configuration.base, in: dataDirectory)
        // Groups shared through the base data (`cashierd groups share`) win over the file's.
        do {
            if let shared = try base.sharedSetting(Self.sharedGroupsSetting) {
                configuration = try SharedGroups.decode(shared.value).applied(to: configuration)
                sharedGroupsVersion = shared.version
            }
        } catch let error as StorageError {
            FileHandle.standardError.write(Data("cashierd: the base data cannot be read for shared order groups (\(error)); using the file's until it can\n".utf8))
        }
        self.configuration = configuration
        func resolve(_ path: String) -> String { Self.path(path, in: dataDirectory) }

        let (groupLocations, routes) = try Self.validateGroups(configuration)
        var groups: [GroupTag: OrderGroupStore] = [:]
        var accepting: Set<GroupTag> = []
        for g in configuration.groups {
            let tag = GroupTag(g.tag)!
            groups[tag] = try Self.openGroup(g.location, in: dataDirectory)
            if g.accepting { accepting.insert(tag) }
        }
        self.groupLocations = groupLocations
        self.configurationDate = Self.modificationDate(configPath)
        var hoppingSettings = HoppingConfiguration()
        hoppingSettings.failureThreshold = configuration.hopping.failureThreshold
        hoppingSettings.halfLifeSeconds = configuration.hopping.halfLifeSeconds
        let metrics = Metrics()
        hopping = OrderHopping(groups: groups, accepting: accepting, routes: routes, configuration: hoppingSettings,
                               clock: CashierService.systemClock)
        if configuration.channel.sandboxUrl != nil {
            sandbox = try Self.remoteSandbox(configuration.channel, in: dataDirectory)
        } else {
            switch configuration.channel.ledger {
            case .sqlite(let path):
                sandbox = try SandboxChannel(path: resolve(path), settings: configuration.channel.sandboxSettings,
                                             timing: configuration.channel.sandboxTiming)
            case .postgres: throw RuntimeError("the sandbox channel ledger is SQLite only")
            }
        }
        let log = RequestLog(path: configuration.requestLog.map(resolve), enabled: logRequests)
        let channels = ChannelRegistry(base: base, factories: Self.channelFactories(sandbox: sandbox),
                                       staleMs: Int64(configuration.deviceCacheSeconds) * 1000)
        service = CashierService(configuration: configuration, base: base, hopping: hopping, channels: channels,
                                 log: log, metrics: metrics)
        for g in configuration.groups where g.frozen == true { try hopping.setFrozen(GroupTag(g.tag)!, true) }
    }

    /// The adapter to the sandbox service at `channel.sandbox_url` (docs/SANDBOX.md); nothing is sent yet.
    static func remoteSandbox(_ settings: ServiceConfiguration.ChannelSettings, in dataDirectory: String) throws -> SandboxHTTPChannel {
        guard let url = settings.sandboxUrl else { throw RuntimeError("channel.sandbox_url is not set") }
        do {
            let secret = try settings.sandboxSecretFile.map { try SandboxSecret(contentsOfFile: path($0, in: dataDirectory)) }
            let caFile = path(settings.sandboxCaFile ?? "ca.pem", in: dataDirectory)
            if url.hasPrefix("https://") && !FileManager.default.isReadableFile(atPath: caFile) {
                throw RuntimeError("channel.sandbox_url is https but its CA file \(caFile) cannot be read (set channel.sandbox_ca_file)")
            }
            return try SandboxHTTPChannel(configuration: .init(url: url, caFile: caFile,
                                                               secret: secret, timeoutMs: settings.sandboxTimeoutMs,
                                                               timing: settings.sandboxTiming))
        } catch let error as ChannelError {
            throw RuntimeError("channel.sandbox_url: \(error.detail)")
        }
    }

    /// How each kind of channel is built from a store's settings; the sandbox is this data directory's
    /// ledger or the sandbox service.
    static func channelFactories(sandbox: any SandboxLedgerChannel) -> [ChannelKind: ChannelRegistry.Factory] {
        [
            .sandbox: { _ in sandbox },
            .alipay: alipay,
            .wechatpay: wechatpay,
        ]
    }

    /// Throws when a store's settings for `kind` cannot build its adapter (no network is used).
    static func checkChannelSettings(_ kind: ChannelKind, _ settings: String) throws {
        switch kind {
        case .sandbox: return  // the sandbox takes no settings
        case .alipay: _ = try alipay(settings)
        case .wechatpay:
            // The base data is read by every instance and its operators: the API key stays in an owner-only file.
            guard try WeChatPayConfiguration.parse(json: settings).apiKey == nil else {
                throw RuntimeError("name the API key's file (api_key_file) instead of putting the key in the store's settings")
            }
            _ = try wechatpay(settings)
        }
    }

    /// A WeChat Pay adapter from a store's settings (`WeChatPayConfiguration`'s JSON; docs/CHANNELS.md).
    @Sendable static func wechatpay(_ settings: String) throws -> PaymentChannel {
        try WeChatPayChannel(configuration: try WeChatPayConfiguration.parse(json: settings))
    }

    /// An Alipay adapter from a store's settings (`AlipayConfiguration`'s JSON; docs/CHANNELS.md).
    @Sendable static func alipay(_ settings: String) throws -> PaymentChannel {
        let configuration = try JSONDecoder().decode(AlipayConfiguration.self, from: Data(settings.utf8))
        return try AlipayChannel(configuration: configuration)
    }

    /// Checks group tags and routes; returns the groups' locations and the route table.
    static func validateGroups(_ configuration: ServiceConfiguration) throws -> ([GroupTag: ServiceConfiguration.DatabaseLocation], [GroupTag: GroupTag]) {
        var locations: [GroupTag: ServiceConfiguration.DatabaseLocation] = [:]
        for g in configuration.groups {
            guard let tag = GroupTag(g.tag) else { throw RuntimeError("group tag \(g.tag) is outside 0 to 99") }
            guard locations[tag] == nil else { throw RuntimeError("group \(tag) is configured twice") }
            locations[tag] = g.location
        }
        var routes: [GroupTag: GroupTag] = [:]
        for (from, to) in configuration.routes {
            guard let f = Int(from).flatMap(GroupTag.init), let t = GroupTag(to), locations[t] != nil, locations[f] == nil else {
                throw RuntimeError("route \(from) → \(to) must lead from a retired tag to a configured group")
            }
            routes[f] = t
        }
        return (locations, routes)
    }

    var configurationPath: String { Self.path(Self.configurationFile, in: dataDirectory) }

    /// `name` as a path: absolute names stay, relative ones are inside `directory` (the data directory).
    static func path(_ name: String, in directory: String) -> String {
        name.hasPrefix("/") ? name : (directory as NSString).appendingPathComponent(name)
    }

    static func modificationDate(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    /// Re-reads the configuration file and applies its order groups and routes to the running service:
    /// new groups are opened and take orders, retired ones stop, frozen ones answer "retry later",
    /// removed ones are forgotten. Other settings take effect at the next start.
    public func reloadGroups() throws {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        guard let data = FileManager.default.contents(atPath: configurationPath) else { throw RuntimeError("cannot read \(configurationPath)") }
        try apply(try API.makeDecoder().decode(ServiceConfiguration.self, from: data))
    }

    /// Applies groups and routes to the running service (`reloadLock` held).
    private func apply(_ fresh: ServiceConfiguration) throws {
        let (locations, routes) = try Self.validateGroups(fresh)
        for g in fresh.groups {
            let tag = GroupTag(g.tag)!
            if groupLocations[tag] != g.location {
                hopping.addGroup(tag, store: try Self.openGroup(g.location, in: dataDirectory), accepting: g.accepting)
            } else {
                try hopping.setAccepting(tag, g.accepting)
            }
            try hopping.setFrozen(tag, g.frozen ?? false)
        }
        for tag in groupLocations.keys where locations[tag] == nil { hopping.removeGroup(tag) }
        for tag in hopping.currentRoutes.keys where routes[tag] == nil { hopping.setRoute(from: tag, to: nil) }
        for (from, to) in routes { hopping.setRoute(from: from, to: to) }
        groupLocations = locations
    }

    /// Applies the shared order groups when their version in the base data changed; returns whether the
    /// groups are shared (then the file's are not looked at). A base that cannot be read keeps what is applied.
    func reloadSharedGroups() -> Bool {
        guard let shared = try? base.sharedSetting(Self.sharedGroupsSetting) else {
            reloadLock.lock(); defer { reloadLock.unlock() }
            return sharedGroupsVersion != nil
        }
        reloadLock.lock()
        defer { reloadLock.unlock() }
        guard shared.version != sharedGroupsVersion else { return true }
        do {
            try apply(try SharedGroups.decode(shared.value).applied(to: configuration))
            sharedGroupsVersion = shared.version
            FileHandle.standardOutput.write(Data("cashierd \(service.instanceLabel): shared order groups version \(shared.version) applied\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("cashierd \(service.instanceLabel): shared order groups not applied: \(error)\n".utf8))
        }
        return true
    }

    /// Reloads groups when the shared ones change in the base data, else when the configuration file
    /// changes (checked every second).
    func reloadIfChanged() {
        if reloadSharedGroups() { return }
        let date = Self.modificationDate(configurationPath)
        reloadLock.lock()
        let changed = date != configurationDate
        if changed { configurationDate = date }
        reloadLock.unlock()
        guard changed else { return }
        do {
            try reloadGroups()
            FileHandle.standardOutput.write(Data("cashierd \(service.instanceLabel): order groups reloaded\n".utf8))
        } catch {
            FileHandle.standardError.write(Data("cashierd \(service.instanceLabel): configuration not reloaded: \(error)\n".utf8))
        }
    }

    static func openBase(_ location: ServiceConfiguration.DatabaseLocation, in dataDirectory: String) throws -> BaseStore {
        switch location {
        case .sqlite(let path): return try SQLiteBaseStore(.path(Self.path(path, in: dataDirectory)))
        case .postgres(let url): return PostgresBaseStore(pool: ConnectionPool(options: ConnectionOptions(conninfo: url)))
        }
    }

    static func openGroup(_ location: ServiceConfiguration.DatabaseLocation, in dataDirectory: String) throws -> OrderGroupStore {
        switch location {
        case .sqlite(let path):
            // Opened lazily: the service starts even while a group's storage is unreachable.
            return try SQLiteOrderGroupStore(path: Self.path(path, in: dataDirectory), openNow: false)
        case .postgres(let url): return PostgresOrderGroupStore(pool: ConnectionPool(options: ConnectionOptions(conninfo: url)))
        }
    }

    /// Starts listening on the configured addresses (or `listen`, when given).
    public func startServer(listen override: [ListenAddress]? = nil) throws -> HTTPServer {
        let listen = override ?? configuration.listen.map { ListenAddress(host: $0.host, port: $0.port, tls: $0.tls) }
        guard !listen.isEmpty else { throw RuntimeError("no listen address; add one to the configuration or pass --listen") }
        var tls: TLSMaterial?
        if listen.contains(where: \.tls) {
            func read(_ name: String) throws -> String {
                let path = Self.path(name, in: dataDirectory)
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw RuntimeError("cannot read \(path) for TLS")
                }
                return text
            }
            tls = TLSMaterial(certificatePEM: try read(configuration.tlsCertificate), privateKeyPEM: try read(configuration.tlsKey))
        }
        var http = HTTPServerConfiguration(listen: listen, tls: tls)
        http.maxBodyBytes = configuration.limits.maxBodyBytes
        http.connectionTimeoutSeconds = configuration.limits.connectionTimeoutSeconds
        http.connectionLimit = configuration.limits.connectionLimit
        http.perIPConnectionLimit = configuration.limits.perIpConnectionLimit
        http.workerThreads = max(1, configuration.limits.workerThreads)
        let service = self.service
        return try HTTPServer(configuration: http) { service.handle($0) }
    }

    /// On a thread of its own, for as long as the process runs: applies changed order groups from the
    /// configuration file within a second. On other threads (so a group that is slow to answer cannot
    /// hold up a reload) it deletes expired nonces every minute, and sweeps stale payments and refunds
    /// every `sweep.every_seconds` unless `sweep.after_seconds` is 0, and probes every second the order
    /// groups that new orders skip for their failures, so a healed group takes orders again at once.
    public func startHousekeeping() {
        let sweep = configuration.sweep
        let service = self.service
        let pruner = Thread {
            while true {
                _ = service.pruneExpiredNonces(now: CashierService.systemClock())
                Thread.sleep(forTimeInterval: 60)
            }
        }
        pruner.name = "cashierd-nonces"
        pruner.start()
        if sweep.afterSeconds > 0 {
            let sweeper = Thread {
                while true {
                    Thread.sleep(forTimeInterval: Double(sweep.everySeconds))
                    _ = service.sweepStalePayments(now: CashierService.systemClock())
                }
            }
            sweeper.name = "cashierd-sweep"
            sweeper.start()
        }
        let healer = Thread {
            while true {
                Thread.sleep(forTimeInterval: 1)
                for tag in service.hopping.probeSkippedGroups() {
                    FileHandle.standardError.write(Data("cashierd \(service.instanceLabel): order group \(tag) takes writes again; new orders go to it\n".utf8))
                }
            }
        }
        healer.name = "cashierd-group-probe"
        healer.start()
        let thread = Thread { [self] in
            while true {
                reloadIfChanged()
                Thread.sleep(forTimeInterval: 1)
            }
        }
        thread.name = "cashierd-housekeeping"
        thread.start()
    }
}

/// A failure to set up or start the service, said as a sentence.
public struct RuntimeError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
