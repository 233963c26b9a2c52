import CashierClient
import CashierCore
import Foundation
import HTTPClient
import TestSupport
import XCTest

/// A terminal whose clock is far off still activates and sells: the service's signed answers tell it
/// the service's time, and it signs with that.
final class ClockSkewTests: XCTestCase {
    var service: Cashierd!

    override func setUpWithError() throws {
        service = try Cashierd(groups: 2)
    }

    override func tearDown() {
        service?.stop()
        service = nil
    }

    private static func wallClockMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func testATerminalAnHourBehindActivatesFromTheSignedAnswersStamp() throws {
        let behind = ServiceClock(localClock: { Self.wallClockMs() - 3_600_000 })
        let transport = try SignedTransport(baseURL: service.urls[0], http: service.httpConfiguration(), clock: behind)
        let activation = try transport.activate(code: service.activationCode, deviceName: "slow clock").get()
        XCTAssertEqual(Double(behind.offsetMs), 3_600_000, accuracy: 2_000, "learnt from the activation answer")
        let credentials = DeviceCredentials(deviceId: activation.deviceId, deviceSecret: activation.deviceSecret, store: activation.store)
        let ping = try transport.call("GET", API.Path.ping, credentials: credentials).decoded(PingResponse.self).get()
        XCTAssertEqual(ping.deviceId, activation.deviceId)
        XCTAssertFalse(try service.requestLog().contains { $0["code"] as? String == ErrorCode.timestampSkewed.rawValue },
                       "once corrected, nothing is refused for its timestamp")
    }

    func testATerminalTwoHoursAheadIsCorrectedByItsFirstRefusalAndPaysOnce() throws {
        let credentials = try service.activateTerminal()
        let ahead = ServiceClock(localClock: { Self.wallClockMs() + 7_200_000 })
        let transport = try SignedTransport(baseURL: service.urls[0], http: service.httpConfiguration(), clock: ahead)
        let created = try transport.call("POST", API.Path.orders, body: API.encode(CreateOrderRequest(amount: 250)),
                                         credentials: credentials).decoded(OrderView.self).get()
        XCTAssertEqual(Double(ahead.offsetMs), -7_200_000, accuracy: 2_000)
        let paid = try transport.call("POST", API.Path.pay(created.orderNo),
                                      body: API.encode(PayRequest(paymentCode: paymentCode(.paid))),
                                      credentials: credentials).decoded(OrderView.self).get()
        XCTAssertEqual(paid.status, .paid)

        // One refusal (the first create, which created nothing), then the create and the pay, each once.
        let signed = try service.requestLog().filter { $0["device"] as? String == credentials.deviceId }
        XCTAssertEqual(signed.map { $0["status"] as? Int }, [401, 201, 200], "\(signed)")
        XCTAssertEqual(signed.first?["code"] as? String, ErrorCode.timestampSkewed.rawValue)
        let orders = try TestTerminal(transport: service.transport(), credentials: credentials).list().unwrap().orders
        XCTAssertEqual(orders.map(\.orderNo), [created.orderNo], "exactly one order")
    }

    func testAnUnsignedRefusalTeachesNothing() throws {
        // A refusal for the signature, however stale the request, carries no signature: nothing is learnt
        // and the request is not sent again.
        let credentials = try service.activateTerminal()
        let wrongKey = DeviceCredentials(deviceId: credentials.deviceId, deviceSecret: String(repeating: "ab", count: 32),
                                         store: credentials.store)
        let behind = ServiceClock(localClock: { Self.wallClockMs() - 3_600_000 })
        let transport = try SignedTransport(baseURL: service.urls[0], http: service.httpConfiguration(), clock: behind)
        guard case .failure(.service(let error)) = transport.call("GET", API.Path.ping, credentials: wrongKey) else {
            return XCTFail("a wrong key must be refused")
        }
        XCTAssertEqual(error.code, .signatureInvalid)
        XCTAssertEqual(behind.offsetMs, 0)
        XCTAssertEqual(try service.requestLog().filter { $0["path"] as? String == API.Path.ping }.count, 1, "sent once")
    }

    /// Whether `text` says the clock is two hours ahead: the learnt offset is the service's whole-second
    /// stamp against the terminal's milliseconds, so it may come out a second either side.
    static func saysTwoHoursAhead(_ text: String, _ before: String, _ after: String) -> Bool {
        (7_199...7_201).contains { text.contains(before + String($0) + after) }
    }

    func testTheCashierBinaryWithItsClockTwoHoursAheadActivatesSellsAndSaysSo() throws {
        let harness = try ClientHarness(domains: service.urls, caFile: service.caFile)
        let activated = try harness.run(["activate", "--code", try service.newActivationCode()], clockShift: "+2h")
        XCTAssertEqual(activated.status, 0, activated.stdout + activated.stderr)
        let sale = try harness.runJSON(["pay", "--amount", "3.10", "--code", paymentCode(.paid)], clockShift: "+2h")
        XCTAssertEqual(sale.status, 0, sale.raw.stdout + sale.raw.stderr)
        XCTAssertEqual(sale.json["outcome"] as? String, "paid", sale.raw.stdout)
        let log = try String(contentsOfFile: harness.home.file("config/cashier/cashier.log"), encoding: .utf8)
        XCTAssertTrue(Self.saysTwoHoursAhead(log, "this terminal's clock is about ", " s ahead of the service's"), log)

        // `status` probes with signed pings, so it learns the difference too and shows it.
        let status = try harness.runJSON(["status"], clockShift: "+2h")
        XCTAssertEqual(status.status, 0, status.raw.stdout + status.raw.stderr)
        let offset = try XCTUnwrap((status.json["clock_offset_ms"] as? NSNumber)?.doubleValue, status.raw.stdout)
        XCTAssertEqual(offset, -7_200_000, accuracy: 2_000)
        let text = try harness.run(["status"], clockShift: "+2h")
        XCTAssertTrue(Self.saysTwoHoursAhead(text.stdout, "this terminal's clock is about ", " s ahead of the service's"), text.stdout)
    }
}
