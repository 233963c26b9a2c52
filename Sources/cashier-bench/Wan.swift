import CashierClient
import CashierCore
import Foundation

/// The WAN rows: both of the service's domains behind a `DelayProxy` that adds a fixed one-way delay,
/// and the real client selling through it — warm (`CashierEngine.sell` in a running engine, connections
/// open, numbers in its journal) and cold (a fresh `cashier pay` process whose journal already holds
/// numbers from an earlier sale, as a real terminal's would).
struct WANBench {
    let cashier: String
    let service: ServiceProcess
    let directory: String
    /// Warm engines selling at the same time (each its own terminal: key, journal, connections).
    let engines = 4

    struct Figures {
        var roundTripMs: Double
        var warm: Latencies
        var warmFailures: [String: Int]
        var serviceTime: Latencies
        var warmRequests: [String: Int]
        var cold: Latencies
        var coldConnections: [Int]
        var coldRequests: [String: Int]
        var coldRuns: Int
        /// The client's own flushes during `clientFlushSales` sequential warm sales of one engine, when counted.
        var clientFlushes: FlushCount?
        var clientFlushSales = 0
    }

    private func proxies(roundTripMs: Double) throws -> [DelayProxy] {
        try service.urls.prefix(2).map { text in
            guard let url = URL(string: text), let host = url.host, let port = url.port else { throw BenchError("bad service URL \(text)") }
            return try DelayProxy(targetHost: host, targetPort: UInt16(port), roundTripMs: roundTripMs)
        }
    }

    private func configuration(domains: [String], in dir: String) -> ClientConfiguration {
        var c = ClientConfiguration(domains: domains, caFile: service.caFile)
        c.journalPath = dir + "/journal.sqlite"
        c.keystorePath = dir + "/keystore.json"
        c.logPath = dir + "/cashier.log"
        return c
    }

    private func freshDirectory(_ name: String) throws -> String {
        let dir = directory + "/" + name
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Warm and cold sales at one round trip. Both loops are bounded in count; every sale is bounded
    /// by the client's own deadlines.
    func measure(roundTripMs rtt: Double, warmSalesPerEngine: Int, coldRuns: Int, countClientFlushes: Bool = false) throws -> Figures {
        let proxies = try proxies(roundTripMs: rtt)
        defer { proxies.forEach { $0.close() } }
        let domains = proxies.map { "https://127.0.0.1:\($0.port)" }

        // Warm: engines activated through the delay (as terminals far away are), then a sale each so
        // connections are open and the journal holds numbers.
        var started: [CashierEngine] = []
        defer { started.forEach { $0.stop() } }
        for i in 0..<engines {
            let engine = try CashierEngine(configuration: configuration(domains: domains, in: try freshDirectory("rtt\(Int(rtt))-engine\(i)")))
            started.append(engine)
            engine.start()
            guard case .success = engine.activate(code: try service.newActivationCode(), deviceName: "bench wan \(i)") else {
                throw BenchError("WAN engine activation failed")
            }
            let r = engine.sell(CreateOrderRequest(amount: 100), paymentCode: instantPaymentCode())
            guard case .paid = r.outcome else { throw BenchError("WAN warm-up sale failed: \(r.outcome)") }
        }
        let warmEngines = started
        // One more sale each, all at once, just before the timed ones: setting the engines up one after
        // another takes seconds at 300 ms, and the service closes connections idle for 15 s.
        onThreads(warmEngines.count) { i in _ = warmEngines[i].sell(CreateOrderRequest(amount: 100), paymentCode: instantPaymentCode()) }
        let tally = Tally()
        let warmFrom = Date().timeIntervalSince1970 * 1000
        onThreads(warmEngines.count) { i in
            var lat = Latencies(), ok = 0, failures: [String: Int] = [:]
            for _ in 0..<warmSalesPerEngine {
                let t0 = monotonicSeconds()
                let r = warmEngines[i].sell(CreateOrderRequest(amount: 1_234), paymentCode: instantPaymentCode())
                if case .paid = r.outcome {
                    ok += 1
                    lat.add((monotonicSeconds() - t0) * 1000)
                } else {
                    failures["\(r.outcome)", default: 0] += 1
                }
            }
            tally.record(lat, successes: ok, failures: failures)
        }
        let warmTo = Date().timeIntervalSince1970 * 1000
        let warm = tally.result
        let warmLog = requestLog(service.data + "/requests.log", fromMs: warmFrom, toMs: warmTo)

        guard coldRuns > 0 else {
            var figures = Figures(roundTripMs: rtt, warm: warm.latencies, warmFailures: warm.failures, serviceTime: warmLog.salesTime,
                                  warmRequests: warmLog.requests, cold: Latencies(), coldConnections: [], coldRequests: [:], coldRuns: 0)
            if countClientFlushes {
                // The engine runs in this process: strace on it, every thread, while one engine sells alone.
                let (flushes, sales) = try countFlushes(pids: [getpid()], who: { _ in "client" }, file: clientFileKind, scratch: directory) {
                    (0..<20).reduce(0) { n, _ in
                        guard case .paid = warmEngines[0].sell(CreateOrderRequest(amount: 1_234), paymentCode: instantPaymentCode()).outcome else { return n }
                        return n + 1
                    }
                }
                figures.clientFlushes = flushes
                figures.clientFlushSales = sales
            }
            return figures
        }

        // Cold: one terminal's directory, activated and with one sale behind it (its journal then holds
        // numbers), then `cashier pay` processes one after another, each timed from start to exit.
        let dir = try freshDirectory("rtt\(Int(rtt))-cold")
        let configPath = dir + "/client.json"
        try configuration(domains: domains, in: dir).write(to: configPath)
        let activated = try runProgram(cashier, ["--config", configPath, "activate", "--code", try service.newActivationCode()])
        guard activated.status == 0 else { throw BenchError("cashier activate through the delay failed: \(activated.stdout)\(activated.stderr)") }
        func pay() throws -> Double {
            let t0 = monotonicSeconds()
            let r = try runProgram(cashier, ["--config", configPath, "pay", "--amount", "12.34", "--code", instantPaymentCode()])
            guard r.status == 0 else { throw BenchError("cold cashier pay through the delay exited \(r.status): \(r.stdout)\(r.stderr)") }
            return (monotonicSeconds() - t0) * 1000
        }
        _ = try pay()
        var cold = Latencies(), connections: [Int] = []
        let coldFrom = Date().timeIntervalSince1970 * 1000
        for _ in 0..<coldRuns {
            let before = proxies.reduce(0) { $0 + $1.accepted }
            cold.add(try pay())
            connections.append(proxies.reduce(0) { $0 + $1.accepted } - before)
        }
        let coldTo = Date().timeIntervalSince1970 * 1000
        let coldLog = requestLog(service.data + "/requests.log", fromMs: coldFrom, toMs: coldTo)
        return Figures(roundTripMs: rtt, warm: warm.latencies, warmFailures: warm.failures,
                       serviceTime: warmLog.salesTime, warmRequests: warmLog.requests,
                       cold: cold, coldConnections: connections, coldRequests: coldLog.requests, coldRuns: coldRuns)
    }

    /// The same cold `cashier pay` straight to the service on loopback: what a cold sale costs with no
    /// round trip to wait for (process start, keystore, journal, TLS and the service's time).
    func coldOnLoopback(runs: Int) throws -> Latencies {
        let dir = try freshDirectory("loopback-cold")
        let configPath = dir + "/client.json"
        try configuration(domains: Array(service.urls.prefix(2)), in: dir).write(to: configPath)
        let activated = try runProgram(cashier, ["--config", configPath, "activate", "--code", try service.newActivationCode()])
        guard activated.status == 0 else { throw BenchError("cashier activate failed: \(activated.stdout)\(activated.stderr)") }
        var times = Latencies()
        for i in 0...runs {
            let t0 = monotonicSeconds()
            let r = try runProgram(cashier, ["--config", configPath, "pay", "--amount", "12.34", "--code", instantPaymentCode()])
            guard r.status == 0 else { throw BenchError("cashier pay exited \(r.status): \(r.stdout)\(r.stderr)") }
            if i > 0 { times.add((monotonicSeconds() - t0) * 1000) }   // the first run is the earlier sale
        }
        return times
    }

    /// The service's own time for `POST /v1/sales` (request log `ms`) and how many requests of each
    /// kind arrived between the two times.
    private func requestLog(_ path: String, fromMs: Double, toMs: Double) -> (salesTime: Latencies, requests: [String: Int]) {
        var sales = Latencies(), requests: [String: Int] = [:]
        for (entry, arrived, ms) in requestLogEntries(path) where arrived >= fromMs && arrived <= toMs {
            guard let method = entry["method"] as? String, let p = entry["path"] as? String else { continue }
            let kind = p.hasPrefix("/v1/orders/") ? "\(method) /v1/orders/{no}" + (p.hasSuffix("/pay") ? "/pay" : "") : "\(method) \(p)"
            requests[kind, default: 0] += 1
            if method == "POST" && p == API.Path.sales { sales.add(ms) }
        }
        return (sales, requests)
    }
}

/// What kind of a terminal's file a path is.
func clientFileKind(_ path: String) -> String {
    let name = (path as NSString).lastPathComponent
    if name.hasPrefix("journal.") { return name.hasSuffix("-wal") ? "journal log" : "journal file" }
    return name
}

/// "POST /v1/sales ×160, GET /v1/ping ×4", most frequent first; `per` divides the counts (per run).
func describeRequests(_ requests: [String: Int], per runs: Int = 1) -> String {
    requests.sorted { ($1.value, $0.key) < ($0.value, $1.key) }
        .map { "\($0.key) ×\(runs == 1 ? String($0.value) : fmt(Double($0.value) / Double(runs)))" }
        .joined(separator: ", ")
}

extension BenchPlan {
    /// The WAN rows at round trips of 50 and 300 ms, and a cold pay on loopback for reference.
    func wan() throws {
        let svc = try ServiceProcess(binary: cashierd, data: work + "/svc-wan", groups: 2)
        try svc.start()
        defer { svc.stop() }
        let bench = WANBench(cashier: cashier, service: svc, directory: work + "/wan")
        // The same through the proxy with no delay: what a sale costs besides waiting for round trips.
        let near = try bench.measure(roundTripMs: 0, warmSalesPerEngine: 50, coldRuns: 0, countClientFlushes: true)
        let clientOwn = near.warm.percentile(50) - near.serviceTime.percentile(50)
        let journal = near.clientFlushes.map { c in
            "; the engine flushed its journal \(fmt(Double(c.total(of: "client")) / Double(max(near.clientFlushSales, 1)))) times per sale (\(c.breakdown(of: "client", per: near.clientFlushSales)); strace on this process during \(near.clientFlushSales) sales of one engine alone)"
        } ?? ""
        row("warm sale through the proxy, no delay", "p50 \(fmt(near.warm.percentile(50))) / p99 \(fmt(near.warm.percentile(99))) ms",
            "as the WAN warm rows below with no delay added (\(near.warm.count) sales): the client's own time per sale, p50 \(fmt(clientOwn)) ms, is this less the service's own p50 \(fmt(near.serviceTime.percentile(50))) ms (the journal's durable writes before and after the request, signing, verifying)\(journal)")
        let loopback = try bench.coldOnLoopback(runs: 5)
        row("cold `cashier pay` on loopback, no delay", "p50 \(fmt(loopback.percentile(50))) ms",
            "5 fresh `cashier pay` processes straight to the service, journal holding numbers: what a cold sale costs besides waiting for round trips (process start, keystore, journal, probe, TLS handshakes, the service)")
        for (rtt, warmPerEngine, coldRuns) in [(50.0, 50, 7), (300.0, 25, 5)] {
            let f = try bench.measure(roundTripMs: rtt, warmSalesPerEngine: warmPerEngine, coldRuns: coldRuns)
            let r = Int(rtt)
            func trips(_ ms: Double) -> String { "\(fmt(ms / rtt)) RTT" }
            let w50 = f.warm.percentile(50), w99 = f.warm.percentile(99)
            let s50 = f.serviceTime.percentile(50), s99 = f.serviceTime.percentile(99)
            row("WAN \(r) ms round trip: warm sale", "p50 \(fmt(w50)) ms = \(trips(w50)), p99 \(fmt(w99)) ms = \(trips(w99))",
                "CashierEngine.sell in \(bench.engines) warm engines selling at once (each its own terminal, connections open, numbers in its journal), \(f.warm.count) sales, \(f.warmFailures.isEmpty ? "0 failures" : "\(f.warmFailures)"); both domains behind a proxy adding \(fmt(rtt / 2)) ms each way; the service's own time for these sales p50 \(fmt(s50)) / p99 \(fmt(s99)) ms (request log); requests the service saw: \(describeRequests(f.warmRequests))")
            let bound50 = 1.2 * rtt + s50, bound99 = 1.2 * rtt + s99
            goal("warm sale ≤ 1.2 round trips + the service's own time (RTT \(r) ms)",
                 "p50 \(fmt(w50)) ms ≤ \(fmt(bound50)) ms? p99 \(fmt(w99)) ms ≤ \(fmt(bound99)) ms? (= \(trips(w50)) / \(trips(w99)))",
                 met: w50 <= bound50 && w99 <= bound99)
            let c50 = f.cold.percentile(50)
            let connections = f.coldConnections.sorted()[f.coldConnections.count / 2]
            row("WAN \(r) ms round trip: cold `cashier pay`", "p50 \(fmt(c50)) ms = \(trips(c50)) (min \(fmt(f.cold.percentile(0))), max \(fmt(f.cold.percentile(100))) ms)",
                "\(f.coldRuns) fresh `cashier pay` processes one after another, each timed from start to exit, the journal holding numbers from an earlier sale; per run \(connections) new TCP connections through the proxies and these requests: \(describeRequests(f.coldRequests, per: f.coldRuns))")
            goal("cold `cashier pay` ≤ 3 round trips (RTT \(r) ms)", "p50 \(fmt(c50)) ms = \(trips(c50))", met: c50 <= 3 * rtt)
        }
    }
}
