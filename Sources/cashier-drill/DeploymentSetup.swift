import CashierCore
import CashierService
import Foundation

/// Rewrites `cashierd.json` files for the local deployment (scripts/deploy-local.sh calls these through
/// `cashier-drill configure` and `cashier-drill instance-config`), using the service's own configuration type.
enum DeploymentSetup {
    static func configurationPath(_ dataDirectory: String) -> String {
        (dataDirectory as NSString).appendingPathComponent(ServiceRuntime.configurationFile)
    }

    static func read(_ dataDirectory: String) throws -> ServiceConfiguration {
        let data = try Data(contentsOf: URL(fileURLWithPath: configurationPath(dataDirectory)))
        return try API.makeDecoder().decode(ServiceConfiguration.self, from: data)
    }

    static func write(_ configuration: ServiceConfiguration, to dataDirectory: String) throws {
        let path = configurationPath(dataDirectory)
        try Administration.prettyEncoder().encode(configuration).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    /// Points base and groups of the shared data directory at PostgreSQL, seeds the demo store there,
    /// and returns shell assignments (`STORE_ID=…`) for deploy.env.
    static func configure(dataDirectory: String, baseURL: String, groups: [(tag: Int, url: String)]) throws -> String {
        var config = try read(dataDirectory)
        config.base = .postgres(url: baseURL)
        config.groups = groups.map { .init(tag: $0.tag, location: .postgres(url: $0.url)) }
        // The channel's ledger is SQLite; every instance reaches the shared one by its absolute path.
        let directory = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path
        config.channel.ledger = .sqlite(path: (directory as NSString).appendingPathComponent("channel.sqlite"))
        // Drills want sales that finish in a second or two.
        config.channel.confirmDelayMs = 1_500
        config.channel.slowDelayMs = 1_000
        try write(config, to: dataDirectory)
        let runtime = try ServiceRuntime(dataDirectory: dataDirectory, logRequests: false)
        let demo = try Administration.seedDemo(base: runtime.base, now: CashierService.systemClock())
        return "STORE_ID='\(demo.store.id)'\nSUPERVISOR_PIN='\(demo.supervisorPIN)'"
    }

    /// Writes an instance's own data directory: the shared configuration with its instance id, absolute
    /// paths to the shared certificate and ledger, and a request log of its own.
    static func instanceConfiguration(from shared: String, to directory: String, instance: Int) throws {
        let sharedPath = URL(fileURLWithPath: shared).standardizedFileURL.path
        func absolute(_ p: String) -> String { p.hasPrefix("/") ? p : (sharedPath as NSString).appendingPathComponent(p) }
        var config = try read(shared)
        config.instance = instance
        config.tlsCertificate = absolute(config.tlsCertificate)
        config.tlsKey = absolute(config.tlsKey)
        if case .sqlite(let p) = config.channel.ledger { config.channel.ledger = .sqlite(path: absolute(p)) }
        if case .sqlite(let p) = config.base { config.base = .sqlite(path: absolute(p)) }
        config.groups = config.groups.map { g in
            var g = g
            if case .sqlite(let p) = g.location { g.location = .sqlite(path: absolute(p)) }
            return g
        }
        config.requestLog = "requests.log"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try write(config, to: directory)
    }
}
