import CashierClient
import CashierCore
import Foundation

/// Runs `cashier` processes against a live service: cold start, resident memory, and failover time.
struct ClientBench {
    let cashier: String
    let directory: String
    let service: ServiceProcess

    var configPath: String { directory + "/client.json" }

    func writeConfig(domains: [String]) throws {
        var c = ClientConfiguration(domains: domains, caFile: service.caFile, requestTimeoutMs: 10_000, connectTimeoutMs: 3_000)
        c.journalPath = directory + "/journal.sqlite"
        c.keystorePath = directory + "/keystore.json"
        c.logPath = directory + "/cashier.log"
        try c.write(to: configPath)
    }

    /// One run of `cashier` under /usr/bin/time: exit status, wall milliseconds (our own clock) and max RSS in KiB.
    func timed(_ arguments: [String]) throws -> (status: Int32, ms: Double, rssKiB: Int, output: String) {
        let t0 = monotonicSeconds()
        let r = try runProgram("/usr/bin/time", ["-f", "RSSKIB=%M", cashier, "--config", configPath] + arguments)
        let ms = (monotonicSeconds() - t0) * 1000
        let rss = r.stderr.split(separator: "\n").last { $0.hasPrefix("RSSKIB=") }.flatMap { Int($0.dropFirst(7)) } ?? -1
        return (r.status, ms, rss, r.stdout + r.stderr)
    }

    func activate() throws {
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try writeConfig(domains: Array(service.urls.prefix(2)))
        let r = try timed(["activate", "--code", try service.newActivationCode()])
        guard r.status == 0 else { throw BenchError("cashier activate failed: \(r.output)") }
    }

    /// Median of `runs` timings of `arguments`, all expected to exit 0.
    func medianRun(_ arguments: @autoclosure () -> [String], runs: Int) throws -> (ms: Double, rssKiB: Int) {
        var times: [Double] = [], rss: [Int] = []
        for _ in 0..<runs {
            let arguments = arguments()
            let r = try timed(arguments)
            guard r.status == 0 else { throw BenchError("cashier \(arguments.first ?? "") exited \(r.status): \(r.output)") }
            times.append(r.ms); rss.append(r.rssKiB)
        }
        return (times.sorted()[times.count / 2], rss.max() ?? -1)
    }

    /// A fresh payment code each time: the channel refuses a code it has seen.
    func pay() -> [String] { ["pay", "--amount", "12.34", "--code", instantPaymentCode()] }

    func run() throws {
        try activate()
        let good = service.urls[1]
        // Cold start: the TUI's first screen if it is wired, else `cashier status` (probes both domains, prints, exits).
        let screen = try timed(["--script", "", "--dump-screen"])
        if screen.status == 0 {
            let m = try medianRun(["--script", "", "--dump-screen"], runs: 5)
            row("client cold start to first screen", "\(fmt(m.ms)) ms", "median of 5 runs of `cashier --script '' --dump-screen`, process start to exit")
            row("client resident memory", "\(m.rssKiB / 1024) MiB", "max RSS of those runs (/usr/bin/time %M)")
        } else {
            note("TUI not available (\(screen.output.split(separator: "\n").first ?? "")); measuring `cashier status`")
        }
        let status = try medianRun(["status"], runs: 5)
        row("client cold start (`cashier status`)", "\(fmt(status.ms)) ms",
            "median of 5 runs: process start, load keystore+journal, probe both domains, print, exit")
        row("client resident memory (`cashier status`)", "\(status.rssKiB / 1024) MiB", "max RSS over those runs (/usr/bin/time %M)")
        let healthy = try medianRun(pay(), runs: 5)
        row("client sale, both domains up", "\(fmt(healthy.ms)) ms", "median of 5 `cashier pay` runs (one-call sale, journal holding numbers), process start to PAID (includes cold start)")
        row("client resident memory (`cashier pay`)", "\(healthy.rssKiB / 1024) MiB", "max RSS over those runs")

        let hole = try BlackHole()
        defer { hole.close() }
        try writeConfig(domains: ["https://127.0.0.1:\(hole.port)", good])
        let holed = try medianRun(pay(), runs: 3)
        row("client failover, primary black-holed", "\(fmt(holed.ms)) ms",
            "median of 3 `cashier pay` with domain 1 accepting TCP and never answering; start to PAID on domain 2 (healthy run: \(fmt(healthy.ms)) ms)")
        let refused = try refusedPort()
        try writeConfig(domains: ["https://127.0.0.1:\(refused)", good])
        let ref = try medianRun(pay(), runs: 3)
        row("client failover, primary refusing", "\(fmt(ref.ms)) ms",
            "median of 3 `cashier pay` with domain 1 refusing connections; start to PAID on domain 2")

        let failover = EngineFailover(directory: directory + "-engine", service: service)
        for (fault, name) in [(FaultyProxy.Mode.blackHole, "black-holed"), (.refuse, "refusing")] {
            let r = try failover.run(fault: fault)
            row("client failover mid-session, active domain \(name)", "\(fmt(r.ms)) ms",
                "warm CashierEngine (default settings: safe requests time out after 2.5 s, probe after 0.6 s without an answer; both domains behind proxies); the active domain (\(r.from + 1)) then \(fault == .blackHole ? "stops passing bytes (connections stay open)" : "closes and refuses"); next sale until \(r.outcome), active domain now \(r.domain.map { String($0 + 1) } ?? "none")")
        }
        let lost = try failover.run(fault: .blackHole, at: .asThePayGoesOut)
        row("client failover mid-sale, the sale lost to a black-holed domain", "\(fmt(lost.ms)) ms",
            "as above, but the active domain (\(lost.from + 1)) stops passing bytes just as the sale goes out (the engine's `paying` event), so it never arrives; sale start until \(lost.outcome) (the one-call sale is safe to send again: the same sale, same number, goes to the domain that won the probe), active domain now \(lost.domain.map { String($0 + 1) } ?? "none")")
    }
}
