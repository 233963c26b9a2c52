import CashierChannels
import CashierCore
import CashierService
import CashierStorage
import Dispatch
import Foundation
import HTTPServer

/// What each of `cashierd`'s commands does, given its typed values (the table is in Table.swift).
/// Each returns the exit code; a thrown `CommandLineError` is bad usage (2), anything else a failure (1).
enum CashierdCommands {
    static func dataDirectory(_ inv: Invocation) -> String {
        inv.string("data") ?? ProcessInfo.processInfo.environment["CASHIERD_DATA"] ?? "var/cashierd"
    }

    static func now() -> Int64 { CashierService.systemClock() }

    static func runtime(_ inv: Invocation) throws -> ServiceRuntime {
        try ServiceRuntime(dataDirectory: dataDirectory(inv), logRequests: false)
    }

    static func parseListen(_ text: String, tls: Bool, _ inv: Invocation) throws(CommandLineError) -> ServiceConfiguration.ListenSetting {
        let option = tls ? "--listen" : "--plain"
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw inv.usageError("\(option) takes HOST:PORT, e.g. 127.0.0.1:8443, not \(text)")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw inv.usageError("\(option) takes HOST:PORT, e.g. 127.0.0.1:8443, not \(text)") }
        return .init(host: host, port: port, tls: tls)
    }

    static func listenSettings(_ inv: Invocation) throws(CommandLineError) -> [ServiceConfiguration.ListenSetting] {
        var settings: [ServiceConfiguration.ListenSetting] = []
        for text in inv.strings("listen") { settings.append(try parseListen(text, tls: true, inv)) }
        for text in inv.strings("plain") { settings.append(try parseListen(text, tls: false, inv)) }
        return settings
    }

    // MARK: - init, serve

    static func initialize(_ inv: Invocation) throws -> Int32 {
        let data = dataDirectory(inv)
        var listen = try listenSettings(inv)
        if listen.isEmpty { listen = [.init(host: "127.0.0.1", port: 8443, tls: true), .init(host: "127.0.0.2", port: 8444, tls: true)] }
        let config = try Administration.initialize(dataDirectory: data, groups: try inv.requiredInteger("groups"), listen: listen,
                                                   instance: try inv.requiredInteger("instance"), serverNames: inv.strings("name"))
        var demo: Administration.DemoReport?
        if inv.flag("demo") {
            let runtime = try ServiceRuntime(dataDirectory: data, logRequests: false)
            let seeded = try Administration.seedDemo(base: runtime.base, now: now())
            let code = try Administration.issueActivationCode(base: runtime.base, storeID: seeded.store.id, ttlSeconds: 86_400, now: now())
            demo = Administration.DemoReport(demo: seeded, code: code)
        }
        if inv.flag("json") {
            print(try Administration.jsonDocument(Administration.InitReport(dataDirectory: data, configuration: config, demo: demo)))
            return 0
        }
        print("initialized \(data): \(config.groups.count) order groups; CA certificate for terminals: \(data)/ca.pem")
        if let demo {
            print("demo store \(demo.storeId) \"\(demo.storeName)\"; supervisor PIN \(demo.supervisorPin), cashier PIN \(demo.cashierPin)")
            print("activation code: \(demo.activationCode)")
        }
        return 0
    }

    static func serve(_ inv: Invocation) throws -> Int32 {
        let override = try listenSettings(inv)
        let runtime = try ServiceRuntime(dataDirectory: dataDirectory(inv), logRequests: !inv.flag("quiet"), instance: inv.integer("instance"))
        let server = try runtime.startServer(listen: override.isEmpty ? nil : override.map { ListenAddress(host: $0.host, port: $0.port, tls: $0.tls) })
        runtime.startHousekeeping()
        let addresses = server.boundAddresses.map { ($0.tls ? "https://" : "http://") + $0.displayName }
        // Written unbuffered: scripts wait for this line to know the service is up.
        FileHandle.standardOutput.write(Data("cashierd \(runtime.service.instanceLabel) listening on \(addresses.joined(separator: ", "))\n".utf8))
        waitForStopSignal()
        FileHandle.standardOutput.write(Data("cashierd stopping: finishing requests in flight\n".utf8))
        server.stop()
        FileHandle.standardOutput.write(Data("cashierd stopped\n".utf8))
        return 0
    }

    // MARK: - Merchants, stores, staff, activation codes, devices

    static func merchantAdd(_ inv: Invocation) throws -> Int32 {
        let m = try Administration.addMerchant(base: try runtime(inv).base, name: try inv.requiredArgument("NAME"), now: now())
        print(m.id)
        return 0
    }

    static func merchantList(_ inv: Invocation) throws -> Int32 {
        for m in try runtime(inv).base.merchants() { print("\(m.id)\t\(m.name)") }
        return 0
    }

    static func merchantOrders(_ inv: Invocation) throws -> Int32 {
        let runtime = try runtime(inv)
        let page = try Administration.merchantOrders(base: runtime.base, hopping: runtime.hopping, merchantID: try inv.requiredArgument("MERCHANT_ID"),
                                                     cursor: inv.string("cursor"), limit: try inv.requiredInteger("limit"))
        for line in page.lines { print(line) }
        if let next = page.nextCursor { print("next: --cursor \(next)") }
        if !page.unavailable.isEmpty {
            let tags = page.unavailable.map(\.description).joined(separator: ", ")
            FileHandle.standardError.write(Data("cashierd: incomplete: group(s) \(tags) did not answer; their orders are missing from this page\n".utf8))
            return 1
        }
        return 0
    }

    static func storeAdd(_ inv: Invocation) throws -> Int32 {
        let s = try Administration.addStore(base: try runtime(inv).base, merchantID: try inv.requiredString("merchant"),
                                            name: try inv.requiredString("name"), currency: try inv.requiredString("currency"),
                                            timeZone: try inv.requiredString("time-zone"), now: now())
        print(s.id)
        return 0
    }

    static func storeSet(_ inv: Invocation) throws -> Int32 {
        try Administration.setStoreTimeZone(base: try runtime(inv).base, storeID: try inv.requiredString("store"),
                                            timeZone: try inv.requiredString("time-zone"))
        return 0
    }

    static func storeList(_ inv: Invocation) throws -> Int32 {
        let stores = try runtime(inv).base.stores()
        if inv.flag("json") {
            print(try Administration.jsonDocument(Administration.StoreList(stores)))
        } else {
            for s in stores { print("\(s.id)\t\(s.merchantID)\t\(s.currency)\t\(s.name)") }
        }
        return 0
    }

    static func storeChannelSet(_ inv: Invocation) throws -> Int32 {
        guard let kind = ChannelKind(rawValue: try inv.requiredString("channel")) else { throw inv.usageError("unknown channel") }
        let settings = try inv.string("settings").map { path -> String in
            guard let data = FileManager.default.contents(atPath: path) else { throw RuntimeError("cannot read \(path)") }
            return String(decoding: data, as: UTF8.self)
        } ?? "{}"
        try Administration.setStoreChannel(base: try runtime(inv).base, storeID: try inv.requiredString("store"), channel: kind,
                                           settings: settings, now: now())
        return 0
    }

    static func storeChannelList(_ inv: Invocation) throws -> Int32 {
        for c in try runtime(inv).base.storeChannels(storeID: try inv.requiredString("store")) { print("\(c.channel)\t\(c.settings)") }
        return 0
    }

    static func storeChannelRemove(_ inv: Invocation) throws -> Int32 {
        let store = try inv.requiredString("store"), channel = try inv.requiredString("channel")
        guard try runtime(inv).base.removeStoreChannel(storeID: store, channel: channel) else {
            throw RuntimeError("store \(store) has no channel \(channel)")
        }
        return 0
    }

    static func staffAdd(_ inv: Invocation) throws -> Int32 {
        guard let role = StaffRole(rawValue: try inv.requiredString("role")) else { throw inv.usageError("--role is cashier or supervisor") }
        let s = try Administration.addStaff(base: try runtime(inv).base, storeID: try inv.requiredString("store"),
                                            name: try inv.requiredString("name"), role: role, pin: try inv.requiredString("pin"), now: now())
        print(s.id)
        return 0
    }

    static func staffList(_ inv: Invocation) throws -> Int32 {
        for s in try runtime(inv).base.staff(storeID: try inv.requiredString("store")) { print("\(s.id)\t\(s.role.rawValue)\t\(s.name)") }
        return 0
    }

    static func activationCode(_ inv: Invocation) throws -> Int32 {
        let code = try Administration.issueActivationCode(base: try runtime(inv).base, storeID: try inv.requiredString("store"),
                                                          ttlSeconds: Int64(try inv.requiredInteger("ttl")), now: now())
        print(ActivationCode.display(code.code))
        return 0
    }

    static func deviceList(_ inv: Invocation) throws -> Int32 {
        let devices = try runtime(inv).base.devices()
        if inv.flag("json") {
            print(try Administration.jsonDocument(Administration.DeviceList(devices)))
        } else {
            for d in devices { print("\(d.id)\t\(d.storeID)\t\(d.revokedAt == nil ? "active" : "revoked")\t\(d.name)") }
        }
        return 0
    }

    static func deviceRevoke(_ inv: Invocation) throws -> Int32 {
        let id = try inv.requiredArgument("DEVICE_ID")
        guard try runtime(inv).base.revokeDevice(id: id, now: now()) else { throw RuntimeError("no device \(id)") }
        print("revoked \(id); it is refused from its next request on")
        return 0
    }

    // MARK: - Order groups, reconciliation

    static func groupsList(_ inv: Invocation) throws -> Int32 {
        let runtime = try runtime(inv)
        for g in runtime.hopping.health() {
            print("group \(pad(g.group, 2))\t\(g.accepting ? "accepting" : "not accepting")\tfailures \(g.recentFailures)")
        }
        for (from, to) in runtime.hopping.currentRoutes.sorted(by: { $0.key < $1.key }) { print("tag \(from) → group \(to)") }
        return 0
    }

    static func groupsAdd(_ inv: Invocation) throws -> Int32 {
        try GroupOperations.addGroup(dataDirectory: dataDirectory(inv), tag: try inv.requiredInteger("tag"), postgresURL: inv.string("postgres")) { print($0) }
        return 0
    }

    static func groupsShare(_ inv: Invocation) throws -> Int32 {
        try GroupOperations.share(dataDirectory: dataDirectory(inv)) { print($0) }
        return 0
    }

    static func groupsRetire(_ inv: Invocation) throws -> Int32 {
        try GroupOperations.retireGroup(dataDirectory: dataDirectory(inv), tag: try inv.requiredInteger("tag")) { print($0) }
        return 0
    }

    static func channelSign(_ inv: Invocation) throws -> Int32 {
        let key: String
        switch (inv.string("key"), inv.string("key-file")) {
        case (let k?, nil): key = k
        case (nil, let path?):
            guard let data = FileManager.default.contents(atPath: path) else { throw RuntimeError("cannot read \(path)") }
            key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        default: throw inv.usageError("give the API key with --key or --key-file (one of them)")
        }
        var lines: [String] = []
        while let line = readLine(strippingNewline: true) { lines.append(line) }
        let (signed, sign) = try Administration.explainWeChatPaySignature(lines: lines, key: key,
                                                                         signType: try inv.requiredString("sign-type"))
        print("string signed: \(signed)")
        print("sign: \(sign)")
        return 0
    }

    static func channelCheck(_ inv: Invocation) throws -> Int32 {
        let only = try inv.string("channel").map { name -> ChannelKind in
            guard let kind = ChannelKind(rawValue: name) else { throw inv.usageError("unknown channel \(name)") }
            return kind
        }
        let checks = try Administration.checkChannels(runtime: try runtime(inv), storeID: try inv.requiredString("store"),
                                                      channel: only, now: now())
        for c in checks { print("\(c.channel): \(c.ok ? "ok" : "FAILED"): \(c.finding)") }
        return checks.allSatisfy(\.ok) ? 0 : 1
    }

    static func reconcile(_ inv: Invocation) throws -> Int32 {
        guard let channel = inv.string("channel") else {
            // No channel: the sandbox ledger's whole books against every group, as before.
            for option in ["date", "store", "statement", "json"] where inv.isGiven(option) {
                throw inv.usageError("--\(option) needs --channel NAME --date YYYY-MM-DD (without them reconcile compares the sandbox's whole books)")
            }
            let report = try Reconciliation.run(runtime: try runtime(inv), now: now())
            print(report.summary)
            return report.isExact ? 0 : 1
        }
        guard let kind = ChannelKind(rawValue: channel) else { throw inv.usageError("--channel is one of \(ChannelKind.allCases.map(\.rawValue).joined(separator: ", "))") }
        guard let day = inv.string("date") else { throw inv.usageError("--channel needs --date YYYY-MM-DD, the statement's day") }
        guard StatementWindow(day: day, utcOffsetSeconds: 0) != nil else { throw inv.usageError("--date takes YYYY-MM-DD, e.g. 2026-11-25, not \(day)") }
        var file: (path: String, bytes: [UInt8])?
        if let path = inv.string("statement") {
            guard let data = FileManager.default.contents(atPath: path) else { throw RuntimeError("cannot read \(path)") }
            file = (path, Array(data))
        }
        let runtime = try runtime(inv)
        let accounts = try DayReconciliation.accounts(runtime: runtime, channel: kind, storeID: inv.string("store"), now: now())
        if file != nil && accounts.count > 1 {
            throw inv.usageError("--statement is one statement, but the stores that take \(kind.rawValue) codes have \(accounts.count) different settings; name the store with --store")
        }
        let results = DayReconciliation.run(runtime: runtime, channel: kind, day: day, accounts: accounts, statementFile: file, now: now())
        if inv.flag("json") {
            print(try Administration.jsonDocument(DayReconciliation.Documents(results)))
        } else {
            print(results.map(\.text).joined(separator: "\n\n"))
        }
        return results.allSatisfy(\.isExact) ? 0 : 1
    }

    // MARK: - The sandbox as a service

    static func sandboxServe(_ inv: Invocation) throws -> Int32 {
        let listen = try listenSettings(inv).map { ListenAddress(host: $0.host, port: $0.port, tls: $0.tls) }
        guard !listen.isEmpty else { throw inv.usageError("cashierd sandbox serve needs --listen HOST:PORT (HTTPS) or --plain HOST:PORT") }
        let settings = SandboxChannel.Settings(confirmDelayMs: Int64(try inv.requiredInteger("confirm-delay-ms")),
                                               slowDelayMs: Int64(try inv.requiredInteger("slow-delay-ms")),
                                               autoCloseMs: Int64(try inv.requiredInteger("auto-close-ms")))
        let (_, server) = try SandboxService.start(.init(dataDirectory: dataDirectory(inv), listen: listen,
                                                         ledger: try inv.requiredString("ledger"), settings: settings,
                                                         secretFile: inv.string("secret-file")))
        let addresses = server.boundAddresses.map { ($0.tls ? "https://" : "http://") + $0.displayName }
        // Written unbuffered: scripts and tests wait for this line.
        FileHandle.standardOutput.write(Data("sandbox listening on \(addresses.joined(separator: ", "))\n".utf8))
        waitForStopSignal()
        FileHandle.standardOutput.write(Data("sandbox stopping\n".utf8))
        server.stop()
        FileHandle.standardOutput.write(Data("sandbox stopped\n".utf8))
        return 0
    }

    /// Blocks until SIGTERM or SIGINT.
    static func waitForStopSignal() {
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
        _ = sources
    }
}
