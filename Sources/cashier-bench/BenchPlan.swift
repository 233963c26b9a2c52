import CashierClient
import CashierCore
import CashierService
import Foundation

/// The Swift-measured figures of the benchmark, in order; each step prints its ROW lines.
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

    /// Closed-loop clients (each its own thread and connection) used to find the most sales per second.
    let closedClients = 8
    /// Clients of a second closed loop that saturates the service: more sales per second than with
    /// `closedClients`, but only by queueing (a median of tens of ms), so it is reported beside the
    /// maximum rather than taken as it.
    let saturatingClients = 32
    /// Terminals available to the paced open-loop run (more than needed, so a due sale rarely waits for one).
    let openClients = 16

    func run() throws {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        var storageLimit: Double?
        if steps.contains("storage") { storageLimit = try storage() }

        if !steps.isDisjoint(with: ["e2e", "fsync", "hopping", "growth"]) {
            let svc = try ServiceProcess(binary: cashierd, data: work + "/svc4", groups: 4)
            try svc.start()
            defer { svc.stop() }
            let creds = try svc.activate()
            var baseline: LoadResult?
            if steps.contains("e2e") || steps.contains("hopping") {
                baseline = try endToEnd(svc, creds, label: "", storageLimit: storageLimit)
            }
            if steps.contains("fsync") { try fsyncCount(svc, creds) }
            if steps.contains("hopping"), let baseline { try hopping(svc, creds, baseline: baseline) }
            if steps.contains("growth") { try growth(svc, creds, storageLimit: storageLimit) }
        }
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
        row("disk: one fdatasync, machine quiet", quiet.single.summary,
            "4 KiB overwrite in a preallocated 1 MiB file (as SQLite reuses its log), then fdatasync; \(DiskLatencies.commitsInARow) in a row every 2 ms for 2 s")
        row("disk: \(DiskLatencies.commitsInARow) durable commits in a row, machine quiet", quiet.row.summary,
            "the same rows timed whole: what a sale's create and claim commits cost on this disk before any code runs")
        return limit
    }

    // MARK: End to end

    @discardableResult
    func endToEnd(_ svc: ServiceProcess, _ creds: DeviceCredentials, label: String, storageLimit: Double?) throws -> LoadResult {
        let http = svc.http()
        let terminals = try makeTerminals(closedClients, url: svc.urls[0], http: http, credentials: creds)
        let serverCPU0 = svc.pid.map(processCPUSeconds) ?? 0, selfCPU0 = ownCPUSeconds()
        let closed = closedLoop(terminals, seconds: seconds)
        let serverCPU = (svc.pid.map(processCPUSeconds) ?? 0) - serverCPU0, selfCPU = ownCPUSeconds() - selfCPU0
        // " = N% of the SQLite limit" when the storage step measured it.
        func shareOfLimit(_ perSecond: Double) -> String {
            storageLimit.map { " = \(fmt(perSecond / $0 * 100))% of the SQLite limit" } ?? ""
        }
        row("end to end\(label): signed sales/s (max)", "\(fmt(closed.perSecond))/s",
            "create+pay over HTTPS keep-alive, \(closedClients) closed-loop clients (own thread+connection), \(Int(seconds)) s, \(closed.failureText)\(shareOfLimit(closed.perSecond))")
        row("end to end\(label): latency at max", closed.latencies.summary, "per sale (2 requests), same closed-loop run")
        row("end to end\(label): CPU per sale", "server \(fmt(serverCPU / Double(max(closed.sales, 1)) * 1000)) ms, clients \(fmt(selfCPU / Double(max(closed.sales, 1)) * 1000)) ms",
            "user+system CPU of cashierd (/proc/PID/stat) and of the load generator (getrusage) during the closed-loop run; 2 cores = 2000 ms/s")
        if label.isEmpty {
            let many = try makeTerminals(saturatingClients, url: svc.urls[0], http: http, credentials: creds)
            let saturated = closedLoop(many, seconds: seconds)
            row("end to end: signed sales/s, saturated", "\(fmt(saturated.perSecond))/s, \(saturated.latencies.summary)",
                "the same with \(saturatingClients) closed-loop clients, \(Int(seconds)) s, \(saturated.failureText)\(shareOfLimit(saturated.perSecond)): what queueing adds to the maximum above, and at what latency")
        }
        let single = closedLoop(Array(terminals.prefix(1)), seconds: min(seconds, 2))
        row("end to end\(label): one client alone", "\(fmt(single.perSecond))/s, \(single.latencies.summary)",
            "1 closed-loop client, \(fmt(min(seconds, 2))) s: the latency of a sale with no queueing, \(single.failureText)")
        let rate = halfLoadRate ?? max(closed.perSecond / 2, 1)
        let openTerminals = try makeTerminals(openClients, url: svc.urls[0], http: http, credentials: creds)
        // The tail is the goal, so the half load runs three times as long as the other loads: about 5,000
        // sales, so that a p99 is the 50th-worst sale rather than the 16th.
        let halfLoadSeconds = seconds * 3
        // The disk probe runs beside the open loop: how long one durable commit waits while the service is at half load.
        let disk = DiskProbe(directory: work, seconds: halfLoadSeconds)
        let openStartedMs = Date().timeIntervalSince1970 * 1000
        let open = openLoop(openTerminals, rate: rate, seconds: halfLoadSeconds)
        let openEndedMs = Date().timeIntervalSince1970 * 1000
        row("end to end\(label): latency at half load", open.latencies.summary,
            "paced open loop at \(fmt(rate)) sales/s\(halfLoadRate == nil ? "" : " (fixed with --half-load-rate; the maximum was \(fmt(closed.perSecond))/s)") for \(Int(halfLoadSeconds)) s (latency from due time), \(open.sales) sales, \(open.failureText)")
        let server = serverTimes(log: svc.data + "/requests.log", fromMs: openStartedMs, toMs: openEndedMs)
        if let create = server["create"], let pay = server["pay"] {
            row("end to end\(label): server time per request at half load",
                "create \(create.summary); pay \(pay.summary)",
                "cashierd's own time from a request's arrival to its answer (request log `ms`), for the \(create.count + pay.count) requests of the half-load run")
        }
        if let during = disk.wait() {
            row("end to end\(label): one fdatasync during the half load", during.single.summary,
                "the quiet-disk probe (4 KiB overwrite + fdatasync, \(DiskLatencies.commitsInARow) in a row every 2 ms) run beside the open loop; a sale waits for 3 flushes in a row (nonce, create, claim with its nonce)")
            row("end to end\(label): \(DiskLatencies.commitsInARow) durable commits in a row during the half load", during.row.summary,
                "the probe's rows timed whole: the floor under a sale's latency from the create and claim commits it cannot do without")
        }
        return closed
    }

    // MARK: fsync count

    /// Counts fsync/fdatasync calls the service makes per sale and per signed ping (strace -c).
    func fsyncCount(_ svc: ServiceProcess, _ creds: DeviceCredentials) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/strace"), let pid = svc.pid else {
            note("strace missing: skipping the fsync count"); return
        }
        let terminal = BenchTerminal(transport: try svc.transport(), credentials: creds)
        _ = terminal.sale()
        /// Runs `body` under strace; returns fsyncs per operation, `body` saying how many operations it did.
        func traced(_ body: () -> Int) throws -> Double {
            let out = work + "/strace.txt"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
            p.arguments = ["-f", "-c", "-e", "trace=fsync,fdatasync", "-o", out, "-p", String(pid)]
            p.standardError = FileHandle.nullDevice
            try p.run()
            usleep(500_000)
            let n = body()
            usleep(200_000)
            kill(p.processIdentifier, SIGINT)
            p.waitUntilExit()
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            var calls = 0
            for line in text.split(separator: "\n") where line.hasSuffix("fsync") || line.hasSuffix("fdatasync") {
                let cols = line.split(separator: " ", omittingEmptySubsequences: true)
                if cols.count >= 5, let c = Int(cols[3]) { calls += c }
            }
            return Double(calls) / Double(max(n, 1))
        }
        let perSale = try traced { for _ in 0..<100 { _ = terminal.sale() }; return 100 }
        let perPing = try traced {
            for _ in 0..<100 { _ = terminal.transport.call("GET", API.Path.ping, credentials: creds) }
            return 100
        }
        let terminals = try makeTerminals(closedClients, url: svc.urls[0], http: svc.http(), credentials: creds)
        let perConcurrentSale = try traced { closedLoop(terminals, seconds: 2).sales }
        row("fsync+fdatasync per sale", fmt(perSale), "strace -f -c on cashierd during 100 sequential sales (background checkpoints included)")
        row("fsync+fdatasync per sale, \(closedClients) clients", fmt(perConcurrentSale),
            "same, during a 2 s closed loop of \(closedClients) clients: concurrent writes share commits (group commit)")
        row("fsync+fdatasync per signed ping", fmt(perPing), "strace -f -c on cashierd during 100 sequential GET /v1/ping")
    }

    // MARK: Hopping

    func hopping(_ svc: ServiceProcess, _ creds: DeviceCredentials, baseline: LoadResult) throws {
        guard let group = try svc.groupFiles().first else { throw BenchError("no SQLite group") }
        let terminals = try makeTerminals(closedClients, url: svc.urls[0], http: svc.http(), credentials: creds)
        let lock = try GroupLock(file: group.path)
        let faulted = closedLoop(terminals, seconds: seconds)
        lock.release()
        row("hopping: sales/s with 1 of 4 groups locked", "\(fmt(faulted.perSecond))/s",
            "group \(group.tag) held by sqlite3 BEGIN EXCLUSIVE; \(closedClients) closed-loop clients, \(Int(seconds)) s (healthy: \(fmt(baseline.perSecond))/s), \(faulted.failureText)")
        row("hopping: latency with 1 of 4 groups locked", faulted.latencies.summary,
            "same run (healthy: \(baseline.latencies.summary))")
        if let first = firstHop(log: svc.data + "/requests.log", afterMs: lock.heldAtMs) {
            row("hopping: fault to first hop", "\(fmt(first)) ms", "lock held → first create answered after hopping (cashierd request log: ts + ms of the first entry with hops ≥ 1)")
        } else {
            row("hopping: fault to first hop", "n/a", "no hop found in the request log")
        }
    }

    /// The entries of cashierd's request log whose line contains `marker`, with when each request arrived
    /// (`ts`, Unix ms) and how long it took (`ms`).
    func requestLogEntries(_ log: String, containing marker: String) -> [(entry: [String: Any], arrivedMs: Double, ms: Double)] {
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return text.split(separator: "\n").compactMap { line in
            guard line.contains(marker),
                  let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let ts = obj["ts"] as? String, let date = parser.date(from: ts) else { return nil }
            return (obj, date.timeIntervalSince1970 * 1000, obj["ms"] as? Double ?? 0)
        }
    }

    /// cashierd's own time per request ("create" and "pay") for requests that arrived between the two times,
    /// from its request log.
    func serverTimes(log: String, fromMs: Double, toMs: Double) -> [String: Latencies] {
        var times: [String: Latencies] = [:]
        for (entry, arrived, _) in requestLogEntries(log, containing: "\"POST\"") where arrived >= fromMs && arrived <= toMs {
            guard let path = entry["path"] as? String, let ms = entry["ms"] as? Double else { continue }
            let kind = path == API.Path.orders ? "create" : path.hasSuffix("/pay") ? "pay" : nil
            if let kind { times[kind, default: Latencies()].add(ms) }
        }
        return times
    }

    /// Milliseconds from `afterMs` to the end of the first logged request that hopped.
    func firstHop(log: String, afterMs: Int64) -> Double? {
        var best: Double?
        for (entry, arrived, ms) in requestLogEntries(log, containing: "\"hops\"") {
            guard let hops = entry["hops"] as? Int, hops >= 1 else { continue }
            let end = arrived + ms
            guard end >= Double(afterMs) else { continue }
            best = min(best ?? .infinity, end - Double(afterMs))
        }
        return best
    }

    // MARK: Growth

    func growth(_ svc: ServiceProcess, _ creds: DeviceCredentials, storageLimit: Double?) throws {
        var stored = 0
        for target in [10_000, bigCount] where target > stored {
            svc.stop()
            let t0 = monotonicSeconds()
            try seedOrders(groupFiles: try svc.groupFiles(), store: creds.store, deviceID: creds.deviceId, count: target - stored, firstIndex: stored)
            note("seeded \(target - stored) orders in \(fmt(monotonicSeconds() - t0)) s")
            stored = target
            try svc.start()
            let label = " with \(target.formatted()) orders stored"
            try endToEnd(svc, creds, label: label, storageLimit: storageLimit)
            try listPage(svc, creds, label: "4 groups,\(label)")
        }
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
            let creds = try svc.activate()
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
