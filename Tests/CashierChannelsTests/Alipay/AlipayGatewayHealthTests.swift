import CashierChannels
import XCTest

/// The pure gateway-health state machine: marked bad after more than 2 connect failures, backup
/// meanwhile, back to the primary after 3 minutes.
final class AlipayGatewayHealthTests: XCTestCase {
    typealias Health = AlipayGatewayHealth

    func testPrimaryFirstWhileHealthy() {
        var h = Health(hasBackup: true)
        XCTAssertEqual(h.order(now: 0), [.primary, .backup])
        h.connectFailed(.primary, now: 1)
        h.connectFailed(.primary, now: 2)
        XCTAssertEqual(h.order(now: 3), [.primary, .backup], "two failures are not yet more than 2")
        XCTAssertFalse(h.isBad(.primary))
    }

    func testThirdConnectFailureMarksThePrimaryBadAndTheBackupGoesFirst() {
        var h = Health(hasBackup: true)
        for t in 1...3 { h.connectFailed(.primary, now: Int64(t)) }
        XCTAssertTrue(h.isBad(.primary))
        XCTAssertEqual(h.primaryBadSince, 3)
        XCTAssertEqual(h.order(now: 4), [.backup, .primary])
        XCTAssertEqual(h.order(now: 3 + Health.returnAfterMs - 1), [.backup, .primary])
    }

    func testBackToThePrimaryAfterThreeMinutesWithItsCountStartingOver() {
        var h = Health(hasBackup: true)
        for t in 1...5 { h.connectFailed(.primary, now: Int64(t)) }
        XCTAssertEqual(h.primaryBadSince, 3, "marked when it became bad, not moved by later failures")
        XCTAssertEqual(h.order(now: 3 + Health.returnAfterMs), [.primary, .backup])
        XCTAssertFalse(h.isBad(.primary))
        XCTAssertEqual(h.primaryFailures, 0)
        h.connectFailed(.primary, now: 3 + Health.returnAfterMs + 1)
        XCTAssertEqual(h.order(now: 3 + Health.returnAfterMs + 2), [.primary, .backup], "one new failure does not mark it again")
    }

    func testAnAnswerClearsTheCountAndTheMark() {
        var h = Health(hasBackup: true)
        h.connectFailed(.primary, now: 1)
        h.connectFailed(.primary, now: 2)
        h.answered(.primary)
        h.connectFailed(.primary, now: 3)
        XCTAssertFalse(h.isBad(.primary), "failures count only in a row")
        for t in 4...6 { h.connectFailed(.primary, now: Int64(t)) }
        XCTAssertTrue(h.isBad(.primary))
        h.answered(.primary)
        XCTAssertEqual(h.order(now: 7), [.primary, .backup])
    }

    func testBothBadMeansThePrimaryFirst() {
        var h = Health(hasBackup: true)
        for t in 1...3 { h.connectFailed(.primary, now: Int64(t)); h.connectFailed(.backup, now: Int64(t)) }
        XCTAssertEqual(h.order(now: 10), [.primary, .backup])
        // The backup's mark expires on its own clock too.
        XCTAssertFalse({ var c = h; _ = c.order(now: 3 + Health.returnAfterMs); return c.isBad(.backup) }())
    }

    func testWithoutABackupEverythingGoesToThePrimary() {
        var h = Health(hasBackup: false)
        for t in 1...10 { h.connectFailed(.primary, now: Int64(t)) }
        XCTAssertEqual(h.order(now: 11), [.primary])
    }
}
