import CashierClient
import CashierCore
import CashierService
import Foundation

/// The Swift-measured figures of the benchmark, in order; each step prints its ROW lines, and the
/// figures the performance issue sets goals for print GOAL lines as well (Report.swift).
struct BenchPlan {
    var work: String
    var cashierd: String
    var cashier: String
    /// Length of each load run.
    var seconds: Double
    /// Orders stored for the large growth run.
    var bigCount: Int
    var steps: Set<String>
    /// The open loop's rate in sales/s; nil: half of the run's own maximum. Fixed when comparing builds
    /// whose maxima differ, so both tails are taken at the same load.
    var halfLoadRate: Double?
    /// A throwaway cluster for the PostgreSQL rows (scripts/bench.sh starts one when it can).
    var postgres: PostgresCluster?

    static let allSteps = ["storage", "e2e", "fsync", "hopping", "growth", "idle", "postgres", "wan", "list", "client"]

    /// Closed-loop clients (each its own thread and connection) used to find the most sales per second.
    let closedClients = 8
    /// Clients of a second closed loop that saturates the service: more sales per second than with
    /// `closedClients`, but only by queueing (a median of tens of ms), so it is reported beside the
    /// maximum rather than taken as it.
    let saturatingClients = 32
    /// Terminals available to the paced open-loop run (more than needed, so a due sale rarely waits for one).
    let openClients = 16
    /// Idle kept-alive connections one instance is to hold while the sale load runs.
    let idleConnections = 10_000

    func run() throws {
        let files = raiseOpenFileLimit()
        note("open-file limit \(files.soft) (hard \(files.hard))")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        var storageLimit: Double?
        if steps.contains("storage") { storageLimit = try storage() }
        var rate = halfLoadRate

        if !steps.isDisjoint(with: ["e2e", "fsync", "hopping", "growth"]) {
            let svc = try ServiceProcess(binary: cashierd, data: work + "/svc4", groups: 4)
            try svc.start()
            defer { svc.stop() }
            let creds = try svc.activateWithKey()
            let sqlite = Backend.sqlite(limit: storageLimit)
            var baseline: LoadResult?
            if steps.contains("e2e") || steps.contains("hopping") {
                let e2e = try endToEnd(svc, creds, backend: sqlite, full: steps.contains("e2e"))
                baseline = e2e.closed
                rate = rate ?? e2e.halfLoadRate
            }
            if steps.contains("fsync") { try flushes(svc, creds, backend: sqlite) }
            if steps.contains("hopping"), let baseline { try hopping(svc, creds, baseline: baseline) }
            if steps.contains("growth") { try growth(svc, creds, backend: sqlite) }
        }
        if steps.contains("idle") { try idle(rate: rate ?? 200) }
        if steps.contains("postgres") { try postgresGroups() }
        if steps.contains("wan") { try wan() }
        if steps.contains("list") { try listPages() }
        if steps.contains("client") { try client() }
    }

    // MARK: Storage

    func storage() throws -> Double {
        let dir = work + "/storage"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let limit = try sqliteInsertRate(directory: dir, seconds: 3)
        row("storage limit: SQLite single-row insert tx/s", "\(Int(limit))/s",
            "1 connection, WAL + synchronous=FULL (the service's settings), one prepared INSERT per transaction, 3 s")
        let viaRun = try sqliteInsertRate(directory: dir, seconds: 2, prepared: false)
        row("SQLite insert tx/s through Database.run", "\(Int(viaRun))/s", "same, through the stores' path (Database.run: statement cache, bindings as values), 2 s")
        let normal = try sqliteInsertRate(directory: dir, seconds: 2, synchronousFull: false)
        row("SQLite insert tx/s, synchronous=NORMAL", "\(Int(normal))/s", "WAL + NORMAL (no fsync per commit, durable to a process crash only), 2 s")
        let quiet = try fsyncLatencies(directory: dir, seconds: 2)
        row("disk: one fdatasync, machine quiet", quiet.summary,
            "\(DiskProbe.how) for 2 s: what a sale's one durable commit costs on this disk before any code runs")
        return limit
    }

    // MARK: Order list

    func listPage(_ svc: ServiceProcess, _ creds: DeviceCredentials, label: String) throws {
        let t = try svc.transport()
        var lat = Latencies(), rows = 0
        let end = monotonicSeconds() + min(seconds, 3)
        while monotonicSeconds() < end {
            let t0 = monotonicSeconds()
            let r = t.call("GET", API.Path.orders, query: [("limit", "20")], credentials: creds).decoded(OrderListResponse.self)
            guard case .success(let page) = r else { throw BenchError("order list failed: \(r)") }
            lat.add((monotonicSeconds() - t0) * 1000)
            rows = page.orders.count
        }
        row("order list page (\(label))", lat.summary, "GET /v1/orders?limit=20 (\(rows) rows, merged across groups), 1 client sequential, \(lat.count) pages in \(fmt(min(seconds, 3))) s")
        try merchantListPage(svc, merchantID: creds.store.merchantId, label: label)
    }

    /// A merchant's order-list page as `cashierd merchant orders` reads it (no HTTP: it is a back-office
    /// command), opened on the running service's files.
    func merchantListPage(_ svc: ServiceProcess, merchantID: String, label: String) throws {
        let runtime = try ServiceRuntime(dataDirectory: svc.data, logRequests: false)
        var lat = Latencies(), rows = 0
        let end = monotonicSeconds() + min(seconds, 3)
        while monotonicSeconds() < end {
            let t0 = monotonicSeconds()
            let page = try Administration.merchantOrders(base: runtime.base, hopping: runtime.hopping, merchantID: merchantID,
                                                         cursor: nil, limit: 20)
            guard page.unavailable.isEmpty else { throw BenchError("merchant list: groups \(page.unavailable) did not answer") }
            lat.add((monotonicSeconds() - t0) * 1000)
            rows = page.lines.count
        }
        row("merchant order-list page (\(label))", lat.summary,
            "Administration.merchantOrders, what `cashierd merchant orders` runs (\(rows) rows: every group's newest 20 of the merchant, merged), in-process on the running service's files, 1 caller sequential, \(lat.count) pages in \(fmt(min(seconds, 3))) s")
    }

    func listPages() throws {
        for groups in [2, 4, 8] {
            let svc = try ServiceProcess(binary: cashierd, data: work + "/list\(groups)", groups: groups)
            try svc.start()
            defer { svc.stop() }
            let creds = try svc.activateWithKey()
            svc.stop()
            try seedOrders(groupFiles: try svc.groupFiles(), store: creds.store, deviceID: creds.deviceId, count: 10_000, firstIndex: 0)
            try svc.start()
            try listPage(svc, creds, label: "\(groups) groups, 10,000 orders")
        }
    }

    // MARK: Client

    func client() throws {
        let svc = try ServiceProcess(binary: cashierd, data: work + "/svc-client", groups: 2)
        try svc.start()
        defer { svc.stop() }
        try ClientBench(cashier: cashier, directory: work + "/client", service: svc).run()
    }
}
