import CashierClient
import CashierCore
import Foundation

/// Where the order groups live in a run, and the storage limit their sales are compared with.
struct Backend {
    /// Added to row names: "" for SQLite groups (the default deployment), " (PostgreSQL groups)".
    var label: String
    /// "SQLite" or "PostgreSQL".
    var name: String
    /// Single-row insert transactions per second, one insert per flush, measured in the same run.
    var limit: Double?
    /// The PostgreSQL cluster whose processes do part of the server's work (nil for SQLite).
    var cluster: PostgresCluster?

    static func sqlite(limit: Double?) -> Backend { Backend(label: "", name: "SQLite", limit: limit, cluster: nil) }

    /// The label of a goal line: which groups it was measured with.
    var goalSuffix: String { " (\(name) groups)" }
}

/// What the end-to-end step hands on to later steps.
struct EndToEndResult {
    var closed: LoadResult
    var halfLoadRate: Double
}

extension BenchPlan {
    /// CPU seconds of cashierd and of the backend's database processes so far.
    private func serverCPU(_ svc: ServiceProcess, _ backend: Backend) -> (cashierd: Double, database: [Int32: Double]) {
        (svc.pid.map(processCPUSeconds) ?? 0, backend.cluster?.cpuByProcess() ?? [:])
    }

    /// Server CPU milliseconds per operation between two readings: cashierd's and the database's.
    private func cpuPer(_ operations: Int, from a: (cashierd: Double, database: [Int32: Double]),
                        to b: (cashierd: Double, database: [Int32: Double])) -> (cashierd: Double, database: Double) {
        let n = Double(max(operations, 1))
        return ((b.cashierd - a.cashierd) / n * 1000, cpuUsed(from: a.database, to: b.database) / n * 1000)
    }

    // MARK: End to end

    /// One-call sales over HTTPS with the client stack (`SignedTransport`, Ed25519 as `cashier` signs):
    /// the most per second, the latency alone and at half load, and the server's CPU per sale. With
    /// `full`, also the saturated rate, a signed ping's CPU, the two-call flow for comparison and the
    /// goal lines; the growth runs repeat only the core figures.
    @discardableResult
    func endToEnd(_ svc: ServiceProcess, _ creds: DeviceCredentials, backend: Backend, label extra: String = "",
                  full: Bool) throws -> EndToEndResult {
        let label = backend.label + extra
        let http = svc.http()
        let url = svc.urls[0]
        let terminals = try makeTerminals(closedClients, url: url, http: http, credentials: creds)
        let cpu0 = serverCPU(svc, backend), self0 = ownCPUSeconds()
        let closed = closedLoop(terminals, seconds: seconds)
        let cpu1 = serverCPU(svc, backend), self1 = ownCPUSeconds()
        let perSale = cpuPer(closed.sales, from: cpu0, to: cpu1)
        let serverPerSale = perSale.cashierd + perSale.database
        func shareOfLimit(_ perSecond: Double) -> String {
            backend.limit.map { " = \(fmt(perSecond / $0 * 100)) % of the \(backend.name) single-insert limit" } ?? ""
        }
        let how = "POST /v1/sales (one call: the order placed as paying and its nonce in one commit) over HTTPS keep-alive, signed with Ed25519 as `cashier` signs, answers verified"
        row("end to end\(label): one-call sales/s (max)", "\(fmt(closed.perSecond))/s",
            "\(how); \(closedClients) closed-loop clients (own thread+connection), \(Int(seconds)) s, \(closed.failureText)\(shareOfLimit(closed.perSecond))")
        row("end to end\(label): latency at max", closed.latencies.summary, "per sale (1 request), same closed-loop run")
        let database = backend.cluster == nil ? "" : " (cashierd \(fmt(perSale.cashierd)) + PostgreSQL \(fmt(perSale.database)))"
        row("end to end\(label): CPU per sale", "server \(fmt(serverPerSale)) ms\(database), clients \(fmt((self1 - self0) / Double(max(closed.sales, 1)) * 1000)) ms",
            "user+system CPU of cashierd (/proc/PID/stat)\(backend.cluster == nil ? "" : " and of every PostgreSQL process") and of the load generator (getrusage) during the closed-loop run; 2 cores = 2000 ms/s")

        if full {
            let many = try makeTerminals(saturatingClients, url: url, http: http, credentials: creds)
            let saturated = closedLoop(many, seconds: seconds)
            row("end to end\(label): one-call sales/s, saturated", "\(fmt(saturated.perSecond))/s, \(saturated.latencies.summary)",
                "the same with \(saturatingClients) closed-loop clients, \(Int(seconds)) s, \(saturated.failureText)\(shareOfLimit(saturated.perSecond)): what queueing adds to the maximum above, and at what latency")
            // The limit moves with the disk's other work from minute to minute: for SQLite it is measured again
            // right after the saturated run, and the goal takes the higher of the two (the stricter).
            var limit = backend.limit
            if backend.cluster == nil, let before = limit {
                let dir = work + "/storage"
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                let after = try sqliteInsertRate(directory: dir, seconds: 3)
                row("storage limit: SQLite single-row insert tx/s, again after the saturated run", "\(Int(after))/s",
                    "as the first storage row, measured again in these minutes (first: \(Int(before))/s); the goal below takes the higher")
                limit = max(before, after)
            }
            if let limit {
                let best = max(saturated.perSecond, closed.perSecond)
                goal("saturated sales/s ≥ 100 % of the single-insert limit (one insert per flush)\(backend.goalSuffix)",
                     "\(fmt(best))/s against \(Int(limit)) tx/s = \(fmt(best / limit * 100)) % (Swift client stack as load generator, on the same 2 cores)",
                     met: best >= limit)
            }
            // A signed ping: the cheapest signed request (signature check, device lookup, nonce commit, signed answer).
            let ping0 = serverCPU(svc, backend)
            let pings = closedLoop(terminals, seconds: min(seconds, 3)) { $0.ping() }
            let ping1 = serverCPU(svc, backend)
            let perPing = cpuPer(pings.sales, from: ping0, to: ping1)
            let pingCPU = perPing.cashierd + perPing.database
            row("end to end\(label): server CPU per signed ping", "\(fmt(pingCPU)) ms (\(fmt(pings.perSecond)) pings/s)",
                "GET /v1/ping signed with Ed25519, \(closedClients) closed-loop clients, \(fmt(min(seconds, 3))) s, \(pings.failureText); cashierd's CPU per ping, same service and minutes as the sales above")
            let ratio = serverPerSale / pingCPU
            row("end to end\(label): server CPU per sale / per signed ping", "\(fmt(ratio))×",
                "\(fmt(serverPerSale)) ms per sale against \(fmt(pingCPU)) ms per ping, both measured above")
            goal("server CPU per sale ≤ 2× one signed ping\(backend.goalSuffix)", "\(fmt(serverPerSale)) ms against \(fmt(pingCPU)) ms = \(fmt(ratio))×",
                 met: ratio <= 2)
            if backend.cluster == nil {
                // The flow of terminals from before one-call sales, for comparison (same service, same minutes).
                let old = try makeTerminals(closedClients, url: url, http: http, credentials: creds, flow: .twoCalls)
                let two0 = serverCPU(svc, backend)
                let twoCalls = closedLoop(old, seconds: seconds)
                let two1 = serverCPU(svc, backend)
                let perOld = cpuPer(twoCalls.sales, from: two0, to: two1)
                row("end to end\(label): two-call sales/s (max), for comparison", "\(fmt(twoCalls.perSecond))/s, \(twoCalls.latencies.summary)",
                    "POST /v1/orders then POST /v1/orders/{no}/pay, otherwise as the one-call row: \(closedClients) clients, \(Int(seconds)) s, \(twoCalls.failureText)\(shareOfLimit(twoCalls.perSecond)); server CPU per sale \(fmt(perOld.cashierd)) ms")
                let lone = closedLoop(Array(old.prefix(1)), seconds: min(seconds, 2))
                row("end to end\(label): two-call sale, one client alone, for comparison", "\(fmt(lone.perSecond))/s, \(lone.latencies.summary)",
                    "1 closed-loop client, \(fmt(min(seconds, 2))) s, \(lone.failureText)")
            }
        }

        let single = closedLoop(Array(terminals.prefix(1)), seconds: min(seconds, 2))
        row("end to end\(label): one client alone", "\(fmt(single.perSecond))/s, \(single.latencies.summary)",
            "1 closed-loop client, \(fmt(min(seconds, 2))) s: the latency of a one-call sale with no queueing, \(single.failureText)")

        let rate = halfLoadRate ?? max(closed.perSecond / 2, 1)
        let openTerminals = try makeTerminals(openClients, url: url, http: http, credentials: creds)
        // The tail is the goal, so the half load runs three times as long as the other loads: thousands of
        // sales, so that a p99 is the 50th-worst sale or so rather than the 16th.
        let halfLoadSeconds = seconds * 3
        // The disk probe runs beside the open loop: how long one durable commit waits while the service is at half load.
        let disk = DiskProbe(directory: work, seconds: halfLoadSeconds)
        let openStartedMs = Date().timeIntervalSince1970 * 1000
        let open = openLoop(openTerminals, rate: rate, seconds: halfLoadSeconds)
        let openEndedMs = Date().timeIntervalSince1970 * 1000
        row("end to end\(label): latency at half load", open.latencies.summary,
            "paced open loop at \(fmt(rate)) sales/s\(halfLoadRate == nil ? "" : " (fixed with --half-load-rate; the maximum was \(fmt(closed.perSecond))/s)") for \(Int(halfLoadSeconds)) s (latency from due time), \(open.sales) sales, \(open.failureText)")
        let server = serverTimes(log: svc.data + "/requests.log", fromMs: openStartedMs, toMs: openEndedMs)
        if let sale = server["sale"] {
            row("end to end\(label): server time per sale at half load", sale.summary,
                "cashierd's own time from the request's arrival to its answer (request log `ms`), for the \(sale.count) one-call sales of the half-load run")
        }
        if let during = disk.wait() {
            row("end to end\(label): one fdatasync during the half load", during.summary,
                "\(DiskProbe.how), on a thread of the load generator beside the open loop, on the disk the \(backend.name) files are on")
            let ratio = open.latencies.percentile(99) / during.percentile(99)
            row("end to end\(label): sale p99 at half load / fdatasync p99 beside it", "\(fmt(ratio))×",
                "\(fmt(open.latencies.percentile(99))) ms against \(fmt(during.percentile(99))) ms, both from the rows above: a one-call sale waits for one flush")
            if full {
                goal("sale p99 at half load ≤ 2× the p99 of one fdatasync beside the same load\(backend.goalSuffix)",
                     "\(fmt(open.latencies.percentile(99))) ms against \(fmt(during.percentile(99))) ms = \(fmt(ratio))× (at \(fmt(rate)) sales/s)",
                     met: ratio <= 2)
            }
        }
        return EndToEndResult(closed: closed, halfLoadRate: rate)
    }

    /// cashierd's own time per request ("sale", "create", "pay") for requests that arrived between the
    /// two times, from its request log.
    func serverTimes(log: String, fromMs: Double, toMs: Double) -> [String: Latencies] {
        var times: [String: Latencies] = [:]
        for (entry, arrived, _) in requestLogEntries(log, containing: "\"POST\"") where arrived >= fromMs && arrived <= toMs {
            guard let path = entry["path"] as? String, let ms = entry["ms"] as? Double else { continue }
            let kind = path == API.Path.sales ? "sale" : path == API.Path.orders ? "create" : path.hasSuffix("/pay") ? "pay" : nil
            if let kind { times[kind, default: Latencies()].add(ms) }
        }
        return times
    }

    // MARK: Flushes

    /// Flushes on a sale's path: fsync/fdatasync calls made by the threads that run requests, per sale,
    /// counted with strace; the background checkpoints' flushes beside them.
    func flushes(_ svc: ServiceProcess, _ creds: DeviceCredentials, backend: Backend) throws {
        guard let pid = svc.pid else { return }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/strace") else { note("strace missing: skipping the flush count"); return }
        let cluster = backend.cluster
        let pids = [pid] + (cluster?.serverPIDs() ?? [])
        /// Who made a call: a cashierd thread by its name, else a PostgreSQL process by its title.
        let who: (Int32) -> String = { tid in
            if FileManager.default.fileExists(atPath: "/proc/\(pid)/task/\(tid)") { return threadName(pid: pid, tid: tid) }
            return "PostgreSQL " + PostgresCluster.processKind(tid)
        }
        let file: (String) -> String = { path in cluster != nil && path.contains("/data/") ? postgresFileKind(path) : cashierdFileKind(path) }
        /// The callers whose flushes a request waits for: cashierd's request threads, and the PostgreSQL
        /// backends that commit for them.
        let onPath = cluster == nil ? ["http-worker"] : ["http-worker", "PostgreSQL backend"]
        func perOperation(_ c: FlushCount, _ n: Int) -> Double {
            Double(onPath.reduce(0) { $0 + c.total(of: $1) }) / Double(max(n, 1))
        }
        func detail(_ c: FlushCount, _ n: Int) -> String {
            let path = onPath.map { "\($0): \(c.breakdown(of: $0, per: n))" }.joined(separator: "; ")
            let rest = c.calls.keys.filter { !onPath.contains($0) }.sorted()
                .map { "\($0): \(c.breakdown(of: $0, per: n))" }.joined(separator: "; ")
            return "by file, per operation — \(path); in the background, waited for by no request — \(rest.isEmpty ? "none" : rest)"
        }
        func trace(_ body: () -> Int) throws -> (FlushCount, Int) {
            try countFlushes(pids: pids, who: who, file: file, logHeaders: cluster == nil, scratch: work, body)
        }
        /// Flushes of a sale's own commit in its group: with SQLite those of the group's log made by a
        /// request thread (not a restarted log's header), with PostgreSQL the backends' WAL flushes.
        func commits(_ c: FlushCount, _ n: Int) -> Double {
            let calls = cluster == nil ? c.calls["http-worker"]?["group log"] : c.calls["PostgreSQL backend"]?["WAL"]
            return Double(calls ?? 0) / Double(max(n, 1))
        }
        let how = "fsync+fdatasync system calls made by \(cluster == nil ? "cashierd's request threads (http-worker)" : "cashierd's request threads and the PostgreSQL backends")"
            + ", counted by strace -f -y attached to \(cluster == nil ? "cashierd" : "cashierd and every PostgreSQL process")"
        let one = try makeTerminals(1, url: svc.urls[0], http: svc.http(), credentials: creds)[0]
        func sequential(_ n: Int, _ op: () -> String?) -> Int { (0..<n).reduce(0) { sum, _ in sum + (op() == nil ? 1 : 0) } }

        let (sales, n) = try trace { sequential(100) { one.sale() } }
        let seq = perOperation(sales, n)
        row("flushes on a sale's path\(backend.label), one call, sequential", fmt(seq), "\(how) during \(n) sequential one-call sales; \(detail(sales, n))")
        let terminals = try makeTerminals(closedClients, url: svc.urls[0], http: svc.http(), credentials: creds)
        let (loaded, m) = try trace { closedLoop(terminals, seconds: 2).sales }
        row("flushes on a sale's path\(backend.label), one call, \(closedClients) clients", fmt(perOperation(loaded, m)),
            "the same during a 2 s closed loop of \(closedClients) clients (\(m) sales): concurrent sales share commits (group commit); \(detail(loaded, m))")
        if cluster == nil {
            let old = try makeTerminals(1, url: svc.urls[0], http: svc.http(), credentials: creds, flow: .twoCalls)[0]
            let (two, k) = try trace { sequential(50) { old.sale() } }
            row("flushes on a sale's path, two calls, sequential (for comparison)", fmt(perOperation(two, k)),
                "the same during \(k) sequential two-call sales (create, then pay); \(detail(two, k))")
            let (pings, p) = try trace { sequential(100) { one.ping() } }
            row("flushes per signed ping", fmt(perOperation(pings, p)), "the same during \(p) sequential signed GET /v1/ping (its nonce's commit); \(detail(pings, p))")
        }
        let own = commits(sales, n)
        goal("flushes on a sale's path = 1\(backend.goalSuffix)",
             "\(fmt(seq)) per sale (sequential, strace): \(fmt(own)) for its group's commit + \(fmt(seq - own)) others (\(cluster == nil ? "restarted logs' headers, " : "")the sandbox ledger's checkpoints); \(fmt(perOperation(loaded, m))) with \(closedClients) clients",
             met: own <= 1.01)
    }

    // MARK: Hopping

    /// One group locked from outside while one-call sales run: a sale whose number names that group is
    /// answered GROUP_UNAVAILABLE once the commit gives up (nothing placed), and the terminal sells on its
    /// next number; new numbers avoid the group once its failures pass the threshold.
    func hopping(_ svc: ServiceProcess, _ creds: DeviceCredentials, baseline: LoadResult) throws {
        guard let group = try svc.groupFiles().first else { throw BenchError("no SQLite group") }
        let terminals = try makeTerminals(closedClients, url: svc.urls[0], http: svc.http(), credentials: creds)
        let lock = try GroupLock(file: group.path)
        let lockedAt = monotonicSeconds()
        let faulted = closedLoop(terminals, seconds: seconds)
        lock.release()
        row("hopping: sales/s with 1 of 4 groups locked", "\(fmt(faulted.perSecond))/s",
            "group \(group.tag) held by sqlite3 BEGIN EXCLUSIVE; one-call sales, \(closedClients) closed-loop clients, \(Int(seconds)) s (healthy: \(fmt(baseline.perSecond))/s), \(faulted.failureText)")
        row("hopping: latency with 1 of 4 groups locked", faulted.latencies.summary, "same run (healthy: \(baseline.latencies.summary))")
        let moved = terminals.reduce(0) { $0 + $1.soldOnNextNumber }
        let first = terminals.compactMap(\.firstMoveAt).min()
        row("hopping: sales moved to the next number", "\(moved)",
            "sales answered GROUP_UNAVAILABLE on a number of the locked group (nothing placed) and sold with the same code on the terminal's next number; first one paid \(first.map { "\(fmt(($0 - lockedAt) * 1000)) ms" } ?? "n/a") after the lock was held")
    }

    // MARK: Growth

    func growth(_ svc: ServiceProcess, _ creds: DeviceCredentials, backend: Backend) throws {
        var stored = 0
        for target in [10_000, bigCount] where target > stored {
            svc.stop()
            let t0 = monotonicSeconds()
            try seedOrders(groupFiles: try svc.groupFiles(), store: creds.store, deviceID: creds.deviceId, count: target - stored, firstIndex: stored)
            note("seeded \(target - stored) orders in \(fmt(monotonicSeconds() - t0)) s")
            stored = target
            try svc.start()
            let label = " with \(target.formatted()) orders stored"
            try endToEnd(svc, creds, backend: backend, label: label, full: false)
            try listPage(svc, creds, label: "4 groups,\(label)")
        }
    }
}
