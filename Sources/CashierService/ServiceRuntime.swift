import CashierCore
import CashierCrypto
import CashierStorage
import Foundation
import HTTPServer
import Postgres

/// A running-ready `cashierd`: its data directory opened, stores connected, the service assembled.
public final class ServiceRuntime: Sendable {
    public let dataDirectory: String
    public let configuration: ServiceConfiguration
    public let base: BaseStore
    public let hopping: OrderHopping
    public let channel: SandboxChannel
    public let service: CashierService

    public static let configurationFile = "cashierd.json"

    /// Opens the data directory written by `cashierd init`.
    public init(dataDirectory: String, logRequests: Bool = true) throws {
        self.dataDirectory = dataDirectory
        let configPath = (dataDirectory as NSString).appendingPathComponent(Self.configurationFile)
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw RuntimeError("no \(Self.configurationFile) in \(dataDirectory); run `cashierd init --data \(dataDirectory)` first")
        }
        let configuration: ServiceConfiguration
        do {
            configuration = try API.makeDecoder().decode(ServiceConfiguration.self, from: data)
        } catch {
            throw RuntimeError("\(configPath) is not a valid configuration: \(error)")
        }
        guard (0...999).contains(configuration.instance) else { throw RuntimeError("instance must be 0 to 999") }
        guard !configuration.groups.isEmpty else { throw RuntimeError("the configuration names no order groups") }
        self.configuration = configuration
        func resolve(_ path: String) -> String { path.hasPrefix("/") ? path : (dataDirectory as NSString).appendingPathComponent(path) }

        base = try Self.openBase(configuration.base, resolve: resolve)
        var groups: [GroupTag: OrderGroupStore] = [:]
        var accepting: Set<GroupTag> = []
        for g in configuration.groups {
            guard let tag = GroupTag(g.tag) else { throw RuntimeError("group tag \(g.tag) is outside 0 to 99") }
            guard groups[tag] == nil else { throw RuntimeError("group \(tag) is configured twice") }
            groups[tag] = try Self.openGroup(g.location, resolve: resolve)
            if g.accepting { accepting.insert(tag) }
        }
        var routes: [GroupTag: GroupTag] = [:]
        for (from, to) in configuration.routes {
            guard let f = Int(from).flatMap(GroupTag.init), let t = GroupTag(to), groups[t] != nil else {
                throw RuntimeError("route \(from) → \(to) names a group that is not configured")
            }
            routes[f] = t
        }
        var hoppingSettings = HoppingConfiguration()
        hoppingSettings.failureThreshold = configuration.hopping.failureThreshold
        hoppingSettings.halfLifeSeconds = configuration.hopping.halfLifeSeconds
        let metrics = Metrics()
        hopping = OrderHopping(groups: groups, accepting: accepting, routes: routes, configuration: hoppingSettings,
                               clock: CashierService.systemClock)
        switch configuration.channel.ledger {
        case .sqlite(let path): channel = try SandboxChannel(path: resolve(path), settings: configuration.channel)
        case .postgres: throw RuntimeError("the sandbox channel ledger is SQLite only")
        }
        let log = RequestLog(path: configuration.requestLog.map(resolve), enabled: logRequests)
        service = CashierService(configuration: configuration, base: base, hopping: hopping, channel: channel,
                                 log: log, metrics: metrics)
    }

    static func openBase(_ location: ServiceConfiguration.DatabaseLocation, resolve: (String) -> String) throws -> BaseStore {
        switch location {
        case .sqlite(let path): return try SQLiteBaseStore(.path(resolve(path)))
        case .postgres(let url): return PostgresBaseStore(pool: ConnectionPool(options: ConnectionOptions(conninfo: url)))
        }
    }

    static func openGroup(_ location: ServiceConfiguration.DatabaseLocation, resolve: (String) -> String) throws -> OrderGroupStore {
        switch location {
        case .sqlite(let path):
            // Opened lazily: the service starts even while a group's storage is unreachable.
            return try SQLiteOrderGroupStore(path: resolve(path), openNow: false)
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
                let path = name.hasPrefix("/") ? name : (dataDirectory as NSString).appendingPathComponent(name)
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
        let service = self.service
        return try HTTPServer(configuration: http) { service.handle($0) }
    }

    /// Deletes expired nonces every minute on a thread of its own, for as long as the process runs.
    public func startHousekeeping() {
        let base = self.base
        let thread = Thread {
            while true {
                _ = try? base.pruneNonces(now: CashierService.systemClock())
                Thread.sleep(forTimeInterval: 60)
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
