import CashierClient
import CashierCore
import Foundation

/// Failover inside a running client: both domains are reached through a `FaultyProxy`; once the engine is
/// warm on whichever domain it chose, that domain fails and the next sale is timed until it is PAID on the
/// other one. Default client settings.
struct EngineFailover {
    let directory: String
    let service: ServiceProcess

    /// When the active domain fails during the timed sale.
    enum Moment {
        /// Before the sale starts.
        case beforeTheSale
        /// Just as the pay goes out (on the engine's `paying` event), so the pay itself is lost.
        case asThePayGoesOut
    }

    func run(fault: FaultyProxy.Mode, at moment: Moment = .beforeTheSale) throws -> (ms: Double, from: Int, domain: Int?, outcome: String) {
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let proxies = try service.urls.prefix(2).map { text -> FaultyProxy in
            let url = URL(string: text)!
            return try FaultyProxy(targetHost: url.host ?? "127.0.0.1", targetPort: UInt16(url.port ?? 0))
        }
        defer { proxies.forEach { $0.close() } }
        var c = ClientConfiguration(domains: proxies.map { "https://127.0.0.1:\($0.port)" }, caFile: service.caFile)
        c.journalPath = directory + "/journal.sqlite"
        c.keystorePath = directory + "/keystore.json"
        c.logPath = directory + "/cashier.log"
        let engine = try CashierEngine(configuration: c)
        defer { engine.stop() }
        engine.start()
        guard case .success = engine.activate(code: try service.newActivationCode(), deviceName: "bench failover") else {
            throw BenchError("engine activation failed")
        }
        // Warm: a sale on the active domain, so its connection is open.
        let warm = engine.sell(CreateOrderRequest(amount: 100), paymentCode: instantPaymentCode())
        guard case .paid = warm.outcome, let active = engine.status().activeDomain else {
            throw BenchError("warm-up sale failed: \(warm.outcome)")
        }
        // A terminal fails over long after its start-up probe; wait out the probe's minimum interval so the
        // failover round is not held back by the start-up round (default 2 s).
        Thread.sleep(forTimeInterval: Double(c.probe.minIntervalMs) / 1000 + 0.5)
        let fail: @Sendable () -> Void = {
            switch fault {
            case .blackHole: proxies[active].blackHole()
            case .refuse: proxies[active].refuse()
            case .forward: break
            }
        }
        switch moment {
        case .beforeTheSale:
            fail()
        case .asThePayGoesOut:
            let once = OnceFlag()
            engine.subscribe { event in
                if case .sale(_, .paying, _) = event, once.claim() { fail() }
            }
        }
        let t0 = monotonicSeconds()
        let result = engine.sell(CreateOrderRequest(amount: 100), paymentCode: instantPaymentCode())
        let ms = (monotonicSeconds() - t0) * 1000
        let outcome: String
        if case .paid = result.outcome { outcome = "PAID" } else { outcome = "\(result.outcome)" }
        return (ms, active, engine.status().activeDomain, outcome)
    }
}

/// True for the first caller of `claim()` only.
private final class OnceFlag: @unchecked Sendable {
    // @unchecked: `taken` is only touched while `lock` is held.
    private let lock = NSLock()
    private var taken = false
    func claim() -> Bool {
        lock.lock(); defer { lock.unlock() }
        if taken { return false }
        taken = true
        return true
    }
}
