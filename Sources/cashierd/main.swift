import CashierCore
import CashierService
import CashierStorage
import Dispatch
import Foundation
import HTTPServer

/// `cashierd`: the cashier service and its administration commands.
let usage = """
usage: cashierd <command> [options]        (data directory: --data DIR, or $CASHIERD_DATA, or ./var/cashierd)

  init [--groups N] [--listen HOST:PORT]... [--plain HOST:PORT]... [--instance N] [--name DNS]... [--demo]
                              create the data directory: config, private CA, certificates, databases
  serve [--listen HOST:PORT]... [--plain HOST:PORT]... [--instance N] [--quiet]
                              serve HTTPS (and plain HTTP for a load balancer) until SIGTERM/SIGINT
  merchant add NAME | merchant list
  merchant orders MERCHANT_ID [--limit N] [--cursor C]
                              a merchant's orders from every store and group, newest first (20 a page)
  store add --merchant ID --name NAME [--currency CNY] | store list
  store channel set --store ID --channel sandbox|wechatpay|alipay [--settings FILE] | store channel list --store ID
  store channel remove --store ID --channel NAME  which payment codes a store takes, with its merchant settings
  staff add --store ID --name NAME --role cashier|supervisor --pin PIN | staff list --store ID
  activation-code --store ID [--ttl SECONDS]      issue a one-time code for a terminal (default 600 s)
  device list | device revoke DEVICE_ID           list terminals; block a stolen one at once
  groups [list]                                   order groups and whether each takes new orders
  groups add --tag N [--postgres URL]             scale out: a new group takes orders (running instances reload)
  groups retire --tag N                           scale in: map N to N mod remaining, copy its data there, route its tag
  reconcile                                       compare the channel's books with the order data

exit codes: 0 ok, 2 bad usage, 1 failure
"""

let switches: Set<String> = ["demo", "quiet", "json", "help"]

func dataDirectory(_ args: CommandLineArguments) -> String {
    args.value("data") ?? ProcessInfo.processInfo.environment["CASHIERD_DATA"] ?? "var/cashierd"
}

func now() -> Int64 { CashierService.systemClock() }

func parseListen(_ text: String, tls: Bool) throws -> ServiceConfiguration.ListenSetting {
    guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
        throw UsageError("a listen address is HOST:PORT, e.g. 127.0.0.1:8443, not \(text)")
    }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return .init(host: host, port: port, tls: tls)
}

func listenSettings(_ args: CommandLineArguments) throws -> [ServiceConfiguration.ListenSetting] {
    try args.values("listen").map { try parseListen($0, tls: true) } + args.values("plain").map { try parseListen($0, tls: false) }
}

func printJSON<T: Encodable>(_ value: T) {
    print(String(decoding: try! Administration.prettyEncoder().encode(value), as: UTF8.self))
}

func run(_ argv: [String]) throws -> Int32 {
    guard let command = argv.first, command != "--help", command != "help" else { print(usage); return 0 }
    let args = try CommandLineArguments(Array(argv.dropFirst()), switches: switches)
    let data = dataDirectory(args)
    switch command {
    case "init":
        var listen = try listenSettings(args)
        if listen.isEmpty { listen = [.init(host: "127.0.0.1", port: 8443, tls: true), .init(host: "127.0.0.2", port: 8444, tls: true)] }
        let config = try Administration.initialize(dataDirectory: data, groups: try args.int("groups", default: 4), listen: listen,
                                                   instance: try args.int("instance", default: 1), serverNames: args.values("name"))
        print("initialized \(data): \(config.groups.count) order groups; CA certificate for terminals: \(data)/ca.pem")
        if args.flag("demo") {
            let runtime = try ServiceRuntime(dataDirectory: data, logRequests: false)
            let demo = try Administration.seedDemo(base: runtime.base, now: now())
            let code = try Administration.issueActivationCode(base: runtime.base, storeID: demo.store.id, ttlSeconds: 86_400, now: now())
            print("demo store \(demo.store.id) \"\(demo.store.name)\"; supervisor PIN \(demo.supervisorPIN), cashier PIN \(demo.cashierPIN)")
            print("activation code: \(ActivationCode.display(code.code))")
        }
        return 0
    case "serve":
        let instance = try args.value("instance").map { text throws(UsageError) -> Int in
            guard let n = Int(text), (0...999).contains(n) else { throw UsageError("--instance takes 0 to 999") }
            return n
        }
        let runtime = try ServiceRuntime(dataDirectory: data, logRequests: !args.flag("quiet"), instance: instance)
        let override = try listenSettings(args)
        let server = try runtime.startServer(listen: override.isEmpty ? nil : override.map { ListenAddress(host: $0.host, port: $0.port, tls: $0.tls) })
        runtime.startHousekeeping()
        let addresses = server.boundAddresses.map { ($0.tls ? "https://" : "http://") + $0.displayName }
        // Written unbuffered: scripts wait for this line to know the service is up.
        FileHandle.standardOutput.write(Data("cashierd \(runtime.service.instanceLabel) listening on \(addresses.joined(separator: ", "))\n".utf8))
        let stopped = DispatchSemaphore(value: 0)
        let signalQueue = DispatchQueue(label: "cashierd.signals")
        var sources: [DispatchSourceSignal] = []
        for sig in [SIGTERM, SIGINT] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: signalQueue)
            source.setEventHandler { stopped.signal() }
            source.resume()
            sources.append(source)
        }
        stopped.wait()
        FileHandle.standardOutput.write(Data("cashierd stopping: finishing requests in flight\n".utf8))
        server.stop()
        FileHandle.standardOutput.write(Data("cashierd stopped\n".utf8))
        _ = sources
        return 0
    case "merchant":
        let runtime = try ServiceRuntime(dataDirectory: data, logRequests: false)
        switch args.positionals.first {
        case "add":
            guard args.positionals.count == 2 else { throw UsageError("merchant add NAME") }
            let m = try Administration.addMerchant(base: runtime.base, name: args.positionals[1], now: now())
            print(m.id)
        case "list":
            for m in try runtime.base.merchants() { print("\(m.id)\t\(m.name)") }
        case "orders":
            guard args.positionals.count == 2 else { throw UsageError("merchant orders MERCHANT_ID [--limit N] [--cursor C]") }
            let page = try Administration.merchantOrders(base: runtime.base, hopping: runtime.hopping, merchantID: args.positionals[1],
                                                         cursor: args.value("cursor"), limit: try args.int("limit", default: 20))
            for line in page.lines { print(line) }
            if let next = page.nextCursor { print("next: --cursor \(next)") }
            if !page.unavailable.isEmpty {
                let tags = page.unavailable.map(\.description).joined(separator: ", ")
                FileHandle.standardError.write(Data("cashierd: incomplete: group(s) \(tags) did not answer; their orders are missing from this page\n".utf8))
                return 1
            }
        default: throw UsageError("merchant add NAME | merchant list | merchant orders MERCHANT_ID [--limit N] [--cursor C]")
        }
        return 0
    case "store":
        let runtime = try ServiceRuntime(dataDirectory: data, logRequests: false)
        switch args.positionals.first {
        case "add":
            let s = try Administration.addStore(base: runtime.base, merchantID: try args.required("merchant"), name: try args.required("name"),
                                                currency: args.value("currency") ?? "CNY", now: now())
            print(s.id)
        case "list":
            for s in try runtime.base.stores() { print("\(s.id)\t\(s.merchantID)\t\(s.currency)\t\(s.name)") }
        case "channel":
            let storeID = try args.required("store")
            switch args.positionals.dropFirst().first {
            case "set":
                guard let kind = ChannelKind(rawValue: try args.required("channel")) else {
                    throw UsageError("--channel is one of \(ChannelKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                let settings = try args.value("settings").map { path -> String in
                    guard let data = FileManager.default.contents(atPath: path) else { throw UsageError("cannot read \(path)") }
                    return String(decoding: data, as: UTF8.self)
                } ?? "{}"
                try Administration.setStoreChannel(base: runtime.base, storeID: storeID, channel: kind, settings: settings, now: now())
            case "list":
                for c in try runtime.base.storeChannels(storeID: storeID) { print("\(c.channel)\t\(c.settings)") }
            case "remove":
                guard try runtime.base.removeStoreChannel(storeID: storeID, channel: try args.required("channel")) else {
                    throw RuntimeError("store \(storeID) has no channel \(try args.required("channel"))")
                }
            default: throw UsageError("store channel set --store ID --channel NAME [--settings FILE] | store channel list --store ID | store channel remove --store ID --channel NAME")
            }
        default: throw UsageError("store add --merchant ID --name NAME | store list | store channel set|list|remove")
        }
        return 0
    case "staff":
        let runtime = try ServiceRuntime(dataDirectory: data, logRequests: false)
        switch args.positionals.first {
        case "add":
            guard let role = StaffRole(rawValue: try args.required("role")) else { throw UsageError("--role is cashier or supervisor") }
            let s = try Administration.addStaff(base: runtime.base, storeID: try args.required("store"), name: try args.required("name"),
                                                role: role, pin: try args.required("pin"), now: now())
            print(s.id)
        case "list":
            for s in try runtime.base.staff(storeID: try args.required("store")) { print("\(s.id)\t\(s.role.rawValue)\t\(s.name)") }
        default: throw UsageError("staff add --store ID --name NAME --role ROLE --pin PIN | staff list --store ID")
        }
        return 0
    case "activation-code":
        let runtime = try ServiceRuntime(dataDirectory: data, logRequests: false)
        let code = try Administration.issueActivationCode(base: runtime.base, storeID: try args.required("store"),
                                                          ttlSeconds: Int64(try args.int("ttl", default: 600)), now: now())
        print(ActivationCode.display(code.code))
        return 0
    case "device":
        let runtime = try ServiceRuntime(dataDirectory: data, logRequests: false)
        switch args.positionals.first {
        case "list":
            for d in try runtime.base.devices() {
                print("\(d.id)\t\(d.storeID)\t\(d.revokedAt == nil ? "active" : "revoked")\t\(d.name)")
            }
        case "revoke":
            guard args.positionals.count == 2 else { throw UsageError("device revoke DEVICE_ID") }
            guard try runtime.base.revokeDevice(id: args.positionals[1], now: now()) else {
                throw RuntimeError("no device \(args.positionals[1])")
            }
            print("revoked \(args.positionals[1]); it is refused from its next request on")
        default: throw UsageError("device list | device revoke DEVICE_ID")
        }
        return 0
    case "groups":
        switch args.positionals.first ?? "list" {
        case "list":
            let runtime = try ServiceRuntime(dataDirectory: data, logRequests: false)
            for g in runtime.hopping.health() {
                print("group \(pad(g.group, 2))\t\(g.accepting ? "accepting" : "not accepting")\tfailures \(g.recentFailures)")
            }
            for (from, to) in runtime.hopping.currentRoutes.sorted(by: { $0.key < $1.key }) { print("tag \(from) → group \(to)") }
        case "add":
            try GroupOperations.addGroup(dataDirectory: data, tag: try args.int("tag", default: -1), postgresURL: args.value("postgres")) { print($0) }
        case "retire":
            try GroupOperations.retireGroup(dataDirectory: data, tag: try args.int("tag", default: -1)) { print($0) }
        default:
            throw UsageError("groups [list] | groups add --tag N [--postgres URL] | groups retire --tag N")
        }
        return 0
    case "reconcile":
        let runtime = try ServiceRuntime(dataDirectory: data, logRequests: false)
        let report = try Reconciliation.run(runtime: runtime, now: now())
        print(report.summary)
        return report.isExact ? 0 : 1
    default:
        throw UsageError("unknown command \(command)")
    }
}

do {
    exit(try run(Array(CommandLine.arguments.dropFirst())))
} catch let error as UsageError {
    FileHandle.standardError.write(Data("cashierd: \(error)\n\n\(usage)\n".utf8))
    exit(2)
} catch {
    FileHandle.standardError.write(Data("cashierd: \(error)\n".utf8))
    exit(1)
}
