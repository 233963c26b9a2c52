import CashierCore
import XCTest

/// Which refusals mean "not now, and nothing was done", and how long the terminal waits before trying again.
final class BusyRefusalTests: XCTestCase {
    func testOnlyRefusalsThatProveNothingWasDoneAreBusy() {
        XCTAssertTrue(BusyRefusal.isBusy(.overloaded, method: "POST", path: API.Path.orders))
        XCTAssertTrue(BusyRefusal.isBusy(.overloaded, method: "GET", path: API.Path.orders), "lists are shed first")
        XCTAssertTrue(BusyRefusal.isBusy(.noGroupAvailable, method: "POST", path: API.Path.orders), "a create that found no group")
        let order = OrderNumber(epochSeconds: 1_795_600_000, instance: 1, sequence: 1, group: GroupTag(0)!)
        XCTAssertFalse(BusyRefusal.isBusy(.noGroupAvailable, method: "POST", path: API.Path.pay(order)))
        for code in [ErrorCode.groupUnavailable, .channelUnavailable, .internalError, .rateLimited, .nonceReplayed] {
            XCTAssertFalse(BusyRefusal.isBusy(code, method: "POST", path: API.Path.orders), code.rawValue)
        }
    }

    func testPausesDoubleWithBoundedJitter() {
        XCTAssertEqual(BusyRefusal.delayMs(attempt: 1, baseMs: 250, unitRandom: 0.5), 250)
        XCTAssertEqual(BusyRefusal.delayMs(attempt: 2, baseMs: 250, unitRandom: 0.5), 500)
        XCTAssertEqual(BusyRefusal.delayMs(attempt: 3, baseMs: 250, unitRandom: 0), 800)
        XCTAssertEqual(BusyRefusal.delayMs(attempt: 3, baseMs: 250, unitRandom: 0.999_999), 1_200)
        XCTAssertGreaterThan(BusyRefusal.delayMs(attempt: 500, baseMs: 10_000, unitRandom: 1), 0, "no overflow")
        XCTAssertEqual(BusyRefusal.delayMs(attempt: 0, baseMs: -5, unitRandom: 0.5), 0)
    }
}
