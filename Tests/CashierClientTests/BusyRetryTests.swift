import CashierClient
import CashierCore
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// A sale the service refuses for now (OVERLOADED) is not lost: the terminal sends the request to the
/// other domain if its probes found it healthy, else to the same one again after a short pause.
final class BusyRetryTests: XCTestCase {
    /// Fills three of `limits.max_in_flight = 4` places of the cashierd behind `url` with slow payments,
    /// so new orders (80 %) are refused at once while they run; returns a wait for them.
    private func holdThreePlaces(_ url: String, service: Cashierd) throws -> () -> [OrderStatus?] {
        let credentials = try service.activateTerminal()
        let transport = try SignedTransport(baseURL: url, http: service.httpConfiguration())
        let terminal = TestTerminal(transport: transport, credentials: credentials)
        let orders = try (0..<3).map { _ in try terminal.createOrder(amount: 100).unwrap() }
        let group = DispatchGroup()
        let statuses = StatusBox()
        for order in orders {
            let payer = TestTerminal(transport: try SignedTransport(baseURL: url, http: service.httpConfiguration()), credentials: credentials)
            group.enter()
            Thread.detachNewThread {
                statuses.append(try? payer.pay(order.orderNo, code: paymentCode(.slow)).get().status)
                group.leave()
            }
        }
        // Go on only once all three are being handled (the gauge is read at once; /metrics is never refused).
        let metrics = try CurlConnection(configuration: service.httpConfiguration())
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let text = (try? metrics.perform(method: "GET", url: url + "/metrics").get()).map { String(decoding: $0.body, as: UTF8.self) } ?? ""
            if text.contains("\ncashierd_in_flight 3\n") { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return {
            _ = group.wait(timeout: .now() + 20)
            return statuses.all
        }
    }

    /// The creates of the terminal `device`: those it got in, and the ones refused before anyone read them
    /// (a refusal for load comes before authentication, so its log line names no device; no other
    /// terminal creates orders while the slow payments hold their places).
    private func terminalCreates(_ service: Cashierd, device: String) throws -> [[String: Any]] {
        try service.requestLog().filter {
            // A new order is a one-call sale (or, in the two-call flow, a create).
            $0["method"] as? String == "POST" && [API.Path.orders, API.Path.sales].contains($0["path"] as? String ?? "")
                && ($0["device"] as? String == device || $0["code"] as? String == ErrorCode.overloaded.rawValue)
        }.sorted { ($0["ts"] as? String ?? "") < ($1["ts"] as? String ?? "") }  // two processes append to one file
    }

    private func clientLog(_ harness: ClientHarness) throws -> String {
        try String(contentsOfFile: harness.configuration.resolvingPaths(against: harness.home.file("config/cashier")).logPath, encoding: .utf8)
    }

    func testASaleRefusedForNowIsTriedAgainAfterAPauseAndPaid() throws {
        let service = try Cashierd(groups: 2, tweak: { $0.limits.maxInFlight = 4; $0.channel.slowDelayMs = 1_000 })
        defer { service.stop() }
        // Both domains are this one process, so both are busy: only a pause can help.
        let harness = try ClientHarness(domains: service.urls, caFile: service.caFile) { $0.busyRetries = 5; $0.probe.idleProbeIntervalMs = 0 }
        try harness.activate(service)
        let engine = try CashierEngine.open(configPath: harness.configPath)
        engine.start()
        defer { engine.stop() }
        XCTAssertNotNil(engine.statusAfterProbe().activeDomain)
        let device = try XCTUnwrap(engine.credentials?.deviceId)

        let slowPayments = try holdThreePlaces(service.urls[0], service: service)
        let result = engine.sell(CreateOrderRequest(amount: 500), paymentCode: paymentCode(.paid))
        guard case .paid(let paid) = result.outcome else { return XCTFail("not paid: \(result.outcome)") }
        XCTAssertEqual(slowPayments(), [.paid, .paid, .paid])

        let creates = try terminalCreates(service, device: device)
        XCTAssertGreaterThanOrEqual(creates.count, 2, "\(creates)")
        XCTAssertTrue(creates.dropLast().allSatisfy { $0["code"] as? String == ErrorCode.overloaded.rawValue }, "\(creates)")
        XCTAssertEqual(creates.last?["status"] as? Int, 201, "one order made, after the refusals: \(creates)")
        XCTAssertEqual(try engine.orders().get().orders.filter { $0.deviceId == device }.map(\.orderNo), [paid.orderNo])
        XCTAssertTrue(try clientLog(harness).contains("(OVERLOADED); trying again in"))
    }

    func testACommandStartedWhileEveryDomainRefusesItsProbeForLoadStillSells() throws {
        let service = try Cashierd(groups: 2, tweak: { $0.limits.maxInFlight = 4; $0.channel.slowDelayMs = 6_000 })
        defer { service.stop() }
        let harness = try ClientHarness(domains: service.urls, caFile: service.caFile) { $0.busyRetries = 5 }
        try harness.activate(service)
        // The start-up probes (signed pings) are refused for load like new orders: no domain wins a round.
        let slowPayments = try holdThreePlaces(service.urls[0], service: service)
        let status = try harness.runJSON(["status"])
        let states = (status.json["domains"] as? [[String: Any]] ?? []).map { $0["state"] as? String }
        XCTAssertEqual(states, ["busy", "busy"], status.raw.stdout)
        let sale = try harness.runJSON(["pay", "--amount", "4.00", "--code", paymentCode(.paid)])
        XCTAssertEqual(sale.status, 0, sale.raw.stdout + sale.raw.stderr)
        XCTAssertEqual(sale.json["outcome"] as? String, "paid", sale.raw.stdout)
        XCTAssertEqual(slowPayments(), [.paid, .paid, .paid])
        let log = try clientLog(harness)
        XCTAssertTrue(log.contains("every domain refused its probe for load; sending anyway"), log)
    }

    func testARequestRefusedForNowGoesAtOnceToTheOtherDomainItsProbesFoundHealthy() throws {
        let first = try Cashierd(groups: 2, tweak: { $0.limits.maxInFlight = 4; $0.channel.slowDelayMs = 1_500 })
        let (second, secondURL) = try first.startAnotherInstance(listen: "127.0.0.2:0", extraArguments: ["--instance", "2"])
        defer {
            second.stop()
            first.stop()
        }
        let harness = try ClientHarness(domains: [first.urls[0], secondURL], caFile: first.caFile) {
            $0.busyRetries = 1; $0.probe.idleProbeIntervalMs = 0
        }
        try harness.activate(first)
        let engine = try CashierEngine.open(configPath: harness.configPath)
        engine.start()
        defer { engine.stop() }
        let status = engine.statusAfterProbe()
        let active = try XCTUnwrap(status.activeDomain)
        XCTAssertEqual(status.domains.map(\.state).sorted(), ["active", "standby"], "both domains answered their probes")
        let device = try XCTUnwrap(engine.credentials?.deviceId)

        // Only the instance behind the active domain is busy.
        let slowPayments = try holdThreePlaces(harness.configuration.domains[active], service: first)
        let result = engine.sell(CreateOrderRequest(amount: 700), paymentCode: paymentCode(.paid))
        guard case .paid = result.outcome else { return XCTFail("not paid: \(result.outcome)") }
        XCTAssertEqual(slowPayments(), [.paid, .paid, .paid])

        let busy = active == 0 ? "cashierd-1" : "cashierd-2", other = active == 0 ? "cashierd-2" : "cashierd-1"
        let creates = try terminalCreates(first, device: device)
        XCTAssertEqual(creates.map { $0["instance"] as? String }, [busy, other], "\(creates)")
        XCTAssertEqual(creates.map { $0["status"] as? Int }, [503, 201], "\(creates)")
        let log = try clientLog(harness)
        XCTAssertTrue(log.contains("(OVERLOADED); sending it to \(harness.configuration.domains[1 - active])"), log)
        XCTAssertFalse(log.contains("trying again in"), "no pause was needed: \(log)")
    }
}

/// Payment outcomes collected from several threads.
private final class StatusBox: @unchecked Sendable {
    // @unchecked: `values` is guarded by `lock`.
    private let lock = NSLock()
    private var values: [OrderStatus?] = []
    func append(_ value: OrderStatus?) { lock.withLock { values.append(value) } }
    var all: [OrderStatus?] { lock.withLock { values } }
}
