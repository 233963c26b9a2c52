import CashierClient
import CashierCore
import CashierService
import Foundation
import TestSupport
import XCTest

/// A real cashierd whose base data is a replicated cluster (scripts/ha-cluster.sh: Patroni + etcd, a primary and a
/// synchronous standby, the multi-host conninfo in cashierd.json); the primary is SIGKILLed while a terminal sells.
/// Sales go on from the device cache; what needs the base data resumes once the standby is promoted.
final class PatroniBaseFailoverTests: XCTestCase {
    /// Six ports from the first free block of ten in 55500-55599 (55400-55499 are the storage tests' and CI's).
    static let basePort = HACluster.freeBasePort(in: 55500..<55600)
    static let cluster = HACluster()

    override class func setUp() {
        super.setUp()
        cluster.start(name: "base", basePort: basePort)
    }

    override class func tearDown() {
        cluster.destroy()
        super.tearDown()
    }

    private func numbers(_ t: TestTerminal, _ count: Int) throws -> [OrderNumber] {
        try t.transport.call("POST", API.Path.orderNumbers, body: API.encode(OrderNumbersRequest(count: count)),
                             credentials: t.credentials).decoded(OrderNumbersResponse.self).get().orderNumbers
    }

    private func sell(_ t: TestTerminal, _ number: OrderNumber) -> Result<SaleResponse, CallFailure> {
        t.transport.call("POST", API.Path.sales, body: API.encode(SaleRequest(orderNo: number, amount: 700, paymentCode: paymentCode(.paid), reserve: 1)),
                         credentials: t.credentials).decoded(SaleResponse.self)
    }

    func testSalesGoOnThroughTheBasePrimarysDeathAndTheRestResumesAfterTheFailover() throws {
        // The default cache time (30 s) is above the failover time (about 10 s): that is what it is for.
        let r = try killThePrimaryWhileSelling(deviceCacheSeconds: nil)
        XCTAssertEqual(r.saleFailures, [], "sales of a known terminal go on through the base failover")
        XCTAssertGreaterThan(r.sold, 0)
        XCTAssertLessThan(r.baseBack, 30, "within the failover time (ttl 10 s + a loop), with room for a loaded machine")
    }

    /// Without the cache every signed request needs the base data: sales stop for the failover and resume after it.
    func testWithoutTheCacheSalesResumeWithinTheFailoverTime() throws {
        let r = try killThePrimaryWhileSelling(deviceCacheSeconds: 0)
        XCTAssertFalse(r.saleFailures.isEmpty, "without the cache the base failover stops sales")
        let resumed = try XCTUnwrap(r.salesBack, "sales resumed")
        XCTAssertLessThan(resumed, 30, "within the failover time (ttl 10 s + a loop), with room for a loaded machine")
        print("without the device cache: sales failed for \(String(format: "%.1f", resumed)) s after the base primary was killed")
    }

    private struct Outcome {
        var sold = 0
        var saleFailures: [CallFailure] = []
        /// Seconds from the kill to the first sale that succeeded after one failed; nil if none failed.
        var salesBack: Double?
        /// Seconds from the kill to the first new order (its nonce in the base data) accepted again.
        var baseBack = 0.0
    }

    /// Sells (and tries a new order by POST /v1/orders, whose nonce is in the base data) while the base cluster's
    /// primary is SIGKILLed, until the base takes writes again; then checks the same process works on the new
    /// primary, and brings the old one back as the synchronous standby for the next test.
    private func killThePrimaryWhileSelling(deviceCacheSeconds: Int?) throws -> Outcome {
        let conninfo = try Self.cluster.liveConninfo()
        _ = try Self.cluster.run(["wait-sync", "90"])
        let service = try Cashierd(groups: 2, tweak: {
            $0.base = .postgres(url: conninfo)
            if let deviceCacheSeconds { $0.deviceCacheSeconds = deviceCacheSeconds }
        })
        defer { service.stop() }
        let pid = try XCTUnwrap(service.child).process.processIdentifier
        func admin(_ arguments: [String]) throws -> String {
            let r = try service.admin(arguments)
            guard r.status == 0 else { throw RuntimeError("cashierd \(arguments.joined(separator: " ")): \(r.stderr)") }
            return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // Each test's own merchant: the cluster's base data outlives a test.
        let merchant = try admin(["merchant", "add", "Failover Tea \(UUID().uuidString.prefix(6))"])
        let store = try service.addSandboxStore(merchant: merchant, name: "Main")
        let terminal = TestTerminal(transport: try service.transport(),
                                    credentials: try service.activateTerminal(code: try admin(["activation-code", "--store", store])))
        var given = try numbers(terminal, 20) + numbers(terminal, 20)
        XCTAssertEqual(try sell(terminal, given.removeFirst()).get().order.status, .paid)
        let reconnectsBefore = try service.scrapeMetrics()["cashierd_database_reconnects_total{database=\"base\"}"] ?? -1

        let killedAt = Date()
        let oldPrimary = try Self.cluster.run(["kill-primary"]).trimmingCharacters(in: .whitespacesAndNewlines)
        var outcome = Outcome()
        var refusals: [ErrorCode] = []
        var backAt: Date?
        // Bounded: 60 s, and by the numbers held (each sale reserves the next, as a terminal does; 40 to start).
        while backAt == nil || (outcome.salesBack == nil && !outcome.saleFailures.isEmpty),
              Date() < killedAt.addingTimeInterval(60), given.count > 1 {
            switch sell(terminal, given[0]) {
            case .success(let a):
                XCTAssertEqual(a.order.status, .paid)
                outcome.sold += 1
                given.removeFirst()
                given += a.orderNumbers
                if !outcome.saleFailures.isEmpty, outcome.salesBack == nil { outcome.salesBack = Date().timeIntervalSince(killedAt) }
            case .failure(let f):
                // Nothing was placed: the same number is tried again, as a terminal would.
                outcome.saleFailures.append(f)
            }
            if backAt == nil {
                switch terminal.createOrder(amount: 100) {
                case .success: backAt = Date()
                case .failure(.service(let e)): refusals.append(e.code)
                case .failure: refusals.append(.responseUnverified)
                }
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let back = try XCTUnwrap(backAt, "the base data took writes again within 60 s; refusals: \(Set(refusals))")
        outcome.baseBack = back.timeIntervalSince(killedAt)
        print("base failover seen by cashierd (device_cache_seconds \(deviceCacheSeconds.map(String.init) ?? "default")): "
              + "new orders refused for \(String(format: "%.1f", outcome.baseBack)) s (\(refusals.count) refusals); "
              + "\(outcome.sold) sales, \(outcome.saleFailures.count) failed")
        XCTAssertFalse(refusals.isEmpty, "the kill was noticed")
        if deviceCacheSeconds != 0 { XCTAssertEqual(Set(refusals), [.baseUnavailable], "signed refusals: the device was known") }

        // The same process, on the promoted standby: everything again, and its reconnection counted.
        XCTAssertNotEqual(try Self.cluster.primary(), oldPrimary)
        XCTAssertEqual(service.child?.process.processIdentifier, pid)
        XCTAssertEqual(try sell(terminal, given.removeFirst()).get().order.status, .paid)
        XCTAssertEqual(try numbers(terminal, 1).count, 1)
        XCTAssertGreaterThan(try service.scrapeMetrics()["cashierd_database_reconnects_total{database=\"base\"}"] ?? 0, reconnectsBefore)
        XCTAssertEqual(try service.admin(["reconcile"]).status, 0)
        try Self.cluster.run(["restart-member", oldPrimary])
        return outcome
    }
}
