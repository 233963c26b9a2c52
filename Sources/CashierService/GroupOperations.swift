import CashierCore
import CashierStorage
import Foundation

/// The order groups and routes every instance shares through the base data (`cashierd groups share`).
struct SharedGroups: Codable, Equatable {
    var groups: [ServiceConfiguration.GroupLocation]
    var routes: [String: Int]

    static func decode(_ text: String) throws -> SharedGroups {
        try API.makeDecoder().decode(SharedGroups.self, from: Data(text.utf8))
    }

    /// A configuration's groups and routes, SQLite groups by absolute path (every instance has a data
    /// directory of its own).
    init(_ config: ServiceConfiguration, dataDirectory: String) {
        groups = config.groups.map { g in
            var g = g
            if case .sqlite(let path) = g.location { g.location = .sqlite(path: ServiceRuntime.path(path, in: dataDirectory)) }
            return g
        }
        routes = config.routes
    }

    /// `config` with these groups and routes in place of its own.
    func applied(to config: ServiceConfiguration) -> ServiceConfiguration {
        var c = config
        c.groups = groups
        c.routes = routes
        return c
    }

    var text: String { String(decoding: (try? Administration.prettyEncoder().encode(self)) ?? Data(), as: UTF8.self) }
}

/// Scale out and scale in (the seed's section 5), done to a running deployment: through the order groups
/// shared in the base data once `groups share` has put them there (every instance, on any host, applies a
/// change within a second), else through the data directory's configuration file (re-read within a
/// second by the instances that use that directory).
public enum GroupOperations {
    /// How long to wait after a configuration change so every instance has applied it.
    public static let settleSeconds: Double = 2.5

    /// Adds order group `tag` (SQLite file `group-NN.sqlite` by default, or a PostgreSQL URL); it takes
    /// new orders as soon as the instances reload.
    public static func addGroup(dataDirectory: String, tag: Int, postgresURL: String?, log: (String) -> Void) throws {
        var (config, place) = try read(dataDirectory)
        guard GroupTag(tag) != nil else { throw RuntimeError("a group tag is 0 to 99") }
        guard !config.groups.contains(where: { $0.tag == tag }) else { throw RuntimeError("group \(tag) is already configured") }
        guard config.routes[String(tag)] == nil else { throw RuntimeError("tag \(tag) belonged to a retired group; choose another") }
        let location: ServiceConfiguration.DatabaseLocation = postgresURL.map { .postgres(url: $0) } ?? .sqlite(path: "group-\(pad(tag, 2)).sqlite")
        // Open it once first so a wrong location fails here, not in the running instances.
        let store = try ServiceRuntime.openGroup(location, in: dataDirectory)
        try store.probeWrite(now: CashierService.systemClock())
        config.groups.append(.init(tag: tag, location: location))
        config.groups.sort { $0.tag < $1.tag }
        try write(config, to: dataDirectory, &place)
        log("group \(pad(tag, 2)) added; instances take it within a second")
    }

    /// Retires order group `tag` the seed's way: it is mapped to the group `tag mod remaining`, stops
    /// taking new orders, is frozen while its orders and refunds are copied into the mapped group, and
    /// then its tag is routed there and the group is dropped from the configuration.
    ///
    /// While frozen (a few seconds plus the copy) calls on its old orders answer `GROUP_UNAVAILABLE`,
    /// which terminals retry; new sales never notice. Returns the mapped group and the orders copied.
    @discardableResult
    public static func retireGroup(dataDirectory: String, tag: Int, settle: Double = settleSeconds, log: (String) -> Void) throws -> (into: Int, copied: Int) {
        var (config, place) = try read(dataDirectory)
        guard let index = config.groups.firstIndex(where: { $0.tag == tag }) else { throw RuntimeError("group \(tag) is not configured") }
        let remaining = config.groups.map(\.tag).filter { $0 != tag }.sorted()
        guard !remaining.isEmpty else { throw RuntimeError("cannot retire the last group") }
        let into = remaining[tag % remaining.count]
        log("retiring group \(pad(tag, 2)) into group \(pad(into, 2)) (\(tag) mod \(remaining.count) = \(tag % remaining.count))")

        config.groups[index].accepting = false
        try write(config, to: dataDirectory, &place)
        log("group \(pad(tag, 2)) takes no new orders")
        Thread.sleep(forTimeInterval: settle)

        config.groups[index].frozen = true
        try write(config, to: dataDirectory, &place)
        log("group \(pad(tag, 2)) frozen; copying its orders and refunds")
        Thread.sleep(forTimeInterval: settle)

        let runtime = try ServiceRuntime(dataDirectory: dataDirectory, logRequests: false)
        let copied = try runtime.hopping.migrate(from: GroupTag(tag)!, into: GroupTag(into)!)
        log("copied \(copied) orders into group \(pad(into, 2))")

        config.groups.remove(at: index)
        config.routes[String(tag)] = into
        // Tags that were routed to the retired group follow its data.
        for (from, to) in config.routes where to == tag { config.routes[from] = into }
        try write(config, to: dataDirectory, &place)
        Thread.sleep(forTimeInterval: settle)
        log("tag \(pad(tag, 2)) now routes to group \(pad(into, 2)); the old group's database can be archived")
        return (into, copied)
    }

    /// Puts the data directory's order groups and routes into the base data, where every instance sharing
    /// that base data follows them from then on (SQLite groups by absolute path). Refused if they are
    /// shared already.
    public static func share(dataDirectory: String, log: (String) -> Void) throws {
        let config = try readFile(dataDirectory)
        let base = try ServiceRuntime.openBase(config.base, in: dataDirectory)
        let shared = SharedGroups(config, dataDirectory: dataDirectory)
        _ = try ServiceRuntime.validateGroups(shared.applied(to: config))
        guard try base.putSharedSetting(ServiceRuntime.sharedGroupsSetting, value: shared.text, replacing: nil, now: CashierService.systemClock()) else {
            throw RuntimeError("the order groups are shared already; change them with groups add and groups retire")
        }
        log("order groups \(config.groups.map { pad($0.tag, 2) }.joined(separator: ", ")) are shared in the base data; every instance follows them within a second")
    }

    static func readFile(_ dataDirectory: String) throws -> ServiceConfiguration {
        let path = ServiceRuntime.path(ServiceRuntime.configurationFile, in: dataDirectory)
        guard let data = FileManager.default.contents(atPath: path) else { throw RuntimeError("cannot read \(path)") }
        return try API.makeDecoder().decode(ServiceConfiguration.self, from: data)
    }

    /// Where the groups a change is made to live, once shared: the base data, and the version last read or written.
    struct SharedPlace {
        var base: BaseStore
        var version: Int64
    }

    /// The configuration with the groups and routes in force: the shared ones when there are (with where
    /// they live), else the file's.
    static func read(_ dataDirectory: String) throws -> (ServiceConfiguration, SharedPlace?) {
        let config = try readFile(dataDirectory)
        let base = try ServiceRuntime.openBase(config.base, in: dataDirectory)
        guard let shared = try base.sharedSetting(ServiceRuntime.sharedGroupsSetting) else { return (config, nil) }
        return (try SharedGroups.decode(shared.value).applied(to: config), SharedPlace(base: base, version: shared.version))
    }

    /// Writes the groups and routes where they live: as the next version of the shared ones (refused if
    /// another change came since `place`'s version was read), else into the configuration file.
    static func write(_ config: ServiceConfiguration, to dataDirectory: String, _ place: inout SharedPlace?) throws {
        _ = try ServiceRuntime.validateGroups(config)
        guard let current = place else { return try writeFile(config, to: dataDirectory) }
        let shared = SharedGroups(config, dataDirectory: dataDirectory)
        guard try current.base.putSharedSetting(ServiceRuntime.sharedGroupsSetting, value: shared.text, replacing: current.version,
                                                now: CashierService.systemClock()) else {
            throw RuntimeError("another change to the shared order groups came first; look at `groups list` and run it again")
        }
        place?.version += 1
    }

    /// Writes the configuration atomically (temporary file, then rename), owner-only.
    static func writeFile(_ config: ServiceConfiguration, to dataDirectory: String) throws {
        _ = try ServiceRuntime.validateGroups(config)
        let path = ServiceRuntime.path(ServiceRuntime.configurationFile, in: dataDirectory)
        let temp = path + ".tmp"
        let data = try Administration.prettyEncoder().encode(config) + Data("\n".utf8)
        guard FileManager.default.createFile(atPath: temp, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw RuntimeError("cannot write \(temp)")
        }
        guard rename(temp, path) == 0 else { throw RuntimeError("cannot replace \(path)") }
    }
}
